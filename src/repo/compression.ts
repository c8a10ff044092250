// zstd compression for repository v2 (restic design.rst "Compression"): unpacked files carry a
// 0x02 version byte before one zstd frame; compressed blobs are one zstd frame each. Every frame
// header is inspected before decompression so a declared size beyond the caller's limit
// (a decompression bomb) is refused without allocating it, and the block headers are walked
// so a frame without a declared size, or with a false one, cannot make zstd allocate more
// than its blocks can produce. zstd itself is libzstd (zstd-native.ts) when it loads, else the
// WebAssembly build of @bokuweb/zstd-wasm.

import { createRequire } from "node:module";
import path from "node:path";
import { IV_SIZE, SEAL_OVERHEAD } from "../crypto/sizes.js";
import { ResticTsError } from "../errors.js";
import { largeArrayBuffer } from "../huge-pages.js";
import { type NativeZstd, nativeZstd } from "./zstd-native.js";

export type CompressionMode = "auto" | "off" | "max";

const ZSTD_MAGIC = 0xfd2fb528;
/**
 * Level used for `auto`: restic's klauspost "default" level is roughly zstd 3; level 1 is as
 * small on log text and about three times faster (bench/RESULTS.md "## backup"). The level is
 * not part of the format: any zstd frame decodes.
 */
export const LEVEL_AUTO = 1;
export const LEVEL_MAX = 19;

/** The zstd level for a compression mode (undefined for "off"). */
export function zstdLevel(mode: CompressionMode): number | undefined {
  return mode === "off" ? undefined : mode === "max" ? LEVEL_MAX : LEVEL_AUTO;
}

/** Which zstd runs: libzstd when it loads ("auto"), or one forced (tests, benchmarks). */
export type ZstdImplementation = "auto" | "native" | "wasm";
let implementation: ZstdImplementation = "auto";

/** Choose the zstd implementation; returns the previous choice. UNSUPPORTED if not loadable. */
export function setZstdImplementation(next: ZstdImplementation): ZstdImplementation {
  if (next === "native" && !nativeZstd()) {
    throw new ResticTsError("UNSUPPORTED", "zstd: libzstd could not be loaded");
  }
  const previous = implementation;
  implementation = next;
  return previous;
}

/** libzstd when it is to be used, else null (the WebAssembly build runs). */
export function activeNativeZstd(): NativeZstd | null {
  return implementation === "wasm" ? null : nativeZstd();
}

/** Reused output area for native compression (grows up to SCRATCH_MAX, per thread). */
let scratch = new Uint8Array(0);
const SCRATCH_MAX = 32 * 1024 * 1024;

function compressNative(z: NativeZstd, data: Uint8Array, level: number): Uint8Array {
  const bound = z.compressBound(data.length);
  let dst = scratch;
  if (dst.length < bound) {
    dst = new Uint8Array(bound);
    if (bound <= SCRATCH_MAX) scratch = dst;
  }
  const n = z.compressInto(data, dst, level);
  return dst.slice(0, n);
}

type ZstdWasm = typeof import("@bokuweb/zstd-wasm");
let wasm: ZstdWasm | undefined;
let ready: Promise<void> | undefined;

/**
 * Load the zstd WebAssembly module once (imported only then: with libzstd it is never needed);
 * every function here that uses it awaits this.
 */
export function initCompression(): Promise<void> {
  ready ??= import("@bokuweb/zstd-wasm").then(async (m) => {
    await m.init();
    wasm = m;
  });
  return ready;
}

function zstdWasm(): ZstdWasm {
  if (wasm === undefined) throw new ResticTsError("INTERNAL", "zstd: WebAssembly not loaded");
  return wasm;
}

export interface FrameHeader {
  /** The decompressed size the frame declares, or undefined when the writer left it out. */
  readonly contentSize: number | undefined;
}

/** Parse the header of the zstd frame at the start of `frame` (RFC 8878 section 3.1.1.1). */
export function parseFrameHeader(frame: Uint8Array): FrameHeader {
  if (frame.length < 6) throw corrupt("zstd frame is truncated");
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint32(0, true) !== ZSTD_MAGIC) throw corrupt("not a zstd frame (bad magic number)");
  const fhd = frame[4];
  if (fhd & 0x08) throw corrupt("zstd frame header has the reserved bit set");
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd & 0x20) !== 0;
  const dictIdSize = [0, 1, 2, 4][fhd & 0x03];
  let pos = 5 + (singleSegment ? 0 : 1) + dictIdSize;
  const fcsSize = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag];
  if (frame.length < pos + fcsSize) throw corrupt("zstd frame header is truncated");
  let contentSize: number | undefined;
  switch (fcsSize) {
    case 1:
      contentSize = frame[pos];
      break;
    case 2:
      contentSize = view.getUint16(pos, true) + 256;
      break;
    case 4:
      contentSize = view.getUint32(pos, true);
      break;
    case 8: {
      const big = view.getBigUint64(pos, true);
      contentSize = big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(big);
      break;
    }
  }
  pos += fcsSize;
  return { contentSize };
}

/** Largest content of one zstd block (RFC 8878 section 3.1.1.2.4, Block_Maximum_Size). */
const BLOCK_MAX = 128 * 1024;
const SKIPPABLE_MASK = 0xffff_fff0;
const SKIPPABLE_MAGIC = 0x184d_2a50;

export interface FrameBounds {
  /** Bytes the frames' raw and RLE blocks produce: the content is at least this long. */
  readonly min: number;
  /** Bytes all blocks can produce at most (a compressed block up to 128 KiB). */
  readonly max: number;
}

/**
 * Walk the block headers of the zstd frame(s) in `data` (skippable frames allowed, as zstd
 * decodes them) without decompressing: how long the content is at least and at most. Lets a
 * caller refuse a decompression bomb, or a frame whose declared size is a lie, before it
 * allocates anything. CORRUPT when the block structure is malformed or truncated.
 */
export function frameContentBounds(data: Uint8Array): FrameBounds {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = data.length;
  let pos = 0;
  let min = 0;
  let max = 0;
  if (n === 0) throw corrupt("zstd frame is empty");
  while (pos < n) {
    if (n - pos < 6) throw corrupt("zstd frame is truncated");
    const magic = view.getUint32(pos, true);
    if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (n - pos < 8) throw corrupt("zstd skippable frame is truncated");
      pos += 8 + view.getUint32(pos + 4, true);
      if (pos > n) throw corrupt("zstd skippable frame is truncated");
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw corrupt("not a zstd frame (bad magic number)");
    const fhd = data[pos + 4];
    if (fhd & 0x08) throw corrupt("zstd frame header has the reserved bit set");
    const single = (fhd & 0x20) !== 0;
    const fcsFlag = fhd >> 6;
    const fcsSize = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag];
    pos += 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 0x03] + fcsSize;
    if (pos > n) throw corrupt("zstd frame header is truncated");
    for (;;) {
      if (pos + 3 > n) throw corrupt("zstd frame is truncated (block header)");
      const h = data[pos] | (data[pos + 1] << 8) | (data[pos + 2] << 16);
      const type = (h >>> 1) & 3;
      const size = h >>> 3;
      if (type === 3) throw corrupt("zstd block has the reserved type");
      if (size > BLOCK_MAX) throw corrupt(`zstd block of ${size} bytes is larger than 128 KiB`);
      if (type === 0) {
        min += size;
        max += size;
        pos += 3 + size;
      } else if (type === 1) {
        min += size;
        max += size;
        pos += 4;
      } else {
        max += BLOCK_MAX;
        pos += 3 + size;
      }
      if (pos > n) throw corrupt("zstd frame is truncated (block)");
      if (h & 1) break;
    }
    if (fhd & 0x04) {
      pos += 4;
      if (pos > n) throw corrupt("zstd frame is truncated (checksum)");
    }
  }
  return { min, max };
}

export async function compress(
  data: Uint8Array,
  mode: Exclude<CompressionMode, "off">,
): Promise<Uint8Array> {
  const level = mode === "max" ? LEVEL_MAX : LEVEL_AUTO;
  const z = activeNativeZstd();
  if (z) return compressNative(z, data, level);
  await initCompression();
  return zstdWasm().compress(data, level);
}

/**
 * Decompress one zstd frame that may expand to at most `maxSize` bytes. When `expectedSize` is
 * given (a blob's `uncompressed_length` from the index) the result must have exactly that size.
 */
export async function decompress(
  frame: Uint8Array,
  maxSize: number,
  expectedSize?: number,
): Promise<Uint8Array> {
  const { contentSize } = parseFrameHeader(frame);
  if (contentSize !== undefined && contentSize > maxSize) {
    throw corrupt(`zstd frame declares ${contentSize} bytes, more than the allowed ${maxSize}`);
  }
  if (expectedSize !== undefined && contentSize !== undefined && contentSize !== expectedSize) {
    throw corrupt(`zstd frame declares ${contentSize} bytes but the index says ${expectedSize}`);
  }
  // the blocks say how much the frame can really produce: refuse a bomb or a lying header
  // before zstd allocates its output, and allocate no more than the frame can fill
  const bounds = frameContentBounds(frame);
  const limit = expectedSize ?? maxSize;
  if (bounds.min > limit) {
    throw corrupt(`zstd frame holds at least ${bounds.min} bytes, more than the allowed ${limit}`);
  }
  if (contentSize !== undefined && contentSize > bounds.max) {
    throw corrupt(
      `zstd frame declares ${contentSize} bytes but its blocks hold at most ${bounds.max}`,
    );
  }
  if (expectedSize !== undefined && expectedSize > bounds.max) {
    throw corrupt(
      `zstd frame holds at most ${bounds.max} bytes but the index says ${expectedSize}`,
    );
  }
  let out: Uint8Array;
  const z = activeNativeZstd();
  if (z) {
    // zstd fails rather than write past the buffer: no frame can expand beyond `capacity`
    const capacity = expectedSize ?? Math.min(limit, bounds.max);
    const buf = new Uint8Array(capacity);
    const n = z.decompressInto(frame, buf);
    out = n === capacity ? buf : n >= capacity / 2 ? buf.subarray(0, n) : buf.slice(0, n);
  } else {
    out = await decompressWasm(frame, Math.min(limit, bounds.max));
  }
  if (expectedSize !== undefined && out.length !== expectedSize) {
    throw corrupt(`decompressed ${out.length} bytes but the index says ${expectedSize}`);
  }
  return out;
}

async function decompressWasm(frame: Uint8Array, heapSize: number): Promise<Uint8Array> {
  await initCompression();
  try {
    return zstdWasm().decompress(frame, { defaultHeapSize: heapSize });
  } catch (err) {
    throw new ResticTsError(
      "CORRUPT",
      `zstd frame does not decompress: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
}

/** The parts of the Emscripten module behind @bokuweb/zstd-wasm that are driven directly. */
export interface ZstdModule {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(p: number): void;
  _ZSTD_compress(dst: number, cap: number, src: number, n: number, level: number): number;
  _ZSTD_decompress(dst: number, dstCapacity: number, src: number, srcSize: number): number;
  _ZSTD_compressBound(n: number): number;
  _ZSTD_isError(code: number): number;
}

/**
 * The package's module object (its exports map hides it; required by absolute path: the same
 * file its index loads, so the same instance, initialised by `initCompression`). Throws when
 * the package's layout is not the expected one.
 */
export function zstdModule(): ZstdModule {
  const require = createRequire(import.meta.url);
  const entry = require.resolve("@bokuweb/zstd-wasm");
  return (require(path.join(path.dirname(entry), "module.js")) as { Module: ZstdModule }).Module;
}

/** Where RawZstd's two buffers live and who compresses them. */
interface RawEngine {
  /** The input area (re-fetched per use: WebAssembly memory views die when memory grows). */
  input(): Uint8Array;
  /** The output area: SEAL_OVERHEAD bytes more than the largest frame (RawZstd.sealArea). */
  output(): Uint8Array;
  /** Compress input[offset, offset+length) into output at IV_SIZE; returns the frame's length. */
  compress(offset: number, length: number, level: number): number;
}

function nativeEngine(z: NativeZstd, inputSize: number, maxBlob: number): RawEngine {
  const input = new Uint8Array(largeArrayBuffer(inputSize));
  const output = new Uint8Array(largeArrayBuffer(z.compressBound(maxBlob) + SEAL_OVERHEAD));
  const frames = output.subarray(IV_SIZE, output.length - (SEAL_OVERHEAD - IV_SIZE));
  return {
    input: () => input,
    output: () => output,
    compress: (offset, length, level) =>
      z.compressInto(input.subarray(offset, offset + length), frames, level),
  };
}

async function wasmEngine(inputSize: number, maxBlob: number): Promise<RawEngine> {
  await initCompression();
  const m = zstdModule();
  const frameSize = m._ZSTD_compressBound(maxBlob);
  const outSize = frameSize + SEAL_OVERHEAD;
  const inPtr = m._malloc(inputSize);
  const outPtr = m._malloc(outSize);
  if (inPtr === 0 || outPtr === 0) {
    throw new ResticTsError("IO", "zstd: out of WebAssembly memory");
  }
  return {
    input: () => m.HEAPU8.subarray(inPtr, inPtr + inputSize),
    output: () => m.HEAPU8.subarray(outPtr, outPtr + outSize),
    compress(offset, length, level) {
      const n = m._ZSTD_compress(outPtr + IV_SIZE, frameSize, inPtr + offset, length, level);
      if (m._ZSTD_isError(n)) throw new ResticTsError("IO", `zstd: compression failed (${n})`);
      return n;
    },
  };
}

/**
 * zstd compression without allocation per call, for the backup pipeline: the caller writes
 * input straight into `input` (e.g. with fs.readSync) and compresses ranges of it into a
 * second buffer. Fresh memory is expensive here (page faults), so both buffers are allocated
 * once: plain memory for libzstd, or WebAssembly memory for the fallback (whose views are
 * invalidated when the memory grows, which only `create` does).
 */
export class RawZstd {
  private constructor(
    private readonly engine: RawEngine,
    readonly inputSize: number,
    private readonly maxBlob: number,
  ) {}

  /** Load zstd (once per thread) and allocate an input buffer of `inputSize` bytes. */
  static async create(inputSize: number, maxBlob: number): Promise<RawZstd> {
    const z = activeNativeZstd();
    const engine = z ? nativeEngine(z, inputSize, maxBlob) : await wasmEngine(inputSize, maxBlob);
    return new RawZstd(engine, inputSize, maxBlob);
  }

  /** The input buffer (re-fetch after `create` of another instance: memory may have grown). */
  get input(): Uint8Array {
    return this.engine.input();
  }

  /**
   * Compress input[offset, offset+length) as one zstd frame; returns a view of the frame,
   * valid until the next call. The frame lies at IV_SIZE in `sealArea`, so it can be sealed
   * where it is: `sealInto(key, frame, sealArea, 0)`.
   */
  compress(offset: number, length: number, level: number): Uint8Array {
    if (length > this.maxBlob || offset < 0 || offset + length > this.inputSize) {
      throw new ResticTsError("INVALID_ARGUMENT", `zstd: range ${offset}+${length} out of bounds`);
    }
    const n = this.engine.compress(offset, length, level);
    return this.engine.output().subarray(IV_SIZE, IV_SIZE + n);
  }

  /**
   * The output area, room for one sealed blob of up to `maxBlob` bytes (compressed or not)
   * beside the input: the last frame (in place) or a range of the input is sealed into it and
   * written from there. Re-fetch after `create` of another instance, as `input`.
   */
  get sealArea(): Uint8Array {
    return this.engine.output();
  }
}

function corrupt(message: string): ResticTsError {
  return new ResticTsError("CORRUPT", message);
}
