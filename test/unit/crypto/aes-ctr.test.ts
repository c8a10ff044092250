import { createCipheriv } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import {
  activeAesCtr,
  aes256CtrInto,
  CTR_SLICE,
  loadOpenSslAesCtr,
  setAesCtrProvider,
} from "../../../src/crypto/aes-ctr.js";
import {
  masterKeyFromParts,
  open,
  openEach,
  SEAL_OVERHEAD,
  seal,
  sealWithIV,
} from "../../../src/crypto/master-key.js";
import { sameBytes } from "./helpers.js";

afterEach(() => {
  setAesCtrProvider("auto");
});

const key = new Uint8Array(32).map((_, i) => 3 * i + 1);
/** The low 64 bits of the counter wrap after two blocks. */
const wrappingIV = Uint8Array.from([
  1, 2, 3, 4, 5, 6, 7, 8, 255, 255, 255, 255, 255, 255, 255, 254,
]);

function bytes(n: number, seed = 1): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 131 + seed * 7 + (i >> 9)) & 0xff);
}

const expected = (iv: Uint8Array, data: Uint8Array) =>
  new Uint8Array(createCipheriv("aes-256-ctr", key, iv).update(data));

describe.each(["auto", "node"] as const)("aes256CtrInto (%s)", (choice) => {
  it("matches node:crypto across slices, into another buffer and in place", () => {
    setAesCtrProvider(choice);
    const data = bytes(3 * CTR_SLICE + 1001);
    const want = expected(wrappingIV, data);
    const out = new Uint8Array(data.length + 7);
    const slices: number[] = [];
    aes256CtrInto(key, wrappingIV, data, out, 7, (w) => slices.push(w.length));
    expect(sameBytes(out.subarray(7), want)).toBe(true);
    expect(slices).toEqual([CTR_SLICE, CTR_SLICE, CTR_SLICE, 1001]);
    const inPlace = data.slice();
    aes256CtrInto(key, wrappingIV, inPlace, inPlace);
    expect(sameBytes(inPlace, want)).toBe(true);
  });

  it("handles output overlapping the input (shifted down, as open does)", () => {
    setAesCtrProvider(choice);
    const data = bytes(2 * CTR_SLICE + 50, 2);
    const want = expected(wrappingIV, data);
    const buf = new Uint8Array(data.length + 16);
    buf.set(data, 16);
    aes256CtrInto(key, wrappingIV, buf.subarray(16), buf, 0);
    expect(sameBytes(buf.subarray(0, data.length), want)).toBe(true);
  });
});

describe("AES-256-CTR provider", () => {
  it("binds OpenSSL through koffi here (Node's own OpenSSL exports EVP)", () => {
    expect(loadOpenSslAesCtr()).toBe("openssl");
    expect(activeAesCtr()).toBe("openssl");
    setAesCtrProvider("node");
    expect(activeAesCtr()).toBe("node");
  });

  it("reports null when koffi cannot be loaded", () => {
    expect(
      loadOpenSslAesCtr(() => {
        throw new Error("no koffi");
      }),
    ).toBeNull();
  });
});

describe("openEach", () => {
  const mk = masterKeyFromParts(key, bytes(16, 3), bytes(16, 4));

  it("hands out the plaintext in scratch-sized slices, the counter carried across runs", () => {
    const plain = bytes(5 * 1000 + 3, 5);
    const iv = wrappingIV;
    const sealed = sealWithIV(mk, iv, plain);
    for (const scratchSize of [16, 100, 4096, CTR_SLICE, plain.length + 10]) {
      const got: number[] = [];
      const n = openEach(mk, sealed, new Uint8Array(scratchSize), (p) => {
        got.push(...p);
        return true;
      });
      expect(n).toBe(plain.length);
      expect(sameBytes(Uint8Array.from(got), plain)).toBe(true);
    }
  });

  it("stops when told to, and refuses a bad MAC before handing out anything", () => {
    const plain = bytes(10_000, 6);
    const sealed = seal(mk, plain);
    let calls = 0;
    openEach(mk, sealed, new Uint8Array(1024), () => {
      calls++;
      return calls < 3;
    });
    expect(calls).toBe(3);
    const bad = sealed.slice();
    bad[SEAL_OVERHEAD]++;
    let seen = 0;
    expect(() =>
      openEach(mk, bad, new Uint8Array(1024), () => {
        seen++;
        return true;
      }),
    ).toThrow(/verification failed/);
    expect(seen).toBe(0);
    expect(sameBytes(open(mk, sealed), plain)).toBe(true);
  });
});
