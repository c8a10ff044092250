// restic's include/exclude patterns (restic 0.14 internal/filter) over Go's filepath.Match
// (go1.19, Unix): a pattern is split at "/" after path.Clean; each component is a Go glob
// (`*` any run of non-"/" bytes, `?` one character, `[...]`/`[^...]` classes with ranges, `\`
// escapes), `**` matches any number of components, a pattern starting with "/" is anchored at
// the root, any other may match at any depth, and a leading "!" negates (re-includes). Matching
// is done on the bytes of Go strings (names that are not UTF-8 included), as Go does.

import { ResticTsError } from "../errors.js";
import { decodeRune, goStringToBytes } from "./gostring.js";
import { goPathClean } from "./walk.js";

const SLASH = 0x2f;
const BACKSLASH = 0x5c;

class BadPattern extends Error {}

/** One UTF-8 rune at `i` as Go decodes it: RuneError (U+FFFD) with width 1 when invalid. */
function rune(b: Uint8Array, i: number): [number, number] {
  const [r, w] = decodeRune(b, i);
  return r < 0 ? [0xfffd, 1] : [r, w];
}

function scanChunk(p: Uint8Array, at: number): { star: boolean; start: number; end: number } {
  let star = false;
  while (at < p.length && p[at] === 0x2a) {
    at++;
    star = true;
  }
  let inRange = false;
  let i = at;
  scan: for (; i < p.length; i++) {
    switch (p[i]) {
      case BACKSLASH:
        if (i + 1 < p.length) i++;
        break;
      case 0x5b:
        inRange = true;
        break;
      case 0x5d:
        inRange = false;
        break;
      case 0x2a:
        if (!inRange) break scan;
        break;
    }
  }
  return { star, start: at, end: i };
}

/** A possibly escaped rune of a character class; returns [rune, next position]. */
function getEsc(c: Uint8Array, at: number, end: number): [number, number] {
  if (at >= end || c[at] === 0x2d || c[at] === 0x5d) throw new BadPattern();
  if (c[at] === BACKSLASH) {
    at++;
    if (at >= end) throw new BadPattern();
  }
  const [r, w] = decodeRune(c.subarray(0, end), at);
  if (r < 0) throw new BadPattern();
  const next = at + w;
  if (next >= end) throw new BadPattern();
  return [r, next];
}

/** Does chunk c[cs..ce) match the start of s[ss..]? Returns the rest's start, or -1. */
function matchChunk(c: Uint8Array, cs: number, ce: number, s: Uint8Array, ss: number): number {
  let failed = false;
  while (cs < ce) {
    if (!failed && ss >= s.length) failed = true;
    const ch = c[cs];
    if (ch === 0x5b) {
      let r = 0;
      if (!failed) {
        const [rr, n] = rune(s, ss);
        r = rr;
        ss += n;
      }
      cs++;
      let negated = false;
      if (cs < ce && c[cs] === 0x5e) {
        negated = true;
        cs++;
      }
      let match = false;
      let nrange = 0;
      for (;;) {
        if (cs < ce && c[cs] === 0x5d && nrange > 0) {
          cs++;
          break;
        }
        let lo: number;
        let hi: number;
        [lo, cs] = getEsc(c, cs, ce);
        hi = lo;
        if (c[cs] === 0x2d) [hi, cs] = getEsc(c, cs + 1, ce);
        if (lo <= r && r <= hi) match = true;
        nrange++;
      }
      if (match === negated) failed = true;
    } else if (ch === 0x3f) {
      if (!failed) {
        if (s[ss] === SLASH) failed = true;
        ss += rune(s, ss)[1];
      }
      cs++;
    } else {
      if (ch === BACKSLASH) {
        cs++;
        if (cs >= ce) throw new BadPattern();
      }
      if (!failed) {
        if (c[cs] !== s[ss]) failed = true;
        ss++;
      }
      cs++;
    }
  }
  return failed ? -1 : ss;
}

function matchBytes(p: Uint8Array, name: Uint8Array): boolean {
  let pos = 0;
  let ni = 0;
  pattern: while (pos < p.length) {
    const { star, start, end } = scanChunk(p, pos);
    pos = end;
    if (star && start === end) {
      return !name.subarray(ni).includes(SLASH);
    }
    const t = matchChunk(p, start, end, name, ni);
    if (t >= 0 && (t === name.length || pos < p.length)) {
      ni = t;
      continue;
    }
    if (star) {
      for (let i = ni; i < name.length && name[i] !== SLASH; i++) {
        const t2 = matchChunk(p, start, end, name, i + 1);
        if (t2 >= 0) {
          if (pos >= p.length && t2 < name.length) continue;
          ni = t2;
          continue pattern;
        }
      }
    }
    return false;
  }
  return ni === name.length;
}

/**
 * Go's filepath.Match(pattern, name) on Unix. INVALID_ARGUMENT for a malformed pattern (Go's
 * ErrBadPattern), where Go reports it.
 */
export function goFilepathMatch(pattern: string, name: string): boolean {
  try {
    return matchBytes(goStringToBytes(pattern), goStringToBytes(name));
  } catch (err) {
    if (err instanceof BadPattern) {
      throw new ResticTsError("INVALID_ARGUMENT", `syntax error in pattern ${pattern}`, {
        pattern,
      });
    }
    throw err;
  }
}

// --- restic's patterns -----------------------------------------------------------------------

interface Part {
  /** "/" for the root of an absolute pattern, "" for "**". */
  readonly text: string;
  readonly bytes: Uint8Array;
  readonly simple: boolean;
}

export interface Pattern {
  readonly original: string;
  readonly parts: readonly Part[];
  readonly negated: boolean;
}

function splitPath(p: string): string[] {
  const parts = p.split("/");
  if (parts[0] === "") parts[0] = "/";
  return parts;
}

function part(text: string): Part {
  const simple = !/[\\[\]*?]/.test(text);
  const t = text === "**" ? "" : text;
  return { text: t, bytes: goStringToBytes(t), simple };
}

/** Parse one pattern (restic's preparePattern). */
export function parsePattern(pattern: string): Pattern {
  let p = pattern;
  let negated = false;
  if (p.startsWith("!")) {
    negated = true;
    p = p.slice(1);
  }
  return { original: pattern, parts: splitPath(goPathClean(p)).map(part), negated };
}

/** restic's ParsePatterns: empty patterns are dropped. */
export function parsePatterns(patterns: readonly string[]): Pattern[] {
  return patterns.filter((p) => p !== "").map(parsePattern);
}

/** Parse patterns given with `flag`, refusing invalid ones with INVALID_ARGUMENT naming them. */
export function checkedPatterns(patterns: readonly string[], flag: string): Pattern[] {
  const bad = invalidPatterns(patterns);
  if (bad.length > 0) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `${flag}: invalid pattern(s) provided:\n${bad.join("\n")}`,
      {
        patterns: bad,
      },
    );
  }
  return parsePatterns(patterns);
}

/** Patterns Go cannot parse (restic's ValidatePatterns); empty when all are valid. */
export function invalidPatterns(patterns: readonly string[]): string[] {
  const bad: string[] = [];
  for (const p of parsePatterns(patterns)) {
    for (const pt of p.parts) {
      try {
        matchBytes(pt.bytes, pt.bytes);
      } catch (err) {
        if (!(err instanceof BadPattern)) throw err;
        bad.push(p.original);
        break;
      }
    }
  }
  return bad;
}

/** A path split into components (restic's prepareStr); components kept as strings and bytes. */
interface Str {
  readonly parts: readonly string[];
  bytes(i: number): Uint8Array;
}

function prepareStr(path: string): Str {
  if (path === "") {
    throw new ResticTsError("INVALID_ARGUMENT", "filter.Match: string is empty");
  }
  const parts = splitPath(path);
  const cache: (Uint8Array | undefined)[] = [];
  return {
    parts,
    bytes(i) {
      cache[i] ??= goStringToBytes(parts[i]);
      return cache[i] as Uint8Array;
    },
  };
}

function doubleWildcard(parts: readonly Part[]): number {
  return parts.findIndex((p) => p.text === "");
}

const STAR: Part = { text: "*", bytes: new Uint8Array([0x2a]), simple: false };

function matchParts(parts: readonly Part[], strs: Str): boolean {
  const n = strs.parts.length;
  const pos = doubleWildcard(parts);
  if (pos >= 0) {
    // expand "**" into 0, 1, 2, … "*" components
    for (let i = 0; i <= n - parts.length + 1; i++) {
      const expanded = [
        ...parts.slice(0, pos),
        ...Array.from({ length: i }, () => STAR),
        ...parts.slice(pos + 1),
      ];
      if (matchParts(expanded, strs)) return true;
    }
    return false;
  }
  if (parts.length === 0) return n === 0;
  if (parts.length > n) return false;
  let minOffset = 0;
  let maxOffset = n - parts.length;
  if (parts[0].text === "/") maxOffset = 0;
  else if (strs.parts[0] === "/") minOffset = 1;
  outer: for (let offset = maxOffset; offset >= minOffset; offset--) {
    for (let i = parts.length - 1; i >= 0; i--) {
      const pt = parts[i];
      const ok = pt.simple
        ? pt.text === strs.parts[offset + i]
        : matchBytes(pt.bytes, strs.bytes(offset + i));
      if (!ok) continue outer;
    }
    return true;
  }
  return false;
}

function childMatchParts(p: Pattern, strs: Str): boolean {
  if (p.parts[0].text !== "/") return true; // a relative pattern can match at any depth
  let s = strs;
  const pos = doubleWildcard(p.parts);
  if (pos >= 0 && s.parts.length >= pos) {
    const cut = s.parts.slice(0, pos);
    s = { parts: cut, bytes: (i) => strs.bytes(i) };
  }
  const l = Math.min(s.parts.length, p.parts.length);
  return matchParts(p.parts.slice(0, l), s);
}

function wrapBad<T>(p: Pattern, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BadPattern) {
      throw new ResticTsError("INVALID_ARGUMENT", `Match: syntax error in pattern ${p.original}`, {
        pattern: p.original,
      });
    }
    throw err;
  }
}

/** restic's filter.Match: does `path` match the (single) pattern? The empty pattern matches all. */
export function matchPattern(pattern: string, path: string): boolean {
  if (pattern === "") return true;
  const p = parsePattern(pattern);
  return wrapBad(p, () => matchParts(p.parts, prepareStr(path)));
}

/** restic's filter.ChildMatch: could something below `path` match the pattern? */
export function childMatchPattern(pattern: string, path: string): boolean {
  if (pattern === "") return true;
  const p = parsePattern(pattern);
  return wrapBad(p, () => childMatchParts(p, prepareStr(path)));
}

/**
 * restic's filter.List / ListWithChild: whether `path` matches the list (later "!" patterns
 * re-include what earlier ones matched) and whether a child of it may match.
 */
export function matchList(
  patterns: readonly Pattern[],
  path: string,
): { matched: boolean; childMayMatch: boolean } {
  let matched = false;
  let childMayMatch = false;
  if (patterns.length === 0) return { matched, childMayMatch };
  const strs = prepareStr(path);
  const hasNegated = patterns.some((p) => p.negated);
  for (const p of patterns) {
    const m = wrapBad(p, () => matchParts(p.parts, strs));
    const c = wrapBad(p, () => childMatchParts(p, strs));
    if (p.negated) {
      matched = matched && !m;
      childMayMatch = childMayMatch && !m;
    } else {
      matched = matched || m;
      childMayMatch = childMayMatch || c;
      if (matched && childMayMatch && !hasNegated) break;
    }
  }
  return { matched, childMayMatch };
}

/** Which nodes a restore selects (restic's SelectFilter). */
export type SelectFilter = (
  location: string,
  isDir: boolean,
) => { selected: boolean; childMayBeSelected: boolean };

export interface FilterOptions {
  readonly exclude?: readonly string[];
  readonly iexclude?: readonly string[];
  readonly include?: readonly string[];
  readonly iinclude?: readonly string[];
}

/**
 * The select filter of `restic restore` for these patterns: excludes ("--exclude"/"--iexclude")
 * or includes ("--include"/"--iinclude"), not both (INVALID_ARGUMENT); invalid patterns are
 * refused (INVALID_ARGUMENT, naming them). Undefined when no pattern is given (select all).
 */
export function restoreFilter(opts: FilterOptions): SelectFilter | undefined {
  const ex = opts.exclude ?? [];
  const iex = opts.iexclude ?? [];
  const inc = opts.include ?? [];
  const iinc = opts.iinclude ?? [];
  for (const [flag, list] of [
    ["--exclude", ex],
    ["--iexclude", iex],
    ["--include", inc],
    ["--iinclude", iinc],
  ] as const) {
    checkedPatterns(list, flag);
  }
  const hasEx = ex.length > 0 || iex.length > 0;
  const hasInc = inc.length > 0 || iinc.length > 0;
  if (hasEx && hasInc) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      "exclude and include patterns are mutually exclusive",
    );
  }
  if (hasEx) {
    const pe = parsePatterns(ex);
    const pie = parsePatterns(iex.map((p) => p.toLowerCase()));
    return (location, isDir) => {
      const matched =
        matchList(pe, location).matched || matchList(pie, location.toLowerCase()).matched;
      return { selected: !matched, childMayBeSelected: !matched && isDir };
    };
  }
  if (hasInc) {
    const pi = parsePatterns(inc);
    const pii = parsePatterns(iinc.map((p) => p.toLowerCase()));
    return (location, isDir) => {
      const a = matchList(pi, location);
      const b = matchList(pii, location.toLowerCase());
      return {
        selected: a.matched || b.matched,
        childMayBeSelected: (a.childMayMatch || b.childMayMatch) && isDir,
      };
    };
  }
  return undefined;
}
