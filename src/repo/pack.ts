// Pack files (restic design.rst "Pack Format"; internal/pack/pack.go of restic 0.14):
//
//   pack = blob_1 || … || blob_n || seal(header) || uint32le(len(seal(header)))
//
// where every blob is stored sealed (compressed first for types 2/3) and the plaintext header
// is one entry per blob, in the order of the blobs:
//
//   type 0 (data) / 1 (tree):                     type(1) || length(4 LE) || id(32)   = 37 bytes
//   type 2 (compressed data) / 3 (compressed tree): type(1) || length(4 LE) ||
//                                                 uncompressed length(4 LE) || id(32) = 41 bytes
//
// `length` is the stored (sealed) length; blob offsets follow from the lengths, starting at 0.
// The ID is the SHA-256 of the blob's plaintext (uncompressed). Compressed entries exist only in
// repository version 2.

import { type MasterKey, open, SEAL_OVERHEAD, seal } from "../crypto/master-key.js";
import { ResticTsError } from "../errors.js";
import { type Id, idFromBytes, isId, writeIdBytes } from "./id.js";

export type BlobType = "data" | "tree";

export interface PackBlob {
  readonly type: BlobType;
  readonly id: Id;
  /** Byte offset of the sealed blob in the pack. */
  readonly offset: number;
  /** Stored length: the sealed (encrypted, maybe compressed) bytes. */
  readonly length: number;
  /** Plaintext length before compression; present only for compressed blobs. */
  readonly uncompressedLength?: number;
}

/** Size of a header entry for an uncompressed blob. */
export const PLAIN_ENTRY_SIZE = 37;
/** Size of a header entry for a compressed blob. */
export const COMPRESSED_ENTRY_SIZE = 41;
/** The trailing header-length field. */
export const HEADER_LENGTH_SIZE = 4;
/** Largest header restic accepts, including the length field (restic's MaxHeaderSize). */
export const MAX_HEADER_SIZE = 16 * 1024 * 1024 + HEADER_LENGTH_SIZE;
/** Header entries fetched with the first read, so most packs need one request (restic: 15). */
export const EAGER_ENTRIES = 15;
/** A pack holds at least one blob: smaller files cannot be packs (restic's minFileSize). */
export const MIN_PACK_SIZE = PLAIN_ENTRY_SIZE + SEAL_OVERHEAD + HEADER_LENGTH_SIZE;
/** restic's default target pack size. */
export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;

const MAX_UINT32 = 0xffff_ffff;
const EAGER_SIZE = EAGER_ENTRIES * COMPRESSED_ENTRY_SIZE + SEAL_OVERHEAD + HEADER_LENGTH_SIZE;

function corrupt(message: string, data: Record<string, unknown> = {}): ResticTsError {
  return new ResticTsError("CORRUPT", `pack: ${message}`, data);
}

/** Header entry size of one blob. */
export function entrySize(blob: { uncompressedLength?: number }): number {
  return blob.uncompressedLength !== undefined ? COMPRESSED_ENTRY_SIZE : PLAIN_ENTRY_SIZE;
}

/** Bytes the header adds to a pack of these blobs: sealed entries plus the length field. */
export function packHeaderSize(blobs: Iterable<{ uncompressedLength?: number }>): number {
  let n = SEAL_OVERHEAD + HEADER_LENGTH_SIZE;
  for (const b of blobs) n += entrySize(b);
  return n;
}

/**
 * Parse a decrypted pack header. `blobsEnd` is where the sealed header starts in the pack
 * (pack size − header length − 4): every blob must lie before it. Offsets are computed from
 * the lengths, contiguous from 0. CORRUPT on a truncated entry, an unknown type, a sealed
 * length shorter than the seal overhead, a compressed entry of uncompressed length 0, or
 * blobs reaching into the header. With `exact`, the blobs must also end exactly at
 * `blobsEnd` (restic's checker reports a gap as a damaged pack).
 */
export function parsePackHeader(
  plainHeader: Uint8Array,
  blobsEnd?: number,
  exact = false,
): PackBlob[] {
  const blobs: PackBlob[] = [];
  const view = new DataView(plainHeader.buffer, plainHeader.byteOffset, plainHeader.byteLength);
  const bytes = Buffer.from(plainHeader.buffer, plainHeader.byteOffset, plainHeader.byteLength);
  let pos = 0;
  let offset = 0;
  while (pos < plainHeader.length) {
    const rest = plainHeader.length - pos;
    const t = plainHeader[pos];
    if (t > 3)
      throw corrupt(`header entry ${blobs.length} has invalid type ${t}`, { entry: blobs.length });
    const compressed = t >= 2;
    const size = compressed ? COMPRESSED_ENTRY_SIZE : PLAIN_ENTRY_SIZE;
    if (rest < size) {
      throw corrupt(`header entry ${blobs.length} is truncated (${rest} of ${size} bytes)`, {
        entry: blobs.length,
      });
    }
    const length = view.getUint32(pos + 1, true);
    if (length < SEAL_OVERHEAD) {
      throw corrupt(
        `blob ${blobs.length} is ${length} bytes, less than the ${SEAL_OVERHEAD} of encryption`,
        {
          entry: blobs.length,
        },
      );
    }
    let uncompressedLength: number | undefined;
    if (compressed) {
      uncompressedLength = view.getUint32(pos + 5, true);
      if (uncompressedLength === 0) {
        throw corrupt(`compressed blob ${blobs.length} has uncompressed length 0`, {
          entry: blobs.length,
        });
      }
    }
    const id = idFromBytes(bytes, pos + size - 32);
    if (blobsEnd !== undefined && offset + length > blobsEnd) {
      throw corrupt(
        `blob ${blobs.length} (${offset}+${length}) extends past the blobs area (${blobsEnd} bytes)`,
        {
          entry: blobs.length,
        },
      );
    }
    const type: BlobType = t === 0 || t === 2 ? "data" : "tree";
    blobs.push(
      uncompressedLength === undefined
        ? { type, id, offset, length }
        : { type, id, offset, length, uncompressedLength },
    );
    offset += length;
    pos += size;
  }
  if (exact && blobsEnd !== undefined && offset !== blobsEnd) {
    throw corrupt(`blobs end at ${offset} but the header starts at ${blobsEnd}`, {
      blobsEnd,
      end: offset,
    });
  }
  return blobs;
}

/** The plaintext header for blobs in pack order (offsets are not stored: they must be contiguous). */
export function buildPackHeader(
  blobs: readonly { type: BlobType; id: Id; length: number; uncompressedLength?: number }[],
): Uint8Array {
  const out = new Uint8Array(blobs.reduce((n, b) => n + entrySize(b), 0));
  const view = new DataView(out.buffer);
  let pos = 0;
  for (const b of blobs) {
    if (b.type !== "data" && b.type !== "tree") {
      throw new ResticTsError("INVALID_ARGUMENT", `invalid blob type ${JSON.stringify(b.type)}`);
    }
    if (!isId(b.id))
      throw new ResticTsError("INVALID_ARGUMENT", `invalid blob ID ${JSON.stringify(b.id)}`);
    if (!Number.isInteger(b.length) || b.length < SEAL_OVERHEAD || b.length > MAX_UINT32) {
      throw new ResticTsError("INVALID_ARGUMENT", `invalid blob length ${b.length}`);
    }
    const u = b.uncompressedLength;
    if (u !== undefined && (!Number.isInteger(u) || u < 1 || u > MAX_UINT32)) {
      throw new ResticTsError("INVALID_ARGUMENT", `invalid uncompressed length ${u}`);
    }
    out[pos] = (b.type === "data" ? 0 : 1) + (u !== undefined ? 2 : 0);
    view.setUint32(pos + 1, b.length, true);
    if (u !== undefined) view.setUint32(pos + 5, u, true);
    pos += u !== undefined ? 9 : 5;
    writeIdBytes(b.id, out, pos);
    pos += 32;
  }
  return out;
}

/** Reads `length` bytes at `offset` of the pack file. */
export type LoadRange = (offset: number, length: number) => Promise<Uint8Array>;

/** Where the header is and what it says. */
export interface PackHeaderInfo {
  readonly blobs: PackBlob[];
  /** Bytes of the header including the length field (sealed header + 4). */
  readonly headerSize: number;
}

/**
 * Read and decrypt the header at the end of a pack, as restic does: fetch the last
 * (15 entries + overhead) bytes speculatively, take the header length from the trailing
 * uint32, fetch more only when the header is longer. `openHeader` decrypts and authenticates
 * the sealed header (UNAUTHENTICATED propagates). CORRUPT when the pack is too small, the
 * length is 0, smaller than the seal overhead, larger than the file or than restic's maximum,
 * when `loadRange` returns the wrong number of bytes, or when the entries lie (see
 * parsePackHeader; `exact` as there).
 */
export async function readPackHeaderWith(
  loadRange: LoadRange,
  packSize: number,
  openHeader: (sealed: Uint8Array) => Uint8Array,
  exact = false,
): Promise<PackHeaderInfo> {
  if (!Number.isSafeInteger(packSize) || packSize < 0) {
    throw new ResticTsError("INVALID_ARGUMENT", `invalid pack size ${packSize}`);
  }
  if (packSize < MIN_PACK_SIZE)
    throw corrupt(`file is too small (${packSize} bytes)`, { packSize });
  const eager = Math.min(packSize, EAGER_SIZE);
  const tail = await load(loadRange, packSize - eager, eager);
  const hlen = new DataView(tail.buffer, tail.byteOffset, tail.byteLength).getUint32(
    eager - 4,
    true,
  );
  if (hlen === 0) throw corrupt("header length is zero");
  if (hlen < SEAL_OVERHEAD)
    throw corrupt(`header length ${hlen} is too small`, { headerLength: hlen });
  if (hlen > packSize - HEADER_LENGTH_SIZE) {
    throw corrupt(`header length ${hlen} is larger than the file (${packSize} bytes)`, {
      headerLength: hlen,
    });
  }
  if (hlen > MAX_HEADER_SIZE - HEADER_LENGTH_SIZE) {
    throw corrupt(`header length ${hlen} is larger than the maximum header size`, {
      headerLength: hlen,
    });
  }
  const sealed =
    hlen + HEADER_LENGTH_SIZE <= eager
      ? tail.subarray(eager - HEADER_LENGTH_SIZE - hlen, eager - HEADER_LENGTH_SIZE)
      : await load(loadRange, packSize - HEADER_LENGTH_SIZE - hlen, hlen);
  const plain = openHeader(sealed);
  const blobsEnd = packSize - HEADER_LENGTH_SIZE - hlen;
  return { blobs: parsePackHeader(plain, blobsEnd, exact), headerSize: hlen + HEADER_LENGTH_SIZE };
}

async function load(loadRange: LoadRange, offset: number, length: number): Promise<Uint8Array> {
  const b = await loadRange(offset, length);
  if (b.length !== length) {
    throw corrupt(`short read: wanted ${length} bytes at ${offset}, got ${b.length}`, {
      offset,
      length,
    });
  }
  return b;
}

/** `readPackHeaderWith` decrypting with the repository's master key. */
export async function readPackHeader(
  loadRange: LoadRange,
  packSize: number,
  key: MasterKey,
): Promise<PackBlob[]> {
  return (await readPackHeaderWith(loadRange, packSize, (s) => open(key, s))).blobs;
}

/**
 * The entries of a pack being written, in blob order: offsets, the header they make and when
 * it is full. The blob bytes go wherever the caller puts them (PackBuilder: one buffer;
 * pack-uploader.ts: a temp file); `trailer` gives what follows them.
 */
export class PackEntries {
  private readonly list: PackBlob[] = [];
  private bytes = 0;
  private headerBytes = 0;

  constructor(private readonly repoVersion: 1 | 2) {}

  /** Append a blob of `length` sealed bytes; returns its entry (offset = the size before). */
  add(type: BlobType, id: Id, length: number, uncompressedLength?: number): PackBlob {
    if (uncompressedLength !== undefined && this.repoVersion < 2) {
      throw new ResticTsError("INVALID_ARGUMENT", "compressed blobs need repository version 2");
    }
    if (this.bytes + length > MAX_UINT32) {
      throw new ResticTsError("INVALID_ARGUMENT", "pack would exceed 4 GiB");
    }
    const blob: PackBlob =
      uncompressedLength === undefined
        ? { type, id, offset: this.bytes, length }
        : { type, id, offset: this.bytes, length, uncompressedLength };
    buildPackHeader([blob]); // validates the entry
    this.list.push(blob);
    this.bytes += length;
    this.headerBytes += entrySize(blob);
    return blob;
  }

  /** Blob bytes added so far. */
  get size(): number {
    return this.bytes;
  }

  get count(): number {
    return this.list.length;
  }

  /** Size of the pack file if finished now. */
  get finalSize(): number {
    return this.bytes + this.headerBytes + SEAL_OVERHEAD + HEADER_LENGTH_SIZE;
  }

  /** True when one more (compressed) entry would exceed restic's maximum header size. */
  get headerFull(): boolean {
    return (
      SEAL_OVERHEAD + HEADER_LENGTH_SIZE + this.headerBytes + COMPRESSED_ENTRY_SIZE >
      MAX_HEADER_SIZE
    );
  }

  get blobs(): readonly PackBlob[] {
    return this.list;
  }

  /** What follows the blobs: seal(header) || uint32le(len(sealed header)). */
  trailer(key: MasterKey): Uint8Array {
    if (this.list.length === 0)
      throw new ResticTsError("INVALID_ARGUMENT", "a pack needs at least one blob");
    const sealed = seal(key, buildPackHeader(this.list));
    const out = new Uint8Array(sealed.length + HEADER_LENGTH_SIZE);
    out.set(sealed, 0);
    new DataView(out.buffer, out.byteOffset).setUint32(sealed.length, sealed.length, true);
    return out;
  }
}

export interface PackBuilderOptions {
  /** The repository's master key: seals the header. */
  readonly key: MasterKey;
  /** Repository version: compressed entries (types 2/3) exist only in version 2. */
  readonly repoVersion: 1 | 2;
  /** Bytes to reserve at first (say, a full pack and one largest blob), so it rarely grows. */
  readonly capacity?: number;
}

/**
 * Accumulates already-sealed blobs of one pack and produces the pack file. Pure in-memory:
 * the caller decides when the pack is full (`size`, `headerFull`) and uploads the bytes. The
 * blobs are copied into one buffer that becomes the pack file (pages are only touched as it
 * is filled; it doubles when it must grow).
 */
export class PackBuilder {
  private buf = new Uint8Array(0);
  private readonly entries: PackEntries;
  private finalized = false;

  constructor(private readonly options: PackBuilderOptions) {
    this.entries = new PackEntries(options.repoVersion);
  }

  /**
   * Append a sealed blob (IV || ciphertext || MAC of the plaintext, zstd-compressed first
   * when `uncompressedLength` is given). The bytes are copied.
   */
  add(type: BlobType, id: Id, sealedBlob: Uint8Array, uncompressedLength?: number): PackBlob {
    if (this.finalized) throw new ResticTsError("INVALID_ARGUMENT", "pack is already finalized");
    const blob = this.entries.add(type, id, sealedBlob.length, uncompressedLength);
    this.reserve(blob.offset + sealedBlob.length);
    this.buf.set(sealedBlob, blob.offset);
    return blob;
  }

  private reserve(n: number): void {
    if (this.buf.length >= n) return;
    let cap = Math.max(this.buf.length * 2, this.options.capacity ?? 0, 64 * 1024);
    while (cap < n) cap *= 2;
    const b = Buffer.allocUnsafeSlow(cap);
    const bigger = new Uint8Array(b.buffer, b.byteOffset, cap);
    bigger.set(this.buf.subarray(0, this.entries.size));
    this.buf = bigger;
  }

  /** Blob bytes added so far. */
  get size(): number {
    return this.entries.size;
  }

  get count(): number {
    return this.entries.count;
  }

  /** Size of the pack file if finalized now. */
  get finalSize(): number {
    return this.entries.finalSize;
  }

  /** True when one more (compressed) entry would exceed restic's maximum header size. */
  get headerFull(): boolean {
    return this.entries.headerFull;
  }

  get blobs(): readonly PackBlob[] {
    return this.entries.blobs;
  }

  /** The pack file: blobs || seal(header) || uint32le(len(sealed header)). Call once. */
  finalize(): Uint8Array {
    if (this.finalized) throw new ResticTsError("INVALID_ARGUMENT", "pack is already finalized");
    const trailer = this.entries.trailer(this.options.key);
    this.finalized = true;
    const blobsEnd = this.entries.size;
    const total = blobsEnd + trailer.length;
    this.reserve(total);
    const out = this.buf.subarray(0, total);
    this.buf = new Uint8Array(0);
    out.set(trailer, blobsEnd);
    return out;
  }
}
