import { createCipheriv } from "node:crypto";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  activePoly1305,
  availablePoly1305Providers,
  masterKeyFromParts,
  poly1305Aes,
  poly1305AesKey,
  poly1305AesPortable,
  poly1305For,
  setPoly1305Provider,
} from "../../../src/crypto/index.js";
import {
  loadOpenSslProvider,
  loadSodiumNativeProvider,
  noblePoly1305Provider,
  OPENSSL_MIN_BYTES,
  POLY1305_KNOWN_ANSWERS,
} from "../../../src/crypto/poly1305.js";
import { codeOf, hex, loadVectors, toHexStr } from "./helpers.js";

interface Vector {
  msg: string;
  r: string;
  k: string;
  nonce: string;
  aesKN: string;
  mac: string;
}
const { vectors } = loadVectors<{ vectors: Vector[] }>("poly1305-aes.json");

/** A master key whose MAC part is the vector's k and r (the AES-256 part is irrelevant). */
const keyFor = (v: Vector) => masterKeyFromParts(new Uint8Array(32).fill(7), hex(v.k), hex(v.r));

const providers = availablePoly1305Providers();
afterEach(() => {
  setPoly1305Provider("auto");
});

describe("Poly1305-AES, Bernstein's appendix B examples", () => {
  it("has the four vectors", () => {
    expect(vectors).toHaveLength(4);
  });

  it.each(vectors.map((v, i) => [i + 1, v] as const))("example %i: AES_k(n)", (_, v) => {
    const c = createCipheriv("aes-128-ecb", hex(v.k), null);
    c.setAutoPadding(false);
    expect(toHexStr(c.update(hex(v.nonce)))).toBe(v.aesKN);
    expect(toHexStr(poly1305AesKey(keyFor(v), hex(v.nonce)).subarray(16))).toBe(v.aesKN);
  });

  for (const p of providers) {
    it.each(vectors.map((v, i) => [i + 1, v] as const))(`example %i with ${p.name}`, (_, v) => {
      setPoly1305Provider(p.name);
      expect(toHexStr(poly1305Aes(keyFor(v), hex(v.nonce), hex(v.msg)))).toBe(v.mac);
      // The provider clamps r itself: the one-time key carries r unclamped.
      const oneTime = new Uint8Array(32);
      oneTime.set(hex(v.r), 0);
      oneTime.set(hex(v.aesKN), 16);
      expect(toHexStr(p.mac(hex(v.msg), oneTime))).toBe(v.mac);
    });
  }

  it.each(vectors.map((v, i) => [i + 1, v] as const))("example %i, portable path", (_, v) => {
    expect(toHexStr(poly1305AesPortable(keyFor(v), hex(v.nonce), hex(v.msg)))).toBe(v.mac);
  });
});

describe("Poly1305 providers", () => {
  it("loads OpenSSL's and sodium-native's here; large messages use OpenSSL, small sodium", () => {
    // koffi and sodium-native ship prebuilds for this platform, and Node runs on OpenSSL 3:
    // if this fails the fast path is gone.
    expect(providers.map((p) => p.name)).toEqual(["openssl", "sodium-native", "noble"]);
    expect(activePoly1305().name).toBe("openssl");
    expect(poly1305For(OPENSSL_MIN_BYTES).name).toBe("openssl");
    expect(poly1305For(OPENSSL_MIN_BYTES - 1).name).toBe("sodium-native");
    expect(poly1305For(0).name).toBe("sodium-native");
    expect(setPoly1305Provider("noble")).toBe("auto");
    expect(poly1305For(1 << 20).name).toBe("noble");
    expect(setPoly1305Provider("auto")).toBe("noble");
    expect(activePoly1305().name).toBe("openssl");
  });

  it("binds OpenSSL both ways (low-level Poly1305_* and EVP_MAC), agreeing on long messages", () => {
    const lowLevel = loadOpenSslProvider(undefined, ["low-level"]);
    const evp = loadOpenSslProvider(undefined, ["evp-mac"]);
    expect(lowLevel?.name).toBe("openssl");
    expect(evp?.name).toBe("openssl");
    const both = [lowLevel, evp].filter((p) => p !== null);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 1, max: 70_000 }),
        (key, length, offset, piece) => {
          // Unaligned views into a larger buffer, fed whole and in pieces.
          const backing = new Uint8Array(length + offset);
          for (let i = 0; i < backing.length; i++) backing[i] = (i * 7 + length) & 0xff;
          const msg = backing.subarray(offset);
          const want = toHexStr(noblePoly1305Provider.mac(msg, key));
          for (const p of both) {
            expect(toHexStr(p.mac(msg, key))).toBe(want);
            const s = p.stream(key);
            for (let pos = 0; pos < msg.length; pos += piece)
              s.update(msg.subarray(pos, pos + piece));
            const out = new Uint8Array(16);
            s.finish(out);
            expect(toHexStr(out)).toBe(want);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("falls back (returns null) when koffi or OpenSSL's symbols are missing", () => {
    expect(
      loadOpenSslProvider(() => {
        throw new Error("Cannot find module 'koffi'");
      }),
    ).toBeNull();
    const noSymbols = {
      load: () => ({
        func: (proto: string) => {
          throw new Error(`cannot find symbol in ${proto}`);
        },
      }),
    };
    expect(loadOpenSslProvider(() => noSymbols)).toBeNull();
    // Symbols that exist but compute a wrong tag are refused by the known answers.
    const wrong = {
      load: () => ({
        func: (proto: string) =>
          proto.includes("ctx_size") ? () => 64 : (..._args: unknown[]) => undefined,
      }),
    };
    expect(loadOpenSslProvider(() => wrong, ["low-level"])).toBeNull();
  });

  it("the long known answer native providers are checked against is noble's tag", () => {
    const { key, longTag, longMessage } = POLY1305_KNOWN_ANSWERS;
    expect(toHexStr(noblePoly1305Provider.mac(longMessage(), hex(key)))).toBe(longTag);
  });

  it("RFC 8439 section 2.5.2 vector", () => {
    const key = hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
    const msg = new TextEncoder().encode("Cryptographic Forum Research Group");
    for (const p of providers)
      expect(toHexStr(p.mac(msg, key))).toBe("a8061dc1305136c6c22b8baf0c0127a9");
  });

  it("streams give the one-shot tag for any split, and every provider agrees", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 600 }),
        fc.array(fc.nat(600), { maxLength: 5 }),
        (key, msg, cuts) => {
          const want = toHexStr(noblePoly1305Provider.mac(msg, key));
          const points = [...new Set(cuts.map((c) => Math.min(c, msg.length)))].sort(
            (a, b) => a - b,
          );
          for (const p of providers) {
            expect(toHexStr(p.mac(msg, key))).toBe(want);
            const s = p.stream(key);
            let prev = 0;
            for (const c of [...points, msg.length]) {
              s.update(msg.subarray(prev, c));
              prev = c;
            }
            const out = new Uint8Array(20);
            s.finish(out, 3);
            expect(toHexStr(out.subarray(3, 19))).toBe(want);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("rejects bad keys and misuse", () => {
    for (const p of providers) {
      expect(codeOf(() => p.mac(new Uint8Array(1), new Uint8Array(31)))).toBe("INVALID_ARGUMENT");
      expect(codeOf(() => p.stream(new Uint8Array(33)))).toBe("INVALID_ARGUMENT");
      const s = p.stream(new Uint8Array(32).fill(1));
      expect(codeOf(() => s.finish(new Uint8Array(15)))).toBe("INVALID_ARGUMENT");
    }
    expect(codeOf(() => setPoly1305Provider("wasm" as "noble"))).toBe("INVALID_ARGUMENT");
  });

  it("falls back (returns null) when sodium-native cannot be loaded or misbehaves", () => {
    expect(
      loadSodiumNativeProvider(() => {
        throw new Error("Cannot find module 'sodium-native'");
      }),
    ).toBeNull();
    expect(loadSodiumNativeProvider(() => ({}))).toBeNull();
    // A module that loads but computes the wrong tag is refused too.
    const broken = {
      crypto_onetimeauth: (out: Uint8Array) => out.fill(0),
      crypto_onetimeauth_init: () => undefined,
      crypto_onetimeauth_update: () => undefined,
      crypto_onetimeauth_final: () => undefined,
      crypto_onetimeauth_STATEBYTES: 256,
      crypto_onetimeauth_BYTES: 16,
      crypto_onetimeauth_KEYBYTES: 32,
    };
    expect(loadSodiumNativeProvider(() => broken)).toBeNull();
    expect(loadSodiumNativeProvider()?.name).toBe("sodium-native");
  });
});
