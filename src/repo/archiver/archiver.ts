// restic's backup (internal/archiver of restic 0.14, cmd/restic/cmd_backup.go): walk the
// targets depth-first in name order, build a tree node per item (fsnode.ts), reuse the content
// of files unchanged since the parent snapshot (same type, size, mtime, ctime, inode; every
// blob still indexed) and hand the others to the blob workers (workers/), store each
// directory's tree blob once its children are done, then the root tree, the index and the
// snapshot. Unreadable items are reported and left out; the snapshot is still written.
// Memory stays bounded: the walk waits while too many file jobs are queued.

import { isUtf8 } from "node:buffer";
import type { BigIntStats, Dirent } from "node:fs";
import { lstatSync, readdirSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { LocalTempFile } from "../../backends/local.js";
import { chunkBoundaries, chunkStream } from "../../chunker/index.js";
import { sha256Hex } from "../../crypto/hash.js";
import { encodeMasterKey } from "../../crypto/master-key.js";
import { ResticTsError } from "../../errors.js";
import { type CompressionMode, zstdLevel } from "../compression.js";
import { bytesToGoString } from "../gostring.js";
import { formatGoTimeDate, goTimeNow, tryParseGoTime } from "../gotime.js";
import type { Id } from "../id.js";
import { IndexWriter } from "../index-writer.js";
import type { IndexedRepository } from "../indexed.js";
import { acquireLock, type Lock } from "../lock.js";
import { MODE_PERM, type Node, newNode, serialiseNode } from "../node.js";
import { DEFAULT_PACK_SIZE } from "../pack.js";
import { BlobClaims, MainPacker, PackUploader, streamsPacksToFiles } from "../pack-uploader.js";
import type { Repository } from "../repository.js";
import { type Snapshot, serialiseSnapshot } from "../snapshot.js";
import { findSnapshot, listSnapshots } from "../snapshots.js";
import { entryJson, findNode, serialiseTree, type Tree, type TreeEntry } from "../tree.js";
import { BlobPool, prestartBlobWorkers } from "../workers/pool.js";
import type { EngineConfig, FileResult, FileTask } from "../workers/protocol.js";
import { NameCache, nodeFromStat, nodeTime, type StatLike } from "./fsnode.js";
import { type BackupEvent, type BackupSummary, emptySummary } from "./progress.js";
import { makeSelector, type SelectOptions, type Selector } from "./select.js";
import { buildTargetTree, fsPath, resolveTargets, type VTree } from "./targets.js";
import { createXattrReader, type XattrReader } from "./xattr.js";

export interface ExtraFile {
  /** Where the file appears in the snapshot: a top-level name like "/.corex.meta". */
  readonly path: string;
  readonly data: Uint8Array;
  /** Permission bits; default 0o644. */
  readonly mode?: number;
}

export interface BackupOptions extends SelectOptions {
  /** Relative targets are resolved against this directory (default: the process's). */
  readonly cwd?: string;
  readonly tags?: readonly string[];
  /** Hostname recorded (and used to find the parent); default os.hostname(). */
  readonly host?: string;
  /** Parent snapshot (ID, prefix or "latest"); default: the latest with this host and paths. */
  readonly parent?: string;
  /** Read every file, ignoring the parent (restic --force). */
  readonly force?: boolean;
  /** The snapshot's time (default now). */
  readonly time?: Date;
  /** Back up a stream as one file instead of targets (restic --stdin). */
  readonly stdin?: { readonly stream: AsyncIterable<Uint8Array>; readonly filename: string };
  /** In-memory files added to the snapshot's root. */
  readonly extraFiles?: readonly ExtraFile[];
  /** Paths recorded in the snapshot instead of the absolute targets. */
  readonly snapshotPaths?: readonly string[];
  readonly dryRun?: boolean;
  /** Data blob compression in v2 repositories (default "auto"). */
  readonly compression?: CompressionMode;
  /** Target pack size in bytes (default 16 MiB). */
  readonly packSize?: number;
  /**
   * Blob worker threads, all started at once (0 = none). Default: one, and up to the CPU
   * count (at most 4) once large files come (pool.ts GROW_AFTER).
   */
  readonly threads?: number;
  readonly withAtime?: boolean;
  readonly ignoreInode?: boolean;
  readonly ignoreCtime?: boolean;
  /** Read extended attributes (default "auto": native module, else getfattr). */
  readonly xattrs?: "auto" | "getfattr" | "off";
  /** Take a non-exclusive lock for the whole backup (default true). */
  readonly lock?: boolean;
  /** Walk the targets first to report totals (for progress bars). */
  readonly scan?: boolean;
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: BackupEvent) => void;
  /** Chunker sizes (tests only). */
  readonly chunker?: { readonly minSize: number; readonly maxSize: number };
  /** Files at least this large are split over the blob workers (tests only; default 48 MiB). */
  readonly splitSize?: number;
  /** Index checkpoint rules (see IndexWriter). */
  readonly indexCheckpointPacks?: number;
}

export interface BackupError {
  readonly item: string;
  readonly message: string;
}

export interface BackupResult {
  /** Undefined for a dry run. */
  readonly snapshotId: Id | undefined;
  readonly snapshot: Snapshot;
  readonly parent: Id | undefined;
  readonly summary: BackupSummary;
  /** Items left out because they could not be read (restic exits with 3 then). */
  readonly errors: readonly BackupError[];
}

/** Files up to this size are read in batches; larger ones get a job of their own. */
const SMALL_FILE = 1024 * 1024;
const BATCH_BYTES = 1024 * 1024;
const BATCH_FILES = 128;
/** What a file of unknown size counts for in a batch (BATCH_FILES of them fill it). */
const UNSIZED_WEIGHT = BATCH_BYTES / BATCH_FILES;
/** The walk yields to the event loop after this long (ms), so claims are answered promptly. */
const YIELD_MS = 1;

type FsPath = string | Buffer;

interface Pending {
  readonly node: Promise<TreeEntry | undefined>;
}

const DONE: Pending = { node: Promise.resolve(undefined) };

/**
 * A Pending for `node`. Its parent awaits it only once the whole directory is started, so an
 * early failure gets a no-op handler meanwhile: else it is an unhandled rejection, which ends
 * the process (the parent's await still sees the failure).
 */
function pending(node: Promise<TreeEntry | undefined>): Pending {
  node.catch(() => {});
  return { node };
}

function childPath(dir: FsPath, name: Buffer): FsPath {
  if (typeof dir === "string" && isUtf8(name))
    return dir === "/" ? `/${name.toString()}` : `${dir}/${name.toString()}`;
  const d = typeof dir === "string" ? Buffer.from(dir) : dir;
  return Buffer.concat(d.length === 1 && d[0] === 0x2f ? [d, name] : [d, Buffer.from("/"), name]);
}

function joinGo(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

function sameInstant(text: string, ns: bigint): boolean {
  // Fast path: the text is what we would write for this instant (equal text, equal instant).
  if (text === nodeTime(ns)) return true;
  const t = tryParseGoTime(text);
  return t !== undefined && t.seconds * 1_000_000_000n + BigInt(t.nanos) === ns;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

class Archiver {
  readonly summary = emptySummary();
  readonly errors: BackupError[] = [];
  private readonly names = new NameCache();
  private readonly xattr: XattrReader;
  private batch: {
    task: FileTask;
    resolve: (r: FileResult) => void;
    reject: (e: Error) => void;
  }[] = [];
  private batchBytes = 0;
  private nextRef = 1;
  private jobs = 0;
  private readonly maxJobs: number;
  private capacityWaiters: (() => void)[] = [];

  private pool: Promise<BlobPool> | undefined;
  /** When the walk last let the event loop run (performance.now()). */
  private lastYield = 0;

  constructor(
    private readonly repo: IndexedRepository,
    private readonly startPool: () => Promise<BlobPool>,
    threads: number,
    private readonly claims: BlobClaims,
    private readonly treePacker: MainPacker,
    private readonly dataPacker: MainPacker,
    private readonly select: Selector,
    private readonly opts: BackupOptions,
    private readonly emit: (e: BackupEvent) => void,
  ) {
    this.xattr = createXattrReader(opts.xattrs ?? "auto");
    this.maxJobs = Math.max(2, threads * 3);
  }

  /** The blob workers, started on first use (an unchanged backup may never need them). */
  workers(): Promise<BlobPool> {
    this.pool ??= this.startPool();
    return this.pool;
  }

  /** Finish the workers' packs, if they were started. */
  async flushWorkers(): Promise<void> {
    if (this.pool !== undefined) await (await this.pool).flush();
  }

  close(): void {
    this.xattr.close?.();
  }

  private check(): void {
    if (this.opts.signal?.aborted) throw new ResticTsError("CANCELLED", "backup cancelled");
  }

  error(item: string, err: unknown): void {
    const message = errorMessage(err);
    this.errors.push({ item, message });
    this.emit({ type: "error", item, message, during: "archival" });
  }

  // --- file jobs ---------------------------------------------------------------------------

  private async capacity(): Promise<void> {
    while (this.jobs >= this.maxJobs) await new Promise<void>((r) => this.capacityWaiters.push(r));
  }

  private runJob(items: typeof this.batch, bytes: number): void {
    this.jobs++;
    this.workers()
      .then((pool) =>
        pool.process(
          items.map((i) => i.task),
          bytes,
        ),
      )
      .then(
        (results) => {
          for (let i = 0; i < items.length; i++) items[i].resolve(results[i]);
        },
        (err: Error) => {
          for (const i of items) i.reject(err);
        },
      )
      .finally(() => {
        this.jobs--;
        const w = this.capacityWaiters;
        this.capacityWaiters = [];
        for (const r of w) r();
      });
  }

  /** Send the batch of small files collected so far. */
  dispatchBatch(): void {
    if (this.batch.length === 0) return;
    const items = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.runJob(items, bytes);
  }

  /** Read a file of `size` bytes; undefined: not known, the worker hands back a large one. */
  private readFile(p: FsPath, name: string, size: number | undefined): Promise<FileResult> {
    return new Promise((resolve, reject) => {
      const ref = this.nextRef++;
      const task: FileTask =
        size === undefined ? { ref, path: p, name, unsized: true } : { ref, path: p, name };
      const item = { task, resolve, reject };
      if (size !== undefined && size > SMALL_FILE) {
        this.runJob([item], size);
        return;
      }
      this.batch.push(item);
      this.batchBytes += size ?? UNSIZED_WEIGHT;
      if (this.batchBytes >= BATCH_BYTES || this.batch.length >= BATCH_FILES) this.dispatchBatch();
    });
  }

  /**
   * Let the event loop run (when the walk has held it for YIELD_MS): a directory's items are
   * started one after another through promises that are already settled, so without this
   * the workers' claims (their messages) would wait for the whole directory; the workers
   * block on those answers.
   */
  private async yieldToEvents(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.lastYield = performance.now();
  }

  // --- items -------------------------------------------------------------------------------

  private stats(
    kind: "file" | "dir",
    previous: Node | undefined,
    current: TreeEntry,
    item: string,
    size: number,
    t0: number,
  ): void {
    const action =
      previous === undefined
        ? "new"
        : previous === current || serialiseNode(previous) === entryJson(current)
          ? "unchanged"
          : "modified";
    const s = this.summary;
    if (kind === "file") {
      if (action === "new") s.filesNew++;
      else if (action === "unchanged") s.filesUnmodified++;
      else s.filesChanged++;
    } else if (action === "new") s.dirsNew++;
    else if (action === "unchanged") s.dirsUnmodified++;
    else s.dirsChanged++;
    this.emit({ type: "item", kind, action, item, dataSize: size, durationMs: Date.now() - t0 });
  }

  /** Whether `fileChanged` compares ctimes (not with --ignore-ctime or --ignore-inode). */
  private get ctimeCompared(): boolean {
    return !(this.opts.ignoreCtime || this.opts.ignoreInode);
  }

  private fileChanged(st: BigIntStats, prev: Node): boolean {
    if (prev.type !== "file" || BigInt(prev.size) !== st.size) return true;
    if (!sameInstant(prev.mtime, st.mtimeNs)) return true;
    if (this.ctimeCompared && !sameInstant(prev.ctime, st.ctimeNs)) return true;
    if (!this.opts.ignoreInode && prev.inode !== st.ino) return true;
    return false;
  }

  private allBlobsPresent(prev: Node): boolean {
    return (prev.content ?? []).every((id) => this.repo.index.has("data", id));
  }

  private async withXattrs(node: Node, p: FsPath): Promise<Node> {
    if (node.type === "symlink") return node;
    const attrs = await this.xattr.read(p);
    if (attrs !== undefined && attrs.length > 0) node.extendedAttributes = attrs;
    return node;
  }

  /**
   * Start saving one item; the returned node promise settles when it is stored. Synchronous
   * for most files (no promise to await per item); a directory's walk returns a promise.
   */
  start(
    snPath: string,
    p: FsPath,
    abs: string,
    name: string,
    previous: Node | undefined,
    regular = false,
  ): Pending | Promise<Pending> {
    this.check();
    if (!this.select.byName(abs)) return DONE;
    const t0 = Date.now();
    if (regular && (this.opts.force || previous === undefined) && !this.select.usesStat) {
      // A regular file (by its directory's listing) to read anew: the blob worker's fstat
      // gives its node and size, as restic's file saver builds the node from its fstat; the
      // walk spares the lstat (and the worker hands back a large file, to be sent sized).
      return this.startFile(snPath, p, abs, name, previous, undefined, t0);
    }
    let st: BigIntStats;
    try {
      st = lstatSync(p, { bigint: true });
    } catch (err) {
      this.error(abs, err);
      return DONE;
    }
    if (!this.select.byStat(abs, st)) return DONE;
    if (st.isFile()) {
      if (!this.opts.force && previous !== undefined && !this.fileChanged(st, previous)) {
        if (this.allBlobsPresent(previous)) {
          const node = nodeFromStat(name, st, p, {
            withAtime: this.opts.withAtime,
            names: this.names,
          });
          node.content = previous.content;
          this.summary.totalBytesProcessed += node.size;
          this.emit({ type: "bytes", bytes: node.size });
          if (this.ctimeCompared) {
            // Setting or removing an extended attribute updates the ctime, so with the ctime
            // unchanged the previous node's attributes are still the file's: no listing.
            if (this.opts.xattrs !== "off" && previous.extendedAttributes !== undefined) {
              node.extendedAttributes = previous.extendedAttributes;
            }
            this.stats("file", previous, previous, snPath, node.size, t0);
            return pending(Promise.resolve(node));
          }
          return pending(
            this.withXattrs(node, p).then((n) => {
              this.stats("file", previous, previous, snPath, n.size, t0);
              return n;
            }),
          );
        }
        this.error(
          abs,
          new Error(`parts of ${abs} not found in the repository index; storing the file again`),
        );
      }
      return this.startFile(snPath, p, abs, name, previous, Number(st.size), t0);
    }
    if (st.isDirectory()) return this.startDir(snPath, p, abs, name, st, previous);
    if (st.isSocket()) return DONE;
    try {
      const node = nodeFromStat(name, st, p, { withAtime: this.opts.withAtime, names: this.names });
      return pending(this.withXattrs(node, p));
    } catch (err) {
      this.error(abs, err);
      return DONE;
    }
  }

  /** Hand a file of `size` bytes (undefined: not known yet) to the blob workers. */
  private startFile(
    snPath: string,
    p: FsPath,
    abs: string,
    name: string,
    previous: Node | undefined,
    size: number | undefined,
    t0: number,
  ): Pending | Promise<Pending> {
    if (this.jobs >= this.maxJobs) {
      return this.capacity().then(() => this.startFile(snPath, p, abs, name, previous, size, t0));
    }
    this.emit({ type: "start-file", item: snPath });
    const result = this.readFile(p, name, size);
    return pending(this.finishFile(snPath, p, abs, name, previous, result, t0));
  }

  private async finishFile(
    snPath: string,
    p: FsPath,
    abs: string,
    name: string,
    previous: Node | undefined,
    pending: Promise<FileResult>,
    t0: number,
  ): Promise<TreeEntry | undefined> {
    let r = await pending;
    if (r.unread !== undefined) r = await this.readFile(p, name, r.unread);
    if (r.error !== undefined || (r.stat === undefined && r.node === undefined)) {
      this.error(abs, new Error(r.error?.message ?? "read failed"));
      return undefined;
    }
    const s = this.summary;
    s.dataBlobs += r.newBlobs;
    s.dataAdded += r.newBytes;
    s.totalBytesProcessed += r.size;
    if (r.node !== undefined) {
      const entry = { name, json: r.node };
      this.stats("file", previous, entry, snPath, r.size, t0);
      return entry;
    }
    const node = nodeFromStat(name, r.stat as StatLike, p, {
      withAtime: this.opts.withAtime,
      names: this.names,
    });
    node.size = r.size;
    node.content = r.content;
    if (r.xattrs === undefined) await this.withXattrs(node, p);
    else if (r.xattrs !== null) node.extendedAttributes = r.xattrs;
    this.stats("file", previous, node, snPath, r.size, t0);
    return node;
  }

  private async loadPrevious(node: Node | undefined, abs: string): Promise<Tree | undefined> {
    if (node === undefined || node.type !== "dir" || node.subtree === undefined) return undefined;
    try {
      return await this.repo.loadTree(node.subtree);
    } catch (err) {
      this.error(abs, err);
      return undefined;
    }
  }

  private async startDir(
    snPath: string,
    p: FsPath,
    abs: string,
    name: string,
    st: BigIntStats,
    previous: Node | undefined,
  ): Promise<Pending> {
    const t0 = Date.now();
    let node: Node;
    let entries: Dirent<Buffer>[];
    try {
      node = nodeFromStat(name, st, p, { withAtime: this.opts.withAtime, names: this.names });
      entries = readdirSync(p, { encoding: "buffer", withFileTypes: true });
    } catch (err) {
      this.error(abs, err);
      return DONE;
    }
    entries.sort((a, b) => Buffer.compare(a.name, b.name));
    const attrs = this.withXattrs(node, p);
    const prevTree = await this.loadPrevious(previous, abs);
    const children: Promise<TreeEntry | undefined>[] = [];
    for (const entry of entries) {
      const childName = bytesToGoString(entry.name);
      const prev = prevTree === undefined ? undefined : findNode(prevTree, childName);
      let h = this.start(
        joinGo(snPath, childName),
        childPath(p, entry.name),
        joinGo(abs, childName),
        childName,
        prev,
        entry.isFile(),
      );
      if (h instanceof Promise) h = await h;
      children.push(h.node);
      if (performance.now() - this.lastYield >= YIELD_MS) await this.yieldToEvents();
    }
    this.dispatchBatch();
    return pending(
      (async () => {
        const nodes = (await Promise.all(children)).filter((n): n is TreeEntry => n !== undefined);
        await attrs;
        node.subtree = await this.saveTree(nodes);
        this.stats("dir", previous, node, `${snPath}/`, 0, t0);
        return node;
      })(),
    );
  }

  /** Serialise, claim and store a tree blob; returns its ID. */
  async saveTree(nodes: TreeEntry[]): Promise<Id> {
    const bytes = serialiseTree(nodes);
    const id = sha256Hex(bytes);
    if (this.claims.claim("tree", id)) {
      this.summary.treeBlobs++;
      this.summary.dataAdded += bytes.length;
      await this.treePacker.add(id, bytes);
    }
    return id;
  }

  /** Store in-memory data as a file's content (chunked like any file). */
  async saveData(data: Uint8Array, pol: bigint): Promise<Id[]> {
    const ids: Id[] = [];
    for (const c of chunkBoundaries(data, pol, this.opts.chunker)) {
      ids.push(await this.saveChunk(data.subarray(c.start, c.start + c.length)));
    }
    return ids;
  }

  async saveChunk(chunk: Uint8Array): Promise<Id> {
    const id = sha256Hex(chunk);
    if (this.claims.claim("data", id)) {
      this.summary.dataBlobs++;
      this.summary.dataAdded += chunk.length;
      await this.dataPacker.add(id, chunk);
    }
    this.summary.totalBytesProcessed += chunk.length;
    this.emit({ type: "bytes", bytes: chunk.length });
    return id;
  }

  /** A file node for data that has no file behind it (restic's fs.Reader: mode 0644, now). */
  virtualFile(name: string, content: Id[], size: number, time: string, mode = 0o644): Node {
    const node = newNode(name, "file");
    node.mode = mode & MODE_PERM;
    node.mtime = time;
    node.atime = time;
    node.ctime = time;
    node.uid = process.getuid?.() ?? 0;
    node.gid = process.getgid?.() ?? 0;
    node.size = size;
    node.content = content;
    return node;
  }

  /** The nodes of a virtual (target) tree level. */
  async saveVTree(
    snPath: string,
    vt: VTree,
    previous: Tree | undefined,
    cwd: string,
  ): Promise<Pending[]> {
    const names = [...vt.nodes.keys()].sort((a, b) =>
      Buffer.compare(Buffer.from(a), Buffer.from(b)),
    );
    const out: Pending[] = [];
    for (const name of names) {
      const sub = vt.nodes.get(name) as VTree;
      const prev = previous === undefined ? undefined : findNode(previous, name);
      const sn = joinGo(snPath, name);
      if (sub.path !== undefined) {
        const abs = path.resolve(cwd, sub.path);
        out.push(await this.start(sn, fsPath(abs), abs, name, prev));
        continue;
      }
      const t0 = Date.now();
      const fip = path.resolve(cwd, sub.fileInfoPath ?? "");
      const prevTree = await this.loadPrevious(prev, sn);
      const children = await this.saveVTree(sn, sub, prevTree, cwd);
      out.push(
        pending(
          (async () => {
            const nodes = (await Promise.all(children.map((c) => c.node))).filter(
              (n): n is TreeEntry => n !== undefined,
            );
            const st = statSync(fsPath(fip), { bigint: true });
            if (!st.isDirectory())
              throw new ResticTsError("INVALID_ARGUMENT", `${fip} is not a directory`);
            const node = nodeFromStat(name, st, fsPath(fip), {
              withAtime: this.opts.withAtime,
              names: this.names,
            });
            await this.withXattrs(node, fsPath(fip));
            node.subtree = await this.saveTree(nodes);
            this.stats("dir", prev, node, `${sn}/`, 0, t0);
            return node;
          })(),
        ),
      );
    }
    return out;
  }
}

/**
 * restic's Scanner: walk the targets with the same selection rules and report the totals,
 * one directory per turn of the event loop so the backup goes on meanwhile.
 */
async function scan(
  targets: readonly string[],
  select: Selector,
  emit: (e: BackupEvent) => void,
  signal: AbortSignal | undefined,
): Promise<void> {
  const totals = { files: 0, dirs: 0, bytes: 0 };
  const stack: { p: FsPath; abs: string }[] = targets.map((t) => ({ p: fsPath(t), abs: t }));
  let last = Date.now();
  while (stack.length > 0 && !signal?.aborted) {
    const { p, abs } = stack.pop() as { p: FsPath; abs: string };
    if (!select.byName(abs)) continue;
    let st: BigIntStats;
    try {
      st = lstatSync(p, { bigint: true });
    } catch {
      continue;
    }
    if (!select.byStat(abs, st)) continue;
    if (st.isDirectory()) {
      totals.dirs++;
      try {
        for (const e of readdirSync(p, { encoding: "buffer" })) {
          stack.push({ p: childPath(p, e), abs: joinGo(abs, bytesToGoString(e)) });
        }
      } catch {
        // reported by the backup itself
      }
      await new Promise((r) => setImmediate(r));
    } else if (st.isFile()) {
      totals.files++;
      totals.bytes += Number(st.size);
    }
    if (Date.now() - last > 250) {
      last = Date.now();
      emit({ type: "scan", ...totals, done: false });
    }
  }
  emit({ type: "scan", ...totals, done: true });
}

/**
 * Start the blob workers of the next backup now (`threads` as BackupOptions.threads), for a
 * caller that knows every file will be read (--force, or no snapshot to take a parent from)
 * and has time to spare before `backup()` (the CLI: while the key's scrypt runs).
 */
export function prestartBackupWorkers(threads = INITIAL_THREADS): void {
  if (threads > 0) prestartBlobWorkers(threads);
}

/** The workers a backup starts with when BackupOptions.threads is not given. */
const INITIAL_THREADS = 1;

function defaultThreads(): number {
  const n =
    typeof os.availableParallelism === "function" ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(4, n));
}

function username(): string {
  try {
    return os.userInfo().username;
  } catch {
    return "";
  }
}

async function findParent(
  repo: Repository,
  opts: BackupOptions,
  host: string,
  paths: readonly string[],
  time: string,
): Promise<{ id: Id; tree: Id } | undefined> {
  if (opts.force || opts.stdin !== undefined) return undefined;
  if (opts.parent !== undefined) {
    const e = await findSnapshot(repo, opts.parent);
    return e.snapshot.tree === null ? undefined : { id: e.id, tree: e.snapshot.tree };
  }
  const all = await listSnapshots(repo, { hosts: [host], paths: [...paths] });
  const limit = tryParseGoTime(time);
  for (let i = all.length - 1; i >= 0; i--) {
    const sn = all[i].snapshot;
    const t = tryParseGoTime(sn.time);
    if (limit !== undefined && t !== undefined && t.seconds > limit.seconds) continue;
    if (sn.tree !== null) return { id: all[i].id, tree: sn.tree };
  }
  return undefined;
}

/**
 * Back up `targets` (paths, relative ones against `opts.cwd`) into `repo`, as `restic backup`
 * does, and write a snapshot. Rejects on repository errors and cancellation; unreadable
 * items are reported (events, `errors`) and left out.
 */
const TRACE = process.env.RESTIC_TS_TRACE !== undefined;
function trace(what: string, t0: number): void {
  if (!TRACE) return;
  const cpu = process.cpuUsage();
  const ms = Math.round((cpu.user + cpu.system) / 1000);
  process.stderr.write(`[trace] ${what} at ${Date.now() - t0} ms (process CPU ${ms} ms)\n`);
}

export async function backup(
  repo: Repository,
  targets: readonly string[],
  opts: BackupOptions = {},
): Promise<BackupResult> {
  const startMs = Date.now();
  const emit = (e: BackupEvent) => opts.onEvent?.(e);
  const cwd = path.resolve(opts.cwd ?? process.cwd());
  const host = opts.host ?? os.hostname();
  const time = opts.time !== undefined ? formatGoTimeDate(opts.time) : goTimeNow();
  const stdinName =
    opts.stdin === undefined ? undefined : path.posix.join("/", opts.stdin.filename);
  if (stdinName === undefined && targets.length === 0 && (opts.extraFiles ?? []).length === 0) {
    throw new ResticTsError("INVALID_ARGUMENT", "nothing to back up: no targets given");
  }
  const absTargets =
    stdinName !== undefined ? [stdinName] : targets.map((t) => path.resolve(cwd, t));
  const packSize = opts.packSize ?? DEFAULT_PACK_SIZE;
  const cfg: EngineConfig = {
    key: encodeMasterKey(repo.masterKey),
    polynomial: repo.config.chunkerPolynomial,
    repoVersion: repo.version,
    zstdLevel: zstdLevel(opts.compression ?? "auto"),
    packSize,
    minSize: opts.chunker?.minSize ?? 512 * 1024,
    maxSize: opts.chunker?.maxSize ?? 8 * 1024 * 1024,
    readSize: 1024 * 1024,
    splitSize: opts.splitSize,
    // the workers read a file's attributes with its contents, as restic's file savers do
    xattrs: (opts.xattrs ?? "auto") === "auto",
    // and write its node, which the walk only places in its tree
    fileNodes: { withAtime: opts.withAtime === true, xattrsOff: opts.xattrs === "off" },
    unsizedMax: SMALL_FILE,
  };

  const lock: Lock | undefined =
    opts.lock === false ? undefined : await acquireLock(repo, { exclusive: false });
  let pool: Promise<BlobPool> | undefined;
  let arch: Archiver | undefined;
  let uploader: PackUploader | undefined;
  let writer: IndexWriter | undefined;
  try {
    let claims: BlobClaims | undefined;
    const summary = emptySummary();
    const threads = opts.threads ?? defaultThreads();
    // Packs of a local repository go to temp files as the workers fill them (see engine.ts).
    const packFiles = new Map<string, LocalTempFile>();
    const startPool = () =>
      BlobPool.start(
        { ...cfg, packFiles: streamsPacksToFiles(repo, opts.dryRun === true) },
        {
          claim: (ids) => (claims as BlobClaims).claimAll("data", ids),
          onBytes: (n) => {
            if (n > 0) emit({ type: "bytes", bytes: n });
          },
          savePack: async (pack) => {
            const up = uploader as PackUploader;
            if ("buffer" in pack) {
              const bytes = new Uint8Array(pack.buffer, 0, pack.length);
              await up.upload("data", pack.id, bytes, pack.blobs);
            } else {
              const tmp = packFiles.get(pack.path);
              if (tmp === undefined) {
                throw new ResticTsError("INTERNAL", `backup: unknown pack file ${pack.path}`);
              }
              packFiles.delete(pack.path);
              await up.uploadFile("data", pack.id, tmp, pack.length, pack.blobs);
            }
            summary.dataAddedPacked += pack.length;
          },
          packFile: async () => {
            const tmp = (uploader as PackUploader).tempFile();
            if (tmp === undefined) throw new ResticTsError("INTERNAL", "backup: no pack files");
            const fh = await tmp.handle();
            packFiles.set(tmp.path, tmp);
            return { path: tmp.path, fd: fh.fd };
          },
        },
        threads,
        opts.threads ?? INITIAL_THREADS,
      );
    trace("locked", startMs);
    const parent = await findParent(repo, opts, host, absTargets, time);
    trace("parent found", startMs);
    // Without a parent every file is read: start the workers while the index loads. With one,
    // most files are probably unchanged: start them when the first file needs reading.
    if (parent === undefined && opts.stdin === undefined) {
      pool = startPool();
      if (TRACE) void pool.then(() => trace("workers ready", startMs));
    }
    const indexed = await repo.loadIndex();
    trace("index loaded", startMs);
    const index = indexed.index;
    // The workers look up the chunks the index knows themselves: no claim, no wait for them.
    const known = index.size > 0 ? index.shareDataBlobs() : undefined;
    claims = new BlobClaims(index);
    writer = new IndexWriter(repo, index, {
      dryRun: opts.dryRun,
      checkpointPacks: opts.indexCheckpointPacks,
    });
    uploader = new PackUploader(repo, writer, claims, opts.dryRun === true);
    const compression = opts.compression ?? "auto";
    const treePacker = new MainPacker(repo, "tree", uploader, packSize, compression);
    const dataPacker = new MainPacker(repo, "data", uploader, packSize, compression);
    const select = makeSelector(opts, absTargets, (message) => emit({ type: "warning", message }));
    arch = new Archiver(
      indexed,
      // called once, before the first job: the engines learn the indexed blobs first
      () => {
        pool ??= startPool();
        if (known === undefined) return pool;
        return pool.then((p) => {
          p.setKnown(known);
          return p;
        });
      },
      threads,
      claims,
      treePacker,
      dataPacker,
      select,
      opts,
      emit,
    );

    const parentTree = parent === undefined ? undefined : await indexed.loadTree(parent.tree);
    if (opts.scan && stdinName === undefined) void scan(absTargets, select, emit, opts.signal);
    const top: Pending[] = [];
    if (opts.stdin !== undefined && stdinName !== undefined) {
      const ids: Id[] = [];
      let size = 0;
      for await (const chunk of chunkStream(
        opts.stdin.stream,
        repo.config.chunkerPolynomial,
        opts.chunker,
      )) {
        ids.push(await arch.saveChunk(chunk));
        size += chunk.length;
      }
      const node = arch.virtualFile(
        path.posix.basename(stdinName),
        ids,
        size,
        nodeTimeFromText(time),
      );
      arch.summary.filesNew++;
      top.push({ node: Promise.resolve(node) });
    } else if (targets.length > 0) {
      const vt = buildTargetTree(resolveTargets(targets, cwd), cwd);
      top.push(...(await arch.saveVTree("", vt, parentTree, cwd)));
    }
    for (const f of opts.extraFiles ?? []) {
      const name = path.posix.basename(f.path);
      if (path.posix.join("/", name) !== path.posix.normalize(path.posix.join("/", f.path))) {
        throw new ResticTsError(
          "INVALID_ARGUMENT",
          `extra file ${f.path}: only top-level names are supported`,
        );
      }
      const ids = await arch.saveData(f.data, repo.config.chunkerPolynomial);
      const node = arch.virtualFile(name, ids, f.data.length, nodeTimeFromText(time), f.mode);
      arch.summary.filesNew++;
      top.push({ node: Promise.resolve(node) });
    }
    arch.dispatchBatch();
    const rootNodes = (await Promise.all(top.map((t) => t.node))).filter(
      (n): n is TreeEntry => n !== undefined,
    );
    if (rootNodes.length === 0) throw new ResticTsError("INVALID_ARGUMENT", "snapshot is empty");
    const byName = new Map<string, TreeEntry>();
    for (const n of rootNodes) byName.set(n.name, n); // an extra file replaces a target's item
    const rootId = await arch.saveTree([...byName.values()]);
    trace("walk done", startMs);
    await arch.flushWorkers();
    await treePacker.flush();
    await dataPacker.flush();
    await writer.finish();
    trace("packs and index written", startMs);

    const snapshot: Snapshot = {
      time,
      tree: rootId,
      paths: [...(opts.snapshotPaths ?? absTargets)],
      hostname: host,
      username: username(),
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
    };
    if (parent !== undefined) snapshot.parent = parent.id;
    if (opts.exclude !== undefined && opts.exclude.length > 0)
      snapshot.excludes = [...opts.exclude];
    if (opts.tags !== undefined && opts.tags.length > 0) snapshot.tags = [...opts.tags];
    const snapshotId = opts.dryRun
      ? undefined
      : await repo.saveUnpacked("snapshot", serialiseSnapshot(snapshot));

    const s = arch.summary;
    s.dataAddedPacked = summary.dataAddedPacked + treePacker.storedBytes + dataPacker.storedBytes;
    s.totalFilesProcessed = s.filesNew + s.filesChanged + s.filesUnmodified;
    s.totalDurationMs = Date.now() - startMs;
    s.snapshotId = snapshotId;
    s.dryRun = opts.dryRun === true;
    trace("snapshot written", startMs);
    emit({ type: "done", summary: s });
    return { snapshotId, snapshot, parent: parent?.id, summary: s, errors: arch.errors };
  } finally {
    arch?.close();
    if (pool !== undefined) await (await pool.catch(() => undefined))?.close();
    // After a failure uploads may still be running: let them end before the lock goes, so
    // that a prune starting right after cannot race them (their packs are then orphans that
    // it removes, never packs it has already judged).
    await uploader?.idle();
    await writer?.idle();
    // As restic: a lock that cannot be removed is a warning (it goes stale once this process
    // ends), not a failure of a backup whose snapshot is saved, nor a mask for its own error.
    await lock?.release().catch((err: unknown) => {
      emit({ type: "warning", message: `unable to remove lock: ${(err as Error).message}` });
    });
  }
}

/** restic's fs.Reader items carry the backup's start time as mtime, atime and ctime. */
function nodeTimeFromText(time: string): string {
  const t = tryParseGoTime(time);
  return t === undefined ? time : nodeTime(t.seconds * 1_000_000_000n + BigInt(t.nanos));
}
