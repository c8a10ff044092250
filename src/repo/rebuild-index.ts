// rebuild-index (restic 0.14 cmd_rebuild_index.go): keep what the index files say about packs
// that exist with the right size, read the header of every other pack (all packs with
// readAllPacks), write index files for the lot superseding every old one (index-writer.ts),
// then delete the old ones. Also the logging and removal helpers prune and forget share.

import { mapLimit } from "../backends/limit.js";
import type { MasterKey } from "../crypto/master-key.js";
import { open } from "../crypto/master-key.js";
import { describeError } from "./check/findings.js";
import { packSizeFromEntries } from "./check/index-check.js";
import type { Id } from "./id.js";
import type { IndexPack } from "./index-file.js";
import { readIndexFile } from "./index-scan.js";
import { IndexWriter, WHEN_FULL } from "./index-writer.js";
import { MasterIndex } from "./master-index.js";
import { type PackBlob, readPackHeaderWith } from "./pack.js";
import type { Repository } from "./repository.js";

/** Messages for people, at restic's levels: warnings (stderr), normal and -v output. */
export interface MaintenanceLog {
  warn(message: string): void;
  verbose(message: string): void;
  verbose2(message: string): void;
}

export const SILENT_LOG: MaintenanceLog = { warn() {}, verbose() {}, verbose2() {} };

/** Remove files of one type, warning about (and skipping) the ones that cannot be removed. */
export async function removeFiles(
  repo: Repository,
  type: "index" | "data" | "snapshot",
  ids: Iterable<Id>,
  log: MaintenanceLog,
  strict = false,
): Promise<void> {
  await mapLimit([...ids], 8, async (name) => {
    try {
      await repo.backend.remove({ type, name });
    } catch (err) {
      log.warn(`unable to remove <${type}/${name.slice(0, 10)}> from the repository`);
      if (strict) throw err;
    }
  });
}

/** The blobs of a pack as its header lists them (what CreateIndexFromPacks reads). */
export async function listPack(
  repo: Repository,
  id: Id,
  size: number,
  key: MasterKey = repo.masterKey,
): Promise<PackBlob[]> {
  const info = await readPackHeaderWith(
    (offset, length) => repo.backend.load({ type: "data", name: id }, { offset, length }),
    size,
    (sealed) => open(key, sealed),
  );
  return info.blobs;
}

/** Entries of a MasterIndex as index-file packs, leaving out `exclude`. */
export function* indexPacks(index: MasterIndex, exclude: ReadonlySet<Id>): Iterable<IndexPack> {
  for (const { packId, blobs } of index.byPack()) {
    if (exclude.has(packId)) continue;
    yield {
      id: packId,
      blobs: blobs.map((b) =>
        b.uncompressedLength === undefined
          ? { id: b.id, type: b.type, offset: b.offset, length: b.length }
          : {
              id: b.id,
              type: b.type,
              offset: b.offset,
              length: b.length,
              uncompressedLength: b.uncompressedLength,
            },
      ),
    };
  }
}

export interface RebuildIndexOptions {
  /** Ignore the existing index files and read every pack header. */
  readonly readAllPacks?: boolean;
  readonly log?: MaintenanceLog;
  readonly concurrency?: number;
}

export interface RebuildIndexResult {
  readonly packsRead: number;
  /** Packs whose header could not be read (left out of the new index). */
  readonly invalidPacks: readonly Id[];
  readonly indexesWritten: readonly Id[];
  readonly indexesRemoved: readonly Id[];
}

export async function rebuildIndex(
  repo: Repository,
  options: RebuildIndexOptions = {},
): Promise<RebuildIndexResult> {
  const log = options.log ?? SILENT_LOG;
  const concurrency = options.concurrency ?? 8;
  const oldIndexes = (await repo.listIds("index")).sort();
  const index = new MasterIndex();
  if (!options.readAllPacks) {
    log.verbose("loading indexes...");
    await mapLimit(oldIndexes, concurrency, async (id) => {
      try {
        readIndexFile(await repo.loadUnpacked("index", id)).addTo(index);
      } catch (err) {
        log.warn(`removing invalid index ${id}: ${describeError(err)}`);
      }
    });
  }
  const sizeFromIndex = new Map<Id, number>();
  for (const { packId, blobs } of index.byPack()) {
    sizeFromIndex.set(packId, packSizeFromEntries(blobs));
  }
  log.verbose("getting pack files to read...");
  const toRead = new Map<Id, number>();
  const removePacks = new Set<Id>();
  for await (const fi of repo.backend.list("data")) {
    const size = sizeFromIndex.get(fi.name);
    if (size === undefined || size !== fi.size) {
      toRead.set(fi.name, fi.size);
      removePacks.add(fi.name);
      if (size === undefined) {
        if (!options.readAllPacks) log.warn(`adding pack file to index ${fi.name}`);
      } else {
        log.warn(
          `reindexing pack file ${fi.name} with unexpected size ${fi.size} instead of ${size}`,
        );
      }
    }
    sizeFromIndex.delete(fi.name);
  }
  for (const id of sizeFromIndex.keys()) {
    removePacks.add(id);
    log.warn(`removing not found pack file ${id}`);
  }
  const invalid: Id[] = [];
  const read: { id: Id; blobs: PackBlob[] }[] = [];
  if (toRead.size > 0) {
    log.verbose("reading pack files");
    await mapLimit([...toRead].sort(), concurrency, async ([id, size]) => {
      try {
        read.push({ id, blobs: await listPack(repo, id, size) });
      } catch {
        invalid.push(id);
      }
    });
    for (const id of invalid.sort()) log.verbose2(`skipped incomplete pack file: ${id}`);
  }
  read.sort((a, b) => (a.id < b.id ? -1 : 1));
  log.verbose("rebuilding index");
  const writer = new IndexWriter(repo, undefined, { ...WHEN_FULL, supersedes: oldIndexes });
  for (const p of [...indexPacks(index, removePacks), ...read]) writer.add(p.id, p.blobs);
  const written = await writer.finish();
  log.verbose("deleting obsolete index files");
  const obsolete = oldIndexes.filter((id) => !written.includes(id));
  await removeFiles(repo, "index", obsolete, log, true);
  return {
    packsRead: read.length,
    invalidPacks: invalid,
    indexesWritten: written,
    indexesRemoved: obsolete,
  };
}
