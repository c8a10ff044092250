// zstd compression for repository v2 (restic design.rst "Compression"): unpacked files carry a
// 0x02 version byte before one zstd frame; compressed blobs are one zstd frame each. Every frame
// header is inspected before decompression so a declared size beyond the caller's limit
// (a decompression bomb) is refused without allocating it.

import {
  compress as zstdCompress,
  decompress as zstdDecompress,
  init as zstdInit,
} from "@bokuweb/zstd-wasm";
import { ResticTsError } from "../errors.js";

export type CompressionMode = "auto" | "off" | "max";

const ZSTD_MAGIC = 0xfd2fb528;
/** Level used for `auto` (restic's "fastest" klauspost level is roughly zstd 1-3). */
const LEVEL_AUTO = 3;
const LEVEL_MAX = 19;

let ready: Promise<void> | undefined;

/** Load the zstd WebAssembly module once; every other function here awaits it. */
export function initCompression(): Promise<void> {
  ready ??= zstdInit();
  return ready;
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

export async function compress(
  data: Uint8Array,
  mode: Exclude<CompressionMode, "off">,
): Promise<Uint8Array> {
  await initCompression();
  return zstdCompress(data, mode === "max" ? LEVEL_MAX : LEVEL_AUTO);
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
  await initCompression();
  const { contentSize } = parseFrameHeader(frame);
  if (contentSize !== undefined && contentSize > maxSize) {
    throw corrupt(`zstd frame declares ${contentSize} bytes, more than the allowed ${maxSize}`);
  }
  if (expectedSize !== undefined && contentSize !== undefined && contentSize !== expectedSize) {
    throw corrupt(`zstd frame declares ${contentSize} bytes but the index says ${expectedSize}`);
  }
  let out: Uint8Array;
  try {
    out = zstdDecompress(frame, { defaultHeapSize: expectedSize ?? maxSize });
  } catch (err) {
    throw new ResticTsError(
      "CORRUPT",
      `zstd frame does not decompress: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
  if (expectedSize !== undefined && out.length !== expectedSize) {
    throw corrupt(`decompressed ${out.length} bytes but the index says ${expectedSize}`);
  }
  return out;
}

function corrupt(message: string): ResticTsError {
  return new ResticTsError("CORRUPT", message);
}
