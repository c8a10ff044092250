// Decompressing and verifying large compressed blobs (restic design.rst "Compression": one zstd
// frame per blob; the blob ID is the SHA-256 of the decompressed bytes) on worker threads, so a
// restore of compressible data uses more than one core. zstd runs in WebAssembly and SHA-256 in
// node:crypto on the calling thread, and for such data they are most of the work.
//
// Jobs name regions of SharedArrayBuffers the restorer already uses (the decrypted frame in a
// pack range buffer, the output area in an arena), so nothing is copied between threads but
// the frame into and the result out of the worker's WebAssembly memory. The worker is plain
// JavaScript evaluated from a string (it loads the same zstd package by path), so it runs the
// same from the TypeScript sources and from the build.

import { createRequire } from "node:module";
import * as os from "node:os";
import { Worker } from "node:worker_threads";
import { ResticTsError } from "../../errors.js";
import { keepAfterWorkerStart } from "../../small-heaps.js";

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const path = require("node:path");
const zstd = require(workerData.zstdIndex);
const { Module } = require(path.join(path.dirname(workerData.zstdIndex), "module.js"));
let src = 0, srcCap = 0, dst = 0, dstCap = 0;
zstd.init().then(() => {
  parentPort.on("message", (m) => {
    try {
      if (m.frameLen > srcCap) {
        if (src) Module._free(src);
        srcCap = Math.max(m.frameLen, 65536);
        src = Module._malloc(srcCap);
      }
      if (m.len > dstCap) {
        if (dst) Module._free(dst);
        dstCap = Math.max(m.len, 65536);
        dst = Module._malloc(dstCap);
      }
      if (!src || !dst) throw new Error("zstd: out of memory");
      Module.HEAPU8.set(new Uint8Array(m.seg, m.frameOff, m.frameLen), src);
      const n = Module._ZSTD_decompress(dst, m.len, src, m.frameLen);
      if (Module._ZSTD_isError(n) || n !== m.len) {
        parentPort.postMessage({ job: m.job, error: "zstd frame does not decompress into the expected " + m.len + " bytes" });
        return;
      }
      const out = new Uint8Array(m.out, m.outOff, m.len);
      out.set(Module.HEAPU8.subarray(dst, dst + n));
      const ok = createHash("sha256").update(out).digest("hex") === m.id;
      parentPort.postMessage(ok ? { job: m.job } : { job: m.job, error: "does not match its ID (SHA-256)" });
    } catch (e) {
      parentPort.postMessage({ job: m.job, error: String((e && e.message) || e) });
    }
  });
  parentPort.postMessage({ ready: true });
}, (e) => parentPort.postMessage({ failed: String(e) }));
`;

interface Pending {
  resolve(): void;
  reject(err: unknown): void;
}

interface Slot {
  readonly worker: Worker;
  inFlight: number;
}

/** Blobs smaller than this are decoded on the calling thread (a message costs more). */
export const MIN_OFFLOAD = 128 * 1024;

/** Worker threads that decompress and verify blobs given as SharedArrayBuffer regions. */
export class DecodePool {
  private readonly pending = new Map<number, Pending>();
  private nextJob = 0;
  private dead: Error | undefined;

  private constructor(private readonly slots: Slot[]) {
    for (const slot of slots) {
      slot.worker.on("message", (m: { job: number; error?: string }) => {
        const p = this.pending.get(m.job);
        if (p === undefined) return;
        this.pending.delete(m.job);
        slot.inFlight--;
        if (m.error === undefined) p.resolve();
        else p.reject(new ResticTsError("CORRUPT", `data blob: ${m.error}`));
      });
      slot.worker.on("error", (err) => this.fail(err));
      slot.worker.on("exit", (code) => {
        if (code !== 0) this.fail(new Error(`decode worker exited with code ${code}`));
      });
    }
  }

  /**
   * Start `count` workers (default: RESTIC_TS_DECODE_WORKERS, else one per core beyond the
   * second, at most 3); undefined when that is 0 or the workers cannot start.
   */
  static async create(count?: number): Promise<DecodePool | undefined> {
    const env = process.env.RESTIC_TS_DECODE_WORKERS;
    // default: only with cores to spare. On the 2-core machine of bench/RESULTS.md one worker
    // took ~30% of the blobs, added ~30 MiB of RSS and saved no time (the second core is
    // where libuv writes the files).
    const n =
      count ?? (env !== undefined ? Number(env) : Math.min(3, os.availableParallelism() - 2));
    if (!Number.isInteger(n) || n < 1) return undefined;
    let zstdIndex: string;
    try {
      zstdIndex = createRequire(import.meta.url).resolve("@bokuweb/zstd-wasm");
    } catch {
      return undefined;
    }
    const slots: Slot[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const worker = keepAfterWorkerStart(
          new Worker(WORKER_SOURCE, { eval: true, workerData: { zstdIndex } }),
        );
        worker.unref();
        await new Promise<void>((resolve, reject) => {
          worker.once("message", (m: { ready?: boolean; failed?: string }) =>
            m.ready ? resolve() : reject(new Error(m.failed)),
          );
          worker.once("error", reject);
        });
        slots.push({ worker, inFlight: 0 });
      }
    } catch {
      await Promise.all(slots.map((s) => s.worker.terminate()));
      return undefined;
    }
    return new DecodePool(slots);
  }

  private fail(err: Error): void {
    this.dead ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** True while every worker has two jobs queued (decode on the calling thread instead). */
  get busy(): boolean {
    return this.dead !== undefined || this.slots.every((s) => s.inFlight >= 2);
  }

  /**
   * Decompress the frame at `frame` into `out` (exactly `out.length` bytes) and check its
   * SHA-256 against `id`. Both views must be backed by SharedArrayBuffers.
   */
  decode(frame: Uint8Array, out: Uint8Array, id: string): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    const slot = this.slots.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
    const job = this.nextJob++;
    slot.inFlight++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(job, { resolve, reject });
      slot.worker.postMessage({
        job,
        seg: frame.buffer,
        frameOff: frame.byteOffset,
        frameLen: frame.length,
        out: out.buffer,
        outOff: out.byteOffset,
        len: out.length,
        id,
      });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
