// Polynomials over GF(2) — the `chunker_polynomial` of a restic repository config.
//
// A polynomial is a bigint whose bit i is the coefficient of x^i (restic's `chunker.Pol`, a
// uint64). restic picks a random irreducible polynomial of degree 53 when it creates a
// repository (restic/chunker `RandomPolynomial`/`DerivePolynomial`), tests irreducibility with
// Ben-Or's algorithm, and stores it in the config as lowercase hex without a prefix
// (`"chunker_polynomial":"3da3358b4dc173"`). None of this is hot: bigint is used throughout.

import { randomBytes } from "node:crypto";
import { ResticTsError } from "../errors.js";

/** The degree restic's polynomials have: the largest prime below 64-8. */
export const POLYNOMIAL_DEGREE = 53;

const UINT64_MAX = (1n << 64n) - 1n;
/** restic gives up after this many candidates (`randPolMaxTries`). */
const MAX_TRIES = 1_000_000;

function assertPoly(x: bigint, what: string): void {
  if (typeof x !== "bigint" || x < 0n) {
    throw new ResticTsError("INVALID_ARGUMENT", `${what} must be a non-negative bigint`, {
      value: String(x),
    });
  }
}

/** Degree of `x`; -1 for the zero polynomial. */
export function deg(x: bigint): number {
  if (x <= 0n) return -1;
  // bigint has no bit-length method; walk down in 32-bit steps, then finish on a number.
  let d = 0;
  while (x >= 0x1_0000_0000n) {
    x >>= 32n;
    d += 32;
  }
  return d + 31 - Math.clz32(Number(x));
}

/** Quotient and remainder of `x / d` (restic `Pol.DivMod`). Throws on division by zero. */
export function divMod(x: bigint, d: bigint): { quotient: bigint; remainder: bigint } {
  assertPoly(x, "dividend");
  assertPoly(d, "divisor");
  if (d === 0n) throw new ResticTsError("INVALID_ARGUMENT", "polynomial division by zero");
  const dd = deg(d);
  let q = 0n;
  let dx = deg(x);
  while (dx >= dd) {
    const shift = BigInt(dx - dd);
    q |= 1n << shift;
    x ^= d << shift;
    dx = deg(x);
  }
  return { quotient: q, remainder: x };
}

/** Remainder of `x / d`. */
export function mod(x: bigint, d: bigint): bigint {
  return divMod(x, d).remainder;
}

/** Product `x * y` (carry-less), without any degree limit. */
export function mul(x: bigint, y: bigint): bigint {
  assertPoly(x, "factor");
  assertPoly(y, "factor");
  let r = 0n;
  let i = 0n;
  while (y > 0n) {
    if (y & 1n) r ^= x << i;
    y >>= 1n;
    i++;
  }
  return r;
}

/** `x * f mod g` (restic `Pol.MulMod`). */
export function mulMod(x: bigint, f: bigint, g: bigint): bigint {
  assertPoly(g, "modulus");
  if (g === 0n) throw new ResticTsError("INVALID_ARGUMENT", "polynomial division by zero");
  x = mod(x, g);
  f = mod(f, g);
  const dg = deg(g);
  const top = 1n << BigInt(dg);
  let r = 0n;
  // Horner from the top bit of f: r = r*x + (f_i ? x : 0), reducing after every doubling.
  for (let i = deg(f); i >= 0; i--) {
    r <<= 1n;
    if (r & top) r ^= g;
    if ((f >> BigInt(i)) & 1n) r ^= x;
  }
  return r;
}

/** Greatest common divisor (restic `Pol.GCD`). gcd(0, 0) is 0. */
export function gcd(x: bigint, f: bigint): bigint {
  assertPoly(x, "polynomial");
  assertPoly(f, "polynomial");
  while (f !== 0n) {
    const r = mod(x, f);
    x = f;
    f = r;
  }
  return x;
}

/**
 * Ben-Or's irreducibility test, as restic's `Pol.Irreducible`: `x` is irreducible iff
 * gcd(x, x^(2^i) - x mod x) = 1 for every 1 <= i <= deg(x)/2.
 *
 * Unlike restic, constants (0 and 1) are reported as not irreducible; restic's loop does not
 * run for them and answers true. Every polynomial of degree >= 1 gets restic's answer.
 */
export function irreducible(x: bigint): boolean {
  assertPoly(x, "polynomial");
  const d = deg(x);
  if (d < 1) return false;
  // h = X^(2^i) mod x, computed by repeated squaring (restic recomputes it from X each time).
  let h = 2n;
  for (let i = 1; i <= d >> 1; i++) {
    h = mulMod(h, h, x);
    if (gcd(x, h ^ 2n) !== 1n) return false;
  }
  return true;
}

/**
 * restic's `DerivePolynomial`: read 8 bytes (little-endian uint64) per candidate from `read`,
 * keep bits 0..53, set bits 53 and 0, and return the first irreducible candidate.
 * `read(n)` must return exactly n bytes.
 */
export function derivePolynomial(read: (size: number) => Uint8Array): bigint {
  for (let i = 0; i < MAX_TRIES; i++) {
    const b = read(8);
    if (!(b instanceof Uint8Array) || b.length !== 8) {
      throw new ResticTsError("INVALID_ARGUMENT", "random source must return exactly 8 bytes");
    }
    let f = 0n;
    for (let j = 7; j >= 0; j--) f = (f << 8n) | BigInt(b[j]);
    f &= (1n << 54n) - 1n;
    f |= (1n << 53n) | 1n;
    if (irreducible(f)) return f;
  }
  throw new ResticTsError("INVALID_ARGUMENT", "unable to find a random irreducible polynomial");
}

/** A new random irreducible polynomial of degree 53 from the system CSPRNG. */
export function randomPolynomial(): bigint {
  return derivePolynomial((n) => randomBytes(n));
}

/**
 * Parse the config's `chunker_polynomial` string: hexadecimal digits of a uint64, no prefix or
 * sign (Go `strconv.ParseUint(s, 16, 64)`). Throws INVALID_ARGUMENT otherwise.
 */
export function parsePolynomial(hex: string): bigint {
  if (typeof hex !== "string" || !/^[0-9a-fA-F]+$/.test(hex)) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `invalid chunker polynomial ${JSON.stringify(hex)}`,
      {
        value: String(hex),
      },
    );
  }
  const p = BigInt(`0x${hex}`);
  if (p > UINT64_MAX) {
    throw new ResticTsError("INVALID_ARGUMENT", `chunker polynomial ${hex} exceeds 64 bits`, {
      value: hex,
    });
  }
  return p;
}

/** Format as the config stores it: lowercase hex, no prefix, no leading zeros ("0" for 0). */
export function formatPolynomial(p: bigint): string {
  assertPoly(p, "polynomial");
  if (p > UINT64_MAX) {
    throw new ResticTsError("INVALID_ARGUMENT", "chunker polynomial exceeds 64 bits", {
      value: p.toString(16),
    });
  }
  return p.toString(16);
}
