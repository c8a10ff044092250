// Unpacked files (restic design.rst "Unpacked files"): keys aside, every file outside data/ is
// `seal(plaintext)` where, in repository v2, plaintext is `0x02 || zstd frame` — or raw JSON
// when its first byte is `{` or `[` (uncompressed files written by v1-era code). The config is
// never compressed. This module holds only the compression framing; sealing is the caller's.

import { ResticTsError } from "../errors.js";
import { compress, decompress } from "./compression.js";
import type { RepositoryVersion } from "./config.js";

const VERSION_ZSTD = 0x02;

/** Upper bound for a decompressed unpacked file (index, snapshot, lock): refuses bombs. */
export const MAX_UNPACKED_SIZE = 256 * 1024 * 1024;

export async function encodeUnpacked(
  plaintext: Uint8Array,
  version: RepositoryVersion,
): Promise<Uint8Array> {
  if (version < 2) return plaintext;
  const frame = await compress(plaintext, "auto");
  const out = new Uint8Array(frame.length + 1);
  out[0] = VERSION_ZSTD;
  out.set(frame, 1);
  return out;
}

export async function decodeUnpacked(
  plaintext: Uint8Array,
  version: RepositoryVersion,
): Promise<Uint8Array> {
  if (version < 2 || plaintext.length === 0) return plaintext;
  const first = plaintext[0];
  if (first === 0x7b /* { */ || first === 0x5b /* [ */) return plaintext;
  if (first !== VERSION_ZSTD) {
    throw new ResticTsError(
      "UNSUPPORTED",
      `unpacked file has unknown encoding version 0x${first.toString(16).padStart(2, "0")}`,
    );
  }
  return decompress(plaintext.subarray(1), MAX_UNPACKED_SIZE);
}
