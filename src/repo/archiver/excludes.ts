// restic's exclude rules (cmd/restic/exclude.go of restic 0.14); the patterns themselves are
// restic's internal/filter (../filter.ts, shared with restore), matched against the absolute,
// cleaned path; `--iexclude` lower-cases both sides; exclude files hold one pattern per line ("#" comments, blank lines skipped, $VAR
// expanded); `--exclude-if-present NAME[:HEADER]` (and `--exclude-caches`) drop the
// *contents* of a directory holding the tag file; `--exclude-larger-than` drops files only.

import { closeSync, lstatSync, openSync, readFileSync, readSync } from "node:fs";
import path from "node:path";
import { ResticTsError } from "../../errors.js";

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
