// AES-256-CTR for seal/open (master-key.ts): restic's IV is the full 128-bit initial counter
// block, big-endian and wrapping, exactly OpenSSL's CTR mode.
//
// Providers, fastest first:
//   - "openssl": EVP_aes_256_ctr of the OpenSSL Node itself runs on, called through the koffi
//     FFI (as poly1305.ts does for Poly1305): it writes straight into the caller's buffer
//     (AES-NI/VAES, several GB/s), no output object per call;
//   - "node":    node:crypto's Cipheriv. Its update() returns each output as a new Buffer,
//     allocated outside the V8 heap and freed only by a later GC: on this kind of VM every
//     such buffer page-faults fresh memory (~230 MB/s measured for 64 KiB slices, see
//     bench/RESULTS.md "## maintenance"), so it is asked for latin1 strings instead, which
//     live in V8's young generation, and each is copied into place.
// The OpenSSL binding must reproduce node:crypto's output (a counter that wraps) when it
// loads, or it is not used.

import { createCipheriv } from "node:crypto";
import { ResticTsError } from "../errors.js";
import { type ModuleLoader, processLibrary, requireModule } from "../ffi.js";

/** Work is done (and `onSlice` called) in slices of this size: they stay in the CPU cache. */
export const CTR_SLICE = 64 * 1024;

export type AesCtrProviderName = "openssl" | "node";

/** One CTR pass: XOR `input` with the key stream into `out` (same length, or the same bytes). */
interface CtrPass {
  update(input: Uint8Array, out: Uint8Array): void;
}

interface Provider {
  readonly name: AesCtrProviderName;
  /** Start a pass; only one pass of a provider is in use at a time (see aes256CtrInto). */
  begin(key: Uint8Array, iv: Uint8Array): CtrPass;
}

const nodeProvider: Provider = {
  name: "node",
  begin(key, iv) {
    const c = createCipheriv("aes-256-ctr", key, iv);
    return {
      update(input, out) {
        const s = c.update(input, undefined, "latin1");
        Buffer.from(out.buffer, out.byteOffset, out.length).write(s, 0, "latin1");
      },
    };
  },
};

function bindOpenSsl(load: ModuleLoader): Provider | null {
  try {
    const self = processLibrary(load);
    const ctxNew = self.func("void *EVP_CIPHER_CTX_new(void)");
    const aes256ctr = self.func("const void *EVP_aes_256_ctr(void)");
    const init = self.func(
      "int EVP_EncryptInit_ex(void *ctx, const void *cipher, void *impl, const uint8_t *key, const uint8_t *iv)",
    );
    const update = self.func(
      "int EVP_EncryptUpdate(void *ctx, uint8_t *out, int32_t *outl, const uint8_t *in, int inl)",
    );
    const cipher = aes256ctr();
    const ctx = ctxNew();
    if (!cipher || !ctx) return null;
    const outl = new Int32Array(1);
    const failed = (what: string) =>
      new ResticTsError("INTERNAL", `AES-256-CTR: OpenSSL ${what} failed`);
    return {
      name: "openssl",
      begin(key, iv) {
        if (Number(init(ctx, cipher, null, key, iv)) !== 1) throw failed("EVP_EncryptInit_ex");
        return {
          update(input, out) {
            if (input.length === 0) return;
            const ok = Number(update(ctx, out, outl, input, input.length)) === 1;
            if (!ok || outl[0] !== input.length) throw failed("EVP_EncryptUpdate");
          },
        };
      },
    };
  } catch {
    return null;
  }
}

/** Whether `p` agrees with node:crypto on a message whose counter wraps, in uneven pieces. */
function passesKnownAnswers(p: Provider): boolean {
  const key = new Uint8Array(32).map((_, i) => i * 7 + 1);
  const iv = new Uint8Array(16).fill(0xff);
  iv[0] = 0x5a; // the low 64 bits wrap within the message
  iv[15] = 0xfe;
  const plain = new Uint8Array(5000).map((_, i) => (i * 31 + (i >> 8)) & 0xff);
  const want = createCipheriv("aes-256-ctr", key, iv).update(plain);
  const got = new Uint8Array(plain.length);
  const pass = p.begin(key, iv);
  for (const [a, b] of [
    [0, 3],
    [3, 4099],
    [4099, 5000],
  ]) {
    pass.update(plain.subarray(a, b), got.subarray(a, b));
  }
  const inPlace = plain.slice();
  p.begin(key, iv).update(inPlace, inPlace);
  return want.equals(got) && want.equals(inPlace);
}

let openSsl: Provider | null | undefined;
let forced: AesCtrProviderName | undefined;
/** A pass is running (a re-entrant call from onSlice takes the node provider). */
let busy = false;

/**
 * Try to bind OpenSSL's AES-256-CTR through koffi (`load` normally `require`); null (never
 * throws) when koffi or the symbols are missing or the answers are wrong.
 */
export function loadOpenSslAesCtr(load: ModuleLoader = requireModule): AesCtrProviderName | null {
  const p = bindOpenSsl(load);
  return p !== null && passesKnownAnswers(p) ? p.name : null;
}

function provider(): Provider {
  if (forced === "node" || busy) return nodeProvider;
  if (openSsl === undefined) {
    const p = bindOpenSsl(requireModule);
    openSsl = p !== null && passesKnownAnswers(p) ? p : null;
  }
  return openSsl ?? nodeProvider;
}

/** The provider seal/open use for AES-256-CTR. */
export function activeAesCtr(): AesCtrProviderName {
  return provider().name;
}

/**
 * Use node:crypto only ("node"), or the fastest again ("auto"), for tests and benchmarks;
 * returns the previous choice.
 */
export function setAesCtrProvider(next: "node" | "auto"): "node" | "auto" {
  const previous = forced === "node" ? "node" : "auto";
  forced = next === "node" ? "node" : undefined;
  return previous;
}

/**
 * XOR `input` with the AES-256-CTR key stream of `key` (32 bytes) and `iv` (the initial
 * counter block) into `out` at `outOffset`, CTR_SLICE bytes at a time, calling `onSlice` with
 * each slice of `out` as soon as it is written (while it is still in cache). `out` may be
 * `input` itself or overlap it anyhow: each slice is read before its output is written.
 */
export function aes256CtrInto(
  key: Uint8Array,
  iv: Uint8Array,
  input: Uint8Array,
  out: Uint8Array,
  outOffset = 0,
  onSlice?: (written: Uint8Array) => void,
): void {
  const n = input.length;
  if (!Number.isSafeInteger(outOffset) || outOffset < 0 || out.length - outOffset < n) {
    throw new ResticTsError("INVALID_ARGUMENT", `AES-256-CTR: output needs ${n} bytes`);
  }
  const p = provider();
  const exact = out.buffer === input.buffer && out.byteOffset + outOffset === input.byteOffset;
  const overlaps =
    !exact &&
    out.buffer === input.buffer &&
    out.byteOffset + outOffset < input.byteOffset + n &&
    input.byteOffset < out.byteOffset + outOffset + n;
  const bounce = overlaps ? new Uint8Array(Math.min(n, CTR_SLICE)) : undefined;
  const wasBusy = busy;
  busy = busy || p !== nodeProvider;
  try {
    const pass = p.begin(key, iv);
    for (let pos = 0; pos < n; pos += CTR_SLICE) {
      const end = Math.min(n, pos + CTR_SLICE);
      const dst = out.subarray(outOffset + pos, outOffset + end);
      if (bounce === undefined) pass.update(input.subarray(pos, end), dst);
      else {
        const tmp = bounce.subarray(0, end - pos);
        pass.update(input.subarray(pos, end), tmp);
        dst.set(tmp);
      }
      onSlice?.(dst);
    }
  } finally {
    busy = wasBusy;
  }
}
