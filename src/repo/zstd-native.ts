// The system's zstd library (libzstd, the reference C implementation) through the koffi FFI,
// for repository v2 compression (restic design.rst "Compression": one zstd frame per
// compressed blob or unpacked file). It is several times faster than the WebAssembly build of
// @bokuweb/zstd-wasm (bench/RESULTS.md "## compression"), which stays the fallback when
// libzstd or koffi cannot be loaded; compression.ts picks. The format is the same either way:
// any zstd frame decodes with either implementation.
//
// One compression and one decompression context per thread, made on first use and kept (zstd
// contexts are meant to be reused); calls are synchronous, so a context is never shared by two
// calls at once. Output goes into buffers the caller owns: zstd never writes past `dst.length`
// and fails instead, so a frame cannot expand beyond what the caller allowed.

import { ResticTsError } from "../errors.js";
import {
  type CLibrary,
  type Koffi,
  koffiModule,
  type ModuleLoader,
  requireModule,
} from "../ffi.js";

/** zstd through the C library: synchronous, into caller-owned buffers. */
export interface NativeZstd {
  /** libzstd's version, e.g. "1.5.4". */
  readonly version: string;
  /** Largest frame `compressInto` can write for `n` input bytes. */
  compressBound(n: number): number;
  /** Compress `src` as one frame into `dst` (at least compressBound bytes); returns its size. */
  compressInto(src: Uint8Array, dst: Uint8Array, level: number): number;
  /**
   * Decompress the frame(s) in `frame` into `dst`; returns the bytes written. CORRUPT if the
   * frame is malformed or would produce more than `dst.length` bytes.
   */
  decompressInto(frame: Uint8Array, dst: Uint8Array): number;
  /**
   * decompressInto on libuv's thread pool (a context of its own per call), so the calling
   * thread goes on meanwhile; neither view may change until the promise settles.
   */
  decompressAsync(frame: Uint8Array, dst: Uint8Array): Promise<number>;
}

/** Where libzstd is found: the SONAME first (Debian's libzstd1), then development names. */
const LIBRARY_NAMES: Record<string, readonly string[]> = {
  linux: ["libzstd.so.1", "libzstd.so"],
  darwin: ["libzstd.1.dylib", "libzstd.dylib"],
};

/** Oldest libzstd accepted (1.4.0: stable ZSTD_compressCCtx / ZSTD_decompressDCtx). */
const MIN_VERSION = 10400;

function bind(koffi: Koffi): NativeZstd | null {
  let lib: CLibrary | undefined;
  for (const name of LIBRARY_NAMES[process.platform] ?? []) {
    try {
      lib = koffi.load(name);
      break;
    } catch {
      // try the next name
    }
  }
  if (!lib) return null;
  const versionNumber = Number(lib.func("uint32_t ZSTD_versionNumber(void)")());
  if (!(versionNumber >= MIN_VERSION)) return null;
  const bound = lib.func("size_t ZSTD_compressBound(size_t srcSize)");
  const isError = lib.func("uint32_t ZSTD_isError(size_t code)");
  const errorName = lib.func("const char *ZSTD_getErrorName(size_t code)");
  const createCCtx = lib.func("void *ZSTD_createCCtx(void)");
  const createDCtx = lib.func("void *ZSTD_createDCtx(void)");
  const compressCCtx = lib.func(
    "size_t ZSTD_compressCCtx(void *cctx, uint8_t *dst, size_t dstCapacity, const uint8_t *src, size_t srcSize, int level)",
  );
  const decompressDCtx = lib.func(
    "size_t ZSTD_decompressDCtx(void *dctx, uint8_t *dst, size_t dstCapacity, const uint8_t *src, size_t srcSize)",
  );
  const decompressOnce = lib.func(
    "size_t ZSTD_decompress(uint8_t *dst, size_t dstCapacity, const uint8_t *src, size_t srcSize)",
  );
  let cctx: unknown;
  let dctx: unknown;
  const check = (ret: unknown, what: string, code: "CORRUPT" | "INTERNAL"): number => {
    if (Number(isError(ret)) !== 0) {
      throw new ResticTsError(code, `zstd: ${what} failed: ${String(errorName(ret))}`);
    }
    return Number(ret);
  };
  return Object.freeze({
    version: `${Math.floor(versionNumber / 10000)}.${Math.floor(versionNumber / 100) % 100}.${versionNumber % 100}`,
    compressBound: (n: number) => Number(bound(n)),
    compressInto(src: Uint8Array, dst: Uint8Array, level: number): number {
      cctx ??= createCCtx();
      if (!cctx) throw new ResticTsError("INTERNAL", "zstd: cannot create a compression context");
      return check(
        compressCCtx(cctx, dst, dst.length, src, src.length, level),
        "compression",
        "INTERNAL",
      );
    },
    decompressInto(frame: Uint8Array, dst: Uint8Array): number {
      dctx ??= createDCtx();
      if (!dctx) throw new ResticTsError("INTERNAL", "zstd: cannot create a decompression context");
      return check(
        decompressDCtx(dctx, dst, dst.length, frame, frame.length),
        "decompression",
        "CORRUPT",
      );
    },
    decompressAsync(frame: Uint8Array, dst: Uint8Array): Promise<number> {
      return new Promise((resolve, reject) => {
        decompressOnce.async(dst, dst.length, frame, frame.length, (err: unknown, ret: unknown) => {
          if (err) reject(err);
          else {
            try {
              resolve(check(ret, "decompression", "CORRUPT"));
            } catch (e) {
              reject(e);
            }
          }
        });
      });
    },
  });
}

/** Whether `z` round-trips a known input (refuse a library that loads but misbehaves). */
function works(z: NativeZstd): boolean {
  const input = new Uint8Array(6_000);
  for (let i = 0; i < input.length; i++) input[i] = ((i % 251) ^ (i >> 9)) & 0xff;
  const frame = new Uint8Array(z.compressBound(input.length));
  const n = z.compressInto(input, frame, 1);
  const out = new Uint8Array(input.length);
  if (z.decompressInto(frame.subarray(0, n), out) !== input.length) return false;
  return Buffer.from(out).equals(Buffer.from(input));
}

/**
 * Load libzstd through koffi (`load` normally `require`); null (never throws) when koffi or
 * the library is missing, too old, or fails the round trip.
 */
export function loadNativeZstd(load: ModuleLoader = requireModule): NativeZstd | null {
  try {
    const z = bind(koffiModule(load));
    return z && works(z) ? z : null;
  } catch {
    return null;
  }
}

let loaded: NativeZstd | null | undefined;

/** This thread's libzstd, loaded on first use; null when it is not available. */
export function nativeZstd(): NativeZstd | null {
  if (loaded === undefined) loaded = loadNativeZstd();
  return loaded;
}
