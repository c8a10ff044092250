// Decompressing compressed blobs (restic design.rst "Compression": one zstd frame per blob of
// a v2 repository) into buffers the caller owns and reuses. The zstd WebAssembly module of
// @bokuweb/zstd-wasm is driven directly with input and output areas that stay allocated in
// its memory, so a restore does not allocate (and page-fault in) fresh memory for every blob;
// the output must be exactly the blob's uncompressed length (a frame that would expand past
// it fails inside zstd: no decompression bomb). When libzstd is loaded (compression.ts
// activeNativeZstd, through koffi) it decompresses straight into the caller's buffer instead:
// no copies in or out of WebAssembly memory, and faster (bench/RESULTS.md "## restore"). When
// neither is reachable (another version of the package) this falls back to compression.ts's
// `decompress`.

import { ResticTsError } from "../../errors.js";
import {
  activeNativeZstd,
  decompress,
  frameContentBounds,
  initCompression,
  type ZstdModule,
  zstdModule,
} from "../compression.js";
import type { NativeZstd } from "../zstd-native.js";

let loaded: Promise<ZstdModule | null> | undefined;

async function loadModule(): Promise<ZstdModule | null> {
  await initCompression();
  try {
    const mod = zstdModule();
    if (mod && typeof mod._ZSTD_decompress === "function" && typeof mod._malloc === "function") {
      return mod;
    }
  } catch {
    // not reachable: use the public API
  }
  return null;
}

/**
 * The content of a zstd frame made only of raw (stored) blocks — what restic's encoder writes
 * for incompressible data — gathered in place at the start of `frame` (RFC 8878 3.1.1: magic,
 * frame header, blocks of a 3-byte header each, optional checksum). Undefined when the frame
 * has any other block type (the caller decompresses it then) or is not well-formed. The
 * content checksum is not checked: the caller verifies the blob's SHA-256.
 */
export function rawFrameInPlace(frame: Uint8Array): Uint8Array | undefined {
  const n = frame.length;
  if (n < 6) return undefined;
  if (frame[0] !== 0x28 || frame[1] !== 0xb5 || frame[2] !== 0x2f || frame[3] !== 0xfd) {
    return undefined;
  }
  const fhd = frame[4];
  if (fhd & 0x08) return undefined;
  const singleSegment = (fhd & 0x20) !== 0;
  const fcsFlag = fhd >> 6;
  const fcsSize = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag];
  let pos = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][fhd & 3] + fcsSize;
  const checksum = (fhd & 0x04) !== 0 ? 4 : 0;
  // first pass: check every block is raw and in bounds
  let p = pos;
  for (;;) {
    if (p + 3 > n) return undefined;
    const h = frame[p] | (frame[p + 1] << 8) | (frame[p + 2] << 16);
    const size = h >>> 3;
    if (((h >>> 1) & 3) !== 0) return undefined;
    p += 3 + size;
    if (p > n) return undefined;
    if (h & 1) break;
  }
  if (p + checksum !== n) return undefined;
  // second pass: move the blocks' bytes together
  let out = 0;
  for (;;) {
    const h = frame[pos] | (frame[pos + 1] << 8) | (frame[pos + 2] << 16);
    const size = h >>> 3;
    frame.copyWithin(out, pos + 3, pos + 3 + size);
    out += size;
    pos += 3 + size;
    if (h & 1) break;
  }
  return frame.subarray(0, out);
}

function corrupt(message: string): ResticTsError {
  return new ResticTsError("CORRUPT", message);
}

/**
 * Refuse a frame that cannot produce `expected` bytes, before any room is used for them, and
 * an output view shorter than that.
 */
function checkFrameFits(frame: Uint8Array, expected: number, out: Uint8Array): void {
  if (out.length < expected) throw new RangeError("output buffer too small");
  const bounds = frameContentBounds(frame);
  if (bounds.min > expected || bounds.max < expected) {
    throw corrupt(
      `zstd frame holds ${bounds.min}..${bounds.max} bytes but the index says ${expected}`,
    );
  }
}

function checkDecompressed(n: number, expected: number): void {
  if (n !== expected) throw corrupt(`decompressed ${n} bytes but the index says ${expected}`);
}

/** Decompresses blobs one at a time through reused WebAssembly memory. */
export class BlobDecompressor {
  private src = 0;
  private srcCap = 0;
  private dst = 0;
  private dstCap = 0;

  private constructor(
    private readonly native: NativeZstd | null,
    private readonly mod: ZstdModule | null,
  ) {}

  static async create(): Promise<BlobDecompressor> {
    // with libzstd the WebAssembly module is not even instantiated (its memory stays unused)
    const native = activeNativeZstd();
    if (native !== null) return new BlobDecompressor(native, null);
    loaded ??= loadModule();
    return new BlobDecompressor(null, await loaded);
  }

  /**
   * Decompress `frame`, which must expand to exactly `expected` bytes, into `out` (at least
   * that long). CORRUPT when the frame is damaged or its size differs.
   */
  async decompressInto(frame: Uint8Array, expected: number, out: Uint8Array): Promise<void> {
    if (this.decompressIntoSync(frame, expected, out)) return;
    const plain = await decompress(frame, expected, expected);
    out.set(plain);
  }

  /**
   * decompressInto, synchronously: false (nothing done) when only the asynchronous public
   * API is reachable.
   */
  decompressIntoSync(frame: Uint8Array, expected: number, out: Uint8Array): boolean {
    const native = this.native;
    const mod = this.mod;
    if (native === null && mod === null) {
      if (out.length < expected) throw new RangeError("output buffer too small");
      return false;
    }
    checkFrameFits(frame, expected, out);
    if (native !== null) {
      // zstd never writes past the view it is given: a frame that expands further fails
      checkDecompressed(native.decompressInto(frame, out.subarray(0, expected)), expected);
      return true;
    }
    if (mod === null) throw new ResticTsError("INTERNAL", "zstd: no implementation loaded");
    if (frame.length > this.srcCap) {
      if (this.src) mod._free(this.src);
      this.srcCap = Math.max(frame.length, 64 * 1024);
      this.src = mod._malloc(this.srcCap);
    }
    if (expected > this.dstCap) {
      if (this.dst) mod._free(this.dst);
      this.dstCap = Math.max(expected, 64 * 1024);
      this.dst = mod._malloc(this.dstCap);
    }
    if (!this.src || !this.dst) throw new ResticTsError("IO", "zstd: out of memory");
    mod.HEAPU8.set(frame, this.src);
    const n = mod._ZSTD_decompress(this.dst, expected, this.src, frame.length);
    if (mod._ZSTD_isError(n)) {
      throw corrupt(`zstd frame does not decompress into the expected ${expected} bytes`);
    }
    checkDecompressed(n, expected);
    out.set(mod.HEAPU8.subarray(this.dst, this.dst + n));
    return true;
  }

  /**
   * decompressInto on libuv's thread pool, with libzstd; undefined (nothing done) without it.
   * `frame` and `out` must stay as they are until the promise settles.
   */
  decompressIntoOffThread(
    frame: Uint8Array,
    expected: number,
    out: Uint8Array,
  ): Promise<void> | undefined {
    const native = this.native;
    if (native === null) return undefined;
    return (async () => {
      checkFrameFits(frame, expected, out);
      checkDecompressed(await native.decompressAsync(frame, out.subarray(0, expected)), expected);
    })();
  }

  /** Give the WebAssembly memory areas back. */
  dispose(): void {
    if (this.mod === null) return;
    if (this.src) this.mod._free(this.src);
    if (this.dst) this.mod._free(this.dst);
    this.src = this.dst = this.srcCap = this.dstCap = 0;
  }
}
