// Randomness for the restic format: IVs (16 bytes), master keys (64 bytes) and scrypt salts
// (64 bytes) all come from the operating system's CSPRNG through node:crypto.

import { randomFillSync } from "node:crypto";
import { ResticTsError } from "../errors.js";

/** `n` bytes from the operating system's cryptographically secure generator. */
export function randomBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new ResticTsError("INVALID_ARGUMENT", `randomBytes: bad length ${n}`, { length: n });
  }
  const out = new Uint8Array(n);
  // randomFillSync refuses more than 2^31-1 bytes at once; fill large requests in slices.
  for (let off = 0; off < n; off += 0x4000_0000) {
    randomFillSync(out, off, Math.min(0x4000_0000, n - off));
  }
  return out;
}

const POOL_SIZE = 4096;
let pool = new Uint8Array(0);
let poolPos = 0;

/**
 * Random bytes for values that are published anyway (IVs), served from a 4 KiB pool refilled
 * from the OS generator: each call to the OS costs ~5-8 µs whatever the size, which would
 * double the cost of sealing a small blob. Keys and salts use `randomBytes`.
 */
export function randomPublicBytes(n: number): Uint8Array {
  if (!Number.isSafeInteger(n) || n < 0 || n > 256) return randomBytes(n);
  if (poolPos + n > pool.length) {
    pool = new Uint8Array(POOL_SIZE);
    randomFillSync(pool);
    poolPos = 0;
  }
  const out = pool.slice(poolPos, poolPos + n);
  pool.fill(0, poolPos, poolPos + n); // consumed bytes never linger
  poolPos += n;
  return out;
}
