// Our chunker and polynomial code against fixtures/chunker/vectors.json: results of restic's
// own Go code (restic/chunker v0.4.0) on the same inputs, and the vectors published in its
// chunker_test.go. Needs no Go: the vectors are checked in (fixtures/chunker/make-vectors.sh).

import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  Chunker,
  chunkBoundaries,
  chunkStream,
  derivePolynomial,
  divMod,
  gcd,
  irreducible,
  MIN_SIZE,
  mulMod,
} from "../../../src/chunker/index.js";
import {
  type ChunkVector,
  loadVectors,
  makeInput,
  specKey,
  type VectorCase,
  XorShift,
} from "./inputs.js";

const vectors = loadVectors();
const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const hex = (b: bigint): string => b.toString(16);

const inputCache = new Map<string, Uint8Array>();
function input(c: VectorCase): Uint8Array {
  const key = specKey(c.input);
  let data = inputCache.get(key);
  if (!data) {
    data = makeInput(c.input);
    // keep only the big shared inputs around
    if (c.input.length >= 16 << 20) inputCache.set(key, data);
  }
  return data;
}

function opts(c: VectorCase) {
  return { minSize: c.minSize, maxSize: c.maxSize, averageBits: c.averageBits };
}

/** The two loops that hash: WebAssembly (the default) and the JavaScript fallback. */
const ENGINES = ["wasm", "js"] as const;
type Engine = (typeof ENGINES)[number];

function ours(c: VectorCase, data: Uint8Array, engine: Engine): ChunkVector[] {
  return chunkBoundaries(data, BigInt(`0x${c.pol}`), { ...opts(c), engine }).map((b) => [
    b.start,
    b.length,
    hex(b.cut),
    sha256(data.subarray(b.start, b.start + b.length)),
  ]);
}

describe("test inputs", () => {
  it("are the bytes the Go program chunked", () => {
    const seen = new Set<string>();
    for (const c of vectors.cases) {
      const key = specKey(c.input);
      if (seen.has(key)) continue;
      seen.add(key);
      expect(sha256(input(c)), key).toBe(vectors.inputs.sha256[key]);
    }
  });
});

describe.each(ENGINES)("chunker vectors from restic/chunker (%s)", (engine) => {
  for (const c of vectors.cases) {
    it(`${c.name} (pol ${c.pol}, ${c.minSize}..${c.maxSize}, ${c.averageBits} bits)`, () => {
      const data = input(c);
      expect(ours(c, data, engine)).toEqual(c.chunks);
    });
  }

  it("published chunker_test.go vectors: chunks1 and chunks3 (32 MiB of math/rand, seed 23)", () => {
    const c = vectors.cases.find((x) => x.input.kind === "gorand");
    if (!c) throw new Error("gorand case missing");
    const data = input(c);
    const pol = 0x3da3358b4dc173n;
    for (const [name, averageBits] of [
      ["chunks1", 20],
      ["chunks3", 19],
    ] as const) {
      const got = chunkBoundaries(data, pol, { averageBits, engine }).map((b) => [
        b.length,
        hex(b.cut),
        sha256(data.subarray(b.start, b.start + b.length)),
      ]);
      expect(got, name).toEqual(vectors.published.lists[name]);
    }
  });

  it("published chunker_test.go vectors: chunks2 (4 * MinSize zero bytes)", () => {
    const data = new Uint8Array(4 * MIN_SIZE);
    const got = chunkBoundaries(data, 0x3da3358b4dc173n, { engine }).map((b) => [
      b.length,
      hex(b.cut),
      sha256(data.subarray(b.start, b.start + b.length)),
    ]);
    expect(got).toEqual(vectors.published.lists.chunks2);
  });

  it("gives the same cuts fed in odd-sized buffers and through chunkStream", async () => {
    for (const name of ["random 16 MiB seed 5, derived pol 2", "text 24 MiB, testPol"]) {
      const c = vectors.cases.find((x) => x.name === name);
      if (!c) throw new Error(`${name} missing`);
      const data = input(c);
      const pol = BigInt(`0x${c.pol}`);
      const ch = new Chunker(pol, { ...opts(c), engine });
      const cuts: number[] = [];
      const step = 65_537;
      for (let off = 0; off < data.length; off += step) {
        cuts.push(...ch.cuts(data.subarray(off, Math.min(off + step, data.length))));
      }
      const last = ch.finish();
      const ends = c.chunks.map(([s, l]) => s + l);
      expect([...cuts, ...(last ? [last.start + last.length] : [])]).toEqual(ends);

      async function* pieces() {
        for (let off = 0; off < data.length; off += 1_000_003) {
          yield data.subarray(off, Math.min(off + 1_000_003, data.length));
        }
      }
      const sums: string[] = [];
      const chunks = chunkStream(pieces(), pol, { ...opts(c), engine });
      for await (const chunk of chunks) sums.push(sha256(chunk));
      expect(sums).toEqual(c.chunks.map((x) => x[3]));
    }
  });
});

describe("polynomial vectors from restic/chunker", () => {
  it("derivePolynomial reads candidates as restic's DerivePolynomial does", () => {
    for (const d of vectors.derived) {
      const read = new XorShift(d.xorshiftSeed).reader();
      expect(hex(derivePolynomial(read)), `seed ${d.xorshiftSeed}`).toBe(d.pol);
    }
  });

  it("irreducible agrees with restic's Irreducible", () => {
    for (const [p, want] of vectors.irreducible) {
      expect(irreducible(BigInt(`0x${p}`)), p).toBe(want);
    }
  });

  it("divMod, gcd and mulMod agree with restic's", () => {
    for (const v of vectors.arithmetic) {
      const [x, y, a, b, g] = [v.x, v.y, v.a, v.b, v.g].map((s) => BigInt(`0x${s}`));
      const { quotient, remainder } = divMod(x, y);
      expect(hex(quotient)).toBe(v.div);
      expect(hex(remainder)).toBe(v.mod);
      expect(hex(gcd(x, y))).toBe(v.gcd);
      expect(hex(mulMod(a, b, g))).toBe(v.mulmod);
    }
  });
});
