// Restoring a snapshot's tree into a directory (restic 0.14 internal/restorer/restorer.go and
// node.go CreateAt/RestoreMetadata; restic 0.16's `SNAPSHOT:subfolder`):
//
//   1. plan: load every tree (prefetched), validate every name (HOSTILE_PATH for "", ".", "..",
//      "/" or NUL in a name, a name twice in one tree, or a tree that contains itself), apply
//      the include/exclude filter, and order the work — before anything is written;
//   2. create the directories (mode 0700 for now);
//   3. write the content of regular files, grouped by pack (restore/files.ts);
//   4. in tree order: create symlinks, hard links (restic's inode/device index: the first
//      path of a group gets the content, the others are linked to it), empty files, fifos and
//      devices, and restore each node's metadata — owner (numeric, lchown), extended
//      attributes, mode (with setuid/setgid/sticky), atime and mtime (to the nanosecond with
//      the helper of restore/fsops.ts) — a directory's only after all its contents.
//   5. with `verify`, read every restored file back and check each blob's SHA-256.
//
// Nothing is written outside the target: paths are built from validated names below the
// target's real path; a directory that already exists must be a real directory (a symlink
// there is refused with HOSTILE_PATH); files are created with O_EXCL|O_NOFOLLOW after removing
// whatever non-directory was in the way (so neither a symlink nor a hard link to a file
// elsewhere is written through); only the helper's chmod follows links, and it is never given
// a symlink. (A concurrent process changing the target while we restore is out of scope.)

import * as fs from "node:fs";
import * as path from "node:path";
import { sha256Hex } from "../crypto/hash.js";
import { isResticTsError, ResticTsError } from "../errors.js";
import type { SelectFilter } from "./filter.js";
import { goQuote, goStringToBytes } from "./gostring.js";
import type { Id } from "./id.js";
import type { IndexedRepository } from "./indexed.js";
import {
  type ExtendedAttribute,
  type Node,
  posixPermissionsFromFileMode,
  validateNodeName,
} from "./node.js";
import { createRestoreFile, type FileTarget, restoreFileContents } from "./restore/files.js";
import {
  type MetadataOps,
  type NodeMetadata,
  openMetadataOps,
  type SpecialKind,
  timespecOf,
} from "./restore/fsops.js";
import type { Tree } from "./tree.js";
import { findTreeDirectory, TreePrefetcher } from "./walk.js";

export interface RestoreOptions {
  /** Directory to restore into (created if missing). */
  readonly target: string;
  /** Restore only this directory of the snapshot (restic's `SNAPSHOT:subfolder`). */
  readonly subfolder?: string;
  /** Which nodes to restore (see filter.ts restoreFilter); all when undefined. */
  readonly filter?: SelectFilter;
  /** Leave holes for all-zero blobs. */
  readonly sparse?: boolean;
  /** Read restored files back and check them against their blob IDs. */
  readonly verify?: boolean;
  /** Pack ranges processed at once (default 2 for a local repository, else 4). */
  readonly concurrency?: number;
  /** Largest pack range read at once (default 2 MiB for a local repository, else 4 MiB). */
  readonly maxSegment?: number;
  /** Worker threads for decompressing large blobs (see restore/files.ts; 0 = none). */
  readonly decodeWorkers?: number;
  /**
   * A problem with one node (it is skipped, the restore goes on). Throw to abort. Default:
   * throw. HOSTILE_PATH problems always abort, before anything is written.
   */
  readonly onError?: (location: string, err: unknown) => void;
  /** Counters updated as the restore goes (for progress displays). */
  readonly progress?: RestoreProgress;
  /** Called when a phase starts ("plan", "dirs", "content", "metadata", "verify", "done"). */
  readonly onPhase?: (phase: string) => void;
  /** Use this metadata implementation instead of the best available one (tests). */
  readonly metadataOps?: MetadataOps;
}

/** Live counters of a restore. */
export interface RestoreProgress {
  filesTotal: number;
  filesDone: number;
  bytesTotal: number;
  bytesDone: number;
  /** "plan", "dirs", "content", "metadata", "verify", "done". */
  phase: string;
}

export interface RestoreResult {
  readonly files: number;
  readonly dirs: number;
  /** Symlinks, fifos, devices. */
  readonly others: number;
  readonly bytes: number;
  readonly errors: number;
  /** Files read back and checked (with `verify`). */
  readonly verified: number;
  /** Precision timestamps were restored with. */
  readonly timePrecision: "nanosecond" | "microsecond";
  /** Which metadata implementation ran. */
  readonly metadataKind: string;
}

export function newRestoreProgress(): RestoreProgress {
  return { filesTotal: 0, filesDone: 0, bytesTotal: 0, bytesDone: 0, phase: "plan" };
}

/**
 * What the restore needs of a node, copied out of it: the plan keeps one per node until its
 * metadata is restored, while the parsed Node (whose long strings are slices of its tree's
 * JSON text, which they would keep alive) is dropped with its tree. One class, flat fields,
 * times as plain numbers: ~20,000 of these must stay small.
 */
class PlanNode implements NodeMetadata {
  readonly type: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** atime and mtime seconds and nanoseconds; NaN seconds when not a valid time. */
  readonly aSec: number;
  readonly aNsec: number;
  readonly mSec: number;
  readonly mNsec: number;
  readonly xattrs: readonly ExtendedAttribute[] | undefined;
  /** Data blob IDs (files), null otherwise. */
  readonly content: readonly Id[] | null;
  readonly size: number;
  readonly links: number;
  /** Hard link group (inode and device) of a file with links > 1. */
  readonly linkKey: string | undefined;
  /** Symlink target bytes. */
  readonly linkTarget: Buffer | undefined;
  /** st_rdev of a device node. */
  readonly device: bigint;

  constructor(
    node: Node,
    readonly path: Buffer,
    readonly location: string,
  ) {
    this.type = node.type === "file" ? "file" : node.type === "dir" ? "dir" : own(node.type);
    this.mode = node.mode;
    this.uid = node.uid;
    this.gid = node.gid;
    const a = timespecOf(node.atime);
    const m = timespecOf(node.mtime);
    this.aSec = a === undefined ? Number.NaN : a.sec;
    this.aNsec = a?.nsec ?? 0;
    this.mSec = m === undefined ? Number.NaN : m.sec;
    this.mNsec = m?.nsec ?? 0;
    this.xattrs = node.extendedAttributes?.map((x) => ({ name: own(x.name), value: x.value }));
    this.content = node.type !== "file" || node.content === null ? null : node.content.map(own);
    this.size = node.size;
    this.links = node.links;
    this.linkKey =
      node.type === "file" && node.links > 1 ? `${node.inode}:${node.deviceId}` : undefined;
    this.linkTarget =
      node.type !== "symlink"
        ? undefined
        : node.linkTargetRaw !== undefined
          ? Buffer.from(node.linkTargetRaw)
          : Buffer.from(goStringToBytes(node.linkTarget));
    this.device = node.device;
  }
}

interface PlanDir {
  readonly meta: PlanNode | undefined;
  readonly path: Buffer;
  readonly location: string;
  restored: boolean;
  failed: boolean;
}

type Op =
  | { readonly t: "enter"; readonly dir: PlanDir }
  | { readonly t: "leave"; readonly dir: PlanDir }
  | { readonly t: "node"; readonly item: PlanNode };

function hostile(message: string, data: Record<string, unknown>): ResticTsError {
  return new ResticTsError("HOSTILE_PATH", message, data);
}

function joinLocation(parent: string, name: string): string {
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}

/**
 * A copy of `s` that shares no memory with the string it was cut from: V8 keeps a substring
 * of 13 characters or more as a slice of its parent (here the tree's whole JSON text, which
 * every node kept in the plan would otherwise keep alive).
 */
function own(s: string): string {
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string);
}

/** Memory for the plan's paths: carved from 64 KiB slabs that hold nothing else. */
class PathSlab {
  private slab = new Uint8Array(0);
  private used = 0;

  join(parent: Buffer, name: string): Buffer {
    const bytes = goStringToBytes(name);
    const n = parent.length + 1 + bytes.length;
    if (this.used + n > this.slab.length) {
      this.slab = new Uint8Array(Math.max(64 * 1024, n));
      this.used = 0;
    }
    const out = Buffer.from(this.slab.buffer, this.used, n);
    out.set(parent, 0);
    out[parent.length] = 0x2f; // "/"
    out.set(bytes, parent.length + 1);
    this.used += n;
    return out;
  }
}

function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** Remove a non-directory entry at `p` if there is one (never follows it). */
function removeExisting(p: Buffer): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (err) {
    if (errnoOf(err) === "ENOENT") return;
    throw err;
  }
  if (st.isDirectory()) {
    const err = new Error(`a directory is in the way of ${p.toString()}`);
    (err as NodeJS.ErrnoException).code = "EISDIR";
    throw err;
  }
  fs.unlinkSync(p);
}

/**
 * Restore the tree `treeId` (a snapshot's root tree) into `opts.target`. HOSTILE_PATH errors
 * abort before anything is written; other per-node problems go to `opts.onError`.
 */
export async function restoreTree(
  repo: IndexedRepository,
  treeId: Id,
  opts: RestoreOptions,
): Promise<RestoreResult> {
  const progress = opts.progress ?? newRestoreProgress();
  const setPhase = (phase: string) => {
    progress.phase = phase;
    opts.onPhase?.(phase);
  };
  let errors = 0;
  const onError = (location: string, err: unknown) => {
    if (isResticTsError(err, "HOSTILE_PATH")) throw err;
    errors++;
    if (opts.onError) opts.onError(location, err);
    else throw err;
  };
  // trees read ahead of the walk: each parsed tree waiting here is memory (a directory of
  // 200 subdirectories used to bring all 200 in at once: ~8 MiB more peak RSS for 20,000
  // files); 16 keep the 8 loads busy
  const loader = new TreePrefetcher(repo, 8, 16);
  const rootTree =
    opts.subfolder !== undefined && opts.subfolder !== ""
      ? await findTreeDirectory(repo, treeId, opts.subfolder)
      : treeId;

  // --- 1. plan ---------------------------------------------------------------------------
  setPhase("plan");
  const ops: Op[] = [];
  const filter = opts.filter;
  const ancestors = new Set<Id>();
  const paths = new PathSlab();

  const planTree = async (id: Id, dir: PlanDir): Promise<boolean> => {
    let tree: Tree;
    try {
      tree = await loader.loadTree(id);
    } catch (err) {
      onError(dir.location, err);
      return false;
    }
    const seen = new Set<string>();
    const subtrees: Id[] = [];
    for (const node of tree.nodes) {
      validateNodeName(node.name);
      if (seen.has(node.name)) {
        throw hostile(
          `tree ${id.slice(0, 8)} names ${goQuote(node.name)} twice (below ${goQuote(dir.location)})`,
          { tree: id, name: node.name },
        );
      }
      seen.add(node.name);
      if (node.type === "dir" && node.subtree !== undefined) subtrees.push(node.subtree);
    }
    loader.prefetch(subtrees);
    let hasRestored = false;
    for (const node of tree.nodes) {
      if (node.type === "socket") continue;
      const location = joinLocation(dir.location, node.name);
      const p = paths.join(dir.path, node.name);
      const isDir = node.type === "dir";
      const sel = filter ? filter(location, isDir) : { selected: true, childMayBeSelected: true };
      if (sel.selected) hasRestored = true;
      if (isDir) {
        const sub = node.subtree;
        if (sub === undefined) {
          throw new ResticTsError("CORRUPT", `directory ${goQuote(location)} has no subtree`, {
            location,
          });
        }
        if (ancestors.has(sub)) {
          throw hostile(
            `tree ${sub.slice(0, 8)} at ${goQuote(location)} contains itself (a cycle in the snapshot's trees)`,
            { tree: sub, location },
          );
        }
        const at = own(location);
        const d: PlanDir = {
          meta: new PlanNode(node, p, at),
          path: p,
          location: at,
          restored: false,
          failed: false,
        };
        ops.push({ t: "enter", dir: d });
        let childRestored = false;
        if (sel.childMayBeSelected) {
          ancestors.add(sub);
          childRestored = await planTree(sub, d);
          ancestors.delete(sub);
        }
        if (sel.selected || childRestored) {
          d.restored = true;
          hasRestored = true;
          ops.push({ t: "leave", dir: d });
        }
        continue;
      }
      if (sel.selected) {
        ops.push({ t: "node", item: new PlanNode(node, p, own(location)) });
        if (node.type === "file") {
          progress.filesTotal++;
          progress.bytesTotal += node.size;
        }
      }
    }
    return hasRestored;
  };

  const targetAbs = path.resolve(opts.target);
  fs.mkdirSync(targetAbs, { recursive: true, mode: 0o700 });
  const rootPath = Buffer.from(fs.realpathSync(targetAbs));
  const root: PlanDir = {
    meta: undefined,
    path: rootPath,
    location: "/",
    restored: true,
    failed: false,
  };
  ancestors.add(rootTree);
  await planTree(rootTree, root);

  // --- 2. directories --------------------------------------------------------------------
  setPhase("dirs");
  let dirs = 0;
  for (const op of ops) {
    if (op.t !== "enter" || !op.dir.restored) continue;
    const d = op.dir;
    try {
      fs.mkdirSync(d.path, 0o700);
    } catch (err) {
      if (errnoOf(err) !== "EEXIST") {
        d.failed = true;
        onError(d.location, err);
        continue;
      }
      const st = fs.lstatSync(d.path);
      if (st.isSymbolicLink()) {
        throw hostile(
          `${d.path.toString()} is a symlink: refusing to restore ${goQuote(d.location)} through it`,
          { location: d.location },
        );
      }
      if (!st.isDirectory()) {
        d.failed = true;
        onError(
          d.location,
          new ResticTsError("IO", `${d.path.toString()} exists and is not a directory`),
        );
        continue;
      }
    }
    dirs++;
  }

  // --- 3. file contents ------------------------------------------------------------------
  setPhase("content");
  const firstOfGroup = new Map<string, Buffer>();
  const files: FileTarget[] = [];
  const failedFiles = new Set<string>();
  for (const op of ops) {
    if (op.t !== "node" || op.item.type !== "file") continue;
    const item = op.item;
    if (item.content === null || item.content.length === 0) continue;
    if (item.linkKey !== undefined) {
      if (firstOfGroup.has(item.linkKey)) continue;
      firstOfGroup.set(item.linkKey, item.path);
    }
    files.push(item as FileTarget); // content checked above: no copy per file
  }
  await restoreFileContents(repo, files, {
    sparse: opts.sparse,
    concurrency: opts.concurrency,
    maxSegment: opts.maxSegment,
    decodeWorkers: opts.decodeWorkers,
    onBytes: (n) => {
      progress.bytesDone += n;
    },
    onFileDone: () => {
      progress.filesDone++;
    },
    onError: (location, err) => {
      failedFiles.add(location);
      onError(location, err);
    },
  });

  // --- 4. other nodes and metadata -------------------------------------------------------
  setPhase("metadata");
  const meta = opts.metadataOps ?? (await openMetadataOps());
  let others = 0;
  let restoredFiles = 0;
  try {
    // every call below only queues: nothing to wait for per node but a full pipe
    const applyMetadata = (node: PlanNode, p: Buffer, location: string) => {
      const symlink = node.type === "symlink";
      meta.setMetadata(
        location,
        p,
        node,
        symlink ? -1 : posixPermissionsFromFileMode(node.mode),
        symlink,
      );
    };

    for (const op of ops) {
      if (op.t === "enter") continue;
      if (op.t === "leave") {
        if (!op.dir.failed && op.dir.meta) {
          applyMetadata(op.dir.meta, op.dir.path, op.dir.location);
        }
        continue;
      }
      const node = op.item;
      const { path: p, location } = node;
      try {
        switch (node.type) {
          case "file": {
            if (failedFiles.has(location)) continue;
            const empty = node.content === null || node.content.length === 0;
            const key = node.linkKey;
            const first = key !== undefined ? firstOfGroup.get(key) : undefined;
            if (first !== undefined && !first.equals(p)) {
              removeExisting(p);
              fs.linkSync(first, p);
              progress.filesDone++;
              progress.bytesDone += node.size;
            } else if (empty) {
              if (key !== undefined) firstOfGroup.set(key, p);
              fs.closeSync(await createRestoreFile(p));
              progress.filesDone++;
            }
            restoredFiles++;
            break;
          }
          case "symlink":
            removeExisting(p);
            fs.symlinkSync(node.linkTarget ?? Buffer.alloc(0), p);
            others++;
            break;
          case "fifo":
          case "chardev":
          case "dev":
            removeExisting(p);
            meta.mknod(location, p, node.type as SpecialKind, node.device);
            others++;
            break;
          default:
            throw new ResticTsError(
              "UNSUPPORTED",
              `filetype ${JSON.stringify(node.type)} not implemented`,
              { type: node.type },
            );
        }
      } catch (err) {
        onError(location, err);
        continue;
      }
      applyMetadata(node, p, location);
      const full = meta.backlog();
      if (full !== undefined) await full;
    }
    for (const e of await meta.flush()) {
      onError(e.location, new ResticTsError("IO", `${e.message}`, { op: e.op, errno: e.code }));
    }
  } finally {
    if (opts.metadataOps === undefined) await meta.close();
  }

  // --- 5. verify -------------------------------------------------------------------------
  let verified = 0;
  if (opts.verify) {
    setPhase("verify");
    verified = await verifyFiles(
      repo,
      ops.flatMap((op) =>
        op.t === "node" && op.item.type === "file" && !failedFiles.has(op.item.location)
          ? [op.item]
          : [],
      ),
      onError,
    );
  }
  setPhase("done");
  return {
    files: restoredFiles,
    dirs,
    others,
    bytes: progress.bytesDone,
    errors,
    verified,
    timePrecision: meta.timePrecision,
    metadataKind: meta.kind,
  };
}

/**
 * Read each file back and compare it with the node (restic's VerifyFiles): the size must
 * match and every blob's SHA-256 its ID. Returns the number of files that passed.
 */
async function verifyFiles(
  repo: IndexedRepository,
  items: readonly PlanNode[],
  onError: (location: string, err: unknown) => void,
): Promise<number> {
  let ok = 0;
  let next = 0;
  const noatime = (fs.constants as Record<string, number>).O_NOATIME ?? 0;
  const worker = async () => {
    let buf = new Uint8Array(1024 * 1024);
    while (next < items.length) {
      const node = items[next++];
      const { path: p, location } = node;
      let fd: number;
      try {
        try {
          fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | noatime);
        } catch (err) {
          if (errnoOf(err) !== "EPERM" || noatime === 0) throw err;
          fd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
        }
      } catch (err) {
        onError(location, err);
        continue;
      }
      try {
        const size = fs.fstatSync(fd).size;
        if (size !== node.size) {
          throw new ResticTsError(
            "CORRUPT",
            `Invalid file size for ${location}: expected ${node.size}, got ${size}`,
          );
        }
        let offset = 0;
        for (const id of node.content ?? []) {
          const length = repo.index.lookupSize("data", id);
          if (length === undefined)
            throw new ResticTsError("NOT_FOUND", `Unable to fetch blob ${id}`);
          if (length > buf.length) buf = new Uint8Array(length * 2);
          const view = buf.subarray(0, length);
          const n = await new Promise<number>((resolve, reject) =>
            fs.read(fd, view, 0, length, offset, (err, got) => (err ? reject(err) : resolve(got))),
          );
          if (n !== length || sha256Hex(view) !== id) {
            throw new ResticTsError(
              "CORRUPT",
              `Unexpected content in ${location}, starting at offset ${offset}`,
              { offset },
            );
          }
          offset += length;
        }
        ok++;
      } catch (err) {
        onError(location, err);
      } finally {
        fs.closeSync(fd);
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return ok;
}
