// Repository statistics (restic 0.14 cmd_stats.go over internal/walker):
//   restore-size      every node of every snapshot (directories too) counts as a file; sizes
//                     add up once per inode within a snapshot (hard links), inode 0 always;
//   files-by-contents nodes unique by their content list across all snapshots (all nodes
//                     without content — directories, symlinks, empty files — are one "file");
//   blobs-per-file    for each node with new content, its blobs per path, plaintext sizes
//                     (restic keys the path as <dir>/<name>/<name>, so do we);
//   raw-data          every distinct tree and data blob the snapshots reference, stored sizes.

import { ResticTsError } from "../errors.js";
import { BlobSet } from "./blob-set.js";
import type { Id } from "./id.js";
import type { IndexedRepository } from "./indexed.js";
import type { SnapshotEntry } from "./snapshots.js";
import type { Tree } from "./tree.js";
import { compareNames } from "./tree.js";
import { findUsedBlobs } from "./walk.js";

export type StatsMode = "restore-size" | "files-by-contents" | "blobs-per-file" | "raw-data";

export const STATS_MODES: readonly StatsMode[] = [
  "restore-size",
  "files-by-contents",
  "blobs-per-file",
  "raw-data",
];

export interface StatsResult {
  totalSize: number;
  totalFileCount: number;
  totalBlobCount: number;
  snapshotsCount: number;
}

export function parseStatsMode(s: string): StatsMode {
  if ((STATS_MODES as readonly string[]).includes(s)) return s as StatsMode;
  throw new ResticTsError(
    "INVALID_ARGUMENT",
    `unknown counting mode: ${s} (use the -h flag to get a list of supported modes)`,
  );
}

/** Go's path.Join for an absolute prefix and a name. */
const join = (prefix: string, name: string) => (prefix === "/" ? `/${name}` : `${prefix}/${name}`);

export async function computeStats(
  repo: IndexedRepository,
  snapshots: readonly SnapshotEntry[],
  mode: StatsMode,
): Promise<StatsResult> {
  const stats: StatsResult = {
    totalSize: 0,
    totalFileCount: 0,
    totalBlobCount: 0,
    snapshotsCount: 0,
  };
  const rawBlobs = new BlobSet();
  const uniqueFiles = new Set<string>();
  const fileBlobs = new Map<string, Set<Id>>();

  for (const { id, snapshot } of snapshots) {
    if (snapshot.tree === null) {
      throw new ResticTsError("CORRUPT", `snapshot ${id.slice(0, 8)} has nil tree`);
    }
    stats.snapshotsCount++;
    if (mode === "raw-data") {
      await findUsedBlobs(repo, [snapshot.tree], rawBlobs);
      continue;
    }
    const inodes = new Set<bigint>();
    const visited = new Set<Id>();
    const walk = async (tree: Tree, prefix: string, treeId: Id): Promise<void> => {
      const nodes = [...tree.nodes].sort((a, b) => compareNames(a.name, b.name));
      for (const node of nodes) {
        const p = join(prefix, node.name);
        if (node.type === "") {
          throw new ResticTsError("CORRUPT", `node type is empty for node "${node.name}"`);
        }
        let subtree: Tree | undefined;
        if (node.type === "dir") {
          if (node.subtree === undefined) {
            throw new ResticTsError("CORRUPT", `subtree for node ${node.name} in tree ${p} is nil`);
          }
          // restic skips a subtree seen before in this snapshot, except in restore-size mode
          if (mode !== "restore-size" && visited.has(node.subtree)) continue;
          visited.add(node.subtree);
          subtree = await repo.loadTree(node.subtree);
        }
        if (mode === "restore-size") {
          stats.totalFileCount++;
          if (node.inode === 0n || !inodes.has(node.inode)) {
            inodes.add(node.inode);
            stats.totalSize += node.size;
          }
        } else {
          const key = (node.content ?? []).join("");
          if (!uniqueFiles.has(key)) {
            uniqueFiles.add(key);
            if (mode === "files-by-contents") {
              stats.totalSize += node.size;
              stats.totalFileCount++;
            } else {
              const nodePath = join(p, node.name);
              for (const blob of node.content ?? []) {
                let seen = fileBlobs.get(nodePath);
                if (seen === undefined) {
                  seen = new Set();
                  fileBlobs.set(nodePath, seen);
                  stats.totalFileCount++;
                }
                if (seen.has(blob)) continue;
                const size = repo.index.lookupSize("data", blob);
                if (size === undefined) {
                  throw new ResticTsError("NOT_FOUND", `blob ${blob} not found for tree ${treeId}`);
                }
                stats.totalSize += size;
                seen.add(blob);
                stats.totalBlobCount++;
              }
            }
          }
        }
        if (subtree !== undefined) await walk(subtree, p, node.subtree as Id);
      }
    };
    try {
      await walk(await repo.loadTree(snapshot.tree), "/", snapshot.tree);
    } catch (err) {
      throw new ResticTsError(
        "CORRUPT",
        `error walking snapshot: walking tree ${snapshot.tree}: ${(err as Error).message}`,
        { id },
        { cause: err },
      );
    }
  }
  if (mode === "raw-data") {
    for (const h of rawBlobs) {
      const loc = repo.index.lookup(h.type, h.id)[0];
      if (loc === undefined)
        throw new ResticTsError("NOT_FOUND", `blob ${h.type}/${h.id} not found`);
      stats.totalSize += loc.length;
      stats.totalBlobCount++;
    }
  }
  return stats;
}
