// The chunker's WebAssembly inner loop (src/chunker/rabin.wat, rabin-wasm.ts): the committed
// module is the .wat assembled, and it cuts exactly where the JavaScript loop does, for any
// degree, split mask, sizes and way of feeding the input. (The restic vectors and the plain
// model run on both loops in vectors.test.ts and chunker.test.ts.)

import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Chunker, type ChunkerOptions } from "../../../src/chunker/index.js";
import { RABIN_WASM_BASE64 } from "../../../src/chunker/rabin-wasm.generated.js";
import { WASM_BLOCK } from "../../../src/chunker/rabin-wasm.js";
import { isResticTsError } from "../../../src/errors.js";
import { assembleWat } from "../../helpers/wasm.js";
import { XorShift, xorshiftBytes } from "./inputs.js";

const TEST_POL = 0x3da3358b4dc173n;
const WAT = fileURLToPath(new URL("../../../src/chunker/rabin.wat", import.meta.url));

/** Everything a chunker reports while `data` is fed in pieces ending at `splits`. */
function trace(data: Uint8Array, pol: bigint, opts: ChunkerOptions, splits: number[]): string[] {
  const ch = new Chunker(pol, opts);
  const out: string[] = [];
  let prev = 0;
  for (const end of [...splits, data.length]) {
    const piece = data.subarray(prev, end);
    let i = 0;
    for (;;) {
      const cut = ch.next(piece, i, piece.length);
      out.push(`${cut} ${ch.position} ${ch.chunkStart} ${ch.digest} ${ch.cutDigest}`);
      if (cut < 0) break;
      i = cut;
    }
    prev = end;
  }
  const last = ch.finish();
  out.push(last ? `${last.start} ${last.length} ${last.cut}` : "none");
  return out;
}

describe("WebAssembly chunker module", () => {
  it("is rabin.wat as wabt assembles it (bench/build-wasm.ts)", async () => {
    const bytes = await assembleWat(WAT);
    expect(Buffer.from(RABIN_WASM_BASE64, "base64").equals(bytes)).toBe(true);
  });

  it("is the default engine; js and wasm can be chosen, nothing else", () => {
    expect(new Chunker(TEST_POL).engine).toBe("wasm");
    expect(new Chunker(TEST_POL, { engine: "auto" }).engine).toBe("wasm");
    expect(new Chunker(TEST_POL, { engine: "wasm" }).engine).toBe("wasm");
    expect(new Chunker(TEST_POL, { engine: "js" }).engine).toBe("js");
    try {
      new Chunker(TEST_POL, { engine: "fast" as "js" });
      throw new Error("expected an error");
    } catch (err) {
      expect(isResticTsError(err) && err.code).toBe("INVALID_ARGUMENT");
    }
  });
});

describe("WebAssembly and JavaScript loops", () => {
  it("cut alike for any degree, mask, sizes and feeding", () => {
    const polArb = fc
      .record({
        // degree 53 (the four-bytes-per-step loop) half of the time
        d: fc.oneof(fc.constant(53), fc.integer({ min: 8, max: 53 })),
        bits: fc.bigInt({ min: 0n, max: (1n << 53n) - 1n }),
      })
      .map(({ d, bits }) => (bits & ((1n << BigInt(d)) - 1n)) | (1n << BigInt(d)));
    const maskArb = fc.oneof(
      fc.integer({ min: 0, max: 14 }).map((b) => (1n << BigInt(b)) - 1n),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((m) => m & 0x1f0000000f0fn),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((m) => m & (0x3fn << 31n)),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    );
    const dataArb = fc
      .record({
        kind: fc.constantFrom("random", "runs", "zeros"),
        seed: fc.integer({ min: 1, max: 0x7fffffff }),
        length: fc.integer({ min: 0, max: 40 * 1024 }),
      })
      .map(({ kind, seed, length }) => {
        const data = xorshiftBytes(seed, length);
        if (kind === "zeros") data.fill(0);
        if (kind === "runs") {
          const r = new XorShift(seed);
          for (let i = 0; i < length; i += 1 + (r.next() % 500)) {
            data.fill(r.next() & 0xff, i, i + (r.next() % 2000));
          }
        }
        return data;
      });
    fc.assert(
      fc.property(
        dataArb,
        polArb,
        maskArb,
        fc.integer({ min: 64, max: 2000 }),
        fc.integer({ min: 0, max: 8000 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 }),
        (data, pol, splitMask, minSize, extra, fractions) => {
          const splits = fractions.map((f) => Math.floor(f * data.length)).sort((a, b) => a - b);
          const opts = { minSize, maxSize: minSize + extra, splitMask };
          expect(trace(data, pol, { ...opts, engine: "wasm" }, splits)).toEqual(
            trace(data, pol, { ...opts, engine: "js" }, splits),
          );
        },
      ),
      { numRuns: 400 },
    );
  });

  it("cut alike across the WebAssembly block size, at restic's sizes", () => {
    const data = xorshiftBytes(4242, 3 * WASM_BLOCK + 12_345);
    const feeds = [[], [WASM_BLOCK - 1, WASM_BLOCK + 63, 2 * WASM_BLOCK + 64]];
    for (const splits of feeds) {
      for (const opts of [
        { minSize: 64, maxSize: data.length, averageBits: 22 },
        { minSize: 100_000, maxSize: 900_000, averageBits: 18 },
        { averageBits: 20 },
      ]) {
        const wasm = trace(data, TEST_POL, { ...opts, engine: "wasm" }, splits);
        expect(wasm).toEqual(trace(data, TEST_POL, { ...opts, engine: "js" }, splits));
      }
    }
  });
});
