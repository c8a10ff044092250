// The pure-JS path for restic's authenticated encryption (same format as master-key.ts:
// IV(16) || AES-256-CTR ciphertext || Poly1305-AES(ciphertext)), built only on @noble/ciphers.
// It is slow (~0.1 GB/s) and exists to cross-check the node:crypto + native Poly1305 path and
// for runtimes without node:crypto.

import { poly1305 } from "@noble/ciphers/_poly1305.js";
import { ctr, ecb } from "@noble/ciphers/aes.js";
import { ResticTsError } from "../errors.js";
import { IV_SIZE, MAC_SIZE, type MasterKey, SEAL_OVERHEAD } from "./master-key.js";
import { randomPublicBytes } from "./random.js";

function checkKey(key: MasterKey): void {
  if (key?.encrypt?.length !== 32 || key.macK?.length !== 16 || key.macR?.length !== 16) {
    throw new ResticTsError("INVALID_ARGUMENT", "not a master key (need 32/16/16-byte parts)");
  }
}

function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i];
  return acc === 0;
}

/** Constant-time equality of two byte arrays of the same length. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Poly1305-AES (Bernstein): Poly1305 keyed with r || AES-128(k, nonce), all in noble. */
export function poly1305AesPortable(
  key: MasterKey,
  nonce: Uint8Array,
  msg: Uint8Array,
): Uint8Array {
  checkKey(key);
  if (nonce.length !== IV_SIZE) {
    throw new ResticTsError("INVALID_ARGUMENT", "Poly1305-AES nonce must be 16 bytes");
  }
  const polyKey = new Uint8Array(32);
  polyKey.set(key.macR, 0);
  polyKey.set(ecb(key.macK, { disablePadding: true }).encrypt(nonce), 16);
  return poly1305(msg, polyKey);
}

/** `sealWithIV` in pure JS. */
export function sealWithIVPortable(
  key: MasterKey,
  iv: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  checkKey(key);
  if (iv.length !== IV_SIZE || isZero(iv)) {
    throw new ResticTsError("INVALID_ARGUMENT", "IV must be 16 bytes and not all zero");
  }
  const n = plaintext.length;
  const out = new Uint8Array(n + SEAL_OVERHEAD);
  out.set(iv, 0);
  const ct = out.subarray(IV_SIZE, IV_SIZE + n);
  ctr(key.encrypt, iv).encrypt(plaintext, ct);
  out.set(poly1305AesPortable(key, iv, ct), IV_SIZE + n);
  return out;
}

/** `seal` in pure JS (fresh random IV). */
export function sealPortable(key: MasterKey, plaintext: Uint8Array): Uint8Array {
  let iv = randomPublicBytes(IV_SIZE);
  while (isZero(iv)) iv = randomPublicBytes(IV_SIZE);
  return sealWithIVPortable(key, iv, plaintext);
}

/** `open` in pure JS: MAC verified first (constant time), UNAUTHENTICATED on any failure. */
export function openPortable(key: MasterKey, sealed: Uint8Array): Uint8Array {
  checkKey(key);
  const len = sealed.length;
  const fail = (why: string) =>
    new ResticTsError("UNAUTHENTICATED", `ciphertext verification failed: ${why}`, {
      length: len,
    });
  if (len < SEAL_OVERHEAD) throw fail("too short");
  const iv = sealed.subarray(0, IV_SIZE);
  if (isZero(iv)) throw fail("all-zero IV");
  const ct = sealed.subarray(IV_SIZE, len - MAC_SIZE);
  if (!constantTimeEqual(poly1305AesPortable(key, iv, ct), sealed.subarray(len - MAC_SIZE))) {
    throw fail("MAC mismatch");
  }
  const out = new Uint8Array(ct.length);
  ctr(key.encrypt, iv).encrypt(ct, out);
  return out;
}
