// SHA-256 computed off the main thread, for data the caller streams past anyway (check
// --read-data hashes every pack file while the main thread decrypts and hashes the blobs in
// it): each update runs EVP_DigestUpdate of the OpenSSL Node itself runs on, called through
// koffi's asynchronous calls on libuv's thread pool, so a second core works without a worker
// thread (no isolate, no second heap). Without koffi or the symbols, node:crypto hashes on the
// calling thread and the promises are already settled.
//
// The caller must leave each chunk untouched until its update's promise settles; updates are
// applied in order.

import { createHash } from "node:crypto";
import { ResticTsError } from "../errors.js";
import { type ModuleLoader, processLibrary, requireModule } from "../ffi.js";

/** An incremental SHA-256; `digest` may be called once, after the updates settled. */
export interface OffThreadSha256 {
  update(chunk: Uint8Array): Promise<void>;
  /** The hex digest of everything updated (waits for pending updates). */
  digest(): Promise<string>;
}

interface Bindings {
  ctxNew(): unknown;
  ctxFree(ctx: unknown): void;
  init(ctx: unknown): boolean;
  update(ctx: unknown, chunk: Uint8Array): Promise<void>;
  updateSync(ctx: unknown, chunk: Uint8Array): boolean;
  final(ctx: unknown, out: Uint8Array): boolean;
}

function bind(load: ModuleLoader): Bindings | null {
  try {
    const self = processLibrary(load);
    const ctxNew = self.func("void *EVP_MD_CTX_new(void)");
    const ctxFree = self.func("void EVP_MD_CTX_free(void *ctx)");
    const sha256 = self.func("const void *EVP_sha256(void)")();
    const init = self.func("int EVP_DigestInit_ex(void *ctx, const void *type, void *impl)");
    const update = self.func("int EVP_DigestUpdate(void *ctx, const uint8_t *d, size_t cnt)");
    const final = self.func("int EVP_DigestFinal_ex(void *ctx, uint8_t *md, void *s)");
    if (!sha256) return null;
    return {
      ctxNew: () => ctxNew(),
      ctxFree: (ctx) => {
        ctxFree(ctx);
      },
      init: (ctx) => Number(init(ctx, sha256, null)) === 1,
      update: (ctx, chunk) =>
        new Promise((resolve, reject) => {
          update.async(ctx, chunk, chunk.length, (err: unknown, ok: unknown) => {
            if (err || Number(ok) !== 1) {
              reject(new ResticTsError("INTERNAL", "SHA-256: OpenSSL EVP_DigestUpdate failed"));
            } else resolve();
          });
        }),
      updateSync: (ctx, chunk) => Number(update(ctx, chunk, chunk.length)) === 1,
      final: (ctx, out) => Number(final(ctx, out, null)) === 1,
    };
  } catch {
    return null;
  }
}

function nodeSha256(): OffThreadSha256 {
  const h = createHash("sha256");
  return {
    update(chunk) {
      h.update(chunk);
      return Promise.resolve();
    },
    digest: () => Promise.resolve(h.digest("hex")),
  };
}

function nativeSha256(b: Bindings): OffThreadSha256 {
  const ctx = b.ctxNew();
  if (!ctx || !b.init(ctx)) {
    if (ctx) b.ctxFree(ctx);
    return nodeSha256();
  }
  let chain: Promise<void> = Promise.resolve();
  let done = false;
  return {
    update(chunk) {
      if (done) throw new ResticTsError("INVALID_ARGUMENT", "SHA-256: update after digest");
      chain = chain.then(() => b.update(ctx, chunk));
      return chain;
    },
    async digest() {
      if (done) throw new ResticTsError("INVALID_ARGUMENT", "SHA-256: digest called twice");
      done = true;
      try {
        await chain;
        const out = Buffer.alloc(32);
        if (!b.final(ctx, out)) {
          throw new ResticTsError("INTERNAL", "SHA-256: OpenSSL EVP_DigestFinal_ex failed");
        }
        return out.toString("hex");
      } finally {
        b.ctxFree(ctx);
      }
    },
  };
}

let bindings: Bindings | null | undefined;

/** Whether updates run off the main thread (OpenSSL through koffi) in this process. */
export function sha256OffThreadAvailable(): boolean {
  if (bindings === undefined) bindings = loadChecked(requireModule);
  return bindings !== null;
}

/** Bind and check against node:crypto (uneven pieces); null when that fails. */
function loadChecked(load: ModuleLoader): Bindings | null {
  const b = bind(load);
  if (b === null) return null;
  try {
    const ctx = b.ctxNew();
    if (!ctx) return null;
    const data = new Uint8Array(3000).map((_, i) => (i * 7 + (i >> 5)) & 0xff);
    const out = Buffer.alloc(32);
    // the known answer runs synchronously through the same functions
    const ok =
      b.init(ctx) &&
      b.updateSync(ctx, data.subarray(0, 5)) &&
      b.updateSync(ctx, data.subarray(5)) &&
      b.final(ctx, out);
    b.ctxFree(ctx);
    const want = createHash("sha256").update(data).digest();
    return ok && out.equals(want) ? b : null;
  } catch {
    return null;
  }
}

/** A new SHA-256: off the main thread when it can be, else node:crypto's. */
export function offThreadSha256(): OffThreadSha256 {
  return sha256OffThreadAvailable() ? nativeSha256(bindings as Bindings) : nodeSha256();
}
