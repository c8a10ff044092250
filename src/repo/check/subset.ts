// --read-data-subset (restic 0.14 cmd_check.go): "n/t" reads the packs whose first ID byte
// modulo t is n-1 (t ≤ 256); "x%" (x may have decimals) a random x percent of the packs (at
// least one); a size ("500M", suffixes b/k/m/g/t, either case, powers of 1024) a random
// subset of packs holding about that many bytes (as a percentage of the repository size).

import { ResticTsError } from "../../errors.js";
import type { Id } from "../id.js";

export type ReadDataSubset =
  | { readonly kind: "bucket"; readonly n: number; readonly t: number }
  | { readonly kind: "percent"; readonly percent: number }
  | { readonly kind: "size"; readonly bytes: number };

/** restic's bucket limit: only the first byte of the pack ID is used. */
export const MAX_BUCKETS = 256;

function invalid(message: string): ResticTsError {
  return new ResticTsError("INVALID_ARGUMENT", message);
}

/** restic's parseSizeStr: an integer with an optional b/k/m/g/t suffix (1024-based). */
export function parseSize(s: string): number {
  if (s === "") throw invalid("expected size, got empty string");
  const units: Record<string, number> = { b: 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
  const unit = units[s[s.length - 1].toLowerCase()];
  const num = unit === undefined ? s : s.slice(0, -1);
  if (!/^[+-]?\d+$/.test(num)) throw invalid(`invalid size ${JSON.stringify(s)}`);
  const value = Number(num) * (unit ?? 1);
  if (!Number.isSafeInteger(value)) throw invalid(`size ${JSON.stringify(s)} is out of range`);
  return value;
}

export function parseReadDataSubset(s: string): ReadDataSubset {
  const argumentError = invalid(
    "check flag --read-data-subset has invalid value, please see documentation",
  );
  const parts = s.split("/");
  if (parts.every((p) => /^\d+$/.test(p))) {
    if (parts.length !== 2) throw argumentError;
    const [n, t] = parts.map(Number);
    if (n === 0 || t === 0 || n > t) {
      throw invalid(
        "check flag --read-data-subset=n/t values must be positive integers, and n <= t, e.g. --read-data-subset=1/2",
      );
    }
    if (t > MAX_BUCKETS) {
      throw invalid(`check flag --read-data-subset=n/t t must be at most ${MAX_BUCKETS}`);
    }
    return { kind: "bucket", n, t };
  }
  if (s.endsWith("%")) {
    const num = s.slice(0, -1);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(num)) throw argumentError;
    const percent = Number(num);
    if (!(percent > 0 && percent <= 100)) {
      throw invalid("check flag --read-data-subset=x% x must be above 0.0% and at most 100.0%");
    }
    return { kind: "percent", percent };
  }
  let bytes: number;
  try {
    bytes = parseSize(s);
  } catch {
    throw argumentError;
  }
  if (bytes <= 0) throw invalid("check flag --read-data-subset=n n must be above 0");
  return { kind: "size", bytes };
}

/** Pick `count` distinct elements uniformly (Fisher-Yates prefix). */
function sample<T>(items: readonly T[], count: number, random: () => number): T[] {
  const a = [...items];
  for (let i = 0; i < count && i < a.length; i++) {
    const j = i + Math.floor(random() * (a.length - i));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, count);
}

function byPercentage(ids: readonly Id[], percent: number, random: () => number): Id[] {
  let count = Math.floor(ids.length * (percent / 100));
  if (ids.length > 0 && count < 1) count = 1;
  return sample(ids, count, random);
}

/** The pack IDs of `sizes` (pack → size) that the subset selects, sorted. */
export function selectPacks(
  sizes: ReadonlyMap<Id, number>,
  subset: ReadDataSubset,
  random: () => number = Math.random,
): Id[] {
  const ids = [...sizes.keys()].sort();
  switch (subset.kind) {
    case "bucket":
      return ids.filter((id) => Number.parseInt(id.slice(0, 2), 16) % subset.t === subset.n - 1);
    case "percent":
      return byPercentage(ids, subset.percent, random).sort();
    case "size": {
      let total = 0;
      for (const s of sizes.values()) total += s;
      if (total === 0) throw invalid("Cannot read from a repository having size 0");
      const bytes = Math.min(subset.bytes, total);
      return byPercentage(ids, (bytes / total) * 100, random).sort();
    }
  }
}
