// The real SnapshotStore: container root filesystems backed up with the archiver (target ".",
// so the snapshot root is the root filesystem and `restic ls` shows /bin, /etc, …) and restored
// with the restorer. `/.corex.meta` is added as an in-memory file on backup, and on restore it
// is read from the snapshot's root tree and left out of the restored directory.

import path from "node:path";
import { openBackend } from "../backends/open.js";
import type { RepoUrl } from "../backends/url.js";
import { isResticTsError, ResticTsError } from "../errors.js";
import { backup } from "../repo/archiver.js";
import type { IndexedRepository } from "../repo/indexed.js";
import { Repository } from "../repo/repository.js";
import { newRestoreProgress, restoreTree } from "../repo/restorer.js";
import { findSnapshot } from "../repo/snapshots.js";
import { findNode } from "../repo/tree.js";
import {
  META_PATH,
  type SnapshotStore,
  type StoreBackupOptions,
  type StoreRestoreOptions,
  type StoreRestoreResult,
} from "./store.js";

const META_NAME = META_PATH.slice(1);

function passwordOf(url: RepoUrl): string {
  if (url.password === undefined || url.password === "") {
    throw new ResticTsError("INVALID_URL", `the repository URL ${url.display} needs ?password=`);
  }
  return url.password;
}

function cancelled(signal: AbortSignal): void {
  if (signal.aborted) throw new ResticTsError("CANCELLED", "cancelled");
}

export class ResticSnapshotStore implements SnapshotStore {
  async backup(url: RepoUrl, rootDir: string, opts: StoreBackupOptions): Promise<string> {
    const password = passwordOf(url);
    const backend = await openBackend(url.location);
    let repo: Repository;
    try {
      repo = await Repository.open(backend, password);
    } catch (err) {
      if (!(opts.init && isResticTsError(err, "NO_REPOSITORY"))) throw err;
      repo = await Repository.init(backend, password);
    }
    cancelled(opts.signal);
    const root = path.resolve(rootDir);
    const excluded = new Set(opts.excludeTopLevel.map((name) => path.join(root, name)));
    let files = 0;
    let bytes = 0;
    const result = await backup(repo, ["."], {
      cwd: root,
      tags: opts.tags,
      host: opts.host,
      extraFiles: opts.extraFiles.map((f) => ({ path: f.path, data: f.data, mode: 0o600 })),
      filter: (absPath) => !excluded.has(absPath),
      signal: opts.signal,
      onEvent: (e) => {
        if (e.type === "bytes") bytes += e.bytes;
        else if (e.type === "item") files++;
        else return;
        opts.onProgress({ files, bytes });
      },
    });
    if (result.snapshotId === undefined) throw new ResticTsError("IO", "backup wrote no snapshot");
    return result.snapshotId;
  }

  async restore(
    url: RepoUrl & { readonly snapshot: string },
    targetDir: string,
    opts: StoreRestoreOptions,
  ): Promise<StoreRestoreResult> {
    const repo = await Repository.open(await openBackend(url.location), passwordOf(url));
    const { id, snapshot } = await findSnapshot(repo, url.snapshot);
    if (snapshot.tree === null) throw new ResticTsError("CORRUPT", `snapshot ${id} has no tree`);
    cancelled(opts.signal);
    const indexed = await repo.loadIndex();
    const meta = await readMeta(indexed, snapshot.tree);
    const progress = newRestoreProgress();
    const timer = setInterval(
      () => opts.onProgress({ files: progress.filesDone, bytes: progress.bytesDone }),
      250,
    );
    try {
      await restoreTree(indexed, snapshot.tree, {
        target: targetDir,
        progress,
        filter: (location) => ({ selected: location !== META_PATH, childMayBeSelected: true }),
      });
    } finally {
      clearInterval(timer);
    }
    cancelled(opts.signal);
    opts.onProgress({ files: progress.filesDone, bytes: progress.bytesDone });
    return { snapshotId: id, meta };
  }
}

/** The content of `/.corex.meta` in the root tree, if the snapshot has one. */
async function readMeta(
  repo: IndexedRepository,
  rootTree: string,
): Promise<Uint8Array | undefined> {
  const node = findNode(await repo.loadTree(rootTree), META_NAME);
  if (node === undefined || node.type !== "file") return undefined;
  const parts = await Promise.all((node.content ?? []).map((blob) => repo.loadBlob("data", blob)));
  return Buffer.concat(parts);
}
