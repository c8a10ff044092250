// copy (restic 0.14 cmd_copy.go): copy snapshots from one repository to another. A source
// snapshot is skipped when the destination has a "similar" snapshot (same time, tree, host,
// user, IDs, paths, tags, excludes) whose ID or `original` is the source's original ID. For the
// others, every tree and data blob the destination lacks is read from the source packs,
// decrypted and sealed again with the destination's key (compressed when the destination is
// v2), written in new packs and indexed (index files without `supersedes`), and only then the
// snapshot is saved with `original` set and `parent` cleared. Trees are copied byte for byte,
// so with the same chunker parameters later backups dedup against the copied data.

import { ResticTsError } from "../errors.js";
import { BlobSet } from "./blob-set.js";
import { goTimeString } from "./gotime.js";
import type { Id } from "./id.js";
import { IndexWriter, WHEN_FULL } from "./index-writer.js";
import type { IndexedRepository } from "./indexed.js";
import { PackUploader } from "./pack-uploader.js";
import { type MaintenanceLog, SILENT_LOG } from "./rebuild-index.js";
import { repack } from "./repacker.js";
import { type Snapshot, serialiseSnapshot } from "./snapshot.js";
import { compareTime, hasTags, type SnapshotEntry } from "./snapshots.js";
import { streamTrees } from "./walk.js";

/** restic's similarSnapshots (everything but parent and original). */
export function similarSnapshots(a: Snapshot, b: Snapshot): boolean {
  const ap = a.paths ?? [];
  const bp = b.paths ?? [];
  const ae = a.excludes ?? [];
  const be = b.excludes ?? [];
  if (
    compareTime(a.time, b.time) !== 0 ||
    a.tree !== b.tree ||
    a.hostname !== b.hostname ||
    a.username !== b.username ||
    a.uid !== b.uid ||
    a.gid !== b.gid ||
    ap.length !== bp.length ||
    ae.length !== be.length ||
    (a.tags ?? []).length !== (b.tags ?? []).length
  ) {
    return false;
  }
  if (!bp.every((p) => ap.includes(p)) || !hasTags(a.tags, b.tags ?? [])) return false;
  return ae.every((x, i) => x === be[i]);
}

export interface CopyOptions {
  readonly log?: MaintenanceLog;
  readonly packSize?: number;
}

export interface CopyResult {
  /** Source snapshot → new destination snapshot. */
  readonly copied: { readonly source: Id; readonly target: Id }[];
  /** Source snapshot → the destination snapshot it was already copied to. */
  readonly skipped: { readonly source: Id; readonly target: Id }[];
  readonly blobsCopied: number;
}

/**
 * Copy `snapshots` of `src` into `dst`; `dstSnapshots` are the destination's snapshots to
 * compare with (restic applies the same host/tag/path filters to both).
 */
export async function copySnapshots(
  src: IndexedRepository,
  dst: IndexedRepository,
  snapshots: readonly SnapshotEntry[],
  dstSnapshots: readonly SnapshotEntry[],
  options: CopyOptions = {},
): Promise<CopyResult> {
  const log = options.log ?? SILENT_LOG;
  const byOriginal = new Map<Id, SnapshotEntry[]>();
  const remember = (key: Id, e: SnapshotEntry) => {
    const list = byOriginal.get(key);
    if (list === undefined) byOriginal.set(key, [e]);
    else list.push(e);
  };
  for (const e of dstSnapshots) {
    if (e.snapshot.original !== undefined) remember(e.snapshot.original, e);
    remember(e.id, e);
  }
  const visitedTrees = new Set<Id>();
  const result = {
    copied: [] as CopyResult["copied"],
    skipped: [] as CopyResult["skipped"],
    blobsCopied: 0,
  };
  for (const { id, snapshot } of snapshots) {
    const sn = snapshot;
    const paths = (sn.paths ?? []).join(" ");
    log.verbose(`\nsnapshot ${id.slice(0, 8)} of [${paths}] at ${goTimeString(sn.time)})`);
    const original = sn.original ?? id;
    const twin = (byOriginal.get(original) ?? []).find((d) => similarSnapshots(d.snapshot, sn));
    if (twin !== undefined) {
      log.verbose(
        `skipping source snapshot ${id.slice(0, 8)}, was already copied to snapshot ${twin.id.slice(0, 8)}`,
      );
      result.skipped.push({ source: id, target: twin.id });
      continue;
    }
    if (sn.tree === null) throw new ResticTsError("CORRUPT", `snapshot ${id} has no tree`);
    log.verbose("  copy started, this may take a while...");
    result.blobsCopied += await copyTree(src, dst, visitedTrees, sn.tree, options);
    const copy: Snapshot = { ...sn, original };
    delete copy.parent;
    const target = await dst.repo.saveUnpacked("snapshot", serialiseSnapshot(copy));
    log.verbose(`snapshot ${target.slice(0, 8)} saved`);
    result.copied.push({ source: id, target });
  }
  return result;
}

/** Copy the blobs of one tree graph the destination lacks; returns how many were copied. */
async function copyTree(
  src: IndexedRepository,
  dst: IndexedRepository,
  visitedTrees: Set<Id>,
  root: Id,
  options: CopyOptions,
): Promise<number> {
  const copyBlobs = new BlobSet();
  const packs = new Set<Id>();
  const enqueue = (type: "data" | "tree", id: Id) => {
    if (dst.index.has(type, id) || !copyBlobs.add(type, id)) return;
    for (const loc of src.index.lookup(type, id)) packs.add(loc.packId);
  };
  await streamTrees(src, [{ id: root }], {
    seen: (id) => {
      if (visitedTrees.has(id)) return true;
      visitedTrees.add(id);
      return false;
    },
    child: (_job, id) => ({ id }),
    visit: ({ id }, tree) => {
      enqueue("tree", id);
      for (const node of tree.nodes) for (const b of node.content ?? []) enqueue("data", b);
    },
  });
  const count = copyBlobs.size;
  if (count === 0) return 0;
  const indexWriter = new IndexWriter(dst.repo, dst.index, WHEN_FULL);
  const uploader = new PackUploader(dst.repo, indexWriter, undefined, false);
  try {
    await repack(src, [...packs], copyBlobs, {
      repo: dst.repo,
      uploader,
      packSize: options.packSize,
    });
    if (copyBlobs.size !== 0) {
      const missing = [...copyBlobs].map((h) => `${h.type}/${h.id.slice(0, 8)}`);
      throw new ResticTsError(
        "CORRUPT",
        `blobs not found in the source packs: ${missing.join(" ")}`,
      );
    }
    await indexWriter.finish();
    return count;
  } finally {
    // nothing this started may land after the lock is released (see backup)
    await uploader.idle();
    await indexWriter.idle();
  }
}
