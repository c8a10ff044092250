import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type {
  Backend,
  ByteRange,
  FileInfo,
  FileType,
  Handle,
} from "../../../src/backends/backend.js";
import { MemoryBackend } from "../../../src/backends/mem.js";
import {
  DEFAULT_RETRY,
  isTransient,
  RetryBackend,
  withRetry,
} from "../../../src/backends/retry.js";
import { ResticTsError } from "../../../src/errors.js";
import {
  collect,
  describeBackend,
  expectCode,
  randomData,
  randomId,
} from "../../backends/suite.js";

type Method = "create" | "save" | "load" | "stat" | "remove" | "list" | "isEmpty";

/** A MemoryBackend whose methods fail on demand: `plan[method]` errors are thrown first, in order. */
class FlakyBackend implements Backend {
  readonly inner = new MemoryBackend("flaky");
  readonly location = "flaky:";
  readonly calls: Record<Method, number> = {
    create: 0,
    save: 0,
    load: 0,
    stat: 0,
    remove: 0,
    list: 0,
    isEmpty: 0,
  };
  plan: Partial<Record<Method, unknown[]>> = {};
  /** For list: how many entries to yield before throwing the planned error. */
  listFailAfter = 0;

  #next(m: Method): void {
    this.calls[m] += 1;
    const err = this.plan[m]?.shift();
    if (err !== undefined) throw err;
  }
  async create(): Promise<void> {
    this.#next("create");
    return this.inner.create();
  }
  async save(h: Handle, data: Uint8Array): Promise<void> {
    this.calls.save += 1;
    const err = this.plan.save?.shift();
    if (err !== undefined) {
      // A partial file, as a non-atomic backend might leave.
      await this.inner.save(h, data.subarray(0, Math.floor(data.length / 2)));
      throw err;
    }
    return this.inner.save(h, data);
  }
  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    this.#next("load");
    return this.inner.load(h, range);
  }
  async stat(h: Handle): Promise<FileInfo> {
    this.#next("stat");
    return this.inner.stat(h);
  }
  async remove(h: Handle): Promise<void> {
    this.#next("remove");
    return this.inner.remove(h);
  }
  async *list(type: FileType): AsyncGenerator<FileInfo> {
    this.calls.list += 1;
    const err = this.plan.list?.shift();
    let n = 0;
    for await (const fi of this.inner.list(type)) {
      if (err !== undefined && n++ >= this.listFailAfter) throw err;
      yield fi;
    }
    if (err !== undefined) throw err;
  }
  async isEmpty(): Promise<boolean> {
    this.#next("isEmpty");
    return this.inner.isEmpty();
  }
  async close(): Promise<void> {}
}

const transient = () => new ResticTsError("IO", "connection reset", { errno: "ECONNRESET" });
const timeout = () => new ResticTsError("TIMEOUT", "no answer");
const permanent = () => new ResticTsError("IO", "permission denied", { permanent: true });

function fastRetry(b: Backend, extra: ConstructorParameters<typeof RetryBackend>[1] = {}) {
  const sleeps: number[] = [];
  const reports: string[] = [];
  const r = new RetryBackend(b, {
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    report: (what) => reports.push(what),
    ...extra,
  });
  return { r, sleeps, reports };
}

describeBackend("retry(mem)", async () => ({
  backend: withRetry(new MemoryBackend()),
  cleanup: async () => {},
}));

describe("isTransient", () => {
  it("retries IO and TIMEOUT unless marked permanent; nothing else", () => {
    expect(isTransient(transient())).toBe(true);
    expect(isTransient(timeout())).toBe(true);
    expect(isTransient(permanent())).toBe(false);
    for (const code of [
      "NOT_FOUND",
      "INVALID_ARGUMENT",
      "CORRUPT",
      "UNSUPPORTED",
      "CANCELLED",
    ] as const) {
      expect(isTransient(new ResticTsError(code, "x"))).toBe(false);
    }
    expect(isTransient(new TypeError("bug"))).toBe(false);
    expect(isTransient(undefined)).toBe(false);
  });
});

describe("RetryBackend", () => {
  it("retries transient failures of every operation until they succeed", async () => {
    const f = new FlakyBackend();
    const { r, reports } = fastRetry(f);
    const h: Handle = { type: "data", name: randomId() };
    const data = randomData(1000);
    f.plan = {
      create: [transient()],
      save: [transient(), timeout()],
      load: [transient()],
      stat: [transient(), transient(), transient()],
      isEmpty: [transient()],
    };
    await r.create();
    await r.save(h, data);
    expect(await r.load(h)).toEqual(data);
    expect((await r.stat(h)).size).toBe(1000);
    expect(await r.isEmpty!()).toBe(false);
    f.plan.remove = [transient()];
    await r.remove(h);
    expect(f.calls).toMatchObject({ create: 2, save: 3, load: 2, stat: 4, isEmpty: 2 });
    expect(reports.filter((w) => w.startsWith("Save(<data/"))).toHaveLength(2);
    await expectCode(r.stat(h), "NOT_FOUND");
  });

  it("removes what a failed save left before trying again", async () => {
    const f = new FlakyBackend();
    const { r } = fastRetry(f);
    const h: Handle = { type: "index", name: randomId() };
    const data = randomData(500);
    f.plan.save = [transient()];
    await r.save(h, data);
    expect(await f.inner.load(h)).toEqual(data);
    expect(f.calls.remove).toBe(1);
  });

  it("fails fast on permanent errors: one attempt, no wait", async () => {
    const f = new FlakyBackend();
    const { r, sleeps } = fastRetry(f);
    const h: Handle = { type: "data", name: randomId() };
    await expectCode(r.load(h), "NOT_FOUND");
    await expectCode(r.stat(h), "NOT_FOUND");
    f.plan.load = [permanent()];
    await f.inner.save(h, randomData(10));
    await expectCode(r.load(h), "IO");
    await expectCode(r.load({ type: "data", name: "../x" }), "INVALID_ARGUMENT");
    await expectCode(r.load(h, { offset: 11 }), "CORRUPT");
    f.plan.stat = [new TypeError("a bug")];
    await expect(r.stat(h)).rejects.toThrow(TypeError);
    expect(f.calls.load).toBe(4);
    expect(f.calls.stat).toBe(2);
    expect(sleeps).toEqual([]);
  });

  it("gives up after `retries` retries with the last error", async () => {
    const f = new FlakyBackend();
    const { r, sleeps } = fastRetry(f, { retries: 3 });
    f.plan.stat = Array.from({ length: 10 }, transient);
    await expectCode(r.stat({ type: "config", name: "" }), "IO");
    expect(f.calls.stat).toBe(4);
    expect(sleeps).toHaveLength(3);
  });

  it("backs off exponentially (restic: 500 ms × 1.5ⁿ, capped, with ±50% jitter)", async () => {
    const f = new FlakyBackend();
    const { r, sleeps } = fastRetry(f, { random: () => 0.5 });
    f.plan.stat = Array.from({ length: 10 }, transient);
    await expectCode(r.stat({ type: "config", name: "" }), "NOT_FOUND");
    expect(sleeps).toEqual(
      Array.from({ length: 10 }, (_, n) => Math.round(Math.min(60_000, 500 * 1.5 ** n))),
    );
    expect(DEFAULT_RETRY.retries).toBe(10);
  });

  it("keeps every delay within the jitter band and under the cap (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.double({ min: 0, max: 0.9999, noNaN: true }),
        fc.integer({ min: 1, max: 25 }),
        async (u, failures) => {
          const f = new FlakyBackend();
          const { r, sleeps } = fastRetry(f, { random: () => u, retries: 30 });
          f.plan.stat = Array.from({ length: failures }, transient);
          await expectCode(r.stat({ type: "config", name: "" }), "NOT_FOUND");
          expect(sleeps).toHaveLength(failures);
          sleeps.forEach((d, n) => {
            const base = Math.min(60_000, 500 * 1.5 ** n);
            expect(d).toBeGreaterThanOrEqual(Math.floor(base * 0.5));
            expect(d).toBeLessThanOrEqual(Math.min(60_000, Math.ceil(base * 1.5)));
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  it("gives up when the next wait would pass maxElapsedMs", async () => {
    const f = new FlakyBackend();
    let clock = 0;
    const sleeps: number[] = [];
    const r = new RetryBackend(f, {
      maxElapsedMs: 1000,
      random: () => 0.5,
      now: () => clock,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock += ms;
      },
    });
    f.plan.load = Array.from({ length: 10 }, transient);
    await f.inner.save({ type: "key", name: "a".repeat(64) }, randomData(3));
    await expectCode(r.load({ type: "key", name: "a".repeat(64) }), "IO");
    // 500 (+750 would pass 1000 ms elapsed).
    expect(sleeps).toEqual([500]);
  });

  it("restarts a failed listing and yields each name once", async () => {
    const f = new FlakyBackend();
    const { r } = fastRetry(f);
    const names = Array.from({ length: 20 }, () => randomId());
    for (const n of names) await f.inner.save({ type: "snapshot", name: n }, randomData(5));
    f.listFailAfter = 7;
    f.plan.list = [transient(), transient()];
    const got = (await collect(r.list("snapshot"))).map((fi) => fi.name);
    expect(got.sort()).toEqual([...names].sort());
    expect(f.calls.list).toBe(3);
  });

  it("does not restart a listing after a permanent error", async () => {
    const f = new FlakyBackend();
    const { r } = fastRetry(f);
    await f.inner.save({ type: "lock", name: randomId() }, randomData(5));
    f.plan.list = [permanent()];
    await expectCode(collect(r.list("lock")), "IO");
    expect(f.calls.list).toBe(1);
    await expectCode(collect(r.list("nope" as FileType)), "INVALID_ARGUMENT");
  });

  it("stops waiting when its signal aborts (CANCELLED)", async () => {
    const f = new FlakyBackend();
    const ac = new AbortController();
    const r = new RetryBackend(f, { signal: ac.signal, initialDelayMs: 60_000 });
    f.plan.stat = [transient(), transient()];
    const p = r.stat({ type: "config", name: "" });
    setTimeout(() => ac.abort(), 20);
    await expectCode(p, "CANCELLED");
    await expectCode(r.stat({ type: "config", name: "" }), "CANCELLED");
  });

  it("passes location, isEmpty presence and close through", async () => {
    const m = new MemoryBackend("x");
    const r = withRetry(m);
    expect(r.location).toBe("mem:x");
    expect(typeof r.isEmpty).toBe("function");
    const noEmpty: Backend = {
      location: "n",
      create: async () => {},
      save: async () => {},
      load: async () => new Uint8Array(),
      stat: async () => ({ name: "", size: 0 }),
      list: async function* () {},
      remove: async () => {},
      close: async () => {},
    };
    expect(withRetry(noEmpty).isEmpty).toBeUndefined();
    await r.close();
  });
});
