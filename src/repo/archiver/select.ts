// Which items a backup keeps (restic 0.14's RejectByNameFunc / RejectFunc chains from
// cmd/restic/cmd_backup.go and exclude.go): name-based rules run before lstat, rules that
// need the file's status (--one-file-system, --exclude-larger-than, a caller's filter) after.

import { type BigIntStats, lstatSync } from "node:fs";
import path from "node:path";
import { checkedPatterns, matchList } from "../filter.js";
import { CACHEDIR_TAG, excludeIfPresent, readPatternFiles } from "./excludes.js";

export interface SelectOptions {
  /** `--exclude` patterns (recorded in the snapshot). */
  readonly exclude?: readonly string[];
  /** `--iexclude`: matched case-insensitively. */
  readonly iexclude?: readonly string[];
  /** `--exclude-file`: files of patterns. */
  readonly excludeFiles?: readonly string[];
  /** `--iexclude-file`. */
  readonly iexcludeFiles?: readonly string[];
  /** `--exclude-caches`: skip the contents of directories with a valid CACHEDIR.TAG. */
  readonly excludeCaches?: boolean;
  /** `--exclude-if-present NAME[:HEADER]`. */
  readonly excludeIfPresent?: readonly string[];
  /** `--one-file-system` (`-x`): stay on the file systems of the targets (mount points kept). */
  readonly oneFileSystem?: boolean;
  /** `--exclude-larger-than`: skip files larger than this many bytes. */
  readonly excludeLargerThan?: number;
  /** Extra rule: return false to leave the item out (absolute path, lstat result). */
  readonly filter?: (absPath: string, stat: BigIntStats) => boolean;
}

export interface Selector {
  byName(absPath: string): boolean;
  byStat(absPath: string, st: BigIntStats): boolean;
  /** Whether any rule looks at the status (else byStat keeps everything). */
  readonly usesStat: boolean;
}

/** Build the selection rules; `targets` are the absolute target paths (for -x). */
export function makeSelector(
  opts: SelectOptions,
  targets: readonly string[],
  warn: (m: string) => void,
): Selector {
  const byName: ((p: string) => boolean)[] = []; // each returns true to reject
  const iex = [...(opts.iexclude ?? []), ...readPatternFiles(opts.iexcludeFiles ?? [])];
  if (iex.length > 0) {
    const pats = checkedPatterns(
      iex.map((p) => p.toLowerCase()),
      "--iexclude",
    );
    byName.push((p) => matchList(pats, p.toLowerCase()).matched);
  }
  const ex = [...(opts.exclude ?? []), ...readPatternFiles(opts.excludeFiles ?? [])];
  if (ex.length > 0) {
    const pats = checkedPatterns(ex, "--exclude");
    byName.push((p) => matchList(pats, p).matched);
  }
  const tags = [...(opts.excludeIfPresent ?? [])];
  if (opts.excludeCaches) tags.push(CACHEDIR_TAG);
  for (const spec of tags) byName.push(excludeIfPresent(spec, warn));

  const byStat: ((p: string, st: BigIntStats) => boolean)[] = [];
  if (opts.oneFileSystem) {
    const devices = new Map<string, bigint>();
    for (const t of targets) {
      try {
        devices.set(path.posix.normalize(t), lstatSync(t, { bigint: true }).dev);
      } catch {
        // a missing target is reported when it is saved
      }
    }
    const allowed = (item: string, dev: bigint): boolean | undefined => {
      for (let dir = item; ; dir = path.posix.dirname(dir)) {
        const d = devices.get(dir);
        if (d !== undefined) return d === dev;
        if (dir === "/" || dir === ".") return undefined;
      }
    };
    byStat.push((item, st) => {
      if (allowed(item, st.dev) !== false) return false;
      if (!st.isDirectory()) return true;
      // keep mount points: directories whose parent is allowed
      const parent = path.posix.dirname(item);
      try {
        return allowed(parent, lstatSync(parent, { bigint: true }).dev) !== true;
      } catch {
        return true;
      }
    });
  }
  const max = opts.excludeLargerThan;
  if (max !== undefined) byStat.push((_p, st) => !st.isDirectory() && st.size > BigInt(max));
  const filter = opts.filter;
  if (filter !== undefined) byStat.push((p, st) => !filter(p, st));

  return {
    byName: (p) => !byName.some((f) => f(p)),
    byStat: (p, st) => !byStat.some((f) => f(p, st)),
    usesStat: byStat.length > 0,
  };
}
