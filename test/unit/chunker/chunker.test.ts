// The split-point finder (rabin.ts): properties of restic's chunking on generated inputs,
// cross-checked against a plain bigint model of restic/chunker's loop (reference.ts), plus the
// Chunker API's contracts.

import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ChunkBoundary,
  Chunker,
  type ChunkerOptions,
  chunkBoundaries,
  deg,
  irreducible,
  mul,
} from "../../../src/chunker/index.js";
import { isResticTsError } from "../../../src/errors.js";
import { XorShift, xorshiftBytes } from "./inputs.js";
import { referenceChunks } from "./reference.js";

const TEST_POL = 0x3da3358b4dc173n;
const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(isResticTsError(err), String(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    return;
  }
  throw new Error("expected an error");
}

/** Input bytes of a few kinds, made from a seed (fast to build, no shrinking needed). */
const inputArb = fc
  .record({
    kind: fc.constantFrom("random", "runs", "periodic", "zeros"),
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
    length: fc.integer({ min: 0, max: 48 * 1024 }),
  })
  .map(({ kind, seed, length }) => {
    const data = xorshiftBytes(seed, length);
    if (kind === "runs") {
      // long runs of one byte value with random bytes between them
      const r = new XorShift(seed ^ 0x5a5a);
      for (let i = 0; i < length; ) {
        const n = r.next() % 3000;
        data.fill(r.next() & 0xff, i, Math.min(length, i + n));
        i += n + (r.next() % 200);
      }
    } else if (kind === "periodic") {
      const period = 1 + (seed % 97);
      for (let i = period; i < length; i++) data[i] = data[i - period];
    } else if (kind === "zeros") {
      data.fill(0);
    }
    return data;
  });

const sizesArb = fc
  .record({
    minSize: fc.integer({ min: 64, max: 3000 }),
    extra: fc.integer({ min: 0, max: 6000 }),
    averageBits: fc.integer({ min: 0, max: 13 }),
  })
  .map(({ minSize, extra, averageBits }) => ({ minSize, maxSize: minSize + extra, averageBits }));

/** Feed `data` in pieces ending at `splits`, collecting boundaries through the low-level API. */
function viaPieces(data: Uint8Array, pol: bigint, opts: ChunkerOptions, splits: number[]) {
  const ch = new Chunker(pol, opts);
  const out: ChunkBoundary[] = [];
  let start = 0;
  let prev = 0;
  for (const end of [...splits, data.length]) {
    const piece = data.subarray(prev, end);
    let i = 0;
    for (;;) {
      const cut = ch.next(piece, i, piece.length);
      if (cut < 0) break;
      expect(ch.position).toBe(prev + cut);
      out.push({ start, length: ch.position - start, cut: ch.cutDigest });
      start = ch.position;
      i = cut;
    }
    expect(ch.position).toBe(end);
    prev = end;
  }
  const last = ch.finish();
  if (last) out.push(last);
  return out;
}

describe("chunk boundaries", () => {
  it("tile the input; every chunk but the last is within [minSize, maxSize]", () => {
    fc.assert(
      fc.property(inputArb, sizesArb, (data, opts) => {
        const chunks = chunkBoundaries(data, TEST_POL, opts);
        let pos = 0;
        chunks.forEach((c, i) => {
          expect(c.start).toBe(pos);
          expect(c.length).toBeGreaterThan(0);
          expect(c.length).toBeLessThanOrEqual(opts.maxSize);
          if (i < chunks.length - 1) expect(c.length).toBeGreaterThanOrEqual(opts.minSize);
          pos += c.length;
        });
        expect(pos).toBe(data.length);
      }),
      { numRuns: 200 },
    );
  });

  it("do not depend on how the input is split into buffers", () => {
    fc.assert(
      fc.property(
        inputArb,
        sizesArb,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 }),
        (data, opts, fractions) => {
          const splits = fractions.map((f) => Math.floor(f * data.length)).sort((a, b) => a - b);
          expect(viaPieces(data, TEST_POL, opts, splits)).toEqual(
            chunkBoundaries(data, TEST_POL, opts),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  it("byte-at-a-time feeding gives the same cuts", () => {
    const data = xorshiftBytes(99, 20_000);
    const opts = { minSize: 100, maxSize: 900, averageBits: 7 };
    const splits = Array.from({ length: data.length - 1 }, (_, i) => i + 1);
    expect(viaPieces(data, TEST_POL, opts, splits)).toEqual(chunkBoundaries(data, TEST_POL, opts));
  });

  it("match a plain model of restic's loop, for any degree 8..53 and any split mask", () => {
    const polOfDegree = (d: fc.Arbitrary<number>) =>
      fc
        .record({ d, bits: fc.bigInt({ min: 0n, max: (1n << 53n) - 1n }) })
        .map(({ d, bits }) => (bits & ((1n << BigInt(d)) - 1n)) | (1n << BigInt(d)));
    // degree 53 (the multi-byte loops) half of the time
    const polArb = fc.oneof(
      polOfDegree(fc.constant(53)),
      polOfDegree(fc.integer({ min: 8, max: 53 })),
    );
    const maskArb = fc.oneof(
      fc.integer({ min: 0, max: 12 }).map((b) => (1n << BigInt(b)) - 1n),
      // masks reaching into the high half, or with holes: the general loop
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((m) => m & 0x1f0000000f0fn),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((m) => m & (0x3fn << 31n)),
    );
    fc.assert(
      fc.property(
        inputArb.map((d) => d.subarray(0, 12 * 1024)),
        polArb,
        maskArb,
        fc.integer({ min: 64, max: 700 }),
        fc.integer({ min: 0, max: 2000 }),
        (data, pol, splitMask, minSize, extra) => {
          const opts = { minSize, maxSize: minSize + extra, splitMask };
          const want = referenceChunks(data, pol, opts);
          expect(chunkBoundaries(data, pol, { ...opts, engine: "wasm" })).toEqual(want);
          expect(chunkBoundaries(data, pol, { ...opts, engine: "js" })).toEqual(want);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("change only near an edit", () => {
    // 8 MiB of random bytes at restic's sizes; flip one byte at a time.
    const data = xorshiftBytes(4242, 8 << 20);
    const before = chunkBoundaries(data, TEST_POL);
    const r = new XorShift(7);
    for (let k = 0; k < 12; k++) {
      const p = r.next() % data.length;
      const edited = data.slice();
      edited[p] ^= 1 + (r.next() % 255);
      const after = chunkBoundaries(edited, TEST_POL);
      const key = (c: ChunkBoundary, d: Uint8Array) =>
        `${c.start}+${c.length}:${sha256(d.subarray(c.start, c.start + c.length))}`;
      const a = new Set(before.map((c) => key(c, data)));
      const b = after.map((c) => key(c, edited));
      const changed = b.filter((x) => !a.has(x));
      // the chunk holding the edit changes; at most its neighbour's cut can move with it
      expect(changed.length, `edit at ${p}`).toBeGreaterThanOrEqual(1);
      expect(changed.length, `edit at ${p}`).toBeLessThanOrEqual(2);
    }
  });

  it("edits leave every chunk before them alone, and agree again after a common cut", () => {
    fc.assert(
      fc.property(
        inputArb.filter((d) => d.length > 0),
        sizesArb,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.integer({ min: 0, max: 300 }),
        (data, opts, where, insert, removed) => {
          const p = Math.floor(where * data.length);
          const q = Math.min(data.length, p + removed);
          const edited = new Uint8Array(data.length - (q - p) + insert.length);
          edited.set(data.subarray(0, p));
          edited.set(insert, p);
          edited.set(data.subarray(q), p + insert.length);
          const delta = insert.length - (q - p);
          // the cut points proper (not the end of the input)
          const endsA = new Chunker(TEST_POL, opts).cuts(data);
          const endsB = new Chunker(TEST_POL, opts).cuts(edited);
          // cuts at or before p are decided by bytes before p
          expect(endsB.filter((e) => e <= p)).toEqual(endsA.filter((e) => e <= p));
          // after a cut both share past the edit, all later cuts are shared
          const shiftedA = endsA.filter((e) => e >= q).map((e) => e + delta);
          const tailB = endsB.filter((e) => e >= p + insert.length);
          const common = tailB.find((e) => shiftedA.includes(e));
          if (common !== undefined) {
            expect(tailB.filter((e) => e >= common)).toEqual(shiftedA.filter((e) => e >= common));
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("Chunker API", () => {
  it("rejects polynomials restic's chunker cannot use", () => {
    for (const bad of [0n, 1n, 0xffn, 1n << 54n, (1n << 64n) | 0x1bn, -5n]) {
      expectCode(() => new Chunker(bad), "INVALID_ARGUMENT");
    }
    expect(new Chunker(0x11bn).polynomial).toBe(0x11bn); // degree 8 is the smallest
    // reducible polynomials work (restic only ever makes irreducible ones)
    const reducible = mul(0x11bn, 0x80000009n);
    expect(irreducible(reducible)).toBe(false);
    expect(deg(reducible)).toBe(39);
    expect(() => new Chunker(reducible)).not.toThrow();
  });

  it("rejects bad options", () => {
    expectCode(() => new Chunker(TEST_POL, { minSize: 63 }), "INVALID_ARGUMENT");
    expectCode(() => new Chunker(TEST_POL, { minSize: 1000, maxSize: 999 }), "INVALID_ARGUMENT");
    expectCode(() => new Chunker(TEST_POL, { maxSize: 1.5 }), "INVALID_ARGUMENT");
    expectCode(() => new Chunker(TEST_POL, { averageBits: 65 }), "INVALID_ARGUMENT");
    expectCode(() => new Chunker(TEST_POL, { averageBits: -1 }), "INVALID_ARGUMENT");
    expectCode(() => new Chunker(TEST_POL, { splitMask: 1n << 64n }), "INVALID_ARGUMENT");
    expectCode(() => new Chunker(TEST_POL, { splitMask: 1n, averageBits: 3 }), "INVALID_ARGUMENT");
    const c = new Chunker(TEST_POL);
    expect([c.minSize, c.maxSize, c.splitMask]).toEqual([512 * 1024, 8 * 1024 * 1024, 0xfffffn]);
    expect(new Chunker(TEST_POL, { averageBits: 64 }).splitMask).toBe((1n << 64n) - 1n);
  });

  it("checks next()'s range", () => {
    const c = new Chunker(TEST_POL);
    const b = new Uint8Array(10);
    expectCode(() => c.next(b, 5, 4), "INVALID_ARGUMENT");
    expectCode(() => c.next(b, 0, 11), "INVALID_ARGUMENT");
    expectCode(() => c.next(b, -1, 3), "INVALID_ARGUMENT");
    expectCode(() => c.next(b, 0.5, 3), "INVALID_ARGUMENT");
    expectCode(() => c.next("abc" as unknown as Uint8Array), "INVALID_ARGUMENT");
    expect(c.next(b, 3, 3)).toBe(-1);
    expect(c.position).toBe(0);
  });

  it("tracks positions, digests and resets", () => {
    const opts = { minSize: 256, maxSize: 1024, averageBits: 6 };
    const data = xorshiftBytes(5, 10_000);
    const want = chunkBoundaries(data, TEST_POL, opts);
    const c = new Chunker(TEST_POL, opts);
    expect(c.digest).toBe(1n); // restic's chunker starts each chunk with the byte 1 in its window
    expect(c.cutDigest).toBe(0n);
    const first = c.next(data);
    expect(first).toBe(want[0].length);
    expect(c.position).toBe(first);
    expect(c.chunkStart).toBe(first);
    expect(c.cutDigest).toBe(want[0].cut);
    expect(c.digest).toBe(1n);
    expect(c.cuts(data.subarray(first))).toEqual(want.slice(1, -1).map((x) => x.start + x.length));
    expect(c.finish()).toEqual(want[want.length - 1]);
    expect(c.position).toBe(0); // finish() resets
    expect(c.finish()).toBeNull();
    c.next(data, 0, 500);
    c.reset();
    expect(chunkBoundaries(data, TEST_POL, opts)).toEqual(want);
    expect(c.cuts(data)).toEqual(want.slice(0, -1).map((x) => x.start + x.length));
  });

  it("several chunkers with different polynomials can be used in turn", () => {
    const pols = [TEST_POL, 0x2482734cacca49n, 0x2f3a9bf03fd73bn];
    const data = xorshiftBytes(77, 200_000);
    const opts = { minSize: 1024, maxSize: 8192, averageBits: 10 };
    const want = pols.map((p) => chunkBoundaries(data, p, opts).map((c) => c.start + c.length));
    const chunkers = pols.map((p) => new Chunker(p, opts));
    const got: number[][] = pols.map(() => []);
    for (let off = 0; off < data.length; off += 1000) {
      chunkers.forEach((c, k) => {
        got[k].push(...c.cuts(data.subarray(off, off + 1000)));
      });
    }
    chunkers.forEach((c, k) => {
      const last = c.finish();
      if (last) got[k].push(last.start + last.length);
    });
    expect(got).toEqual(want);
  });
});
