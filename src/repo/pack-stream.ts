// Reading whole packs sequentially, for check --read-data, prune's repacking and copy: a pack
// is read front to back in segments of a few MiB into one buffer the caller reuses (fresh
// memory is expensive on this kind of VM, and memory stays bounded whatever the pack size),
// and each blob is handed out as a view into that buffer. With `wholeFile` every byte of the
// file is read (so its SHA-256 can be checked); otherwise only the runs that hold the wanted
// blobs. Blobs are verified: MAC and decryption (the crypto module's open, or openEach a
// cache-sized slice at a time when the plaintext is not kept), optional decompression (skipped
// for raw zstd blocks), SHA-256 against their ID.

import { createHash } from "node:crypto";
import { open as openFile } from "node:fs/promises";
import type { Backend } from "../backends/backend.js";
import { LocalBackend } from "../backends/local.js";
import { CTR_SLICE } from "../crypto/aes-ctr.js";
import { sha256Hex } from "../crypto/hash.js";
import { type MasterKey, open, openEach, SEAL_OVERHEAD } from "../crypto/master-key.js";
import { fromSystemError, isResticTsError, ResticTsError } from "../errors.js";
import { largeArrayBuffer } from "../huge-pages.js";
import { decompress } from "./compression.js";
import type { Id } from "./id.js";
import type { BlobType } from "./pack.js";
import { RawFrameHasher } from "./zstd-raw.js";

/** Largest plaintext a blob may decompress to (as indexed.ts MAX_BLOB_SIZE; kept here so
 * the read-data workers need not load the index modules). */
const MAX_BLOB_SIZE = 512 * 1024 * 1024;
/** Default segment size: large enough for efficient reads, small enough to bound memory. */
export const SEGMENT_SIZE = 4 * 1024 * 1024;
/** In sparse reads, gaps up to this size are read through rather than skipped. */
const GAP_READ_THROUGH = 1024 * 1024;

/** A blob's place in its pack, as the index gives it. */
export interface PackEntry {
  readonly type: BlobType;
  readonly id: Id;
  readonly offset: number;
  readonly length: number;
  readonly uncompressedLength?: number;
}

/** One pack file opened for reading. */
export interface PackFile {
  readonly id: Id;
  readonly size: number;
  /** Exactly `length` bytes at `offset`, read into `into` when the source allows (a view of it). */
  read(offset: number, length: number, into: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A growable buffer reused across segments and packs. */
export class ScratchBuffer {
  private buf = new Uint8Array(0);

  /** A view of at least `n` bytes (contents undefined). */
  get(n: number): Uint8Array {
    if (this.buf.length < n) {
      this.buf = new Uint8Array(largeArrayBuffer(Math.max(n, SEGMENT_SIZE)));
    }
    return this.buf.subarray(0, n);
  }
}

function shortRead(id: Id, offset: number, length: number, got: number): ResticTsError {
  return new ResticTsError(
    "CORRUPT",
    `pack ${id}: short read: wanted ${length} bytes at ${offset}, got ${got}`,
    { id, offset, length },
  );
}

/**
 * Open pack `id` of `size` bytes (as listed). On a local backend the file is read with
 * positional reads into the caller's buffer; elsewhere through `backend.load` byte ranges.
 */
export async function openPackFile(backend: Backend, id: Id, size: number): Promise<PackFile> {
  if (backend instanceof LocalBackend) {
    const path = backend.pathOf({ type: "data", name: id });
    let fh: Awaited<ReturnType<typeof openFile>>;
    try {
      fh = await openFile(path, "r");
    } catch (err) {
      throw fromSystemError(err, `open pack ${id}`);
    }
    return {
      id,
      size,
      async read(offset, length, into) {
        const view = into.subarray(0, length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await fh.read(view, done, length - done, offset + done);
          if (bytesRead === 0) throw shortRead(id, offset, length, done);
          done += bytesRead;
        }
        return view;
      },
      close: () => fh.close(),
    };
  }
  return {
    id,
    size,
    async read(offset, length) {
      const b = await backend.load({ type: "data", name: id }, { offset, length });
      if (b.length !== length) throw shortRead(id, offset, length, b.length);
      return b;
    },
    async close() {},
  };
}

export interface ScanOptions {
  /** Read every byte of the file (for hashing), not only the runs holding `blobs`. */
  readonly wholeFile: boolean;
  readonly buffer: ScratchBuffer;
  /**
   * A second buffer: with it, the next segment is read while the blobs of one are handled
   * (reading overlaps the caller's work, for one more segment of memory).
   */
  readonly prefetch?: ScratchBuffer;
  readonly segmentSize?: number;
  /**
   * Every byte read, in file order (whole-file mode: the complete file exactly once). A
   * returned promise runs alongside the segment's onBlob calls; the segment's buffer is not
   * reused before it settles.
   */
  readonly onBytes?: (chunk: Uint8Array) => void | Promise<void>;
  /** Each blob that lies within the file, in offset order; `sealed` is valid until it returns. */
  readonly onBlob: (entry: PackEntry, sealed: Uint8Array) => void | Promise<void>;
}

/**
 * Stream a pack: call `onBlob` for each of `blobs` (any order; sorted here) that lies within
 * the file and does not overlap the one before it. Returns the blobs it could not stream that
 * way (overlapping, or reaching past the end of the file), for the caller to handle.
 */
export async function scanPack(
  file: PackFile,
  blobs: readonly PackEntry[],
  opts: ScanOptions,
): Promise<PackEntry[]> {
  const seg = opts.segmentSize ?? SEGMENT_SIZE;
  const sorted = [...blobs].sort((a, b) => a.offset - b.offset);
  const skipped: PackEntry[] = [];
  const streamable: PackEntry[] = [];
  let end = 0;
  for (const b of sorted) {
    if (b.offset < end || b.offset + b.length > file.size) skipped.push(b);
    else {
      streamable.push(b);
      end = b.offset + b.length;
    }
  }
  // the segments to read, each with the blobs [i, j) of `streamable` it holds
  const segments: { pos: number; end: number; i: number; j: number }[] = [];
  let pos = 0;
  let i = 0;
  const limit = opts.wholeFile ? file.size : end;
  while (pos < limit) {
    const next = streamable[i];
    if (next !== undefined && !opts.wholeFile && next.offset > pos) pos = next.offset;
    let segEnd: number;
    let j = i;
    if (next !== undefined && next.offset === pos) {
      // take blobs while they fit the segment (always at least one) and gaps are small
      segEnd = next.offset + next.length;
      j = i + 1;
      while (j < streamable.length) {
        const b = streamable[j];
        const bEnd = b.offset + b.length;
        if (bEnd - pos > seg || (!opts.wholeFile && b.offset - segEnd > GAP_READ_THROUGH)) break;
        segEnd = bEnd;
        j++;
      }
    } else {
      // a gap (whole-file mode only): read up to the next blob or a segment's worth
      segEnd = Math.min(limit, pos + seg, next?.offset ?? limit);
    }
    segments.push({ pos, end: segEnd, i, j });
    i = j;
    pos = segEnd;
  }
  const buffers = opts.prefetch === undefined ? [opts.buffer] : [opts.buffer, opts.prefetch];
  const read = (k: number) => {
    const { pos: at, end: to } = segments[k];
    return file.read(at, to - at, buffers[k % buffers.length].get(to - at));
  };
  let ahead: Promise<Uint8Array> | undefined = segments.length > 0 ? read(0) : undefined;
  try {
    for (let k = 0; k < segments.length; k++) {
      const view = await (ahead as Promise<Uint8Array>);
      // with a second buffer, the next segment is read while this one is handled
      ahead = buffers.length > 1 && k + 1 < segments.length ? read(k + 1) : undefined;
      const { pos: at, i: from, j: to } = segments[k];
      const hashing = opts.onBytes?.(view);
      try {
        for (let b = from; b < to; b++) {
          const e = streamable[b];
          await opts.onBlob(e, view.subarray(e.offset - at, e.offset - at + e.length));
        }
      } finally {
        await hashing;
      }
      if (ahead === undefined && k + 1 < segments.length) ahead = read(k + 1);
    }
  } finally {
    // a read still running must end before the caller closes the file or reuses the buffers
    await ahead?.catch(() => {});
  }
  return skipped;
}

function blobName(entry: PackEntry): string {
  return `${entry.type}/${entry.id.slice(0, 8)}`;
}

/** Plaintext slices of blobs being verified, reused from blob to blob (see verifyBlob). */
const sliceScratch = new Uint8Array(CTR_SLICE);

/**
 * Run `decrypt` (the crypto module's open or openEach: MAC first, then AES-CTR) on a blob,
 * restating its errors for the blob: CORRUPT when too short to hold any plaintext,
 * UNAUTHENTICATED when the MAC fails.
 */
function decryptBlob<T>(packId: Id, entry: PackEntry, sealed: Uint8Array, decrypt: () => T): T {
  const n = sealed.length;
  if (n <= SEAL_OVERHEAD) {
    throw new ResticTsError("CORRUPT", `invalid blob length ${n} of blob ${blobName(entry)}`);
  }
  try {
    return decrypt();
  } catch (err) {
    if (!isResticTsError(err, "UNAUTHENTICATED")) throw err;
    throw new ResticTsError(
      "UNAUTHENTICATED",
      "ciphertext verification failed",
      { id: entry.id, packId },
      { cause: err },
    );
  }
}

function wrongHash(packId: Id, entry: PackEntry, got: string): ResticTsError {
  return new ResticTsError(
    "CORRUPT",
    `read blob ${blobName(entry)} from ${packId.slice(0, 8)}: wrong data returned, hash is ${got}`,
    { id: entry.id, packId, got },
  );
}

async function decompressBlob(packId: Id, entry: PackEntry, frame: Uint8Array, size: number) {
  try {
    return await decompress(frame, MAX_BLOB_SIZE, size);
  } catch (err) {
    throw new ResticTsError(
      "CORRUPT",
      `decompressing blob ${blobName(entry)} failed: ${(err as Error).message}`,
      { id: entry.id, packId },
    );
  }
}

/**
 * Verify and decode one sealed blob: check the MAC, decrypt, decompress when compressed, and
 * check the SHA-256 against the ID. Returns the plaintext. Throws UNAUTHENTICATED or CORRUPT
 * with restic-like messages.
 */
export async function openBlob(
  key: MasterKey,
  packId: Id,
  entry: PackEntry,
  sealed: Uint8Array,
): Promise<Uint8Array> {
  let plain = decryptBlob(packId, entry, sealed, () => open(key, sealed));
  if (entry.uncompressedLength !== undefined) {
    plain = await decompressBlob(packId, entry, plain, entry.uncompressedLength);
  }
  const got = sha256Hex(plain);
  if (got !== entry.id) throw wrongHash(packId, entry, got);
  return plain;
}

/**
 * openBlob without keeping the plaintext: decrypted a slice at a time into a small reused
 * buffer and hashed there while it is in cache; a compressed blob stored in raw zstd blocks
 * (incompressible data) is hashed as it is, without being decompressed. Only a frame that
 * needs the decoder is decrypted whole (again) and decompressed.
 */
export async function verifyBlob(
  key: MasterKey,
  packId: Id,
  entry: PackEntry,
  sealed: Uint8Array,
): Promise<void> {
  let got: string | undefined;
  const size = entry.uncompressedLength;
  if (size === undefined) {
    const hash = createHash("sha256");
    decryptBlob(packId, entry, sealed, () =>
      openEach(key, sealed, sliceScratch, (p) => {
        hash.update(p);
        return true;
      }),
    );
    got = hash.digest("hex");
  } else {
    const raw = new RawFrameHasher(size);
    let rawOnly = true;
    decryptBlob(packId, entry, sealed, () =>
      openEach(key, sealed, sliceScratch, (p) => {
        rawOnly = raw.push(p);
        return rawOnly;
      }),
    );
    if (rawOnly) got = raw.digest();
    if (got === undefined) {
      const frame = decryptBlob(packId, entry, sealed, () => open(key, sealed));
      got = sha256Hex(await decompressBlob(packId, entry, frame, size));
    }
  }
  if (got !== entry.id) throw wrongHash(packId, entry, got);
}
