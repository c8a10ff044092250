// prune (restic 0.14 cmd/restic/cmd_prune.go), in two steps:
//
// planPrune: find every blob the snapshots use; classify each pack as used, partly used or
// unused (duplicates of a blob count as used in one pack only); packs no index knows are
// removed first; unused packs are removed; partly used, mixed, small or (v2) uncompressed tree
// packs become repack candidates, taken in restic's order (trees and small packs first, then
// by unused/used ratio) until the unused space left is under --max-unused or --max-repack-size
// is reached. Refuses when used blobs are missing from the index or used packs are missing or
// have the wrong size.
//
// executePrune, ordered so a crash at any point leaves a repository restic check accepts:
//   1. delete packs no index references (nothing refers to them), and on a local repository
//      the temp files of packs a killed process was writing;
//   2. write new packs holding the blobs still needed from the packs to repack;
//   3. write new index files (the last one superseding every old one);
//   4. delete the old index files;
//   5. delete the packs no longer referenced (repacked and unused ones).
// Until 3 completes the old index is in force and every pack it names still exists; the new
// packs are merely unreferenced. After 3 the new index names only packs that exist.

import { LocalBackend } from "../backends/local.js";
import { isResticTsError, ResticTsError } from "../errors.js";
import { BlobSet } from "./blob-set.js";
import { loadIndexesForCheck } from "./check/index-check.js";
import type { Id } from "./id.js";
import { IndexWriter, WHEN_FULL } from "./index-writer.js";
import { IndexedRepository } from "./indexed.js";
import { type BlobType, DEFAULT_PACK_SIZE, entrySize } from "./pack.js";
import { PackUploader } from "./pack-uploader.js";
import { indexPacks, type MaintenanceLog, removeFiles, SILENT_LOG } from "./rebuild-index.js";
import { repack } from "./repacker.js";
import type { Repository } from "./repository.js";
import { loadSnapshot } from "./snapshots.js";
import { findUsedBlobs } from "./walk.js";

export type MaxUnused =
  | { readonly kind: "unlimited" }
  | { readonly kind: "percent"; readonly percent: number }
  | { readonly kind: "bytes"; readonly bytes: number };

export const DEFAULT_MAX_UNUSED: MaxUnused = { kind: "percent", percent: 5 };

/** Unused bytes tolerated after repacking, for `used` bytes in use (restic's maxUnusedBytes). */
export function maxUnusedBytes(m: MaxUnused, used: number): number {
  switch (m.kind) {
    case "unlimited":
      return Number.POSITIVE_INFINITY;
    case "percent":
      return Math.floor((m.percent / (100 - m.percent)) * used);
    case "bytes":
      return m.bytes;
  }
}

export interface PruneOptions {
  readonly maxUnused?: MaxUnused;
  /** Stop repacking before this many bytes (restic's --max-repack-size). */
  readonly maxRepackBytes?: number;
  /** Repack only tree packs (restic's --repack-cacheable-only). */
  readonly repackCacheableOnly?: boolean;
  /** Repack packs under 80% of the target size (default: under 4%, and only 10 or more). */
  readonly repackSmall?: boolean;
  /** Repack (and so compress) packs with uncompressed data blobs too (v2). */
  readonly repackUncompressed?: boolean;
  /** Target pack size (default 16 MiB). */
  readonly packSize?: number;
  /** Snapshots to treat as gone (forget --prune passes the ones it removed). */
  readonly ignoreSnapshots?: ReadonlySet<Id>;
  readonly log?: MaintenanceLog;
}

interface Counts {
  used: number;
  duplicate: number;
  unused: number;
  remove: number;
  repack: number;
  repackrm: number;
}

export interface PruneStats {
  readonly blobs: Counts;
  readonly size: Counts & { unref: number };
  readonly packs: {
    used: number;
    unused: number;
    partlyUsed: number;
    unref: number;
    keep: number;
    repack: number;
    remove: number;
  };
}

export interface PrunePlan {
  /** Packs no index references: removed first. */
  readonly removePacksFirst: ReadonlySet<Id>;
  readonly repackPacks: ReadonlySet<Id>;
  /** The size of each pack in repackPacks, as listed (repacking need not list them again). */
  readonly repackSizes: ReadonlyMap<Id, number>;
  /** Packs without any used blob. */
  readonly removePacks: ReadonlySet<Id>;
  /** Missing packs no one needs: dropped from the index. */
  readonly ignorePacks: ReadonlySet<Id>;
  /** Blobs to copy out of repackPacks (undefined when nothing is repacked). */
  readonly keepBlobs: BlobSet | undefined;
  readonly stats: PruneStats;
  /** The index files the plan was made from (superseded by the new index). */
  readonly indexIds: readonly Id[];
  readonly snapshots: number;
}

type PackType = BlobType | "none" | "mixed";

interface PackInfo {
  usedBlobs: number;
  unusedBlobs: number;
  usedSize: number;
  unusedSize: number;
  tpe: PackType;
  uncompressed: boolean;
}

function fail(message: string): ResticTsError {
  return new ResticTsError("CORRUPT", message);
}

const short = (id: Id) => id.slice(0, 8);

/**
 * Load every index file, superseded ones included, as restic's prune does: a superseded file
 * left behind by an interrupted prune still names its packs, so they are deleted only after
 * the new index is written. Fails when an index file cannot be loaded.
 */
export async function loadIndexForPrune(
  repo: Repository,
): Promise<{ indexed: IndexedRepository; indexIds: Id[] }> {
  const loaded = await loadIndexesForCheck(repo);
  const failed = loaded.findings.find((f) => f.kind === "index-load");
  if (failed !== undefined) throw new ResticTsError("CORRUPT", failed.message);
  return { indexed: new IndexedRepository(repo, loaded.index), indexIds: [...loaded.indexIds] };
}

/** restic's getUsedBlobs: every blob the snapshots (but the ignored ones) reference. */
export async function usedBlobs(
  repo: IndexedRepository,
  ignore: ReadonlySet<Id>,
  log: MaintenanceLog,
): Promise<{ used: BlobSet; snapshots: number }> {
  log.verbose("loading all snapshots...");
  const roots: Id[] = [];
  for (const id of (await repo.repo.listIds("snapshot")).sort()) {
    if (ignore.has(id)) continue;
    let tree: Id | null;
    try {
      tree = (await loadSnapshot(repo.repo, id)).tree;
    } catch (err) {
      // Keep the cause's code: a snapshot that could not be read (IO) is not a damaged one.
      const code = isResticTsError(err) ? err.code : "CORRUPT";
      throw new ResticTsError(
        code,
        `failed loading snapshot: ${(err as Error).message}`,
        { id },
        { cause: err },
      );
    }
    if (tree === null) throw fail(`failed loading snapshot: snapshot ${id} has no tree`);
    roots.push(tree);
  }
  log.verbose(`finding data that is still in use for ${roots.length} snapshots`);
  const used = new BlobSet();
  await findUsedBlobs(repo, roots, used);
  return { used, snapshots: roots.length };
}

function emptyStats(): PruneStats {
  const counts = () => ({ used: 0, duplicate: 0, unused: 0, remove: 0, repack: 0, repackrm: 0 });
  return {
    blobs: counts(),
    size: { ...counts(), unref: 0 },
    packs: { used: 0, unused: 0, partlyUsed: 0, unref: 0, keep: 0, repack: 0, remove: 0 },
  };
}

/** restic's planPrune: decide what to delete and what to repack. Changes nothing. */
export async function planPrune(
  repo: IndexedRepository,
  indexIds: readonly Id[],
  options: PruneOptions = {},
): Promise<PrunePlan> {
  const log = options.log ?? SILENT_LOG;
  const stats = emptyStats();
  const { used, snapshots } = await usedBlobs(repo, options.ignoreSnapshots ?? new Set(), log);

  log.verbose("searching used packs...");
  const index = repo.index;
  const keepBlobs = new BlobSet();
  const duplicates = new Map<string, number>();
  const key = (type: BlobType, id: Id) => `${type}/${id}`;
  for (const b of index.entries()) {
    if (used.delete(b.type, b.id)) {
      keepBlobs.add(b.type, b.id);
      stats.size.used += b.length;
      stats.blobs.used++;
    } else if (keepBlobs.has(b.type, b.id)) {
      const k = key(b.type, b.id);
      const count = duplicates.get(k);
      duplicates.set(k, count === undefined ? 2 : Math.min(255, count + 1));
      stats.size.duplicate += b.length;
      stats.blobs.duplicate++;
    } else {
      stats.size.unused += b.length;
      stats.blobs.unused++;
    }
  }
  if (used.size !== 0) {
    const missing = [...used].map((h) => `${h.type}/${short(h.id)}`);
    log.warn(
      `{${missing.join(" ")}} not found in the index\n\n` +
        "Integrity check failed: Data seems to be missing.\n" +
        "Will not start prune to prevent (additional) data loss!",
    );
    throw fail("index is not complete");
  }

  const packs = new Map<Id, PackInfo>();
  for (const { packId, blobs } of index.byPack()) {
    let hdr = 36;
    for (const b of blobs) hdr += entrySize(b);
    packs.set(packId, {
      usedBlobs: 0,
      unusedBlobs: 0,
      usedSize: hdr,
      unusedSize: 0,
      tpe: "none",
      uncompressed: false,
    });
  }
  for (const b of index.entries()) {
    const ip = packs.get(b.packId) as PackInfo;
    if (ip.tpe === "none") ip.tpe = b.type;
    if (ip.tpe !== b.type) ip.tpe = "mixed";
    if (duplicates.has(key(b.type, b.id))) {
      // decided below
    } else if (keepBlobs.has(b.type, b.id)) {
      ip.usedSize += b.length;
      ip.usedBlobs++;
    } else {
      ip.unusedSize += b.length;
      ip.unusedBlobs++;
    }
    if (b.uncompressedLength === undefined) ip.uncompressed = true;
  }
  if (duplicates.size > 0) {
    for (const b of index.entries()) {
      const k = key(b.type, b.id);
      const count = duplicates.get(k);
      if (count === undefined) continue;
      const ip = packs.get(b.packId) as PackInfo;
      if (count === 0) {
        ip.unusedSize += b.length;
        ip.unusedBlobs++;
      } else if (ip.usedBlobs > 0 || count === 1) {
        ip.usedSize += b.length;
        ip.usedBlobs++;
        duplicates.set(k, 0);
      } else {
        ip.unusedSize += b.length;
        ip.unusedBlobs++;
        duplicates.set(k, count - 1);
      }
    }
  }

  log.verbose("collecting packs for deletion and repacking");
  const plan = await decidePackAction(repo, packs, stats, options, log);
  let keep: BlobSet | undefined;
  if (plan.repackPacks.size > 0) {
    // blobs that stay in packs we keep need not be copied
    for (const b of index.entries()) {
      if (plan.removePacks.has(b.packId) || plan.repackPacks.has(b.packId)) continue;
      keepBlobs.delete(b.type, b.id);
    }
    keep = keepBlobs;
  }
  return { ...plan, keepBlobs: keep, stats, indexIds, snapshots };
}

async function decidePackAction(
  repo: IndexedRepository,
  packs: Map<Id, PackInfo>,
  stats: PruneStats,
  options: PruneOptions,
  log: MaintenanceLog,
): Promise<
  Pick<
    PrunePlan,
    "removePacksFirst" | "repackPacks" | "repackSizes" | "removePacks" | "ignorePacks"
  >
> {
  const removePacksFirst = new Set<Id>();
  const removePacks = new Set<Id>();
  const repackPacks = new Set<Id>();
  const candidates: (PackInfo & { id: Id })[] = [];
  const smallCandidates: (PackInfo & { id: Id })[] = [];
  const packSize = options.packSize ?? DEFAULT_PACK_SIZE;
  const targetPackSize = options.repackSmall
    ? Math.floor(packSize / 5) * 4
    : Math.floor(packSize / 25);
  const version = repo.repo.version;

  const listing: [Id, number][] = [];
  for await (const fi of repo.repo.backend.list("data")) listing.push([fi.name, fi.size]);
  listing.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const packsListed = new Map(listing);
  for (const [id, size] of listing) {
    const p = packs.get(id);
    if (p === undefined) {
      log.verbose2(`will remove pack ${short(id)} as it is unused and not indexed`);
      removePacksFirst.add(id);
      stats.size.unref += size;
      continue;
    }
    if (p.unusedSize + p.usedSize !== size && p.usedBlobs !== 0) {
      log.warn(
        `pack ${short(id)}: calculated size ${p.unusedSize + p.usedSize} does not match real size ${size}\n` +
          "Run 'restic rebuild-index'.",
      );
      throw fail("pack size does not match calculated size from index");
    }
    if (p.usedBlobs === 0) stats.packs.unused++;
    else if (p.unusedBlobs === 0) stats.packs.used++;
    else stats.packs.partlyUsed++;
    const mustCompress =
      version >= 2 && (p.tpe === "tree" || options.repackUncompressed === true) && p.uncompressed;
    p.uncompressed = mustCompress;
    if (p.usedBlobs === 0) {
      removePacks.add(id);
      stats.blobs.remove += p.unusedBlobs;
      stats.size.remove += p.unusedSize;
    } else if (options.repackCacheableOnly && p.tpe === "data") {
      stats.packs.keep++;
    } else if (p.unusedBlobs === 0 && p.tpe !== "mixed" && !mustCompress) {
      if (size >= targetPackSize) stats.packs.keep++;
      else smallCandidates.push({ ...p, id });
    } else {
      candidates.push({ ...p, id });
    }
    packs.delete(id);
  }

  // what is left in `packs` is missing from the repository
  const ignorePacks = new Set<Id>();
  for (const [id, p] of packs) {
    if (p.usedBlobs === 0) {
      ignorePacks.add(id);
      stats.blobs.remove += p.unusedBlobs;
      stats.size.remove += p.unusedSize;
      packs.delete(id);
    }
  }
  if (packs.size !== 0) {
    log.warn(
      `The index references ${packs.size} needed pack files which are missing from the repository:\n` +
        [...packs.keys()].map((id) => `  ${id}`).join("\n"),
    );
    throw fail("packs from index missing in repo");
  }
  if (ignorePacks.size !== 0) {
    log.warn("Missing but unneeded pack files are referenced in the index, will be repaired");
    for (const id of ignorePacks) log.warn(`will forget missing pack file ${id}`);
  }

  if (smallCandidates.length < 10) stats.packs.keep += smallCandidates.length;
  else candidates.push(...smallCandidates);

  const total = (p: PackInfo) => p.unusedSize + p.usedSize;
  candidates.sort((pi, pj) => {
    if (pi.tpe !== "data" && pj.tpe === "data") return -1;
    if (pj.tpe !== "data" && pi.tpe === "data") return 1;
    if (total(pi) < targetPackSize && total(pj) >= targetPackSize) return -1;
    if (total(pj) < targetPackSize && total(pi) >= targetPackSize) return 1;
    const a = pi.unusedSize * pj.usedSize;
    const b = pj.unusedSize * pi.usedSize;
    return a > b ? -1 : a < b ? 1 : 0;
  });

  const maxAfter = maxUnusedBytes(options.maxUnused ?? DEFAULT_MAX_UNUSED, stats.size.used);
  const maxRepack = options.maxRepackBytes ?? Number.POSITIVE_INFINITY;
  for (const p of candidates) {
    // restic computes this in uint64: a negative difference wraps to a huge number
    const unusedAfter = stats.size.unused - stats.size.remove - stats.size.repackrm;
    const reachedUnusedSizeAfter =
      unusedAfter >= 0 ? unusedAfter < maxAfter : maxAfter === Number.POSITIVE_INFINITY;
    const reachedRepackSize = stats.size.repack + total(p) >= maxRepack;
    const packIsLargeEnough = total(p) >= targetPackSize;
    if (reachedRepackSize) {
      stats.packs.keep++;
    } else if (
      p.tpe !== "data" ||
      p.uncompressed ||
      !(reachedUnusedSizeAfter && packIsLargeEnough)
    ) {
      repackPacks.add(p.id);
      stats.blobs.repack += p.unusedBlobs + p.usedBlobs;
      stats.size.repack += total(p);
      stats.blobs.repackrm += p.unusedBlobs;
      stats.size.repackrm += p.unusedSize;
    } else {
      stats.packs.keep++;
    }
  }
  stats.packs.unref = removePacksFirst.size;
  stats.packs.repack = repackPacks.size;
  stats.packs.remove = removePacks.size;
  const repackSizes = new Map<Id, number>();
  for (const [id, p] of packsListed) if (repackPacks.has(id)) repackSizes.set(id, p);
  return { removePacksFirst, repackPacks, repackSizes, removePacks, ignorePacks };
}

export interface PruneResult {
  readonly packsWritten: number;
  readonly bytesWritten: number;
  readonly indexesWritten: readonly Id[];
}

/** restic's doPrune: carry out a plan (see the order above). */
export async function executePrune(
  repo: IndexedRepository,
  plan: PrunePlan,
  options: PruneOptions = {},
): Promise<PruneResult> {
  const log = options.log ?? SILENT_LOG;
  if (plan.removePacksFirst.size > 0) {
    log.verbose("deleting unreferenced packs");
    await removeFiles(repo.repo, "data", plan.removePacksFirst, log);
  }
  const backend = repo.repo.backend;
  if (backend instanceof LocalBackend) {
    // packs a killed process was writing (prune runs under the exclusive lock)
    const n = await backend.removeTemps("data");
    if (n > 0) log.verbose(`deleted ${n} unfinished pack files`);
  }
  const removePacks = new Set(plan.removePacks);
  // the new packs are indexed as they are saved; the old index's packs join at the end
  const indexWriter = new IndexWriter(repo.repo, undefined, {
    ...WHEN_FULL,
    supersedes: plan.indexIds,
  });
  const uploader = new PackUploader(repo.repo, indexWriter, undefined, false);
  try {
    if (plan.repackPacks.size > 0) {
      const keep = plan.keepBlobs ?? new BlobSet();
      log.verbose("repacking packs");
      const v2 = repo.repo.version >= 2;
      const target = { repo: repo.repo, uploader, packSize: options.packSize };
      await repack(repo, [...plan.repackPacks], keep, target, {
        sizes: plan.repackSizes,
        // restic re-encodes every repacked blob, so v2 repacking compresses what was not
        recompress: (e) => v2 && e.uncompressedLength === undefined,
      });
      for (const id of plan.repackPacks) removePacks.add(id);
      if (keep.size !== 0) {
        log.warn(
          `{${[...keep].map((h) => `${h.type}/${short(h.id)}`).join(" ")}} was not repacked`,
        );
        throw new ResticTsError("CORRUPT", "internal error: blobs were not repacked");
      }
    }
    const ignore = new Set([...plan.ignorePacks, ...removePacks]);
    let indexesWritten: Id[] = [];
    if (ignore.size > 0) {
      log.verbose("rebuilding index");
      for (const p of indexPacks(repo.index, ignore)) indexWriter.add(p.id, p.blobs);
      indexesWritten = await indexWriter.finish();
      log.verbose("deleting obsolete index files");
      const obsolete = plan.indexIds.filter((id) => !indexesWritten.includes(id));
      await removeFiles(repo.repo, "index", obsolete, log, true);
    }
    if (removePacks.size > 0) {
      log.verbose(`removing ${removePacks.size} old packs`);
      await removeFiles(repo.repo, "data", removePacks, log);
    }
    log.verbose("done");
    const { packs, bytes } = uploader.stats;
    return { packsWritten: packs, bytesWritten: bytes, indexesWritten };
  } finally {
    // nothing this started may land after the lock is released (see backup)
    await uploader.idle();
    await indexWriter.idle();
  }
}
