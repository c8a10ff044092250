import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_KDF_PARAMS,
  deriveKey,
  deriveKeyPortable,
  type KdfParams,
  scryptRaw,
  scryptRawPortable,
  userKeyFromKdfOutput,
  validateKdfParams,
} from "../../../src/crypto/index.js";
import { asyncCodeOf, codeOf, scryptVectors, toHexStr } from "./helpers.js";

const vectors = scryptVectors();

describe("scrypt (RFC 7914 section 12)", () => {
  const runnable = vectors.filter((v) => !v.skip);
  it.each(runnable)("node:crypto N=$N r=$r p=$p", async (v) => {
    const salt = new TextEncoder().encode(v.salt);
    expect(toHexStr(await scryptRaw(v.password, salt, v, 64))).toBe(v.dk);
  });

  it.each(runnable.filter((v) => v.N <= 1024))("WebAssembly N=$N r=$r p=$p", async (v) => {
    const salt = new TextEncoder().encode(v.salt);
    expect(toHexStr(await scryptRawPortable(v.password, salt, v, 64))).toBe(v.dk);
  });

  it("refuses the 1 GiB vector as UNSUPPORTED before allocating", async () => {
    const big = vectors.find((v) => v.skip)!;
    expect(await asyncCodeOf(() => scryptRaw(big.password, new Uint8Array(4), big, 64))).toBe(
      "UNSUPPORTED",
    );
  });

  it("falls back where OpenSSL refuses N >= 2^(16r) but Go accepts it", async () => {
    const params = { N: 65536, r: 1, p: 1 };
    const salt = new Uint8Array(64).fill(5);
    const a = await scryptRaw("pw", salt, params, 64);
    // an independent implementation as the oracle (scrypt-js, a devDependency)
    const scryptJs = (await import("scrypt-js")).default;
    const want = await scryptJs.scrypt(new TextEncoder().encode("pw"), salt, 65536, 1, 1, 64);
    expect(toHexStr(a)).toBe(toHexStr(want));
  });
});

describe("deriveKey", () => {
  const small = { N: 1024, r: 8, p: 1 };

  it("defaults to restic's starting parameters", () => {
    expect(DEFAULT_KDF_PARAMS).toEqual({ N: 32768, r: 8, p: 1 });
  });

  it("splits scrypt's 64 bytes as restic: encrypt 0..32, mac.k 32..48, mac.r 48..64", async () => {
    const salt = new Uint8Array(64).map((_, i) => i);
    const raw = await scryptRaw("hunter2", salt, small, 64);
    const k = await deriveKey("hunter2", salt, small);
    expect(k.encrypt).toEqual(raw.subarray(0, 32));
    expect(k.macK).toEqual(raw.subarray(32, 48));
    expect(k.macR).toEqual(raw.subarray(48, 64)); // stored unclamped; clamped when used
    expect(await userKeyFromKdfOutput(raw)).toEqual(k);
  });

  it("node:crypto and WebAssembly agree (UTF-8 passwords, no normalisation)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: "grapheme", maxLength: 12 }),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        fc.constantFrom({ N: 16, r: 1, p: 1 }, { N: 256, r: 8, p: 2 }, { N: 64, r: 2, p: 3 }),
        async (pw, salt, params) => {
          const a = await deriveKey(pw, salt, params);
          const b = await deriveKeyPortable(pw, salt, params);
          expect(a).toEqual(b);
        },
      ),
      { numRuns: 25 },
    );
    // "é" precomposed and decomposed are different passwords, as in Go.
    const salt = new Uint8Array(64).fill(1);
    const p = { N: 16, r: 1, p: 1 };
    const nfc = await deriveKey("\u00e9", salt, p);
    const nfd = await deriveKey("e\u0301", salt, p);
    expect(nfc.encrypt).not.toEqual(nfd.encrypt);
  });

  it("requires a 64-byte salt", async () => {
    expect(await asyncCodeOf(() => deriveKey("pw", new Uint8Array(32), small))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(await asyncCodeOf(() => deriveKeyPortable("pw", new Uint8Array(65), small))).toBe(
      "INVALID_ARGUMENT",
    );
  });
});

describe("validateKdfParams", () => {
  it("accepts restic's calibrated parameters", () => {
    for (const p of [1, 3, 7, 8, 64]) {
      expect(codeOf(() => validateKdfParams({ N: 32768, r: 8, p }))).toBe("none");
    }
    expect(codeOf(() => validateKdfParams({ N: 65536, r: 8, p: 1 }))).toBe("none");
    expect(codeOf(() => validateKdfParams({ N: 2, r: 1, p: 1 }))).toBe("none");
  });

  it("CORRUPT for invalid scrypt parameters", () => {
    const bad: unknown[] = [
      { N: 0, r: 8, p: 1 },
      { N: 1, r: 8, p: 1 },
      { N: 3, r: 8, p: 1 },
      { N: 32767, r: 8, p: 1 },
      { N: -32768, r: 8, p: 1 },
      { N: 32768.5, r: 8, p: 1 },
      { N: 32768, r: 0, p: 1 },
      { N: 32768, r: 8, p: 0 },
      { N: 32768, r: 8, p: -1 },
      { N: 32768, r: 8, p: 1.5 },
      { N: 32768, r: 8, p: Number.NaN },
      { N: "32768", r: 8, p: 1 },
      { N: 16, r: 2 ** 15, p: 2 ** 15 },
      {},
      null,
    ];
    for (const p of bad) expect(codeOf(() => validateKdfParams(p as KdfParams))).toBe("CORRUPT");
  });

  it("UNSUPPORTED for hostile sizes (memory or work), checked before any scrypt", async () => {
    const hostile: KdfParams[] = [
      { N: 2 ** 20, r: 8, p: 1 }, // 1 GiB
      { N: 2 ** 40, r: 8, p: 1 },
      { N: 2 ** 15, r: 1024, p: 1 },
      { N: 2 ** 15, r: 8, p: 100_000 }, // tiny memory, hours of work
    ];
    for (const p of hostile) expect(codeOf(() => validateKdfParams(p))).toBe("UNSUPPORTED");
    const t = Date.now();
    const salt = new Uint8Array(64);
    expect(await asyncCodeOf(() => deriveKey("pw", salt, hostile[0]))).toBe("UNSUPPORTED");
    expect(await asyncCodeOf(() => deriveKeyPortable("pw", salt, hostile[3]))).toBe("UNSUPPORTED");
    expect(Date.now() - t).toBeLessThan(500);
  });
});
