// restic's authenticated encryption (doc/design.rst "Keys, Encryption and MAC"): every file
// and blob is stored as IV(16) || AES-256-CTR(encrypt, IV, plaintext) || MAC(16), where the
// IV is the full 128-bit initial counter block (big-endian, wrapping) and the MAC is
// Poly1305-AES over the ciphertext only: Poly1305 with the one-time key r || AES-128(k, IV).
// A master key is { encrypt (32 bytes), mac.k (16), mac.r (16) }; its JSON form (sealed in a
// key file's `data`) is {"mac":{"k":"<b64>","r":"<b64>"},"encrypt":"<b64>"}.
//
// This is the fast path: AES-CTR from the fastest provider (aes-ctr.ts: OpenSSL through koffi,
// else node:crypto), Poly1305 from the fastest provider for the message's length
// (poly1305.ts). portable.ts holds the pure-JS path it is cross-tested against.

import { type Cipher, createCipheriv, timingSafeEqual } from "node:crypto";
import { ResticTsError } from "../errors.js";
import { aes256CtrInto } from "./aes-ctr.js";
import { fromBase64, toBase64 } from "./base64.js";
import { poly1305For } from "./poly1305.js";
import { randomBytes, randomPublicBytes } from "./random.js";
import { IV_SIZE, MAC_SIZE, SEAL_OVERHEAD } from "./sizes.js";

/**
 * Repository or user key: AES-256 key plus the Poly1305-AES key (k for AES-128, r). Treat the
 * bytes as immutable: an AES-128 schedule is cached per key object.
 */
export interface MasterKey {
  /** AES-256 key, 32 bytes. */
  readonly encrypt: Uint8Array;
  /** AES-128 key that turns the IV into Poly1305's s, 16 bytes. */
  readonly macK: Uint8Array;
  /** Poly1305's r, 16 bytes (clamped when used; restic 0.14 also stores it clamped). */
  readonly macR: Uint8Array;
}

/** restic's JSON form of a master key (Go field order; base64 with padding). */
export interface MasterKeyJSON {
  mac: { k: string; r: string };
  encrypt: string;
}

export { IV_SIZE, MAC_SIZE, SEAL_OVERHEAD };

/** Bernstein's clamp of r: the mask restic 0.14 applies (crypto.go poly1305KeyMask). */
const R_MASK = new Uint8Array(Buffer.from("ffffff0ffcffff0ffcffff0ffcffff0f", "hex"));

/** r with Poly1305's clamp applied (a copy). */
export function clampPoly1305R(r: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = r[i] & R_MASK[i];
  return out;
}

function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i];
  return acc === 0;
}

/**
 * A master key from its three parts (copied). INVALID_ARGUMENT on wrong lengths or an all-zero
 * part (restic refuses those keys as invalid).
 */
export function masterKeyFromParts(
  encrypt: Uint8Array,
  macK: Uint8Array,
  macR: Uint8Array,
): MasterKey {
  if (encrypt.length !== 32 || macK.length !== 16 || macR.length !== 16) {
    throw new ResticTsError("INVALID_ARGUMENT", "master key parts must be 32, 16 and 16 bytes", {
      lengths: [encrypt.length, macK.length, macR.length],
    });
  }
  if (isZero(encrypt) || isZero(macK) || isZero(macR)) {
    throw new ResticTsError("INVALID_ARGUMENT", "master key has an all-zero part");
  }
  return Object.freeze({
    encrypt: new Uint8Array(encrypt),
    macK: new Uint8Array(macK),
    macR: new Uint8Array(macR),
  });
}

/** A new random master key; r is stored clamped, as restic 0.14 does. */
export function newMasterKey(): MasterKey {
  const b = randomBytes(64);
  return masterKeyFromParts(b.subarray(0, 32), b.subarray(32, 48), clampPoly1305R(b.subarray(48)));
}

// --- Poly1305-AES -----------------------------------------------------------------------

/** AES-128-ECB ciphers keyed with mac.k, per key object: ECB keeps no state between blocks. */
const sCiphers = new WeakMap<MasterKey, Cipher>();

function sCipher(key: MasterKey): Cipher {
  let c = sCiphers.get(key);
  if (!c) {
    c = createCipheriv("aes-128-ecb", key.macK, null);
    c.setAutoPadding(false);
    sCiphers.set(key, c);
  }
  return c;
}

/** Poly1305's one-time key for `nonce`: r || AES-128(mac.k, nonce) (32 bytes). */
export function poly1305AesKey(key: MasterKey, nonce: Uint8Array): Uint8Array {
  if (nonce.length !== IV_SIZE) {
    throw new ResticTsError("INVALID_ARGUMENT", "Poly1305-AES nonce must be 16 bytes");
  }
  const s = sCipher(key).update(nonce);
  if (s.length !== 16) throw new Error("AES-128-ECB did not return one block");
  const out = new Uint8Array(32);
  out.set(key.macR, 0);
  out.set(s, 16);
  return out;
}

/** Poly1305-AES tag of `msg` under `key` and `nonce` (16 bytes), as in Bernstein's paper. */
export function poly1305Aes(key: MasterKey, nonce: Uint8Array, msg: Uint8Array): Uint8Array {
  return poly1305For(msg.length).mac(msg, poly1305AesKey(key, nonce));
}

// --- seal / open ---------------------------------------------------------------------------

function checkKey(key: MasterKey): void {
  if (key?.encrypt?.length !== 32 || key.macK?.length !== 16 || key.macR?.length !== 16) {
    throw new ResticTsError("INVALID_ARGUMENT", "not a master key (need 32/16/16-byte parts)");
  }
}

function checkOffset(out: Uint8Array, offset: number, need: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || out.length - offset < need) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `${what}: output needs ${need} bytes at ${offset}`,
      {
        need,
        offset,
        available: out.length,
      },
    );
  }
}

/** Uninitialised memory of our own (not a slice of Node's shared pool), as a plain Uint8Array. */
function allocate(n: number): Uint8Array {
  if (n < 4096) return new Uint8Array(n);
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/**
 * XOR `input` with the AES-256-CTR key stream for `iv` into `out` at `outOffset`, updating
 * `mac` with the bytes written when given (encrypt-then-MAC in one pass over warm cache).
 */
function ctrInto(
  encKey: Uint8Array,
  iv: Uint8Array,
  input: Uint8Array,
  out: Uint8Array,
  outOffset: number,
  mac?: { update(data: Uint8Array): void },
): void {
  aes256CtrInto(
    encKey,
    iv,
    input,
    out,
    outOffset,
    mac === undefined ? undefined : (w) => mac.update(w),
  );
}

/** True if writing [wStart, wEnd) while reading [rStart, rEnd) forwards would clobber input. */
function unsafeOverlap(
  w: Uint8Array,
  wStart: number,
  wFirstData: number,
  r: Uint8Array,
  rStart: number,
  rLength: number,
): boolean {
  if (w.buffer !== r.buffer) return false;
  const writeStart = w.byteOffset + wStart;
  const dataStart = w.byteOffset + wFirstData;
  const readStart = r.byteOffset + rStart;
  const readEnd = readStart + rLength;
  // Writing strictly after the input, or output data starting at/before the input (a forward
  // pass only writes bytes it has already read), is safe; anything else is not.
  return writeStart < readEnd && dataStart > readStart;
}

function randomIV(): Uint8Array {
  let iv = randomPublicBytes(IV_SIZE);
  while (isZero(iv)) iv = randomPublicBytes(IV_SIZE); // restic rejects the all-zero nonce
  return iv;
}

/**
 * Seal `plaintext` with the given IV into `out` at `outOffset` (needs plaintext.length + 32
 * bytes); returns the number of bytes written. The IV must be unique for all time under a key:
 * use `sealInto`, which draws a random one, unless reproducing a test vector.
 */
export function sealIntoWithIV(
  key: MasterKey,
  iv: Uint8Array,
  plaintext: Uint8Array,
  out: Uint8Array,
  outOffset = 0,
): number {
  checkKey(key);
  if (iv.length !== IV_SIZE || isZero(iv)) {
    throw new ResticTsError("INVALID_ARGUMENT", "IV must be 16 bytes and not all zero");
  }
  const n = plaintext.length;
  checkOffset(out, outOffset, n + SEAL_OVERHEAD, "seal");
  if (unsafeOverlap(out, outOffset, outOffset + IV_SIZE, plaintext, 0, n)) {
    throw new ResticTsError("INVALID_ARGUMENT", "seal: output overlaps the plaintext unsafely");
  }
  const mac = poly1305For(n).stream(poly1305AesKey(key, iv));
  out.set(iv, outOffset);
  ctrInto(key.encrypt, iv, plaintext, out, outOffset + IV_SIZE, mac);
  mac.finish(out, outOffset + IV_SIZE + n);
  return n + SEAL_OVERHEAD;
}

/** Seal with a fresh random IV into `out` at `outOffset`; returns plaintext.length + 32. */
export function sealInto(
  key: MasterKey,
  plaintext: Uint8Array,
  out: Uint8Array,
  outOffset = 0,
): number {
  return sealIntoWithIV(key, randomIV(), plaintext, out, outOffset);
}

/** IV || AES-256-CTR(plaintext) || Poly1305-AES(ciphertext), with a fresh random IV. */
export function seal(key: MasterKey, plaintext: Uint8Array): Uint8Array {
  const out = allocate(plaintext.length + SEAL_OVERHEAD);
  sealIntoWithIV(key, randomIV(), plaintext, out, 0);
  return out;
}

/** `seal` with a caller-chosen IV: for test vectors only (an IV must never repeat). */
export function sealWithIV(key: MasterKey, iv: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const out = allocate(plaintext.length + SEAL_OVERHEAD);
  sealIntoWithIV(key, iv, plaintext, out, 0);
  return out;
}

function unauthenticated(why: string, length: number): ResticTsError {
  return new ResticTsError("UNAUTHENTICATED", `ciphertext verification failed: ${why}`, {
    length,
  });
}

/** Check the MAC of a sealed message (constant-time compare); throws UNAUTHENTICATED. */
function verify(key: MasterKey, sealed: Uint8Array): void {
  checkKey(key);
  const len = sealed.length;
  if (len < SEAL_OVERHEAD) throw unauthenticated("too short", len);
  const iv = sealed.subarray(0, IV_SIZE);
  if (isZero(iv)) throw unauthenticated("all-zero IV", len);
  const ciphertext = sealed.subarray(IV_SIZE, len - MAC_SIZE);
  const expected = poly1305For(ciphertext.length).mac(ciphertext, poly1305AesKey(key, iv));
  if (!timingSafeEqual(expected, sealed.subarray(len - MAC_SIZE))) {
    throw unauthenticated("MAC mismatch", len);
  }
}

/** Plaintext length of a sealed message of `sealedLength` bytes (never negative). */
export function plaintextLength(sealedLength: number): number {
  return Math.max(0, sealedLength - SEAL_OVERHEAD);
}

/**
 * Verify then decrypt `sealed` into `out` at `outOffset` (needs sealed.length - 32 bytes);
 * returns the plaintext length. `out` may alias the ciphertext exactly or start before it.
 * Nothing is written unless the MAC verifies.
 */
export function openInto(
  key: MasterKey,
  sealed: Uint8Array,
  out: Uint8Array,
  outOffset = 0,
): number {
  verify(key, sealed);
  const n = sealed.length - SEAL_OVERHEAD;
  checkOffset(out, outOffset, n, "open");
  if (unsafeOverlap(out, outOffset, outOffset, sealed, IV_SIZE, n)) {
    throw new ResticTsError("INVALID_ARGUMENT", "open: output overlaps the ciphertext unsafely");
  }
  const iv = sealed.slice(0, IV_SIZE); // a copy: out may overwrite it
  ctrInto(key.encrypt, iv, sealed.subarray(IV_SIZE, IV_SIZE + n), out, outOffset);
  return n;
}

/**
 * Verify, then decrypt `sealed` where it lies; returns the plaintext: a view of `sealed`'s
 * bytes 16 .. length-16, where the ciphertext was. UNAUTHENTICATED (nothing changed) when the
 * MAC does not verify. For callers that own the sealed bytes and need no copy (the restorer).
 */
export function openInPlace(key: MasterKey, sealed: Uint8Array): Uint8Array {
  const n = openInto(key, sealed, sealed, IV_SIZE);
  return sealed.subarray(IV_SIZE, IV_SIZE + n);
}

/**
 * Verify the MAC of `sealed`, then decrypt it a slice at a time (aes-ctr.ts CTR_SLICE bytes)
 * into `scratch` (16 bytes or more, reused for every slice), handing each plaintext slice to
 * `onSlice` (valid only during the call) until it returns false; returns the plaintext length.
 * For plaintext that is only looked at (hashed), never kept: it stays in the CPU cache.
 */
export function openEach(
  key: MasterKey,
  sealed: Uint8Array,
  scratch: Uint8Array,
  onSlice: (plaintext: Uint8Array) => boolean | undefined,
): number {
  verify(key, sealed);
  const n = sealed.length - SEAL_OVERHEAD;
  if (scratch.length < IV_SIZE) throw new ResticTsError("INVALID_ARGUMENT", "open: scratch < 16");
  const iv = sealed.subarray(0, IV_SIZE);
  // whole counter blocks per run (the counter of the next run is computed)
  const step = scratch.length >= n ? n : scratch.length - (scratch.length % IV_SIZE);
  let stopped = false;
  // one CTR pass per scratch-sized run, the counter advanced by hand between runs
  for (let pos = 0; pos < n && !stopped; pos += step) {
    const end = Math.min(n, pos + step);
    const out = scratch.subarray(0, end - pos);
    aes256CtrInto(
      key.encrypt,
      counterAt(iv, pos),
      sealed.subarray(IV_SIZE + pos, IV_SIZE + end),
      out,
      0,
    );
    if (onSlice(out) === false) stopped = true;
  }
  return n;
}

/** The counter block `offset` bytes (a multiple of 16) into a CTR stream started at `iv`. */
function counterAt(iv: Uint8Array, offset: number): Uint8Array {
  if (offset === 0) return iv;
  const c = iv.slice();
  let carry = offset / 16;
  for (let i = 15; i >= 0 && carry > 0; i--) {
    const v = c[i] + (carry % 256);
    c[i] = v & 0xff;
    carry = Math.floor(carry / 256) + (v >> 8);
  }
  return c;
}

/** Verify the MAC first, then decrypt; UNAUTHENTICATED if shorter than 32 bytes or tampered. */
export function open(key: MasterKey, sealed: Uint8Array): Uint8Array {
  verify(key, sealed);
  const n = sealed.length - SEAL_OVERHEAD;
  const out = allocate(n);
  ctrInto(key.encrypt, sealed.subarray(0, IV_SIZE), sealed.subarray(IV_SIZE, IV_SIZE + n), out, 0);
  return out;
}

// --- JSON form -----------------------------------------------------------------------------

/** restic's JSON form of `k` (JSON.stringify of it gives the bytes Go's json.Marshal writes). */
export function masterKeyToJSON(k: MasterKey): MasterKeyJSON {
  checkKey(k);
  return { mac: { k: toBase64(k.macK), r: toBase64(k.macR) }, encrypt: toBase64(k.encrypt) };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A master key from its parsed JSON form; CORRUPT on missing fields, bad lengths, zero keys. */
export function masterKeyFromJSON(obj: unknown): MasterKey {
  if (!isObject(obj) || !isObject(obj.mac)) {
    throw new ResticTsError("CORRUPT", "master key: expected {mac:{k,r},encrypt}");
  }
  const encrypt = fromBase64(obj.encrypt, "master key encrypt");
  const macK = fromBase64(obj.mac.k, "master key mac.k");
  const macR = fromBase64(obj.mac.r, "master key mac.r");
  try {
    return masterKeyFromParts(encrypt, macK, macR);
  } catch (err) {
    throw new ResticTsError("CORRUPT", `master key: ${(err as Error).message}`, {}, { cause: err });
  }
}

/** The master key's JSON bytes, exactly as restic writes them before sealing. */
export function encodeMasterKey(k: MasterKey): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(masterKeyToJSON(k)));
}

/** A master key from its JSON bytes; CORRUPT if they are not restic's JSON form. */
export function decodeMasterKey(bytes: Uint8Array): MasterKey {
  let obj: unknown;
  try {
    obj = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new ResticTsError("CORRUPT", "master key: not JSON", {}, { cause: err });
  }
  return masterKeyFromJSON(obj);
}
