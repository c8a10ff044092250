// Long-running container operations (backup, restore, create) as jobs: the work starts at once
// and runs to its end whoever waits; `get(timeoutMs)` waits for the result, and a timeout rejects
// only that call (TIMEOUT) — the job goes on and `get` may be called again. `cancel()` aborts the
// work through its AbortSignal and resolves once the work has wound down (so a paused container
// has been resumed by then); a cancelled job's result is CANCELLED even if the work finished.
//
//   const job = manager.backup(id, "file:///srv/repo?password=PW");
//   job.on("progress", (p) => console.log(p.phase, p.files, p.bytes));
//   const snapshotId = await job.get(60_000);

import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { ResticTsError } from "../errors.js";

export type JobStatus = "running" | "succeeded" | "failed" | "cancelled";

export type JobPhase =
  | "starting"
  | "pausing"
  | "backup"
  | "resuming"
  | "restore"
  | "creating"
  | "done";

export interface JobProgress {
  readonly phase: JobPhase;
  /** Files and bytes processed so far in the backup or restore phase. */
  readonly files: number;
  readonly bytes: number;
}

export interface JobEvents {
  progress: [JobProgress];
  settled: [JobStatus];
}

/** What the work function of a job gets. */
export interface JobContext {
  readonly signal: AbortSignal;
  /** Merge an update into the job's progress and emit a `progress` event. */
  progress(update: Partial<JobProgress>): void;
  /** Throw CANCELLED if the job has been cancelled. */
  throwIfCancelled(): void;
}

export class Job<T> {
  readonly id: string;
  readonly kind: string;
  #status: JobStatus = "running";
  #progress: JobProgress = { phase: "starting", files: 0, bytes: 0 };
  #error: unknown;
  readonly #events = new EventEmitter<JobEvents>();
  readonly #controller = new AbortController();
  readonly #result: Promise<T>;
  readonly #settled: Promise<void>;

  private constructor(kind: string, work: (ctx: JobContext) => Promise<T>) {
    this.id = randomBytes(8).toString("hex");
    this.kind = kind;
    const ctx: JobContext = {
      signal: this.#controller.signal,
      progress: (update) => {
        this.#progress = { ...this.#progress, ...update };
        this.#events.emit("progress", this.#progress);
      },
      throwIfCancelled: () => {
        if (this.#controller.signal.aborted) throw this.#cancelledError();
      },
    };
    // Start on the next microtask so listeners attached right after creation see every event.
    const run = Promise.resolve().then(() => work(ctx));
    this.#result = run.then(
      (value) => {
        if (this.#controller.signal.aborted) throw this.#end("cancelled", this.#cancelledError());
        this.#end("succeeded");
        return value;
      },
      (err: unknown) => {
        if (this.#controller.signal.aborted)
          throw this.#end("cancelled", this.#cancelledError(err));
        throw this.#end("failed", err);
      },
    );
    this.#settled = this.#result.then(
      () => undefined,
      () => undefined,
    );
  }

  /** Start `work` as a job of the given kind ("backup", "restore", "create", …). */
  static start<T>(kind: string, work: (ctx: JobContext) => Promise<T>): Job<T> {
    return new Job(kind, work);
  }

  get status(): JobStatus {
    return this.#status;
  }

  /** The latest progress. */
  get progress(): JobProgress {
    return this.#progress;
  }

  /** The error a failed or cancelled job ended with. */
  get error(): unknown {
    return this.#error;
  }

  /**
   * Wait for the result. With `timeoutMs`, reject with TIMEOUT if the job has not finished by
   * then; the job keeps running. A finished job answers at once, whatever the timeout.
   */
  get(timeoutMs?: number): Promise<T> {
    if (timeoutMs === undefined || this.#status !== "running") return this.#result;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      return Promise.reject(
        new ResticTsError(
          "INVALID_ARGUMENT",
          `timeout must be a number of milliseconds ≥ 0, not ${timeoutMs}`,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new ResticTsError(
            "TIMEOUT",
            `${this.kind} job ${this.id} did not finish within ${timeoutMs} ms; it is still running`,
            { jobId: this.id, kind: this.kind, timeoutMs },
          ),
        );
      }, timeoutMs);
      this.#result.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  /** Ask the work to stop; resolves (never rejects) when it has wound down. */
  cancel(): Promise<void> {
    if (this.#status === "running" && !this.#controller.signal.aborted) {
      this.#controller.abort(this.#cancelledError());
    }
    return this.#settled;
  }

  /** Resolves (never rejects) when the job has finished, whatever the outcome. */
  settled(): Promise<void> {
    return this.#settled;
  }

  on<E extends keyof JobEvents>(event: E, listener: (...args: JobEvents[E]) => void): this {
    this.#events.on(event, listener as never);
    return this;
  }

  off<E extends keyof JobEvents>(event: E, listener: (...args: JobEvents[E]) => void): this {
    this.#events.off(event, listener as never);
    return this;
  }

  #cancelledError(cause?: unknown): ResticTsError {
    return new ResticTsError(
      "CANCELLED",
      `${this.kind} job ${this.id} was cancelled`,
      { jobId: this.id, kind: this.kind },
      cause === undefined ? undefined : { cause },
    );
  }

  /** Record the outcome, emit `settled`, and return the error (if any) for the caller to throw. */
  #end(status: Exclude<JobStatus, "running">, err?: unknown): unknown {
    this.#status = status;
    this.#error = err;
    if (status === "succeeded") this.#progress = { ...this.#progress, phase: "done" };
    this.#events.emit("settled", status);
    return err;
  }
}
