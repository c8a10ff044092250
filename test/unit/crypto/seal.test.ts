import { createCipheriv } from "node:crypto";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  availablePoly1305Providers,
  type MasterKey,
  masterKeyFromParts,
  newMasterKey,
  open,
  openInto,
  openPortable,
  plaintextLength,
  SEAL_OVERHEAD,
  seal,
  sealInto,
  sealIntoWithIV,
  sealPortable,
  sealWithIV,
  sealWithIVPortable,
  setPoly1305Provider,
} from "../../../src/crypto/index.js";
import { codeOf, hex, loadVectors, sameBytes, toHexStr } from "./helpers.js";

afterEach(() => {
  setPoly1305Provider("auto");
});

const arbKey = fc
  .tuple(
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
  )
  .filter(([e, k, r]) => e.some((x) => x) && k.some((x) => x) && r.some((x) => x))
  .map(([e, k, r]) => masterKeyFromParts(e, k, r));

const arbIV = fc
  .oneof(
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
    // counters about to carry into, or wrap, the high bytes
    fc
      .uint8Array({ minLength: 16, maxLength: 16 })
      .map((b) => Uint8Array.from(b, (x, i) => (i >= 8 ? 0xff : x))),
    fc.constant(new Uint8Array(16).fill(0xff)),
  )
  .filter((iv) => iv.some((x) => x));

type Path = {
  name: string;
  seal: (k: MasterKey, p: Uint8Array) => Uint8Array;
  open: (k: MasterKey, s: Uint8Array) => Uint8Array;
};
const paths: Path[] = [
  { name: "fast", seal, open },
  { name: "portable", seal: sealPortable, open: openPortable },
];

describe("restic's own sealed message (crypto_int_test.go)", () => {
  interface V {
    encrypt: string;
    macK: string;
    macR: string;
    sealed: string;
    plaintextUtf8: string;
  }
  const [v] = loadVectors<{ vectors: V[] }>("restic-seal.json").vectors;
  const key = masterKeyFromParts(hex(v.encrypt), hex(v.macK), hex(v.macR));

  it.each(paths)("$name path opens it", (p) => {
    expect(new TextDecoder().decode(p.open(key, hex(v.sealed)))).toBe(v.plaintextUtf8);
  });

  it("both paths reproduce it from the same IV", () => {
    const pt = new TextEncoder().encode(v.plaintextUtf8);
    const iv = hex(v.sealed).subarray(0, 16);
    expect(toHexStr(sealWithIV(key, iv, pt))).toBe(v.sealed);
    expect(toHexStr(sealWithIVPortable(key, iv, pt))).toBe(v.sealed);
  });
});

describe("seal / open", () => {
  it("layout: IV || AES-256-CTR(IV as full 128-bit counter) || 16-byte MAC", () => {
    const key = newMasterKey();
    const pt = new Uint8Array(100).map((_, i) => i);
    const iv = new Uint8Array(16).fill(0xff); // wraps to all-zero after one block
    const sealed = sealWithIV(key, iv, pt);
    expect(sealed.length).toBe(pt.length + SEAL_OVERHEAD);
    expect(sealed.subarray(0, 16)).toEqual(iv);
    const c = createCipheriv("aes-256-ctr", key.encrypt, iv);
    expect(sealed.subarray(16, 116)).toEqual(new Uint8Array(c.update(pt)));
    // independent check of the wrap: block 2 uses counter 0
    const ecb = createCipheriv("aes-256-ecb", key.encrypt, null);
    ecb.setAutoPadding(false);
    const ks = ecb.update(new Uint8Array(16));
    for (let i = 0; i < 16; i++) expect(sealed[32 + i] ^ pt[16 + i]).toBe(ks[i]);
  });

  it.each(paths)("$name path round-trips any plaintext", (p) => {
    fc.assert(
      fc.property(arbKey, fc.uint8Array({ maxLength: 2000 }), (key, pt) => {
        const sealed = p.seal(key, pt);
        expect(sealed.length).toBe(pt.length + SEAL_OVERHEAD);
        expect(plaintextLength(sealed.length)).toBe(pt.length);
        expect(p.open(key, sealed)).toEqual(pt);
      }),
      { numRuns: 150 },
    );
  });

  it("uses a fresh IV each time", () => {
    const key = newMasterKey();
    const pt = new Uint8Array(10);
    const ivs = new Set(Array.from({ length: 50 }, () => toHexStr(seal(key, pt).subarray(0, 16))));
    expect(ivs.size).toBe(50);
  });

  it("round-trips messages spanning many CTR slices, with every provider", () => {
    const key = newMasterKey();
    for (const n of [65535, 65536, 65537, 3 * 65536 + 17, 1 << 20]) {
      const pt = new Uint8Array(n).map((_, i) => (i * 31 + (i >> 9)) & 0xff);
      const iv = new Uint8Array(16).fill(0xff);
      iv[0] = 1;
      const want = sealWithIVPortable(key, iv, pt);
      for (const prov of availablePoly1305Providers()) {
        setPoly1305Provider(prov.name);
        const sealed = sealWithIV(key, iv, pt);
        expect(sameBytes(sealed, want)).toBe(true);
        expect(sameBytes(open(key, sealed), pt)).toBe(true);
      }
    }
  });
});

describe("fast and portable paths are interchangeable", () => {
  it("produce identical bytes for the same key and IV", () => {
    fc.assert(
      fc.property(arbKey, arbIV, fc.uint8Array({ maxLength: 3000 }), (key, iv, pt) => {
        const fast = sealWithIV(key, iv, pt);
        expect(toHexStr(fast)).toBe(toHexStr(sealWithIVPortable(key, iv, pt)));
      }),
      { numRuns: 200 },
    );
  });

  it("open each other's output", () => {
    fc.assert(
      fc.property(arbKey, fc.uint8Array({ maxLength: 3000 }), (key, pt) => {
        expect(openPortable(key, seal(key, pt))).toEqual(pt);
        expect(open(key, sealPortable(key, pt))).toEqual(pt);
      }),
      { numRuns: 100 },
    );
  });

  it("the noble Poly1305 provider gives the same bytes as the native one", () => {
    fc.assert(
      fc.property(arbKey, arbIV, fc.uint8Array({ maxLength: 2000 }), (key, iv, pt) => {
        setPoly1305Provider("noble");
        const a = toHexStr(sealWithIV(key, iv, pt));
        setPoly1305Provider("auto");
        expect(toHexStr(sealWithIV(key, iv, pt))).toBe(a);
      }),
      { numRuns: 100 },
    );
  });
});

describe("tampering", () => {
  const key = newMasterKey();

  function flip(b: Uint8Array, bit: number): Uint8Array {
    const c = new Uint8Array(b);
    c[bit >> 3] ^= 1 << (bit & 7);
    return c;
  }

  it.each(paths)("$name path: every single-bit flip of short messages is UNAUTHENTICATED", (p) => {
    for (const n of [0, 1, 17, 64]) {
      const sealed = p.seal(key, new Uint8Array(n).fill(0xa5));
      for (let bit = 0; bit < sealed.length * 8; bit++) {
        expect(codeOf(() => p.open(key, flip(sealed, bit)))).toBe("UNAUTHENTICATED");
      }
    }
  });

  it.each(paths)("$name path: a flipped bit anywhere is UNAUTHENTICATED (random)", (p) => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.nat(), (pt, pick) => {
        const sealed = p.seal(key, pt);
        const bit = pick % (sealed.length * 8);
        expect(codeOf(() => p.open(key, flip(sealed, bit)))).toBe("UNAUTHENTICATED");
      }),
      { numRuns: 300 },
    );
  });

  it.each(paths)("$name path: truncated, extended or short input is UNAUTHENTICATED", (p) => {
    const sealed = p.seal(key, new Uint8Array(40).fill(1));
    for (let n = 0; n < sealed.length; n++) {
      expect(codeOf(() => p.open(key, sealed.subarray(0, n)))).toBe("UNAUTHENTICATED");
      expect(codeOf(() => p.open(key, sealed.subarray(n + 1)))).toBe("UNAUTHENTICATED");
    }
    const longer = new Uint8Array(sealed.length + 1);
    longer.set(sealed);
    expect(codeOf(() => p.open(key, longer))).toBe("UNAUTHENTICATED");
    for (let n = 0; n < SEAL_OVERHEAD; n++) {
      expect(codeOf(() => p.open(key, new Uint8Array(n)))).toBe("UNAUTHENTICATED");
    }
  });

  it.each(paths)("$name path: the wrong key is UNAUTHENTICATED", (p) => {
    const sealed = p.seal(key, new Uint8Array(10));
    expect(codeOf(() => p.open(newMasterKey(), sealed))).toBe("UNAUTHENTICATED");
    // only the MAC part differs: still refused
    const sameEnc = masterKeyFromParts(key.encrypt, newMasterKey().macK, key.macR);
    expect(codeOf(() => p.open(sameEnc, sealed))).toBe("UNAUTHENTICATED");
  });

  it.each(paths)("$name path: an all-zero IV is refused, as restic does", (p) => {
    const bogus = new Uint8Array(48);
    expect(codeOf(() => p.open(key, bogus))).toBe("UNAUTHENTICATED");
    expect(codeOf(() => sealWithIV(key, new Uint8Array(16), new Uint8Array(1)))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(codeOf(() => sealWithIVPortable(key, new Uint8Array(16), new Uint8Array(1)))).toBe(
      "INVALID_ARGUMENT",
    );
  });
});

describe("sealInto / openInto", () => {
  const key = newMasterKey();

  it("write at an offset and return lengths", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1000 }), fc.nat(40), (pt, off) => {
        const out = new Uint8Array(off + pt.length + SEAL_OVERHEAD + 5).fill(0xee);
        expect(sealInto(key, pt, out, off)).toBe(pt.length + SEAL_OVERHEAD);
        expect(out.subarray(0, off).every((x) => x === 0xee)).toBe(true);
        expect(out.subarray(off + pt.length + SEAL_OVERHEAD).every((x) => x === 0xee)).toBe(true);
        const sealed = out.subarray(off, off + pt.length + SEAL_OVERHEAD);
        expect(open(key, sealed)).toEqual(pt);
        const back = new Uint8Array(pt.length + 3);
        expect(openInto(key, sealed, back, 3)).toBe(pt.length);
        expect(back.subarray(3)).toEqual(pt);
      }),
    );
  });

  it("refuse outputs that are too small", () => {
    const pt = new Uint8Array(10);
    expect(codeOf(() => sealInto(key, pt, new Uint8Array(41)))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => sealInto(key, pt, new Uint8Array(42), 1))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => sealInto(key, pt, new Uint8Array(50), -1))).toBe("INVALID_ARGUMENT");
    const sealed = seal(key, pt);
    expect(codeOf(() => openInto(key, sealed, new Uint8Array(9)))).toBe("INVALID_ARGUMENT");
  });

  it("open in place (output aliasing the ciphertext, or shifted down onto the IV)", () => {
    const pt = new Uint8Array(200_000).map((_, i) => i & 0xff);
    for (const shift of [0, 16]) {
      const sealed = seal(key, pt);
      const out = sealed.subarray(16 - shift);
      expect(openInto(key, sealed, out)).toBe(pt.length);
      expect(sameBytes(out.subarray(0, pt.length), pt)).toBe(true);
    }
  });

  it("seal in place when the plaintext sits 16 bytes into the output", () => {
    const pt = new Uint8Array(150_000).map((_, i) => (i * 7) & 0xff);
    const buf = new Uint8Array(pt.length + SEAL_OVERHEAD);
    buf.set(pt, 16);
    const iv = hex("0102030405060708090a0b0c0d0e0f10");
    sealIntoWithIV(key, iv, buf.subarray(16, 16 + pt.length), buf, 0);
    expect(sameBytes(buf, sealWithIV(key, iv, pt))).toBe(true);
  });

  it("refuse overlaps that would clobber input before it is read", () => {
    const buf = new Uint8Array(1000);
    // output after the plaintext start but overlapping it
    expect(codeOf(() => sealInto(key, buf.subarray(0, 500), buf, 10))).toBe("INVALID_ARGUMENT");
    // IV written over the plaintext's tail
    expect(codeOf(() => sealInto(key, buf.subarray(0, 500), buf, 490))).toBe("INVALID_ARGUMENT");
    const sealed = seal(key, new Uint8Array(400));
    const space = new Uint8Array(1000);
    space.set(sealed, 0);
    const s = space.subarray(0, sealed.length);
    expect(codeOf(() => openInto(key, s, space, 20))).toBe("INVALID_ARGUMENT");
  });

  it("write nothing when the MAC fails", () => {
    const sealed = seal(key, new Uint8Array(64).fill(3));
    sealed[20] ^= 1;
    const out = new Uint8Array(64).fill(9);
    expect(codeOf(() => openInto(key, sealed, out))).toBe("UNAUTHENTICATED");
    expect(out.every((x) => x === 9)).toBe(true);
  });
});
