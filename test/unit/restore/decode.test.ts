// Opening and decompressing blobs in place for the restorer (crypto/master-key.ts openInPlace,
// restore/zstd.ts BlobDecompressor): OpenSSL through koffi or node:crypto, libzstd or the
// WebAssembly build — each must give the same plaintext and refuse the same bad input.

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { activeAesCtr, setAesCtrProvider } from "../../../src/crypto/aes-ctr.js";
import { newMasterKey, openInPlace, seal } from "../../../src/crypto/master-key.js";
import { compress, setZstdImplementation } from "../../../src/repo/compression.js";
import { BlobDecompressor } from "../../../src/repo/restore/zstd.js";
import { nativeZstd } from "../../../src/repo/zstd-native.js";

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

for (const impl of ["auto", "node"] as const)
  describe(`openInPlace (${impl})`, () => {
    const key = newMasterKey();
    beforeAll(() => {
      setAesCtrProvider(impl);
      expect(activeAesCtr()).toBe(impl === "node" ? "node" : "openssl");
    });
    afterAll(() => {
      setAesCtrProvider("auto");
    });

    it("decrypts sealed blobs of every size where they lie", () => {
      for (const n of [0, 1, 15, 16, 17, 8191, 8192, 65_537, 300_001]) {
        const plain = pattern(n, n + 1);
        const sealed = seal(key, plain);
        // the sealed bytes inside a larger buffer, as in a pack range
        const range = new Uint8Array(sealed.length + 100);
        range.set(sealed, 50);
        const view = range.subarray(50, 50 + sealed.length);
        const out = openInPlace(key, view);
        expect(out.length).toBe(n);
        expect(out.buffer).toBe(range.buffer);
        expect(out.byteOffset).toBeGreaterThanOrEqual(50);
        expect(out.byteOffset + n).toBeLessThanOrEqual(50 + sealed.length);
        expect(Buffer.from(out).equals(Buffer.from(plain))).toBe(true);
        // bytes outside the sealed blob are untouched
        expect(range.subarray(0, 50).every((b) => b === 0)).toBe(true);
        expect(range.subarray(50 + sealed.length).every((b) => b === 0)).toBe(true);
      }
    });

    it("refuses a changed byte, a short blob and an all-zero IV, changing nothing", () => {
      const sealed = seal(key, pattern(20_000, 7));
      for (const at of [0, 16, 10_000, sealed.length - 1]) {
        const bad = sealed.slice();
        bad[at] ^= 0x01;
        const copy = bad.slice();
        expect(() => openInPlace(key, bad)).toThrow(
          expect.objectContaining({ code: "UNAUTHENTICATED" }),
        );
        expect(Buffer.from(bad).equals(Buffer.from(copy))).toBe(true);
      }
      expect(() => openInPlace(key, sealed.subarray(0, 31))).toThrow(
        expect.objectContaining({ code: "UNAUTHENTICATED" }),
      );
      const zeroIv = sealed.slice();
      zeroIv.fill(0, 0, 16);
      expect(() => openInPlace(key, zeroIv)).toThrow(
        expect.objectContaining({ code: "UNAUTHENTICATED" }),
      );
    });
  });

type Decode = (frame: Uint8Array, expected: number, out: Uint8Array) => Promise<void> | undefined;

/** `decode` fills exactly its view of an arena and refuses wrong lengths and damaged frames. */
async function expectDecodesAndRefuses(decode: Decode, text: Uint8Array, frame: Uint8Array) {
  const arena = new Uint8Array(text.length + 64);
  await decode(frame, text.length, arena.subarray(32));
  expect(Buffer.from(arena.subarray(32, 32 + text.length)).equals(Buffer.from(text))).toBe(true);
  expect(arena.subarray(0, 32).every((b) => b === 0)).toBe(true);
  // the index says one byte fewer or more: refused
  for (const wrong of [text.length - 1, text.length + 1]) {
    await expect(decode(frame, wrong, new Uint8Array(text.length + 1))).rejects.toMatchObject({
      code: "CORRUPT",
    });
  }
  // a truncated frame and one without its magic number: refused (a changed byte inside
  // may decode to other bytes of the same length: the restorer's SHA-256 check is for that)
  const noMagic = frame.slice();
  noMagic[0] ^= 0xff;
  for (const bad of [frame.subarray(0, frame.length - 10), noMagic]) {
    await expect(decode(bad, text.length, new Uint8Array(text.length))).rejects.toMatchObject({
      code: "CORRUPT",
    });
  }
}

describe("BlobDecompressor", () => {
  afterEach(() => {
    setZstdImplementation("auto");
  });

  const implementations = nativeZstd() ? (["native", "wasm"] as const) : (["wasm"] as const);

  for (const impl of implementations) {
    it(`${impl}: decompresses into the caller's buffer and checks the length`, async () => {
      setZstdImplementation(impl);
      const text = new TextEncoder().encode("2026-11-27T13:42:21Z INFO request ok\n".repeat(9000));
      const frame = await compress(text, "auto");
      const d = await BlobDecompressor.create();
      try {
        await expectDecodesAndRefuses((f, n, out) => d.decompressInto(f, n, out), text, frame);
      } finally {
        d.dispose();
      }
    });
  }

  it.runIf(nativeZstd() !== null)(
    "off the main thread: the same bytes, the same refusals; nothing without libzstd",
    async () => {
      const text = new TextEncoder().encode("2026-11-28T04:51:00Z WARN slow disk\n".repeat(30000));
      setZstdImplementation("native");
      const frame = await compress(text, "auto");
      const d = await BlobDecompressor.create();
      const offThread: Decode = (f, n, out) => {
        const pending = d.decompressIntoOffThread(f, n, out);
        expect(pending).toBeInstanceOf(Promise);
        return pending;
      };
      await expectDecodesAndRefuses(offThread, text, frame);
      // many at once on the pool, each into its own area
      const many = await Promise.all(
        Array.from({ length: 8 }, async () => {
          const out = new Uint8Array(text.length);
          await d.decompressIntoOffThread(frame, text.length, out);
          return Buffer.from(out).equals(Buffer.from(text));
        }),
      );
      expect(many.every(Boolean)).toBe(true);
      setZstdImplementation("wasm");
      const wasm = await BlobDecompressor.create();
      expect(wasm.decompressIntoOffThread(frame, text.length, new Uint8Array(text.length))).toBe(
        undefined,
      );
      wasm.dispose();
    },
  );
});
