// Opening sealed blobs in place (restic design.rst "Keys, Encryption and MAC": IV(16) ||
// AES-256-CTR ciphertext || Poly1305-AES MAC(16) of the ciphertext): the MAC is checked first
// (crypto/master-key.ts poly1305Aes), then the ciphertext is decrypted over the sealed bytes.
//
// AES-CTR runs in Node's own OpenSSL (EVP_aes_256_ctr, AES-NI) called through koffi, as
// crypto/poly1305.ts does for Poly1305: one call decrypts a whole blob where it lies, with no
// output buffer and no Decipher object per blob. When those symbols cannot be bound, node:crypto
// runs instead: its update() returns every output as a new Buffer, allocated outside the V8 heap
// and freed only by a later GC (restoring gigabytes left tens of MiB of dead output buffers
// resident and page-faulted fresh memory for each: 2.6 s per GiB measured here), so it is asked
// for latin1 strings instead, which live in the V8 heap where the young-generation collector
// reclaims them cheaply, and each is copied into place.

import { createDecipheriv, timingSafeEqual } from "node:crypto";
import { createRequire } from "node:module";
import { IV_SIZE, MAC_SIZE, type MasterKey, poly1305Aes } from "../../crypto/master-key.js";
import { ResticTsError } from "../../errors.js";

const SLICE = 64 * 1024;

function unauthenticated(why: string): ResticTsError {
  return new ResticTsError("UNAUTHENTICATED", `ciphertext verification failed: ${why}`);
}

/** The subset of koffi's API used here (a C function bound by its prototype). */
interface Koffi {
  load(path: null): { func(prototype: string): (...args: unknown[]) => unknown };
}

/** AES-256-CTR over `data` in place (key 32 bytes, IV 16 bytes); false if OpenSSL failed. */
type CtrInPlace = (key: Uint8Array, iv: Uint8Array, data: Uint8Array) => boolean;

function bindOpenSslCtr(): CtrInPlace | null {
  try {
    const koffi = createRequire(import.meta.url)("koffi") as Koffi;
    const self = koffi.load(null);
    const ctxNew = self.func("void *EVP_CIPHER_CTX_new(void)");
    const aes256ctr = self.func("const void *EVP_aes_256_ctr(void)");
    const init = self.func(
      "int EVP_DecryptInit_ex(void *ctx, const void *cipher, void *impl, const uint8_t *key, const uint8_t *iv)",
    );
    const update = self.func(
      "int EVP_DecryptUpdate(void *ctx, uint8_t *out, int32_t *outl, const uint8_t *in, int inl)",
    );
    const cipher = aes256ctr();
    const ctx = ctxNew();
    if (!cipher || !ctx) return null;
    const outl = new Int32Array(1);
    const ctr: CtrInPlace = (key, iv, data) => {
      if (Number(init(ctx, cipher, null, key, iv)) !== 1) return false;
      // CTR is a stream cipher: the output is exactly as long as the input, and OpenSSL
      // allows the output to be the input itself
      for (let pos = 0; pos < data.length; pos += 1 << 30) {
        const part = data.subarray(pos, Math.min(data.length, pos + (1 << 30)));
        if (Number(update(ctx, part, outl, part, part.length)) !== 1) return false;
        if (outl[0] !== part.length) return false;
      }
      return true;
    };
    return knownAnswer(ctr) ? ctr : null;
  } catch {
    return null;
  }
}

/** Check the binding against node:crypto on a message that crosses a counter block. */
function knownAnswer(ctr: CtrInPlace): boolean {
  const key = new Uint8Array(32).map((_, i) => i * 7 + 1);
  const iv = new Uint8Array(16).map((_, i) => 0xf0 + i);
  iv[15] = 0xff; // the counter wraps within the message
  const plain = new Uint8Array(1000).map((_, i) => (i * 31) & 0xff);
  const expected = createDecipheriv("aes-256-ctr", key, iv).update(plain);
  const data = plain.slice();
  return ctr(key, iv, data) && Buffer.from(data).equals(expected);
}

let openSslCtr: CtrInPlace | null | undefined;
let useOpenSsl = true;

/**
 * Which AES-CTR runs: OpenSSL through koffi when it binds ("auto"), or node:crypto ("node",
 * for tests and comparisons). Returns whether OpenSSL will be used.
 */
export function setCtrImplementation(which: "auto" | "node"): boolean {
  useOpenSsl = which === "auto";
  if (useOpenSsl && openSslCtr === undefined) openSslCtr = bindOpenSslCtr();
  return useOpenSsl && openSslCtr !== null;
}

/**
 * Verify and decrypt `sealed` in place; returns the plaintext, a view of `sealed`'s bytes
 * (`sealed.length - 32` of them, where the ciphertext was or at offset 0). UNAUTHENTICATED
 * (nothing changed) when the MAC does not verify.
 */
export function openInPlace(key: MasterKey, sealed: Uint8Array): Uint8Array {
  const len = sealed.length;
  if (len < IV_SIZE + MAC_SIZE) throw unauthenticated("too short");
  const iv = sealed.slice(0, IV_SIZE);
  let zero = 0;
  for (let i = 0; i < IV_SIZE; i++) zero |= iv[i];
  if (zero === 0) throw unauthenticated("all-zero IV");
  const n = len - IV_SIZE - MAC_SIZE;
  const ciphertext = sealed.subarray(IV_SIZE, IV_SIZE + n);
  const mac = poly1305Aes(key, iv, ciphertext);
  if (!timingSafeEqual(mac, sealed.subarray(len - MAC_SIZE))) throw unauthenticated("MAC mismatch");
  if (openSslCtr === undefined) openSslCtr = bindOpenSslCtr();
  if (openSslCtr !== null && useOpenSsl) {
    if (!openSslCtr(key.encrypt, iv, ciphertext)) {
      throw new ResticTsError("INTERNAL", "OpenSSL AES-256-CTR decryption failed");
    }
    return ciphertext;
  }
  const d = createDecipheriv("aes-256-ctr", key.encrypt, iv);
  const out = Buffer.from(sealed.buffer, sealed.byteOffset, n);
  // each slice is read before its plaintext is written 16 bytes lower: in place is safe
  for (let pos = 0; pos < n; pos += SLICE) {
    out.write(d.update(ciphertext.subarray(pos, pos + SLICE), undefined, "latin1"), pos, "latin1");
  }
  return sealed.subarray(0, n);
}
