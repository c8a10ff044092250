// scrypt with its ROMix in WebAssembly SIMD (src/crypto/scrypt.wat, scrypt-wasm.ts): the
// committed module is the .wat assembled, and for every trade-off k it returns what
// node:crypto.scrypt (OpenSSL) returns, RFC 7914's vectors, and the key that opens a key file
// made by restic 0.14.

import { scryptSync } from "node:crypto";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type KdfParams,
  masterKeyToJSON,
  userKeyFromKdfOutput,
} from "../../../src/crypto/index.js";
import { SCRYPT_WASM_BASE64 } from "../../../src/crypto/scrypt-wasm.generated.js";
import {
  type ScryptTradeoff,
  type ScryptWasmOptions,
  scryptWasm,
} from "../../../src/crypto/scrypt-wasm.js";
import { isResticTsError } from "../../../src/errors.js";
import { parseKeyFile, unsealKeyFile } from "../../../src/repo/key-file.js";
import { assembleWat } from "../../helpers/wasm.js";
import { codeOf, loadVectors, scryptVectors, toHexStr } from "./helpers.js";

const WAT = fileURLToPath(new URL("../../../src/crypto/scrypt.wat", import.meta.url));
const TRADEOFFS: ScryptTradeoff[] = [1, 2, 4, 8];
const LANES: (1 | 2)[] = [1, 2];
const enc = (s: string) => new TextEncoder().encode(s);

/** node:crypto.scrypt, the oracle (OpenSSL; it refuses N >= 2^(16r), which no case here has). */
function openssl(pw: Uint8Array, salt: Uint8Array, params: KdfParams, length: number): string {
  const maxmem = 128 * params.r * (params.N + params.p + 2) + (1 << 20);
  return scryptSync(pw, salt, length, { ...params, maxmem }).toString("hex");
}

describe("WebAssembly scrypt module", () => {
  it("is scrypt.wat as wabt assembles it with SIMD (bench/build-wasm.ts)", async () => {
    const bytes = await assembleWat(WAT);
    expect(Buffer.from(SCRYPT_WASM_BASE64, "base64").equals(bytes)).toBe(true);
  });
});

const vectors = scryptVectors();

describe("scryptWasm (RFC 7914 section 12)", () => {
  const cases = vectors
    .filter((v) => !v.skip)
    .flatMap((v) => TRADEOFFS.map((tradeoff) => ({ ...v, tradeoff })))
    .flatMap((v) => LANES.map((lanes) => ({ ...v, lanes })));
  it.each(cases)("N=$N r=$r p=$p, k=$tradeoff, lanes=$lanes", (v) => {
    const dk = scryptWasm(v.password, enc(v.salt), v, 64, { tradeoff: v.tradeoff, lanes: v.lanes });
    expect(toHexStr(dk)).toBe(v.dk);
  });

  it("refuses the 1 GiB vector as UNSUPPORTED before allocating", () => {
    const big = vectors.find((v) => v.skip)!;
    const t = Date.now();
    expect(codeOf(() => scryptWasm(big.password, enc(big.salt), big, 64))).toBe("UNSUPPORTED");
    expect(Date.now() - t).toBeLessThan(100);
  });
});

describe("scryptWasm against node:crypto.scrypt", () => {
  it("agrees for random N, r, p, passwords, salts, lengths, every trade-off and lanes", () => {
    fc.assert(
      fc.property(
        fc.record({
          N: fc.integer({ min: 1, max: 10 }).map((e) => 2 ** e),
          r: fc.integer({ min: 1, max: 4 }),
          p: fc.integer({ min: 1, max: 5 }),
        }),
        fc.uint8Array({ maxLength: 80 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.integer({ min: 1, max: 200 }),
        fc.constantFrom(...TRADEOFFS),
        fc.constantFrom(...LANES),
        (params, pw, salt, length, tradeoff, lanes) => {
          const dk = scryptWasm(pw, salt, params, length, { tradeoff, lanes });
          expect(dk.length).toBe(length);
          expect(toHexStr(dk)).toBe(openssl(pw, salt, params, length));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("takes string passwords as UTF-8, without normalisation", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "grapheme", maxLength: 12 }),
        fc.constantFrom(...TRADEOFFS),
        (pw, tradeoff) => {
          const salt = new Uint8Array(64).fill(3);
          const params = { N: 64, r: 2, p: 1 };
          const dk = scryptWasm(pw, salt, params, 64, { tradeoff });
          expect(toHexStr(dk)).toBe(openssl(enc(pw), salt, params, 64));
        },
      ),
      { numRuns: 50 },
    );
    const salt = new Uint8Array(64).fill(1);
    const p = { N: 16, r: 1, p: 1 };
    expect(scryptWasm("\u00e9", salt, p, 64)).not.toEqual(scryptWasm("e\u0301", salt, p, 64));
  });

  it("agrees at restic's N=2^15 r=8, with and without huge pages, one or two lanes", () => {
    const salt = new Uint8Array(64).map((_, i) => 255 - i);
    const params = { N: 32768, r: 8, p: 3 };
    const want = openssl(enc("pw"), salt, params, 64);
    for (const tradeoff of TRADEOFFS) {
      const hugePages = tradeoff <= 2;
      const lanes = tradeoff % 4 === 0 ? 2 : 1;
      const dk = scryptWasm("pw", salt, params, 64, { tradeoff, hugePages, lanes });
      expect(toHexStr(dk)).toBe(want);
    }
  });

  it("accepts N >= 2^(16r), which OpenSSL refuses and Go's scrypt (restic) computes", async () => {
    const params = { N: 65536, r: 1, p: 2 };
    const salt = new Uint8Array(64).fill(5);
    // scrypt-js (a devDependency) as the independent oracle: OpenSSL refuses these
    const scryptJs = (await import("scrypt-js")).default;
    const want = toHexStr(await scryptJs.scrypt(enc("pw"), salt, 65536, 1, 2, 64));
    for (const tradeoff of TRADEOFFS) {
      for (const lanes of LANES) {
        expect(toHexStr(scryptWasm("pw", salt, params, 64, { tradeoff, lanes }))).toBe(want);
      }
    }
  });

  it("validates parameters as kdf.ts does, and its own length and trade-off", () => {
    const salt = new Uint8Array(64);
    const ok = { N: 16, r: 1, p: 1 };
    expect(codeOf(() => scryptWasm("pw", salt, { N: 3, r: 1, p: 1 }, 64))).toBe("CORRUPT");
    expect(codeOf(() => scryptWasm("pw", salt, { N: 16, r: 0, p: 1 }, 64))).toBe("CORRUPT");
    expect(codeOf(() => scryptWasm("pw", salt, { N: 2 ** 15, r: 8, p: 100_000 }, 64))).toBe(
      "UNSUPPORTED",
    );
    for (const length of [0, -1, 1.5, 1025, Number.NaN]) {
      expect(codeOf(() => scryptWasm("pw", salt, ok, length))).toBe("INVALID_ARGUMENT");
    }
    for (const tradeoff of [0, 3, 16, 1.5]) {
      expect(
        codeOf(() => scryptWasm("pw", salt, ok, 64, { tradeoff: tradeoff as ScryptTradeoff })),
      ).toBe("INVALID_ARGUMENT");
    }
    expect(codeOf(() => scryptWasm("pw", salt, ok, 64, { lanes: 3 as 2 }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(codeOf(() => scryptWasm("pw", "salt" as unknown as Uint8Array, ok, 64))).toBe(
      "INVALID_ARGUMENT",
    );
  });
});

describe("scryptWasm on a key file made by restic 0.14", () => {
  interface ResticFixture {
    password: string;
    keyFile: string;
    masterKey: unknown;
  }
  const fixture = loadVectors<ResticFixture>("restic-keyfile.json");

  const cases: ScryptWasmOptions[] = TRADEOFFS.map((tradeoff) => ({
    tradeoff,
    lanes: tradeoff < 4 ? 2 : 1,
  }));
  it.each(cases)(
    "derives the key that opens it (N=2^15 r=8 p=7), k=$tradeoff, lanes=$lanes",
    async (o) => {
      const kf = parseKeyFile(enc(fixture.keyFile));
      const params = { N: kf.N, r: kf.r, p: kf.p };
      expect(params).toEqual({ N: 32768, r: 8, p: 7 });
      const user = await userKeyFromKdfOutput(scryptWasm(fixture.password, kf.salt, params, 64, o));
      expect(masterKeyToJSON(await unsealKeyFile(kf, user))).toEqual(fixture.masterKey);
    },
  );

  it("derives a key that does not open it from a wrong password", async () => {
    const kf = parseKeyFile(enc(fixture.keyFile));
    const params = { N: kf.N, r: kf.r, p: kf.p };
    const wrong = await userKeyFromKdfOutput(
      scryptWasm("correct horse", kf.salt, params, 64, { tradeoff: 4 }),
    );
    const err = await unsealKeyFile(kf, wrong).catch((e: unknown) => e);
    expect(isResticTsError(err) && err.code).toBe("WRONG_PASSWORD");
  });
});
