// A counting semaphore (restic's internal/backend/sema): bounds how many requests a remote
// backend has in flight, and a helper to run a bounded number of tasks at a time.

import { ResticTsError } from "../errors.js";

export class Semaphore {
  readonly size: number;
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    if (!Number.isSafeInteger(size) || size < 1) {
      throw new ResticTsError("INVALID_ARGUMENT", `invalid concurrency limit ${size}: want >= 1`, {
        size,
      });
    }
    this.size = size;
    this.#free = size;
  }

  /** Tokens currently taken. */
  get inUse(): number {
    return this.size - this.#free;
  }

  /** Wait for a token; the returned function gives it back (only the first call counts). */
  async acquire(): Promise<() => void> {
    if (this.#free > 0) {
      this.#free -= 1;
    } else {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free += 1;
    };
  }

  /** Run `fn` holding a token. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

/**
 * Run `fn` on every item with at most `limit` calls in flight; rejects with the first error
 * after the calls already started have settled. Results keep the items' order.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i], i);
      } catch (err) {
        if (!failed) {
          failed = true;
          firstError = err;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  if (failed) throw firstError;
  return out;
}
