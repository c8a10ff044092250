// The chunker's I/O wrapper: splits a byte stream or a file into restic's content-defined
// chunks (the data blobs of a file) using the pure split-point finder in rabin.ts. Memory stays
// bounded by one chunk (at most MaxSize) plus a read or two, whatever the input size.

import { type FileHandle, open } from "node:fs/promises";
import { fromSystemError, ResticTsError } from "../errors.js";
import { Chunker, type ChunkerOptions } from "./rabin.js";

/** Read size for chunkFile (restic's chunker reads 512 KiB at a time). */
export const READ_SIZE = 512 * 1024;

export interface ChunkFileOptions extends ChunkerOptions {
  /** Bytes per read; default 512 KiB. */
  readSize?: number;
}

type ByteSource = AsyncIterable<Uint8Array> | NodeJS.ReadableStream;

function concat(parts: Uint8Array[], length: number): Uint8Array {
  const out = Buffer.allocUnsafeSlow(length);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Split `source` into chunks, yielding each chunk's bytes (a fresh Uint8Array, copied exactly
 * once from the source's buffers). The source must not modify a buffer after yielding it (as
 * Node streams do not); only the buffers of the pending chunk are referenced.
 */
export async function* chunkStream(
  source: ByteSource,
  pol: bigint,
  opts?: ChunkerOptions,
): AsyncGenerator<Uint8Array, void, undefined> {
  const chunker = new Chunker(pol, opts);
  let parts: Uint8Array[] = [];
  let pending = 0;
  for await (const piece of source as AsyncIterable<unknown>) {
    if (!(piece instanceof Uint8Array)) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        "chunkStream source must yield bytes, not strings",
      );
    }
    let i = 0;
    for (;;) {
      const cut = chunker.next(piece, i, piece.length);
      if (cut < 0) break;
      parts.push(piece.subarray(i, cut));
      pending += cut - i;
      const chunk = concat(parts, pending);
      parts = [];
      pending = 0;
      i = cut;
      yield chunk;
    }
    if (i < piece.length) {
      parts.push(piece.subarray(i));
      pending += piece.length - i;
    }
  }
  if (chunker.finish() !== null) yield concat(parts, pending);
}

/**
 * Split the file at `path` into chunks, as restic splits it for a backup. Reads into one
 * reusable ring buffer (at most MaxSize + 2 * readSize bytes), one read ahead of the chunker,
 * and copies each chunk out of the ring once; never holds more of the file than that.
 */
export async function* chunkFile(
  path: string,
  pol: bigint,
  opts: ChunkFileOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const { readSize = READ_SIZE, ...chunkerOpts } = opts;
  if (!Number.isSafeInteger(readSize) || readSize < 1) {
    throw new ResticTsError("INVALID_ARGUMENT", "readSize must be a positive integer", {
      readSize: String(readSize),
    });
  }
  const chunker = new Chunker(pol, chunkerOpts);
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (err) {
    throw fromSystemError(err, `open ${path}`);
  }
  // The ring holds the pending chunk: the bytes since the last cut, fewer than maxSize once
  // scanned, plus at most one read not yet scanned, plus the read in flight. It starts at
  // about twice the file's size for small files and grows to maxSize + 2 * readSize if the
  // file turns out larger than it was when opened.
  const full = chunker.maxSize + 2 * readSize;
  let ring: Buffer = Buffer.alloc(0);
  let chunkAt = 0; // ring index where the pending chunk starts
  let pending = 0; // bytes of the pending chunk in the ring (scanned or not)
  let inflight: Promise<number> | null = null;

  /** Start reading into the free space after the pending bytes. */
  const startRead = (): Promise<number> => {
    let w = (chunkAt + pending) % ring.length;
    let n = Math.min(readSize, ring.length - w, ring.length - pending);
    if (n === 0) {
      const bigger = Buffer.allocUnsafeSlow(full);
      const first = Math.min(pending, ring.length - chunkAt);
      bigger.set(ring.subarray(chunkAt, chunkAt + first), 0);
      bigger.set(ring.subarray(0, pending - first), first);
      ring = bigger;
      chunkAt = 0;
      w = pending;
      n = Math.min(readSize, ring.length - w);
    }
    return fh.read(ring, w, n, null).then(
      (r) => r.bytesRead,
      (err: unknown) => {
        throw fromSystemError(err, `read ${path}`);
      },
    );
  };

  const copyOut = (length: number): Uint8Array => {
    const out = Buffer.allocUnsafeSlow(length);
    const first = Math.min(length, ring.length - chunkAt);
    out.set(ring.subarray(chunkAt, chunkAt + first), 0);
    if (first < length) out.set(ring.subarray(0, length - first), first);
    chunkAt = (chunkAt + length) % ring.length;
    pending -= length;
    return out;
  };

  try {
    let fileSize: number;
    try {
      fileSize = (await fh.stat()).size;
    } catch (err) {
      throw fromSystemError(err, `stat ${path}`);
    }
    ring = Buffer.allocUnsafeSlow(Math.min(full, fileSize + Math.min(readSize, fileSize) + 1));
    let cutPos = 0; // absolute offset of the last cut
    inflight = startRead();
    for (;;) {
      const got = await inflight;
      inflight = null;
      if (got === 0) break;
      // The new bytes are the last `got` of the pending ones; start the next read (which may
      // move them, if the ring grows), then scan them.
      pending += got;
      const rel = pending - got;
      inflight = startRead();
      let i = (chunkAt + rel) % ring.length;
      const end = i + got;
      for (;;) {
        const cut = chunker.next(ring, i, end);
        if (cut < 0) break;
        const length = chunker.position - cutPos;
        cutPos = chunker.position;
        i = cut;
        yield copyOut(length);
      }
    }
    if (chunker.finish() !== null) yield copyOut(pending);
  } finally {
    if (inflight) await inflight.catch(() => undefined);
    await fh.close();
  }
}
