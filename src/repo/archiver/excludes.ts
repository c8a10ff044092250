// restic's exclude rules (internal/filter and cmd/restic/exclude.go of restic 0.14): patterns
// are matched part by part against the absolute, cleaned path ("/" splits parts, each part a
// Go filepath.Match pattern, "**" any number of parts, a leading "/" anchors the pattern,
// otherwise it may match at any depth, a leading "!" negates); `--iexclude` lower-cases both
// sides; exclude files hold one pattern per line ("#" comments, blank lines skipped, $VAR
// expanded); `--exclude-if-present NAME[:HEADER]` (and `--exclude-caches`) drop the
// *contents* of a directory holding the tag file; `--exclude-larger-than` drops files only.

import { closeSync, lstatSync, openSync, readFileSync, readSync } from "node:fs";
import path from "node:path";
import { ResticTsError } from "../../errors.js";

interface PatternPart {
  /** "/" for the root of an absolute pattern, "" for "**". */
  readonly text: string;
  readonly re: RegExp | undefined;
}

export interface Pattern {
  readonly original: string;
  readonly parts: readonly PatternPart[];
  readonly negated: boolean;
}

/** Go's path.Clean for slash-separated paths. */
export function goClean(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  if (rooted) return `/${joined}`;
  return joined === "" ? "." : joined;
}

function splitPath(p: string): string[] {
  const parts = p.split("/");
  if (parts[0] === "") parts[0] = "/";
  return parts;
}

const SYNTAX = new Set([
  "^",
  "$",
  "\\",
  ".",
  "*",
  "+",
  "?",
  "(",
  ")",
  "[",
  "]",
  "{",
  "}",
  "|",
  "/",
]);

/** Translate one part of a Go filepath.Match pattern; throws on a malformed pattern. */
export function globToRegExp(glob: string): RegExp {
  let re = "^";
  const cps = Array.from(glob);
  let i = 0;
  const bad = () =>
    new ResticTsError("INVALID_ARGUMENT", `invalid pattern ${JSON.stringify(glob)}`);
  const lit = (c: string) => (SYNTAX.has(c) ? `\\${c}` : c);
  const classLit = (c: string) => (SYNTAX.has(c) || c === "-" ? `\\${c}` : c);
  while (i < cps.length) {
    const c = cps[i++];
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\") {
      if (i >= cps.length) throw bad();
      re += lit(cps[i++]);
    } else if (c === "[") {
      let cls = "[";
      if (cps[i] === "^") {
        cls += "^";
        i++;
      }
      let n = 0;
      for (;;) {
        if (i >= cps.length) throw bad();
        let a = cps[i++];
        if (a === "]" && n > 0) break;
        if (a === "\\") {
          if (i >= cps.length) throw bad();
          a = cps[i++];
        } else if (a === "-" || a === "]") throw bad();
        let range = classLit(a);
        if (cps[i] === "-" && cps[i + 1] !== undefined && cps[i + 1] !== "]") {
          i++;
          let b = cps[i++];
          if (b === "\\") {
            if (i >= cps.length) throw bad();
            b = cps[i++];
          }
          if (b.codePointAt(0)! < a.codePointAt(0)!) throw bad();
          range += `-${classLit(b)}`;
        }
        cls += range;
        n++;
      }
      re += `${cls}]`;
    } else re += lit(c);
  }
  return new RegExp(`${re}$`, "su");
}

/** Parse patterns as restic does; INVALID_ARGUMENT naming every invalid one. */
export function parsePatterns(patterns: readonly string[], what = "--exclude"): Pattern[] {
  const out: Pattern[] = [];
  const invalid: string[] = [];
  for (const original of patterns) {
    if (original === "") continue;
    let p = original;
    const negated = p.startsWith("!");
    if (negated) p = p.slice(1);
    try {
      const parts = splitPath(goClean(p)).map((text): PatternPart => {
        if (text === "**") return { text: "", re: undefined };
        if (text === "/") return { text, re: undefined };
        return { text, re: /[\\[\]*?]/.test(text) ? globToRegExp(text) : undefined };
      });
      out.push({ original, parts, negated });
    } catch {
      invalid.push(original);
    }
  }
  if (invalid.length > 0) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `${what}: invalid pattern(s) provided:\n${invalid.join("\n")}`,
    );
  }
  return out;
}

function partMatches(p: PatternPart, s: string): boolean {
  return p.re === undefined ? p.text === s : p.re.test(s);
}

function matchParts(parts: readonly PatternPart[], strs: readonly string[]): boolean {
  const dw = parts.findIndex((p) => p.text === "");
  if (dw >= 0) {
    const star: PatternPart = { text: "*", re: /^[^/]*$/su };
    for (let i = 0; i <= strs.length - parts.length + 1; i++) {
      const expanded = [
        ...parts.slice(0, dw),
        ...Array<PatternPart>(i).fill(star),
        ...parts.slice(dw + 1),
      ];
      if (matchParts(expanded, strs)) return true;
    }
    return false;
  }
  if (parts.length === 0) return strs.length === 0;
  if (parts.length > strs.length) return false;
  let minOffset = 0;
  let maxOffset = strs.length - parts.length;
  if (parts[0].text === "/") maxOffset = 0;
  else if (strs[0] === "/") minOffset = 1;
  outer: for (let offset = maxOffset; offset >= minOffset; offset--) {
    for (let i = parts.length - 1; i >= 0; i--) {
      if (!partMatches(parts[i], strs[offset + i])) continue outer;
    }
    return true;
  }
  return false;
}

/** restic's filter.List: does any (non-negated, not later negated) pattern match `p`? */
export function matchList(patterns: readonly Pattern[], p: string): boolean {
  if (patterns.length === 0 || p === "") return false;
  const strs = splitPath(p);
  const hasNegated = patterns.some((x) => x.negated);
  let matched = false;
  for (const pat of patterns) {
    const m = matchParts(pat.parts, strs);
    if (pat.negated) matched = matched && !m;
    else {
      matched = matched || m;
      if (matched && !hasNegated) break;
    }
  }
  return matched;
}

/** Expand $VAR and ${VAR} like Go's os.ExpandEnv (unset variables become ""). */
export function expandEnv(
  s: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  return s.replace(
    /\$(\{([^}]*)\}|([A-Za-z0-9_]+))/g,
    (_m, _a, braced?: string, bare?: string) => env[braced ?? bare ?? ""] ?? "",
  );
}

/** Patterns from exclude files: one per line, trimmed, "#" comments and blank lines skipped. */
export function readPatternFiles(files: readonly string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch (err) {
      throw new ResticTsError(
        "NOT_FOUND",
        `failed to read exclude file ${f}: ${(err as Error).message}`,
      );
    }
    for (let line of text.split("\n")) {
      line = line.trim();
      if (line === "" || line.startsWith("#")) continue;
      out.push(expandEnv(line));
    }
  }
  return out;
}

/** restic's size flags: a number with an optional k, m, g or t suffix (powers of 1024). */
export function parseSize(s: string): number {
  const m = /^\s*(\d+)\s*([kKmMgGtT]?)[bB]?\s*$/.exec(s);
  if (m === null) throw new ResticTsError("INVALID_ARGUMENT", `invalid size ${JSON.stringify(s)}`);
  const mult =
    { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase()] ?? 1;
  return Number(m[1]) * mult;
}

/** The signature restic's --exclude-caches looks for in CACHEDIR.TAG. */
export const CACHEDIR_TAG = "CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55";

/**
 * `--exclude-if-present NAME[:HEADER]`: true for an item whose directory holds the tag file
 * (with HEADER at its start, if given); the tag file itself is kept. Results are cached.
 */
export function excludeIfPresent(
  spec: string,
  warn: (msg: string) => void,
): (item: string) => boolean {
  const colon = spec.indexOf(":");
  if (spec === "" || colon === 0)
    throw new ResticTsError("INVALID_ARGUMENT", "no name for exclusion tagfile provided");
  const tag = colon > 0 ? spec.slice(0, colon) : spec;
  const header = colon > 0 ? spec.slice(colon + 1) : "";
  const cache = new Map<string, boolean>();
  return (item) => {
    const dir = path.posix.dirname(item);
    if (path.posix.basename(item) === tag) return false;
    let r = cache.get(dir);
    if (r === undefined) {
      r = dirHasTag(path.posix.join(dir, tag), header, warn);
      cache.set(dir, r);
    }
    return r;
  };
}

function dirHasTag(file: string, header: string, warn: (msg: string) => void): boolean {
  try {
    lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT")
      warn(`could not access exclusion tagfile: ${(err as Error).message}`);
    return false;
  }
  if (header === "") return true;
  const want = Buffer.from(header);
  const buf = Buffer.alloc(want.length);
  let fd = -1;
  try {
    fd = openSync(file, "r");
    const n = readSync(fd, buf, 0, buf.length, 0);
    if (n < want.length) {
      warn(`invalid (too short) signature in exclusion tagfile "${file}"`);
      return false;
    }
  } catch (err) {
    warn(`could not read signature from exclusion tagfile "${file}": ${(err as Error).message}`);
    return false;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  if (!buf.equals(want)) {
    warn(`invalid signature in exclusion tagfile "${file}"`);
    return false;
  }
  return true;
}
