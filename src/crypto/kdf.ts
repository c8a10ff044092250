// restic's key derivation (doc/design.rst "Keys, Encryption and MAC", internal/crypto/kdf.go):
// scrypt(password as UTF-8 bytes, salt (64 bytes), N, r, p) -> 64 bytes; bytes 0..32 are the
// AES-256 key, 32..48 the Poly1305-AES k, 48..64 Poly1305's r. The result is the "user key"
// that opens a key file's sealed master key.
//
// Fast path: node:crypto.scrypt (OpenSSL, on libuv's thread pool, overlapping the start-up).
// Portable path, also taken where OpenSSL refuses parameters Go accepts: scrypt-wasm.ts (ROMix
// in WebAssembly SIMD, half OpenSSL's table, two lanes at once: bench/RESULTS.md "### scrypt in
// WebAssembly"), imported only when used. Parameters come from key files, which may be
// hostile, so they are bounded before any memory is allocated. The ciphers (master-key.ts) load
// while the scrypt runs, not before it: ~13 ms less before every command's scrypt starts.

import { scrypt as nodeScrypt } from "node:crypto";
import { ResticTsError } from "../errors.js";
import type { MasterKey } from "./master-key.js";

export interface KdfParams {
  N: number;
  r: number;
  p: number;
}

/**
 * restic's starting point before it calibrates p (and sometimes N) to ~0.5 s on the machine
 * that creates the key (simple-scrypt's defaults: N=2^15, r=8, p=1).
 */
export const DEFAULT_KDF_PARAMS: Readonly<KdfParams> = Object.freeze({ N: 32768, r: 8, p: 1 });

/** restic's salt length (kdf.go refuses any other). */
export const SALT_LENGTH = 64;

/** scrypt output length restic uses: 32 (AES-256) + 16 (AES-128 k) + 16 (Poly1305 r). */
export const KDF_OUTPUT_LENGTH = 64;

/** Memory limit for scrypt's large table, 128·N·r bytes (restic calibrates within 60 MiB). */
export const MAX_KDF_MEMORY = 256 * 1024 * 1024;
/** Work limit, 128·N·r·p bytes mixed (restic's ~0.5 s calibration stays far below). */
export const MAX_KDF_WORK = 2 ** 34;

function isPowerOfTwo(n: number): boolean {
  while (n > 1 && n % 2 === 0) n /= 2;
  return n === 1;
}

/**
 * Check N/r/p: CORRUPT if they are not valid scrypt parameters (N a power of two > 1, r and p
 * positive integers, r·p < 2^30, as simple-scrypt's Check), UNSUPPORTED if they are valid but
 * beyond our limits (MAX_KDF_MEMORY, MAX_KDF_WORK).
 */
export function validateKdfParams(params: KdfParams): void {
  const { N, r, p } = params ?? ({} as Partial<KdfParams>);
  const data = { N, r, p };
  const posInt = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 1;
  if (!posInt(N) || !posInt(r) || !posInt(p)) {
    throw new ResticTsError("CORRUPT", "scrypt parameters N, r, p must be positive integers", data);
  }
  if (N < 2 || !isPowerOfTwo(N)) {
    throw new ResticTsError("CORRUPT", `scrypt N must be a power of two > 1, got ${N}`, data);
  }
  if (r * p >= 2 ** 30) {
    throw new ResticTsError("CORRUPT", "scrypt r·p must be below 2^30", data);
  }
  if (128 * N * r > MAX_KDF_MEMORY) {
    throw new ResticTsError(
      "UNSUPPORTED",
      `scrypt N=${N} r=${r} needs ${(128 * N * r) / 2 ** 20} MiB, over the limit of ${
        MAX_KDF_MEMORY / 2 ** 20
      } MiB`,
      data,
    );
  }
  if (128 * N * r * p > MAX_KDF_WORK) {
    throw new ResticTsError("UNSUPPORTED", `scrypt N=${N} r=${r} p=${p} is too much work`, data);
  }
}

function checkSalt(salt: Uint8Array): void {
  if (!(salt instanceof Uint8Array) || salt.length !== SALT_LENGTH) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `scrypt salt must be ${SALT_LENGTH} bytes, got ${salt?.length}`,
    );
  }
}

function checkLength(length: number): void {
  if (!Number.isSafeInteger(length) || length < 1 || length > 1024) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `scrypt output length must be 1..1024, got ${length}`,
    );
  }
}

function passwordBytes(password: string | Uint8Array): Uint8Array {
  // Go's []byte(password): UTF-8, no Unicode normalisation.
  return typeof password === "string" ? new TextEncoder().encode(password) : password;
}

/** Raw scrypt through node:crypto (any salt length, any output length). Validates params. */
export async function scryptRaw(
  password: string | Uint8Array,
  salt: Uint8Array,
  params: KdfParams,
  length: number,
): Promise<Uint8Array> {
  validateKdfParams(params);
  checkLength(length);
  const { N, r, p } = params;
  if (16 * r < 53 && N >= 2 ** (16 * r)) {
    // RFC 7914 wants N < 2^(16r) and OpenSSL enforces it; Go's scrypt (restic) does not.
    return scryptRawPortable(password, salt, params, length);
  }
  // OpenSSL's accounting: 128·r·(N + p + 2) bytes, plus slack.
  const maxmem = 128 * r * (N + p + 2) + 1024 * 1024;
  return new Promise((resolve, reject) => {
    nodeScrypt(passwordBytes(password), salt, length, { N, r, p, maxmem }, (err, key) => {
      if (err) {
        reject(
          new ResticTsError("UNSUPPORTED", `scrypt failed: ${err.message}`, {}, { cause: err }),
        );
      } else {
        resolve(new Uint8Array(key));
      }
    });
  });
}

/**
 * Raw scrypt in WebAssembly (scrypt-wasm.ts), without OpenSSL; same results as `scryptRaw`.
 * Every other entry of the table (half OpenSSL's memory) and two lanes mixed at once when p > 1:
 * the CPU time of OpenSSL for p = 1, 1.3x for restic's p = 7, on the calling thread.
 */
export async function scryptRawPortable(
  password: string | Uint8Array,
  salt: Uint8Array,
  params: KdfParams,
  length: number,
): Promise<Uint8Array> {
  validateKdfParams(params);
  checkLength(length);
  const { scryptWasm } = await import("./scrypt-wasm.js");
  return scryptWasm(passwordBytes(password), salt, params, length, { tradeoff: 2, lanes: 2 });
}

/** Split scrypt's 64 bytes as restic does: encrypt = 0..32, mac.k = 32..48, mac.r = 48..64. */
export async function userKeyFromKdfOutput(b: Uint8Array): Promise<MasterKey> {
  if (b.length !== KDF_OUTPUT_LENGTH) {
    throw new ResticTsError("INVALID_ARGUMENT", "KDF output must be 64 bytes");
  }
  const { masterKeyFromParts } = await import("./master-key.js");
  try {
    return masterKeyFromParts(b.subarray(0, 32), b.subarray(32, 48), b.subarray(48, 64));
  } catch (err) {
    // An all-zero part: not a real-world outcome of scrypt, but refuse it as restic would.
    throw new ResticTsError("UNSUPPORTED", "KDF produced an invalid key", {}, { cause: err });
  }
}

/** The user key for `password` (node:crypto scrypt). Salt must be 64 bytes. */
export async function deriveKey(
  password: string,
  salt: Uint8Array,
  params: KdfParams,
): Promise<MasterKey> {
  checkSalt(salt);
  // The scrypt begins (on the pool) before master-key.ts loads, which happens meanwhile.
  const [output] = await Promise.all([
    scryptRaw(password, salt, params, KDF_OUTPUT_LENGTH),
    import("./master-key.js"),
  ]);
  return userKeyFromKdfOutput(output);
}

/** `deriveKey` in WebAssembly (`scryptRawPortable`), for platforms without node:crypto.scrypt. */
export async function deriveKeyPortable(
  password: string,
  salt: Uint8Array,
  params: KdfParams,
): Promise<MasterKey> {
  checkSalt(salt);
  return userKeyFromKdfOutput(await scryptRawPortable(password, salt, params, KDF_OUTPUT_LENGTH));
}
