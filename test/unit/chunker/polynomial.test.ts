// Polynomials over GF(2): arithmetic, Ben-Or irreducibility, restic's random degree-53
// polynomials and the config's hex form.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  deg,
  derivePolynomial,
  divMod,
  formatPolynomial,
  gcd,
  irreducible,
  mod,
  mul,
  mulMod,
  POLYNOMIAL_DEGREE,
  parsePolynomial,
  randomPolynomial,
} from "../../../src/chunker/index.js";
import { isResticTsError } from "../../../src/errors.js";

const poly = (maxBits = 64) => fc.bigInt({ min: 0n, max: (1n << BigInt(maxBits)) - 1n });
const nonConstant = (maxBits = 32) => fc.bigInt({ min: 2n, max: (1n << BigInt(maxBits)) - 1n });

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(isResticTsError(err), String(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    return;
  }
  throw new Error("expected an error");
}

// restic/chunker v0.4.0 polynomials_test.go, polIrredTests (data, copied as published).
const RESTIC_IRREDUCIBLE_TESTS: [bigint, boolean][] = [
  [0x38f1e565e288dfn, false],
  [0x3da3358b4dc173n, true],
  [0x30a8295b9d5c91n, false],
  [0x255f4350b962cbn, false],
  [0x267f776110a235n, false],
  [0x2f4dae10d41227n, false],
  [0x2482734cacca49n, true],
  [0x312daf4b284899n, false],
  [0x29dfb6553d01d1n, false],
  [0x3548245eb26257n, false],
  [0x3199e7ef4211b3n, false],
  [0x362f39017dae8bn, false],
  [0x200d57aa6fdacbn, false],
  [0x35e0a4efa1d275n, false],
  [0x2ced55b026577fn, false],
  [0x260b012010893dn, false],
  [0x2df29cbcd59e9dn, false],
  [0x3f2ac7488bd429n, false],
  [0x3e5cb1711669fbn, false],
  [0x226d8de57a9959n, false],
  [0x3c8de80aaf5835n, false],
  [0x2026a59efb219bn, false],
  [0x39dfa4d13fb231n, false],
  [0x3143d0464b3299n, false],
];

describe("polynomial arithmetic", () => {
  it("deg", () => {
    expect(deg(0n)).toBe(-1);
    expect(deg(1n)).toBe(0);
    for (let i = 0; i < 80; i++) expect(deg(1n << BigInt(i))).toBe(i);
    expect(deg(0x3da3358b4dc173n)).toBe(53);
    expect(deg(0x3af4b284899n)).toBe(41);
  });

  it("restic's published mul/div/mod/gcd/mulmod examples", () => {
    const bin = (s: string) => BigInt(`0b${s}`);
    expect(mul(bin("1101"), bin("11"))).toBe(bin("10111"));
    expect(mul(0x40000000n, 0x40000000n)).toBe(0x1000000000000000n);
    expect(mul(bin("10011"), bin("110101"))).toBe(bin("1100001111"));
    expect(divMod(bin("101101000"), bin("1010")).quotient).toBe(bin("100100"));
    expect(divMod(10n, 50n)).toEqual({ quotient: 0n, remainder: 10n });
    expect(mod(bin("101101001"), bin("1010"))).toBe(1n);
    expect(gcd(10n, 50n)).toBe(2n);
    expect(gcd(0n, 1n)).toBe(1n);
    expect(gcd(0x3da3358b4dc173n, 0x230d2259defdn)).toBe(1n);
    expect(gcd(0x230d2259defdn, 0x51b492b3eff2n)).toBe(bin("10011"));
    expect(mulMod(0x1230n, 0x230n, 0x55n)).toBe(0x22n);
    expect(mulMod(0x0eae8c07dbbb3026n, 0xd5d6db9de04771den, 0xdd2bda3b77c9n)).toBe(0x425ae8595b7an);
  });

  it("division by zero is an error", () => {
    expectCode(() => divMod(5n, 0n), "INVALID_ARGUMENT");
    expectCode(() => mulMod(5n, 3n, 0n), "INVALID_ARGUMENT");
    expectCode(() => mod(-1n, 3n), "INVALID_ARGUMENT");
  });

  it("x = q*y + r with deg r < deg y", () => {
    fc.assert(
      fc.property(
        poly(),
        poly(64).filter((y) => y > 0n),
        (x, y) => {
          const { quotient, remainder } = divMod(x, y);
          expect(mul(quotient, y) ^ remainder).toBe(x);
          expect(deg(remainder)).toBeLessThan(deg(y));
        },
      ),
    );
  });

  it("mulMod(a, b, g) = (a*b) mod g", () => {
    fc.assert(
      fc.property(
        poly(),
        poly(),
        poly(64).filter((g) => g > 0n),
        (a, b, g) => {
          expect(mulMod(a, b, g)).toBe(mod(mul(a, b), g));
        },
      ),
    );
  });

  it("gcd divides both and is divisible by every common factor", () => {
    fc.assert(
      fc.property(poly(24), poly(24), nonConstant(16), (a, b, c) => {
        const g = gcd(mul(a, c), mul(b, c));
        if (a === 0n && b === 0n) return;
        expect(mod(mul(a, c), g)).toBe(0n);
        expect(mod(mul(b, c), g)).toBe(0n);
        expect(mod(g, c)).toBe(0n);
      }),
    );
  });
});

describe("irreducible (Ben-Or)", () => {
  it("agrees with restic's published examples", () => {
    for (const [p, want] of RESTIC_IRREDUCIBLE_TESTS)
      expect(irreducible(p), p.toString(16)).toBe(want);
  });

  it("knows textbook polynomials", () => {
    const irred = [
      0b10n, // x
      0b11n, // x+1
      0b111n, // x^2+x+1
      0b1011n, // x^3+x+1
      0x13n, // x^4+x+1
      0x1fn, // x^4+x^3+x^2+x+1
      0x11bn, // x^8+x^4+x^3+x+1 (AES)
      0x11dn, // x^8+x^4+x^3+x^2+1
      0x80000009n, // x^31+x^3+1
      (1n << 64n) | 0x1bn, // x^64+x^4+x^3+x+1
    ];
    const red = [
      0n,
      1n, // constants are not irreducible (restic answers true for these)
      0b100n, // x^2
      0b101n, // x^2+1 = (x+1)^2
      0b110n, // x^2+x = x(x+1)
      0x11n, // x^4+1 = (x+1)^4
      0b10101n, // x^4+x^2+1 = (x^2+x+1)^2
      0x3da3358b4dc172n, // divisible by x
      0x3da3358b4dc173n * 2n, // x times an irreducible
    ];
    for (const p of irred) expect(irreducible(p), p.toString(16)).toBe(true);
    for (const p of red) expect(irreducible(p), p.toString(16)).toBe(false);
  });

  it("products of non-constant polynomials are reducible", () => {
    fc.assert(
      fc.property(nonConstant(30), nonConstant(30), (a, b) => {
        expect(irreducible(mul(a, b))).toBe(false);
      }),
    );
  });
});

describe("random polynomials", () => {
  it("randomPolynomial gives irreducible polynomials of degree 53", () => {
    const seen = new Set<bigint>();
    for (let i = 0; i < 20; i++) {
      const p = randomPolynomial();
      expect(deg(p)).toBe(POLYNOMIAL_DEGREE);
      expect(irreducible(p)).toBe(true);
      seen.add(p);
    }
    expect(seen.size).toBe(20);
  });

  it("derivePolynomial turns any byte source into an irreducible degree-53 polynomial", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 8, maxLength: 8 }), { minLength: 200, maxLength: 200 }),
        (blocks) => {
          // The blocks once, then restic's published irreducible polynomial: a source that
          // cycled through 200 reducible candidates (about 1 run in 3,000) would take
          // derivePolynomial's million tries, half a minute or more, before it gave up.
          const restics = 0x3da3358b4dc173n;
          const known = Buffer.alloc(8);
          known.writeBigUInt64LE(restics);
          let k = 0;
          const p = derivePolynomial(() => blocks[k++] ?? known);
          expect(deg(p)).toBe(53);
          expect(p & 1n).toBe(1n);
          expect(irreducible(p)).toBe(true);
          // it is the first candidate (bits 0..53 of a little-endian uint64) that is irreducible
          const cand = (b: Uint8Array) =>
            (Buffer.from(b).readBigUInt64LE() & ((1n << 54n) - 1n)) | (1n << 53n) | 1n;
          expect(p).toBe(blocks.map(cand).find(irreducible) ?? restics);
          expect(k).toBeLessThanOrEqual(blocks.length + 1);
        },
      ),
      { numRuns: 30 },
    );
  });

  it("derivePolynomial rejects a source that does not return 8 bytes", () => {
    expectCode(() => derivePolynomial(() => new Uint8Array(7)), "INVALID_ARGUMENT");
  });
});

describe("config hex form", () => {
  it("formats as restic's JSON does and parses it back", () => {
    expect(formatPolynomial(0x3da3358b4dc173n)).toBe("3da3358b4dc173");
    expect(formatPolynomial(0n)).toBe("0");
    expect(parsePolynomial("3da3358b4dc173")).toBe(0x3da3358b4dc173n);
    expect(parsePolynomial("3DA3358B4DC173")).toBe(0x3da3358b4dc173n);
    expect(parsePolynomial("003da3358b4dc173")).toBe(0x3da3358b4dc173n);
    expect(parsePolynomial("ffffffffffffffff")).toBe((1n << 64n) - 1n);
    fc.assert(
      fc.property(poly(), (p) => {
        const s = formatPolynomial(p);
        expect(s).toMatch(/^(0|[1-9a-f][0-9a-f]*)$/);
        expect(parsePolynomial(s)).toBe(p);
      }),
    );
  });

  it("rejects what Go's strconv.ParseUint(s, 16, 64) rejects", () => {
    for (const bad of [
      "",
      "0x3da3358b4dc173",
      "+3da3",
      "-1",
      "3da3 ",
      " 3da3",
      "3_da3",
      "g",
      "10000000000000000",
    ]) {
      expectCode(() => parsePolynomial(bad), "INVALID_ARGUMENT");
    }
    expectCode(() => formatPolynomial(1n << 64n), "INVALID_ARGUMENT");
    expectCode(() => formatPolynomial(-1n), "INVALID_ARGUMENT");
  });
});
