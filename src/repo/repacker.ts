// Repacking for prune and copy (restic 0.14 internal/repository/repack.go): stream source packs
// and move the blobs still wanted into new packs of the destination (pack-uploader.ts
// MainPackers, one per blob type): verbatim when source and destination share the master key
// and no recompression is asked for (after verifying MAC and hash), else decoded and sealed
// again (always compressed in v2, as restic does). A verbatim blob goes from the read buffer
// straight to the new pack (on a local repository, a temp file: see pack-uploader.ts), and the
// next segment of the source pack is read meanwhile.

import { ResticTsError } from "../errors.js";
import type { BlobSet } from "./blob-set.js";
import type { Id } from "./id.js";
import type { IndexedRepository } from "./indexed.js";
import type { IndexEntry } from "./master-index.js";
import { type BlobType, DEFAULT_PACK_SIZE } from "./pack.js";
import {
  openBlob,
  openPackFile,
  type PackEntry,
  ScratchBuffer,
  scanPack,
  verifyBlob,
} from "./pack-stream.js";
import { MainPacker, type PackUploader } from "./pack-uploader.js";
import type { Repository } from "./repository.js";

/** Where repacked blobs go: packs of `packSize` in `repo`, saved and indexed by `uploader`. */
export interface RepackTarget {
  readonly repo: Repository;
  readonly uploader: PackUploader;
  readonly packSize?: number;
}

/**
 * The two packers prune and copy write with: restic's compression rule, and at most two
 * uploads in flight each (memory stays bounded however much is repacked).
 */
export function repackPackers(target: RepackTarget): Record<BlobType, MainPacker> {
  const make = (type: BlobType) =>
    new MainPacker(
      target.repo,
      type,
      target.uploader,
      target.packSize ?? DEFAULT_PACK_SIZE,
      "auto",
      { compressAlways: true, maxUploads: 2 },
    );
  return { data: make("data"), tree: make("tree") };
}

export interface RepackOptions {
  /** Re-encode (compress) this blob instead of copying it verbatim. */
  readonly recompress?: (entry: PackEntry) => boolean;
  /** Told after each source pack. */
  readonly onPack?: (id: Id) => void;
  /** The size of each source pack, when known (else the packs are listed). */
  readonly sizes?: ReadonlyMap<Id, number>;
}

/**
 * Move every blob of `keep` found in `packs` (of `src`) into new packs of `target`, deleting
 * it from `keep` as it goes (what is left was not found), and wait until they are saved. A
 * blob that fails verification is loaded from another copy if the index knows one; otherwise
 * the repack fails with its error.
 */
export async function repack(
  src: IndexedRepository,
  packs: readonly Id[],
  keep: BlobSet,
  target: RepackTarget,
  options: RepackOptions = {},
): Promise<void> {
  const packers = repackPackers(target);
  const byPack = new Map<Id, IndexEntry[]>();
  const wanted = new Set(packs);
  for (const { packId, blobs } of src.index.byPack()) {
    if (!wanted.has(packId)) continue;
    byPack.set(
      packId,
      blobs.filter((b) => keep.has(b.type, b.id)),
    );
  }
  const sameKey = src.repo.masterKey === target.repo.masterKey;
  const buffer = new ScratchBuffer();
  const prefetch = new ScratchBuffer();
  let sizes = options.sizes;
  if (sizes === undefined) {
    const listed = new Map<Id, number>();
    for await (const fi of src.repo.backend.list("data"))
      if (wanted.has(fi.name)) listed.set(fi.name, fi.size);
    sizes = listed;
  }
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
        prefetch,
        onBlob: async (entry, sealed) => {
          if (!keep.delete(entry.type, entry.id)) return; // already moved from another pack
          const verbatim = sameKey && !(options.recompress?.(entry) ?? false);
          if (verbatim) {
            try {
              await verifyBlob(src.repo.masterKey, packId, entry, sealed);
            } catch (err) {
              await recover(src, packers, entry, packId, err);
              return;
            }
            await packers[entry.type].addSealed(entry.id, sealed, entry.uncompressedLength);
            return;
          }
          let plain: Uint8Array;
          try {
            plain = await openBlob(src.repo.masterKey, packId, entry, sealed);
          } catch (err) {
            await recover(src, packers, entry, packId, err);
            return;
          }
          await packers[entry.type].add(entry.id, plain);
        },
      });
      for (const entry of skipped) {
        if (!keep.delete(entry.type, entry.id)) continue;
        await recover(src, packers, entry, packId, undefined);
      }
    } finally {
      await file.close();
    }
    options.onPack?.(packId);
  }
  await packers.data.flush();
  await packers.tree.flush();
}

/** A blob that could not be copied from `packId`: take it from another copy, or fail. */
async function recover(
  src: IndexedRepository,
  packers: Record<BlobType, MainPacker>,
  entry: PackEntry,
  packId: Id,
  err: unknown,
): Promise<void> {
  let plain: Uint8Array | undefined;
  if (src.index.lookup(entry.type, entry.id).some((loc) => loc.packId !== packId)) {
    // loadBlob tries every copy (the damaged one fails again)
    plain = await src.loadBlob(entry.type, entry.id).catch(() => undefined);
  }
  if (plain !== undefined) {
    await packers[entry.type].add(entry.id, plain);
    return;
  }
  const why = err instanceof Error ? err.message : "it lies outside the pack file";
  throw new ResticTsError(
    "CORRUPT",
    `cannot repack ${entry.type} blob ${entry.id} from pack ${packId}: ${why}`,
    { id: entry.id, packId },
  );
}
