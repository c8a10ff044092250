// Writing packs for prune and copy (restic 0.14 internal/repository/repack.go): PackWriter
// assembles sealed blobs into packs of the target size — one buffer per blob type, reused from
// pack to pack, data and tree blobs never mixed — and saves each under the SHA-256 of its
// bytes; `repack` streams source packs and moves the blobs still wanted into a PackWriter:
// verbatim when source and destination share the master key and no recompression is asked
// for (after verifying MAC and hash), else decoded and sealed again (compressed in v2).
//
// (The backup write path has its own pack uploader; this is the maintenance commands'
// minimal one, built on the same pack format helpers.)

import { sha256, toHex } from "../crypto/hash.js";
import { seal } from "../crypto/master-key.js";
import { ResticTsError } from "../errors.js";
import type { BlobSet } from "./blob-set.js";
import { compress } from "./compression.js";
import type { Id } from "./id.js";
import type { IndexBlob, IndexPack } from "./index-file.js";
import type { IndexedRepository } from "./indexed.js";
import type { IndexEntry } from "./master-index.js";
import { type BlobType, buildPackHeader, DEFAULT_PACK_SIZE, HEADER_LENGTH_SIZE } from "./pack.js";
import {
  openBlob,
  openPackFile,
  type PackEntry,
  ScratchBuffer,
  scanPack,
  verifyBlob,
} from "./pack-stream.js";
import type { Repository } from "./repository.js";

/** Room beyond the target size: restic's largest chunk (8 MiB) and the header. */
const PACK_SLACK = 8 * 1024 * 1024 + 64 * 1024;

/** The pack being filled for one blob type; its buffer is kept and reused for the next pack. */
class OpenPack {
  buf: Uint8Array = new Uint8Array(0);
  size = 0;
  blobs: IndexBlob[] = [];

  constructor(private readonly target: number) {}

  /**
   * Room for `n` bytes. The first allocation holds a full pack plus one largest chunk (pages
   * are only touched as they are filled); beyond that it doubles.
   */
  ensure(n: number): void {
    if (this.buf.length >= n) return;
    let cap = Math.max(this.buf.length * 2, this.target + PACK_SLACK);
    while (cap < n) cap *= 2;
    const b = Buffer.allocUnsafeSlow(cap);
    const bigger = new Uint8Array(b.buffer, b.byteOffset, cap);
    bigger.set(this.buf.subarray(0, this.size));
    this.buf = bigger;
  }
}

/** Assembles sealed blobs into packs and saves them; `packs` lists what was written. */
export class PackWriter {
  private readonly open: Record<BlobType, OpenPack>;
  readonly packs: IndexPack[] = [];
  /** Bytes of pack files written. */
  bytesWritten = 0;

  constructor(
    readonly repo: Repository,
    private readonly packSize: number = DEFAULT_PACK_SIZE,
  ) {
    this.open = { data: new OpenPack(packSize), tree: new OpenPack(packSize) };
  }

  /**
   * Append a sealed blob (copied). A pack that has reached the target size is saved before the
   * next blob goes in (so `dropLast` can always take back the blob just added).
   */
  async add(
    type: BlobType,
    id: Id,
    sealed: Uint8Array,
    uncompressedLength?: number,
  ): Promise<void> {
    if (uncompressedLength !== undefined && this.repo.version < 2) {
      throw new ResticTsError("INVALID_ARGUMENT", "compressed blobs need repository version 2");
    }
    const p = this.open[type];
    if (p.size >= this.packSize) await this.finish(type);
    p.ensure(p.size + sealed.length);
    p.buf.set(sealed, p.size);
    const blob: IndexBlob =
      uncompressedLength === undefined
        ? { id, type, offset: p.size, length: sealed.length }
        : { id, type, offset: p.size, length: sealed.length, uncompressedLength };
    p.blobs.push(blob);
    p.size += sealed.length;
  }

  /** Take back the blob of `type` added last. */
  dropLast(type: BlobType): void {
    const p = this.open[type];
    const last = p.blobs.pop();
    if (last !== undefined) p.size = last.offset;
  }

  /** Seal `plaintext` with the repository's key (zstd-compressed first in v2) and add it. */
  async addPlaintext(type: BlobType, id: Id, plaintext: Uint8Array): Promise<void> {
    if (this.repo.version >= 2) {
      await this.add(
        type,
        id,
        seal(this.repo.masterKey, await compress(plaintext, "auto")),
        plaintext.length,
      );
    } else {
      await this.add(type, id, seal(this.repo.masterKey, plaintext));
    }
  }

  private async finish(type: BlobType): Promise<void> {
    const p = this.open[type];
    if (p.blobs.length === 0) return;
    const header = seal(this.repo.masterKey, buildPackHeader(p.blobs));
    const total = p.size + header.length + HEADER_LENGTH_SIZE;
    p.ensure(total);
    p.buf.set(header, p.size);
    new DataView(p.buf.buffer, p.buf.byteOffset).setUint32(
      p.size + header.length,
      header.length,
      true,
    );
    const bytes = p.buf.subarray(0, total);
    const id = toHex(sha256(bytes));
    await this.repo.backend.save({ type: "data", name: id }, bytes);
    this.packs.push({ id, blobs: p.blobs });
    this.bytesWritten += total;
    p.blobs = [];
    p.size = 0;
  }

  /** Save the packs still open. */
  async flush(): Promise<void> {
    await this.finish("data");
    await this.finish("tree");
  }
}

export interface RepackOptions {
  /** Re-encode (compress) this blob instead of copying it verbatim. */
  readonly recompress?: (entry: PackEntry) => boolean;
  /** Told after each source pack. */
  readonly onPack?: (id: Id) => void;
}

/**
 * Move every blob of `keep` found in `packs` (of `src`) into `writer`, deleting it from `keep`
 * as it goes (what is left was not found). A blob that fails verification is loaded from
 * another copy if the index knows one; otherwise the repack fails with its error.
 */
export async function repack(
  src: IndexedRepository,
  packs: readonly Id[],
  keep: BlobSet,
  writer: PackWriter,
  options: RepackOptions = {},
): Promise<void> {
  const byPack = new Map<Id, IndexEntry[]>();
  const wanted = new Set(packs);
  for (const { packId, blobs } of src.index.byPack()) {
    if (!wanted.has(packId)) continue;
    byPack.set(
      packId,
      blobs.filter((b) => keep.has(b.type, b.id)),
    );
  }
  const sameKey = src.repo.masterKey === writer.repo.masterKey;
  const buffer = new ScratchBuffer();
  const sizes = new Map<Id, number>();
  for await (const fi of src.repo.backend.list("data"))
    if (wanted.has(fi.name)) sizes.set(fi.name, fi.size);
  for (const packId of [...wanted].sort()) {
    const blobs = byPack.get(packId) ?? [];
    if (blobs.length === 0) {
      options.onPack?.(packId);
      continue;
    }
    const size = sizes.get(packId);
    if (size === undefined) throw new ResticTsError("NOT_FOUND", `pack ${packId} does not exist`);
    const file = await openPackFile(src.repo.backend, packId, size);
    try {
      const skipped = await scanPack(file, blobs, {
        wholeFile: false,
        buffer,
        onBlob: async (entry, sealed) => {
          if (!keep.delete(entry.type, entry.id)) return; // already moved from another pack
          const verbatim = sameKey && !(options.recompress?.(entry) ?? false);
          if (verbatim) {
            await writer.add(entry.type, entry.id, sealed, entry.uncompressedLength);
            try {
              await verifyBlob(src.repo.masterKey, packId, entry, sealed);
            } catch (err) {
              writer.dropLast(entry.type);
              await recover(src, writer, entry, packId, err);
            }
            return;
          }
          let plain: Uint8Array;
          try {
            plain = await openBlob(src.repo.masterKey, packId, entry, sealed);
          } catch (err) {
            await recover(src, writer, entry, packId, err);
            return;
          }
          await writer.addPlaintext(entry.type, entry.id, plain);
        },
      });
      for (const entry of skipped) {
        if (!keep.delete(entry.type, entry.id)) continue;
        await recover(src, writer, entry, packId, undefined);
      }
    } finally {
      await file.close();
    }
    options.onPack?.(packId);
  }
}

/** A blob that could not be copied from `packId`: take it from another copy, or fail. */
async function recover(
  src: IndexedRepository,
  writer: PackWriter,
  entry: PackEntry,
  packId: Id,
  err: unknown,
): Promise<void> {
  for (const loc of src.index.lookup(entry.type, entry.id)) {
    if (loc.packId === packId) continue;
    try {
      const sealed = await src.repo.backend.load(
        { type: "data", name: loc.packId },
        { offset: loc.offset, length: loc.length },
      );
      const plain = await src.decodeBlob(entry.type, entry.id, loc, sealed);
      await writer.addPlaintext(entry.type, entry.id, plain);
      return;
    } catch {
      // try the next copy
    }
  }
  const why = err instanceof Error ? err.message : "it lies outside the pack file";
  throw new ResticTsError(
    "CORRUPT",
    `cannot repack ${entry.type} blob ${entry.id} from pack ${packId}: ${why}`,
    {
      id: entry.id,
      packId,
    },
  );
}
