// Deterministic test inputs, byte for byte the same as bench/go/inputs/inputs.go makes them for
// the Go side of fixtures/chunker/vectors.json (whose "inputs.sha256" checks that they match).

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface InputSpec {
  kind: "xorshift" | "text" | "gorand" | "zeros" | "byte";
  seed?: number;
  value?: number;
  length: number;
}

export type ChunkVector = [start: number, length: number, cut: string, sha256: string];

export interface VectorCase {
  name: string;
  input: InputSpec;
  pol: string;
  minSize: number;
  maxSize: number;
  averageBits: number;
  chunks: ChunkVector[];
}

export interface Vectors {
  origin: string;
  inputs: { words: string; gorand23Prefix: string[]; sha256: Record<string, string> };
  published: {
    source: string;
    lists: Record<string, [length: number, cut: string, sha256: string][]>;
  };
  cases: VectorCase[];
  derived: { xorshiftSeed: number; pol: string }[];
  irreducible: [pol: string, irreducible: boolean][];
  arithmetic: Record<"x" | "y" | "div" | "mod" | "gcd" | "a" | "b" | "g" | "mulmod", string>[];
}

export const VECTORS_PATH = fileURLToPath(
  new URL("../../../fixtures/chunker/vectors.json", import.meta.url),
);

let cached: Vectors | undefined;
export function loadVectors(): Vectors {
  cached ??= JSON.parse(readFileSync(VECTORS_PATH, "utf8")) as Vectors;
  return cached;
}

/** Marsaglia's xorshift128 on 32-bit words, x seeded. */
export class XorShift {
  #x: number;
  #y = 362436069;
  #z = 521288629;
  #w = 88675123;
  constructor(seed: number) {
    this.#x = seed >>> 0;
  }
  next(): number {
    const t = this.#x ^ (this.#x << 11);
    this.#x = this.#y;
    this.#y = this.#z;
    this.#z = this.#w;
    this.#w = (this.#w ^ (this.#w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return this.#w;
  }
  /** A byte reader over the little-endian words (Go's XorShiftReader). */
  reader(): (n: number) => Uint8Array {
    let word = 0;
    let have = 0;
    return (n) => {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        if (have === 0) {
          word = this.next();
          have = 4;
        }
        out[i] = word >>> (8 * (4 - have));
        have--;
      }
      return out;
    };
  }
}

export function xorshiftBytes(seed: number, length: number): Uint8Array {
  const r = new XorShift(seed);
  const out = new Uint8Array(length);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const w = r.next();
    out[i] = w;
    out[i + 1] = w >>> 8;
    out[i + 2] = w >>> 16;
    out[i + 3] = w >>> 24;
  }
  if (i < length) {
    const w = r.next();
    for (let k = 0; i < length; i++, k++) out[i] = w >>> (8 * k);
  }
  return out;
}

const WORDS =
  "the quick brown fox jumps over lazy dog restic backup chunk rabin polynomial repository snapshot index pack blob tree data error warning info debug GET POST /api/v1/items 200 404 500 user session"
    .split(" ")
    .map((w) => Buffer.from(w, "latin1"));

/** Log-like text: "%08d" line number, 4 + next%8 words (next%32 of WORDS), newline. */
export function textBytes(seed: number, length: number): Uint8Array {
  const r = new XorShift(seed);
  const out = Buffer.allocUnsafe(length + 256);
  let pos = 0;
  for (let line = 0; pos < length; line++) {
    pos += out.write(String(line).padStart(8, "0"), pos, "latin1");
    const n = 4 + (r.next() % 8);
    for (let j = 0; j < n; j++) {
      out[pos++] = 0x20;
      const w = WORDS[r.next() % 32];
      w.copy(out, pos);
      pos += w.length;
    }
    out[pos++] = 0x0a;
  }
  return new Uint8Array(out.buffer, out.byteOffset, length);
}

/**
 * chunker_test.go's getRandom(seed, length): Go math/rand Uint32s, little-endian. Go's source
 * is an additive lagged Fibonacci generator, x[n] = x[n-607] + x[n-273] mod 2^64, so its first
 * 607 outputs (recorded by the Go program) determine the rest; Uint32 is bits 31..62 of x[n].
 */
export function goRandBytes(prefixHex: string[], length: number): Uint8Array {
  if (prefixHex.length !== 607) throw new Error("need the first 607 outputs");
  const hi = new Uint32Array(607);
  const lo = new Uint32Array(607);
  prefixHex.forEach((h, i) => {
    const v = BigInt(`0x${h}`);
    hi[i] = Number(v >> 32n);
    lo[i] = Number(v & 0xffff_ffffn);
  });
  const out = new Uint8Array(length);
  for (let n = 0, i = 0; i < length; n++, i += 4) {
    const k = n % 607;
    if (n >= 607) {
      const j = (n - 273) % 607; // x[n-607] is in slot k, x[n-273] in slot j
      const l = lo[k] + lo[j];
      hi[k] = hi[k] + hi[j] + (l > 0xffff_ffff ? 1 : 0);
      lo[k] = l;
    }
    const u = (((hi[k] & 0x7fff_ffff) << 1) | (lo[k] >>> 31)) >>> 0;
    out[i] = u;
    out[i + 1] = u >>> 8;
    out[i + 2] = u >>> 16;
    out[i + 3] = u >>> 24;
  }
  return out;
}

export function specKey(s: InputSpec): string {
  return `${s.kind}/${s.seed ?? 0}/${s.value ?? 0}/${s.length}`;
}

export function makeInput(s: InputSpec): Uint8Array {
  switch (s.kind) {
    case "xorshift":
      return xorshiftBytes(s.seed ?? 0, s.length);
    case "text":
      return textBytes(s.seed ?? 0, s.length);
    case "gorand":
      if (s.seed !== 23) throw new Error("only the gorand stream for seed 23 is recorded");
      return goRandBytes(loadVectors().inputs.gorand23Prefix, s.length);
    case "zeros":
      return new Uint8Array(s.length);
    case "byte":
      return new Uint8Array(s.length).fill(s.value ?? 0);
  }
}
