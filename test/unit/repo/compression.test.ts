import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { isResticTsError } from "../../../src/errors.js";
import {
  activeNativeZstd,
  compress,
  decompress,
  RawZstd,
  setZstdImplementation,
  type ZstdImplementation,
} from "../../../src/repo/compression.js";
import { loadNativeZstd, nativeZstd } from "../../../src/repo/zstd-native.js";

const IMPLEMENTATIONS: readonly Exclude<ZstdImplementation, "auto">[] = ["native", "wasm"];

afterEach(() => {
  setZstdImplementation("auto");
});

/** Compressible bytes: runs of a few symbols with some noise. */
const compressible = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 400 })), {
    maxLength: 200,
  })
  .map((runs) => Uint8Array.from(runs.flatMap(([b, n]) => Array<number>(n).fill(b))));

const bytes = fc.oneof(compressible, fc.uint8Array({ maxLength: 5000 }));

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isResticTsError(err) ? err.code : `not coded: ${String(err)}`;
  }
}

describe("zstd implementations", () => {
  it("uses libzstd here (Debian's libzstd1 through koffi)", () => {
    const z = nativeZstd();
    expect(z).not.toBeNull();
    expect(z?.version).toMatch(/^1\.\d+\.\d+$/);
    expect(activeNativeZstd()).toBe(z);
    setZstdImplementation("wasm");
    expect(activeNativeZstd()).toBeNull();
  });

  it("round-trips, and each decodes the other's frames", async () => {
    await fc.assert(
      fc.asyncProperty(
        bytes,
        fc.constantFrom("auto", "max") as fc.Arbitrary<"auto" | "max">,
        async (data, mode) => {
          const frames = [];
          for (const impl of IMPLEMENTATIONS) {
            setZstdImplementation(impl);
            frames.push(await compress(data, mode));
          }
          for (const impl of IMPLEMENTATIONS) {
            setZstdImplementation(impl);
            for (const frame of frames) {
              expect(Buffer.from(await decompress(frame, data.length, data.length))).toEqual(
                Buffer.from(data),
              );
              expect(Buffer.from(await decompress(frame, data.length + 10))).toEqual(
                Buffer.from(data),
              );
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("handles a multi-megabyte blob", async () => {
    const data = new Uint8Array(5 * 1024 * 1024 + 3);
    for (let i = 0; i < data.length; i++) data[i] = (i >> 6) % 17 === 0 ? i & 0xff : 65;
    for (const impl of IMPLEMENTATIONS) {
      setZstdImplementation(impl);
      const frame = await compress(data, "auto");
      expect(frame.length).toBeLessThan(data.length / 4);
      const out = await decompress(frame, data.length, data.length);
      expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
    }
  });

  it("refuses frames that expand past the limit, lie about their size, or are garbage", async () => {
    const data = new Uint8Array(100_000).fill(7);
    setZstdImplementation("native");
    const frame = await compress(data, "auto");
    for (const impl of IMPLEMENTATIONS) {
      setZstdImplementation(impl);
      // a declared size over the limit, and an index that says otherwise
      expect(await codeOf(decompress(frame, 99_999))).toBe("CORRUPT");
      expect(await codeOf(decompress(frame, 200_000, 50_000))).toBe("CORRUPT");
      expect(await codeOf(decompress(frame, 200_000, 100_001))).toBe("CORRUPT");
      // a truncated frame, and bytes that are no frame at all
      expect(await codeOf(decompress(frame.subarray(0, frame.length - 3), 200_000))).toBe(
        "CORRUPT",
      );
      expect(await codeOf(decompress(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 100))).toBe(
        "CORRUPT",
      );
      const flipped = Uint8Array.from(frame);
      flipped[flipped.length - 2] ^= 0xff;
      const code = await codeOf(decompress(flipped, 100_000, 100_000));
      expect(code === undefined || code === "CORRUPT").toBe(true);
    }
  });

  it("RawZstd compresses ranges of its reused input buffer with either implementation", async () => {
    for (const impl of IMPLEMENTATIONS) {
      setZstdImplementation(impl);
      const raw = await RawZstd.create(300_000, 100_000);
      const input = raw.input;
      for (let i = 0; i < input.length; i++) input[i] = (i >> 4) % 7;
      for (const [offset, length] of [
        [0, 0],
        [5, 100_000],
        [199_999, 100_000],
      ]) {
        const frame = Uint8Array.from(raw.compress(offset, length, 3));
        const want = Buffer.from(raw.input.subarray(offset, offset + length));
        expect(Buffer.from(await decompress(frame, length, length)).equals(want)).toBe(true);
      }
      expect(() => raw.compress(250_000, 60_000, 1)).toThrow(/out of bounds/);
      expect(() => raw.compress(0, 100_001, 1)).toThrow(/out of bounds/);
    }
  });

  it("falls back (null) when koffi or libzstd is missing or misbehaves", () => {
    expect(
      loadNativeZstd(() => {
        throw new Error("Cannot find module 'koffi'");
      }),
    ).toBeNull();
    const noLibrary = {
      load: (name: string) => {
        throw new Error(`${name}: cannot open shared object file`);
      },
    };
    expect(loadNativeZstd(() => noLibrary)).toBeNull();
    // a library whose functions "succeed" but produce nothing fails the round trip
    const broken = {
      load: () => ({
        func: (proto: string) => (proto.includes("versionNumber") ? () => 10504 : () => 0),
      }),
    };
    expect(loadNativeZstd(() => broken)).toBeNull();
    expect(() => setZstdImplementation("auto")).not.toThrow();
  });
});
