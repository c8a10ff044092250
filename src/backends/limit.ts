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

/**
 * Run `load` on every item, at most `limit` at a time, and hand each result to `use` in the
 * items' order as soon as it and every one before it are loaded. A load starts only while
 * fewer than 2 x `limit` results are loaded or loading ahead of the next one to use, so
 * memory stays bounded however slow one item is. The first error (of `load` or `use`) is
 * thrown once the running loads have settled.
 */
export async function loadInOrder<T, R>(
  items: readonly T[],
  limit: number,
  load: (item: T, index: number) => Promise<R>,
  use: (result: R, item: T, index: number) => void,
): Promise<void> {
  const window = 2 * Math.max(1, limit);
  const loaded = new Map<number, R>();
  let next = 0;
  let stopped = false;
  let advanced: (() => void)[] = [];
  const wake = () => {
    const waiting = advanced;
    advanced = [];
    for (const w of waiting) w();
  };
  await mapLimit(items, limit, async (item, i) => {
    while (!stopped && i >= next + window) await new Promise<void>((r) => advanced.push(r));
    if (stopped) return;
    try {
      loaded.set(i, await load(item, i));
      while (loaded.has(next)) {
        const r = loaded.get(next) as R;
        loaded.delete(next);
        use(r, items[next], next);
        next++;
      }
    } catch (err) {
      stopped = true;
      throw err;
    } finally {
      wake();
    }
  });
}
