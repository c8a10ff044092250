// The main thread's side of the blob workers (protocol.ts): starts them, hands out file jobs
// to the least loaded one (a large file to all of them, one segment each: split.ts), answers
// their claims synchronously (they block on a shared counter), lends them pack buffers from a
// small fixed pool (so memory stays bounded: a worker that finishes a pack while every buffer
// is still uploading waits) and passes finished packs to the uploader. With `threads: 0` the
// same engine runs inline on the main thread (tests, or where worker scripts are unavailable).
// A pool may start with fewer workers than it may have, and start the rest once the workers
// fall behind (GROW_BACKLOG jobs waiting) or large files come (GROW_AFTER): when the walk on
// the main thread is the limit (small files whose chunks are known, as in a --force re-read),
// a second worker only competes with it for the cores, while its heap and buffers cost ~16 MiB.

import { MessageChannel, type MessagePort, Worker } from "node:worker_threads";
import { ResticTsError } from "../../errors.js";
import { largeArrayBuffer } from "../../huge-pages.js";
import { keepAfterWorkerStart } from "../../small-heaps.js";
import type { Id } from "../id.js";
import type { SharedDataBlobs } from "../master-index.js";
import { workerScript } from "../worker-thread.js";
import { BlobEngine, packCapacity } from "./engine.js";
import type {
  EngineConfig,
  FileResult,
  FileTask,
  FinishedPack,
  FromWorker,
  SyncReply,
  ToWorker,
} from "./protocol.js";
import { mergeSegments, planSegments, SPLIT_MIN, segmentTasks } from "./split.js";

export interface PoolHost {
  /** For each ID: 1 = new, the caller's to store (now in flight); 0 = already stored or in flight. */
  claim(ids: Id[]): Uint8Array;
  /** File bytes read since the last call (progress). */
  onBytes(n: number): void;
  /** Upload a finished pack; resolves when its buffer may be reused. */
  savePack(pack: FinishedPack): Promise<void>;
  /**
   * A new temp file for a worker's pack (EngineConfig.packFiles): its path and an open
   * descriptor, which stays open until the pack is saved or the pool is closed.
   */
  packFile?(): Promise<{ path: string; fd: number }>;
}

interface Job {
  readonly resolve: (r: FileResult[]) => void;
  readonly reject: (e: Error) => void;
  readonly bytes: number;
}

interface Slot {
  readonly worker: Worker;
  readonly sync: MessagePort;
  readonly ctl: Int32Array;
  readonly jobs: Map<number, Job>;
  load: number;
  /** Messages for the worker until it is ready (undefined once it is). */
  queued?: ToWorker[];
}

/**
 * Bytes of large files (a job of their own) after which a pool that started with fewer workers
 * than it may have starts the others.
 */
export const GROW_AFTER = 16 * 1024 * 1024;
/** Files at least this large count towards GROW_AFTER. */
const LARGE_FILE = 1024 * 1024;
/** Jobs handed out and not done after which a pool that may grow does. */
const GROW_BACKLOG = 3;

/** A blob worker started before its pool: modules loaded, waiting for its start data. */
interface Prestarted {
  readonly worker: Worker;
  /** Its error before a pool took it, if any. */
  error?: Error;
}

const prestarted: Prestarted[] = [];

/**
 * Start `threads` blob workers now, for the next BlobPool to take (as many as it needs): a
 * worker's own start-up (Node's bootstrap, its modules, WebAssembly) then overlaps what comes
 * before the pool (the backup command starts them while the key's scrypt runs, when every
 * file will be read). They do not keep the process alive while no pool has taken them.
 */
export function prestartBlobWorkers(threads: number): void {
  const script = workerScript("workers/blob-worker.js");
  if (script === undefined) return;
  while (prestarted.length < threads) {
    const entry: Prestarted = { worker: keepAfterWorkerStart(new Worker(script)) };
    entry.worker.once("error", (err) => {
      entry.error = err;
    });
    entry.worker.unref();
    prestarted.push(entry);
  }
}

/** How many prestarted workers wait for a pool. */
export function prestartedBlobWorkers(): number {
  return prestarted.length;
}

export class BlobPool {
  private readonly slots: Slot[] = [];
  private readonly free: ArrayBuffer[] = [];
  private readonly waiting: Slot[] = [];
  private readonly uploads = new Set<Promise<void>>();
  private allocated = 0;
  private nextJob = 1;
  private inline: BlobEngine | undefined;
  private inlineLoad = 0;
  private failure: Error | undefined;
  private readonly capacity: number;
  private script: string | undefined;
  private maxThreads = 0;
  private largeBytes = 0;
  private known: SharedDataBlobs | undefined;

  private constructor(
    private readonly cfg: EngineConfig,
    private readonly host: PoolHost,
    private readonly maxBuffers: number,
  ) {
    this.capacity = packCapacity(cfg);
  }

  /**
   * Start `initial` of `threads` workers (0: run inline), the others once they are wanted
   * (GROW_BACKLOG, GROW_AFTER). Resolves once the first ones are ready.
   */
  static async start(
    cfg: EngineConfig,
    host: PoolHost,
    threads: number,
    initial = threads,
  ): Promise<BlobPool> {
    const script = threads > 0 ? workerScript("workers/blob-worker.js") : undefined;
    const n = script === undefined ? 0 : threads;
    const pool = new BlobPool(cfg, host, n + 1);
    pool.script = script;
    pool.maxThreads = n;
    if (script === undefined) {
      // inline, every call must be synchronous: packs stay in memory
      pool.inline = await BlobEngine.create(
        { ...cfg, packFiles: false },
        {
          claim: (ids, bytes) => {
            host.onBytes(bytes);
            return host.claim(ids);
          },
          read: (bytes) => host.onBytes(bytes),
          takeBuffer: () => pool.free.pop() ?? largeArrayBuffer(pool.capacity),
          takeFile: () => {
            throw new ResticTsError("INTERNAL", "blob engine: no pack files inline");
          },
          packFinished: (pack) => pool.upload(pack, undefined),
        },
      );
      return pool;
    }
    await Promise.all(
      Array.from({ length: Math.max(1, Math.min(n, initial)) }, () => pool.spawn(script)),
    );
    return pool;
  }

  /** Start the workers the pool may still have; they take jobs once they are ready. */
  private grow(): void {
    const script = this.script as string;
    while (this.slots.length < this.maxThreads) {
      const before = this.slots.length;
      // a failure once it runs is the pool's (spawn's error handler)
      this.spawn(script).catch(() => {});
      if (this.slots.length === before) {
        // a prestarted worker that had failed: go on with the workers there are
        this.maxThreads = before;
        return;
      }
    }
  }

  /** Post `msg` to the slot's worker, or queue it until the worker is ready. */
  private post(slot: Slot, msg: ToWorker): void {
    if (slot.queued !== undefined) slot.queued.push(msg);
    else slot.worker.postMessage(msg);
  }

  get threads(): number {
    return this.slots.length;
  }

  private spawn(script: string): Promise<void> {
    const ctl = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    const init = { config: this.cfg, ctl: ctl.buffer, sync: port2 };
    const early = prestarted.shift();
    let worker: Worker;
    if (early === undefined) {
      worker = keepAfterWorkerStart(
        new Worker(script, { workerData: init, transferList: [port2] }),
      );
    } else {
      worker = early.worker;
      worker.ref();
      if (early.error !== undefined) return Promise.reject(early.error);
      worker.postMessage(init, [port2]);
    }
    // a worker started after setKnown learns the indexed blobs before its first job
    const queued: ToWorker[] = this.known === undefined ? [] : [{ t: "known", blobs: this.known }];
    const slot: Slot = { worker, sync: port1, ctl, jobs: new Map(), load: 0, queued };
    this.slots.push(slot);
    return new Promise((resolve, reject) => {
      worker.on("message", (msg: FromWorker) => {
        if (msg.t === "ready") {
          const queued = slot.queued ?? [];
          slot.queued = undefined;
          for (const m of queued) worker.postMessage(m);
          resolve();
        } else this.onMessage(slot, msg);
      });
      worker.on("error", (err) => {
        reject(err);
        this.fail(slot, err);
      });
      worker.on("exit", (code) => {
        if (slot.jobs.size > 0) this.fail(slot, new Error(`blob worker exited with code ${code}`));
      });
    });
  }

  private reply(slot: Slot, msg: SyncReply, transfer?: ArrayBuffer[]): void {
    slot.sync.postMessage(msg, transfer);
    Atomics.add(slot.ctl, 0, 1);
    Atomics.notify(slot.ctl, 0);
  }

  private onMessage(slot: Slot, msg: FromWorker): void {
    switch (msg.t) {
      case "claim": {
        this.host.onBytes(msg.bytesRead);
        let store: Uint8Array;
        try {
          store = this.host.claim(msg.ids);
        } catch (err) {
          this.fail(slot, err as Error);
          store = new Uint8Array(msg.ids.length);
        }
        this.reply(slot, { t: "claimed", store });
        break;
      }
      case "read":
        this.host.onBytes(msg.bytes);
        break;
      case "buffer?":
        this.waiting.push(slot);
        this.serve();
        break;
      case "file?": {
        const file =
          this.host.packFile?.() ??
          Promise.reject(new ResticTsError("INTERNAL", "blob pool: no pack files here"));
        file.then(
          ({ path, fd }) => this.reply(slot, { t: "file", path, fd }),
          (err: Error) => {
            this.fail(slot, err);
            this.reply(slot, { t: "file", path: "", fd: -1 });
          },
        );
        break;
      }
      case "pack":
        this.upload(msg.pack, slot);
        break;
      case "done":
      case "flushed": {
        const job = slot.jobs.get(msg.job);
        slot.jobs.delete(msg.job);
        if (job !== undefined) {
          slot.load -= job.bytes;
          job.resolve(msg.t === "done" ? msg.results : []);
        }
        break;
      }
      case "fatal":
        this.fail(slot, new ResticTsError("IO", `blob worker failed: ${msg.message}`));
        break;
    }
  }

  private upload(pack: FinishedPack, slot: Slot | undefined): void {
    const p = this.host.savePack(pack).then(
      () => {
        if ("buffer" in pack) {
          this.free.push(pack.buffer);
          this.serve();
        }
      },
      (err: Error) => this.fail(slot, err),
    );
    this.uploads.add(p);
    void p.finally(() => this.uploads.delete(p));
  }

  /** Lend buffers to waiting workers while the pool allows. */
  private serve(): void {
    while (this.waiting.length > 0) {
      let buf = this.free.pop();
      if (buf === undefined && this.allocated < this.maxBuffers) {
        buf = largeArrayBuffer(this.capacity);
        this.allocated++;
      }
      if (buf === undefined) return;
      const slot = this.waiting.shift() as Slot;
      this.reply(slot, { t: "buffer", buffer: buf }, [buf]);
    }
  }

  private fail(slot: Slot | undefined, err: Error): void {
    this.failure ??= err;
    const slots = slot === undefined ? this.slots : [slot];
    for (const s of slots) {
      for (const job of s.jobs.values()) job.reject(err);
      s.jobs.clear();
    }
  }

  /** Bytes of files handed out and not finished yet. */
  get load(): number {
    return this.slots.reduce((n, s) => n + s.load, 0) + this.inlineLoad;
  }

  /** Tell the engines which data blobs are indexed (BlobEngine.setKnown); before any job. */
  setKnown(blobs: SharedDataBlobs): void {
    this.known = blobs;
    if (this.inline !== undefined) this.inline.setKnown(blobs);
    for (const s of this.slots) this.post(s, { t: "known", blobs });
  }

  /** Read and store `files` on the least loaded worker; `bytes` is their expected size. */
  process(files: FileTask[], bytes: number): Promise<FileResult[]> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.inline !== undefined) {
      const engine = this.inline;
      this.inlineLoad += bytes;
      return new Promise((resolve, reject) => {
        setImmediate(() => {
          try {
            resolve(engine.processFiles(files));
          } catch (err) {
            reject(err);
          } finally {
            this.inlineLoad -= bytes;
          }
        });
      });
    }
    if (this.slots.length < this.maxThreads) {
      if (files.length === 1 && bytes >= LARGE_FILE) this.largeBytes += bytes;
      let jobs = 0;
      for (const s of this.slots) jobs += s.jobs.size;
      if (this.largeBytes >= GROW_AFTER || jobs >= GROW_BACKLOG) this.grow();
    }
    if (files.length === 1 && this.slots.length > 1) {
      const split = this.processSplit(files[0], bytes);
      if (split !== undefined) return split;
    }
    let slot = this.slots[0];
    for (const s of this.slots) if (s.load < slot.load) slot = s;
    return this.send(slot, { t: "job", job: this.nextJob++, files }, bytes);
  }

  /** A large file as one segment per worker (split.ts); undefined if it stays whole. */
  private processSplit(task: FileTask, bytes: number): Promise<FileResult[]> | undefined {
    const splitSize = this.cfg.splitSize ?? SPLIT_MIN;
    if (bytes < splitSize) return undefined;
    const starts = planSegments(bytes, this.slots.length, this.cfg.maxSize, splitSize / 2);
    if (starts.length < 2) return undefined;
    const tasks = segmentTasks(starts, bytes, this.cfg.minSize, this.cfg.maxSize);
    const order = [...this.slots].sort((a, b) => a.load - b.load);
    const parts = tasks.map((segment, i) =>
      this.send(
        order[i % order.length],
        { t: "job", job: this.nextJob++, files: [{ ...task, segment }] },
        (starts[i + 1] ?? bytes) - starts[i],
      ),
    );
    return Promise.all(parts).then((rs) => [
      mergeSegments(
        task.ref,
        rs.map((r) => r[0]),
      ),
    ]);
  }

  private send(slot: Slot, msg: ToWorker & { job: number }, bytes: number): Promise<FileResult[]> {
    return new Promise((resolve, reject) => {
      slot.jobs.set(msg.job, { resolve, reject, bytes });
      slot.load += bytes;
      this.post(slot, msg);
    });
  }

  /** Finish every open pack and wait until all packs are uploaded. */
  async flush(): Promise<void> {
    if (this.inline !== undefined) this.inline.flush();
    else
      await Promise.all(
        this.slots.map((s) => this.send(s, { t: "flush", job: this.nextJob++ }, 0)),
      );
    while (this.uploads.size > 0) await Promise.all([...this.uploads]);
    if (this.failure !== undefined) throw this.failure;
  }

  /** Stop the workers (after flush, or to abandon the backup). */
  async close(): Promise<void> {
    await Promise.all(
      this.slots.map(async (s) => {
        s.sync.close();
        await s.worker.terminate();
      }),
    );
    this.slots.length = 0;
  }

  /** The first failure, if any. */
  get error(): Error | undefined {
    return this.failure;
  }
}
