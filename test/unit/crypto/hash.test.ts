import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  fromHex,
  randomBytes,
  randomPublicBytes,
  sha256,
  toHex,
} from "../../../src/crypto/index.js";
import { codeOf } from "./helpers.js";

describe("sha256", () => {
  it("matches FIPS 180-2 examples", () => {
    expect(toHex(sha256(new TextEncoder().encode("abc")))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
    expect(toHex(sha256(new Uint8Array(0)))).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
  });

  it("returns a plain 32-byte Uint8Array of its own", () => {
    const d = sha256(new Uint8Array([1, 2, 3]));
    expect(d).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(d)).toBe(false);
    expect(d.byteLength).toBe(32);
    expect(d.buffer.byteLength).toBe(32);
  });

  it("agrees with node:crypto on subarrays", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(50), (b, cut) => {
        const view = b.subarray(Math.min(cut, b.length));
        const want = createHash("sha256").update(view).digest("hex");
        expect(toHex(sha256(view))).toBe(want);
      }),
    );
  });
});

describe("hex", () => {
  it("round-trips any bytes, lower-case", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
        const s = toHex(b);
        expect(s).toMatch(/^[0-9a-f]*$/);
        expect(fromHex(s)).toEqual(b);
        expect(fromHex(s.toUpperCase())).toEqual(b);
      }),
    );
  });

  it("toHex respects views into a larger buffer", () => {
    const b = new Uint8Array([0, 1, 2, 0xff, 4]);
    expect(toHex(b.subarray(2, 4))).toBe("02ff");
  });

  it("fromHex rejects odd length and non-hex with INVALID_ARGUMENT", () => {
    for (const bad of ["a", "abc", "zz", "0g", " 00", "00 ", "0x00", "é0"]) {
      expect(codeOf(() => fromHex(bad))).toBe("INVALID_ARGUMENT");
    }
    expect(codeOf(() => fromHex(42 as unknown as string))).toBe("INVALID_ARGUMENT");
    expect(fromHex("")).toEqual(new Uint8Array(0));
  });
});

describe("randomBytes", () => {
  it("returns n fresh bytes", () => {
    expect(randomBytes(0).length).toBe(0);
    const a = randomBytes(32);
    const b = randomBytes(32);
    expect(a.length).toBe(32);
    expect(toHex(a)).not.toBe(toHex(b));
  });

  it("rejects bad lengths", () => {
    for (const n of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(codeOf(() => randomBytes(n))).toBe("INVALID_ARGUMENT");
    }
  });

  it("randomPublicBytes: distinct values across pool refills, own buffers", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const iv = randomPublicBytes(16);
      expect(iv.length).toBe(16);
      expect(iv.buffer.byteLength).toBe(16);
      seen.add(toHex(iv));
    }
    expect(seen.size).toBe(1000);
    expect(randomPublicBytes(1000).length).toBe(1000);
    expect(codeOf(() => randomPublicBytes(-1))).toBe("INVALID_ARGUMENT");
  });
});
