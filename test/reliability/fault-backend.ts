// FaultBackend: a Backend wrapper that injects faults into the calls it passes on — fail the
// Nth call (optionally only of some operations / file types), fail calls at random at a
// seeded, reproducible rate, tear writes (store only a prefix, as a non-atomic store would,
// then fail or even report success), delay every call, and "drop the connection" (every call
// after a point fails until `reset()` or an automatic reconnect). Injected failures are
// ResticTsError code IO with `data.injected === true`; they are transient for
// src/backends/retry.ts (`isTransient`) unless the plan says `permanent`, which sets
// `data.permanent = true` so RetryBackend gives up at once.

import type { Backend, ByteRange, FileInfo, FileType, Handle } from "../../src/backends/backend.js";
import { ResticTsError } from "../../src/errors.js";

export type BackendOp =
  | "create"
  | "save"
  | "load"
  | "stat"
  | "list"
  | "remove"
  | "close"
  | "isEmpty";

export const BACKEND_OPS: readonly BackendOp[] = [
  "create",
  "save",
  "load",
  "stat",
  "list",
  "remove",
  "close",
  "isEmpty",
];

/** Which calls a rule applies to: all when a field is left out. */
export interface CallFilter {
  readonly ops?: readonly BackendOp[];
  /** File types; calls without a handle (create, close, isEmpty) never match a type filter. */
  readonly types?: readonly FileType[];
}

/** Fail the calls at these 1-based positions among the calls `filter` matches. */
export interface FailNth extends CallFilter {
  readonly n: number | readonly number[];
}

/** Fail each matching call with probability `rate` (seeded by FaultPlan.seed). */
export interface FailRate extends CallFilter {
  readonly rate: number;
}

export interface TruncateWrites {
  /** Which saves are torn: 1-based positions among saves of `types`; all of them when omitted. */
  readonly nth?: number | readonly number[];
  readonly types?: readonly FileType[];
  /** Bytes kept: a fraction of the data in [0, 1] (default 0.5), rounded down. */
  readonly keep?: number;
  /**
   * After storing the prefix, reject the save (default true: a torn write the caller sees).
   * `false` makes the backend lie: the save resolves although only the prefix is stored.
   */
  readonly fail?: boolean;
}

export interface FaultPlan {
  /** A number fails that call among all calls; an object restricts the count to some calls. */
  readonly failNth?: number | FailNth;
  /** Fail calls at random with this probability (a number applies to every call). */
  readonly failRate?: number | FailRate;
  /** Seed of the random source for `failRate`, `delayMs` ranges and mid-list failures (default 1). */
  readonly seed?: number;
  /** Tear saves: `true` tears every save with the defaults of TruncateWrites. */
  readonly truncateWrites?: boolean | TruncateWrites;
  /** Delay every call by this many ms, or by a seeded random amount in [min, max]. */
  readonly delayMs?: number | readonly [number, number];
  /** Calls after the first `dropAfter` ones fail ("connection dropped") until reset(). */
  readonly dropAfter?: number;
  /** Reconnect by itself after this many calls have failed on a dropped connection. */
  readonly reconnectAfter?: number;
  /** Mark injected failures permanent (RetryBackend does not retry them). */
  readonly permanent?: boolean;
  /** A failing `list` first yields about half of the names, then rejects (default: rejects at once). */
  readonly listFailsMidway?: boolean;
  /**
   * Runs before each call is passed on (after it is counted), with n = the 1-based count of
   * all calls so far. `list` passes the pseudo-handle `{type, name: ""}`; create, close and
   * isEmpty pass none. Throwing (or rejecting) fails the call with that error.
   */
  readonly onCall?: (op: BackendOp, n: number, h?: Handle) => void | Promise<void>;
}

export type FaultKind = "fail-nth" | "fail-rate" | "torn-write" | "lying-write" | "dropped";

export interface CallRecord {
  /** 1-based number of the call among all calls. */
  readonly n: number;
  readonly op: BackendOp;
  readonly type?: FileType;
  readonly name?: string;
  /** The fault injected into this call, if any. */
  readonly fault?: FaultKind;
}

/** mulberry32: a small, seeded, reproducible PRNG giving numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Whether `err` is a failure a FaultBackend injected. */
export function isInjected(err: unknown): err is ResticTsError {
  return err instanceof ResticTsError && err.data.injected === true;
}

function asList<T>(v: T | readonly T[]): readonly T[] {
  return Array.isArray(v) ? (v as readonly T[]) : [v as T];
}

function matches(f: CallFilter, op: BackendOp, type: FileType | undefined): boolean {
  if (f.ops !== undefined && !f.ops.includes(op)) return false;
  if (f.types !== undefined && (type === undefined || !f.types.includes(type))) return false;
  return true;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class FaultBackend implements Backend {
  readonly inner: Backend;
  readonly plan: FaultPlan;
  readonly isEmpty?: () => Promise<boolean>;
  /** Every call so far, in the order they were made. */
  readonly log: CallRecord[] = [];
  #calls = 0;
  #nthMatched = 0;
  #savesMatched = 0;
  #dropped = false;
  #failedWhileDropped = 0;
  #injected = 0;
  #inFlight = 0;
  readonly #random: () => number;

  constructor(inner: Backend, plan: FaultPlan = {}) {
    this.inner = inner;
    this.plan = plan;
    this.#random = seededRandom(plan.seed ?? 1);
    const innerIsEmpty = inner.isEmpty?.bind(inner);
    if (innerIsEmpty !== undefined) {
      this.isEmpty = () => this.#call("isEmpty", undefined, innerIsEmpty);
    }
  }

  get location(): string {
    return this.inner.location;
  }

  /** Calls made so far (all operations, failed ones included). */
  get calls(): number {
    return this.#calls;
  }

  /** Faults injected so far. */
  get injected(): number {
    return this.#injected;
  }

  /** Calls passed on to the inner backend that have not settled yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Resolves once no call is in flight (polling every 5 ms); rejects after `timeoutMs`. */
  async idle(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#inFlight > 0) {
      if (Date.now() > deadline) throw new Error(`${this.#inFlight} backend call(s) never settled`);
      await sleep(5);
    }
  }

  /** Whether the connection is currently dropped. */
  get dropped(): boolean {
    return this.#dropped;
  }

  /** Drop the connection now: every call fails until reset(). */
  drop(): void {
    this.#dropped = true;
    this.#failedWhileDropped = 0;
  }

  /** Reconnect after a drop (a later `dropAfter` point cannot drop it again). */
  reset(): void {
    this.#dropped = false;
    this.#failedWhileDropped = 0;
  }

  /** Calls per operation so far. */
  countsByOp(): Record<BackendOp, number> {
    const out = Object.fromEntries(BACKEND_OPS.map((op) => [op, 0])) as Record<BackendOp, number>;
    for (const r of this.log) out[r.op]++;
    return out;
  }

  #fault(kind: FaultKind, op: BackendOp, n: number, h: Handle | undefined): ResticTsError {
    this.#injected++;
    const what =
      h === undefined ? op : `${op}(${h.type}${h.name === "" ? "" : `/${h.name.slice(0, 8)}`})`;
    const why =
      kind === "dropped"
        ? "connection dropped"
        : kind === "torn-write"
          ? "connection lost after a partial write"
          : "injected failure";
    return new ResticTsError("IO", `${what}: ${why} (call ${n})`, {
      injected: true,
      fault: kind,
      op,
      call: n,
      ...(h === undefined ? {} : { type: h.type, name: h.name }),
      ...(this.plan.permanent ? { permanent: true } : {}),
    });
  }

  /** Count a call, run onCall and decide its fault (undefined: pass it on). */
  async #begin(
    op: BackendOp,
    h: Handle | undefined,
  ): Promise<{ n: number; fault: FaultKind | undefined; record: (f?: FaultKind) => void }> {
    const n = ++this.#calls;
    this.#inFlight++;
    const type = h?.type;
    const p = this.plan;
    let fault: FaultKind | undefined;
    if (p.dropAfter !== undefined && n === p.dropAfter + 1) this.drop();
    if (this.#dropped) {
      fault = "dropped";
      this.#failedWhileDropped++;
      if (p.reconnectAfter !== undefined && this.#failedWhileDropped >= p.reconnectAfter) {
        this.#dropped = false; // this call still fails; the next one goes through
      }
    }
    if (p.failNth !== undefined) {
      const rule: FailNth = typeof p.failNth === "number" ? { n: p.failNth } : p.failNth;
      if (matches(rule, op, type)) {
        const k = ++this.#nthMatched;
        if (fault === undefined && asList(rule.n).includes(k)) fault = "fail-nth";
      }
    }
    if (p.failRate !== undefined) {
      const rule: FailRate = typeof p.failRate === "number" ? { rate: p.failRate } : p.failRate;
      // Draw for every matching call, so the sequence does not depend on other faults.
      if (matches(rule, op, type) && this.#random() < rule.rate && fault === undefined) {
        fault = "fail-rate";
      }
    }
    const entry: { n: number; op: BackendOp; type?: FileType; name?: string; fault?: FaultKind } = {
      n,
      op,
    };
    if (h !== undefined) {
      entry.type = h.type;
      entry.name = h.name;
    }
    this.log.push(entry);
    const record = (f?: FaultKind) => {
      if (f !== undefined) entry.fault = f;
    };
    if (p.delayMs !== undefined) {
      const d =
        typeof p.delayMs === "number"
          ? p.delayMs
          : p.delayMs[0] + this.#random() * (p.delayMs[1] - p.delayMs[0]);
      if (d > 0) await sleep(d);
    }
    if (p.onCall !== undefined) await p.onCall(op, n, h);
    record(fault);
    return { n, fault, record };
  }

  async #call<T>(op: BackendOp, h: Handle | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      const { n, fault } = await this.#begin(op, h);
      if (fault !== undefined) throw this.#fault(fault, op, n, h);
      return await fn();
    } finally {
      this.#inFlight--;
    }
  }

  create(): Promise<void> {
    return this.#call("create", undefined, () => this.inner.create());
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    try {
      await this.#save(h, data);
    } finally {
      this.#inFlight--;
    }
  }

  async #save(h: Handle, data: Uint8Array): Promise<void> {
    const { n, fault, record } = await this.#begin("save", h);
    if (fault !== undefined) throw this.#fault(fault, "save", n, h);
    const t = this.plan.truncateWrites;
    if (t !== undefined && t !== false) {
      const rule: TruncateWrites = t === true ? {} : t;
      if (rule.types === undefined || rule.types.includes(h.type)) {
        const k = ++this.#savesMatched;
        if (rule.nth === undefined || asList(rule.nth).includes(k)) {
          const keep = Math.floor(data.length * Math.min(1, Math.max(0, rule.keep ?? 0.5)));
          await this.inner.save(h, data.slice(0, keep));
          if (rule.fail === false) {
            record("lying-write");
            this.#injected++;
            return;
          }
          record("torn-write");
          throw this.#fault("torn-write", "save", n, h);
        }
      }
    }
    return this.inner.save(h, data);
  }

  load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    return this.#call("load", h, () => this.inner.load(h, range));
  }

  stat(h: Handle): Promise<FileInfo> {
    return this.#call("stat", h, () => this.inner.stat(h));
  }

  remove(h: Handle): Promise<void> {
    return this.#call("remove", h, () => this.inner.remove(h));
  }

  async *list(type: FileType): AsyncGenerator<FileInfo> {
    const h: Handle = { type, name: "" };
    try {
      const { n, fault } = await this.#begin("list", h);
      if (fault === undefined) {
        yield* this.inner.list(type);
        return;
      }
      if (this.plan.listFailsMidway) {
        const all: FileInfo[] = [];
        for await (const fi of this.inner.list(type)) all.push(fi);
        yield* all.slice(0, Math.floor(all.length / 2));
      }
      throw this.#fault(fault, "list", n, h);
    } finally {
      this.#inFlight--;
    }
  }

  close(): Promise<void> {
    return this.#call("close", undefined, () => this.inner.close());
  }
}
