// RetryBackend (after restic's internal/backend/backend_retry.go): wraps a Backend and retries
// operations that failed for a transient reason — a reset or refused connection, a timeout,
// an HTTP 5xx, a dropped SSH connection — with exponential backoff and jitter, and fails fast
// on permanent ones (authentication, permission denied, NOT_FOUND, invalid arguments, short
// reads). A failed save removes what it may have left before trying again; a failed list
// restarts and yields only names not yielded before.
//
// What is transient is decided by `isTransient`: IO and TIMEOUT errors are, unless the
// backend marked them `data.permanent === true`; every other code, and anything that is not
// a ResticTsError (a bug), is permanent.

import { isResticTsError, ResticTsError } from "../errors.js";
import type { Backend, ByteRange, FileInfo, FileType, Handle } from "./backend.js";
import { describeHandle } from "./layout.js";

export interface RetryOptions {
  /** Retries after the first attempt (restic: 10). */
  readonly retries?: number;
  /** The first delay (restic's backoff: 500 ms) … */
  readonly initialDelayMs?: number;
  /** … multiplied by this after each retry (1.5) … */
  readonly multiplier?: number;
  /** … never more than this (60 s) … */
  readonly maxDelayMs?: number;
  /** … each varied by up to ± this fraction (0.5). */
  readonly randomization?: number;
  /** Give up once this much time has passed since the first attempt (15 min). */
  readonly maxElapsedMs?: number;
  /** Told about each failure that will be retried, e.g. to print a warning. */
  readonly report?: (what: string, err: unknown, delayMs: number) => void;
  /** Aborting stops waiting and rejects with CANCELLED. */
  readonly signal?: AbortSignal;
  /** For tests: how to wait, and the random source for jitter ([0, 1)). */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly random?: () => number;
  /** For tests: the clock (milliseconds) `maxElapsedMs` is measured with. */
  readonly now?: () => number;
}

export const DEFAULT_RETRY: Required<
  Pick<
    RetryOptions,
    "retries" | "initialDelayMs" | "multiplier" | "maxDelayMs" | "randomization" | "maxElapsedMs"
  >
> = {
  retries: 10,
  initialDelayMs: 500,
  multiplier: 1.5,
  maxDelayMs: 60_000,
  randomization: 0.5,
  maxElapsedMs: 15 * 60_000,
};

/** Whether retrying may help: an IO or TIMEOUT error the backend did not mark permanent. */
export function isTransient(err: unknown): boolean {
  if (!isResticTsError(err)) return false;
  if (err.code !== "IO" && err.code !== "TIMEOUT") return false;
  return err.data.permanent !== true;
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(cancelled());
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelled());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function cancelled(): ResticTsError {
  return new ResticTsError("CANCELLED", "operation cancelled");
}

export class RetryBackend implements Backend {
  readonly inner: Backend;
  readonly #opts: RetryOptions;
  readonly isEmpty?: () => Promise<boolean>;

  constructor(inner: Backend, opts: RetryOptions = {}) {
    this.inner = inner;
    this.#opts = opts;
    const innerIsEmpty = inner.isEmpty?.bind(inner);
    if (innerIsEmpty !== undefined) {
      this.isEmpty = () => this.#retry("IsEmpty()", innerIsEmpty);
    }
  }

  get location(): string {
    return this.inner.location;
  }

  /** The delay before retry number `n` (0-based), before jitter. */
  #delay(n: number): number {
    const o = { ...DEFAULT_RETRY, ...this.#opts };
    const base = Math.min(o.maxDelayMs, o.initialDelayMs * o.multiplier ** n);
    const r = (this.#opts.random ?? Math.random)();
    const jittered = base * (1 - o.randomization + 2 * o.randomization * r);
    return Math.max(0, Math.round(Math.min(jittered, o.maxDelayMs)));
  }

  async #retry<T>(what: string, fn: () => Promise<T>, onFailure?: () => Promise<void>): Promise<T> {
    const o = { ...DEFAULT_RETRY, ...this.#opts };
    const sleep = this.#opts.sleep ?? defaultSleep;
    const signal = this.#opts.signal;
    const now = this.#opts.now ?? Date.now;
    const started = now();
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw cancelled();
      try {
        return await fn();
      } catch (err) {
        if (onFailure !== undefined) await onFailure().catch(() => {});
        if (!isTransient(err) || attempt >= o.retries) throw err;
        const delay = this.#delay(attempt);
        if (now() - started + delay > o.maxElapsedMs) throw err;
        this.#opts.report?.(what, err, delay);
        await sleep(delay, signal);
      }
    }
  }

  create(): Promise<void> {
    return this.#retry("Create()", () => this.inner.create());
  }

  save(h: Handle, data: Uint8Array): Promise<void> {
    return this.#retry(
      `Save(${describeHandle(h)})`,
      () => this.inner.save(h, data),
      // Do not leave a partial file behind (a backend without atomic saves may have).
      async () => {
        await this.inner.remove(h);
      },
    );
  }

  load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    return this.#retry(`Load(${describeHandle(h)})`, () => this.inner.load(h, range));
  }

  stat(h: Handle): Promise<FileInfo> {
    return this.#retry(`Stat(${describeHandle(h)})`, () => this.inner.stat(h));
  }

  remove(h: Handle): Promise<void> {
    return this.#retry(`Remove(${describeHandle(h)})`, () => this.inner.remove(h));
  }

  async *list(type: FileType): AsyncGenerator<FileInfo> {
    const seen = new Set<string>();
    const o = { ...DEFAULT_RETRY, ...this.#opts };
    const sleep = this.#opts.sleep ?? defaultSleep;
    const now = this.#opts.now ?? Date.now;
    const started = now();
    for (let attempt = 0; ; attempt++) {
      if (this.#opts.signal?.aborted) throw cancelled();
      const buffered: FileInfo[] = [];
      try {
        for await (const fi of this.inner.list(type)) {
          if (seen.has(fi.name)) continue;
          seen.add(fi.name);
          buffered.push(fi);
          // Hand out in batches so a slow consumer does not hold a listing open forever,
          // while a failure mid-listing still restarts from the beginning.
          if (buffered.length >= 1000) yield* buffered.splice(0);
        }
        yield* buffered;
        return;
      } catch (err) {
        // Names already handed out stay in `seen`; those still buffered are handed out now.
        yield* buffered;
        if (!isTransient(err) || attempt >= o.retries) throw err;
        const delay = this.#delay(attempt);
        if (now() - started + delay > o.maxElapsedMs) throw err;
        this.#opts.report?.(`List(${type})`, err, delay);
        await sleep(delay, this.#opts.signal);
      }
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Wrap `backend` in a RetryBackend (restic wraps every backend so). */
export function withRetry(backend: Backend, opts?: RetryOptions): RetryBackend {
  return new RetryBackend(backend, opts);
}
