// Fault injection (issue #9 item 1): backup, restore, check and prune run in-process through a
// FaultBackend over the local backend — fail call N (N sampled over all calls of a clean run),
// random failures at a seeded rate, torn writes, dropped connections, a slow backend — with
// and without the RetryBackend in front. Every run must resolve or reject with a coded
// ResticTsError (a hang or an uncoded rejection fails the test); afterwards the real
// `restic check` and our check (reading all data) pass and every snapshot restores byte-
// identically. One summary line per scenario is printed for test/reliability/README.md.

import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Backend } from "../../src/backends/backend.js";
import { LocalBackend } from "../../src/backends/local.js";
import { RetryBackend } from "../../src/backends/retry.js";
import { backup } from "../../src/repo/archiver.js";
import { checkRepository } from "../../src/repo/checker.js";
import type { Id } from "../../src/repo/id.js";
import { withLock } from "../../src/repo/lock.js";
import { executePrune, loadIndexForPrune, planPrune } from "../../src/repo/prune.js";
import { Repository } from "../../src/repo/repository.js";
import { restoreTree } from "../../src/repo/restorer.js";
import { loadSnapshot } from "../../src/repo/snapshots.js";
import { tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";
import { FaultBackend, type FaultPlan } from "./fault-backend.js";
import {
  CHUNKER,
  fingerprint,
  hashTree,
  KDF,
  type Outcome,
  outcomeOf,
  PACK_SIZE,
  PASSWORD,
  pseudoRandom,
  resticRun,
  sameTree,
  samplePoints,
  Tally,
  type TreeSpec,
  verifyRepo,
  writeTree,
} from "./harness.js";

/** Scale the sampled fault points (RELIABILITY_SCALE=4 for a long run). */
const SCALE = Math.max(1, Number(process.env.RELIABILITY_SCALE ?? "1") || 1);
const k = (n: number) => Math.round(n * SCALE);

const V1: TreeSpec = {
  "a/f1": pseudoRandom(1, 40_000),
  "a/f2": pseudoRandom(2, 9_000),
  "b/f3": pseudoRandom(3, 60_000),
  "b/sub/f4": pseudoRandom(4, 5_000),
  "c/f5": pseudoRandom(5, 25_000),
  "c/empty": Buffer.alloc(0),
  "e/": Buffer.alloc(0),
};
const V2: TreeSpec = (() => {
  const { "b/f3": _gone, ...rest } = V1;
  const f1 = Buffer.from(V1["a/f1"]);
  pseudoRandom(11, 3_000).copy(f1, 18_000);
  return { ...rest, "a/f1": f1, "d/f6": pseudoRandom(6, 30_000) };
})();
const V3: TreeSpec = { ...V2, "c/f5": pseudoRandom(15, 26_000), "a/f7": pseudoRandom(7, 50_000) };

/** A RetryBackend that does not wait between attempts (the faults are not about time). */
const withFastRetry = (b: Backend) =>
  new RetryBackend(b, { retries: 10, sleep: () => new Promise((r) => setImmediate(r)) });

describe.runIf(hasTool("restic"))("fault injection", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let work: string;
  let dataDir: string;
  /** Repository with S1 (V1) and S2 (V2). */
  let base: string;
  /** Copy of base plus S3 (V3), with S1 forgotten: prune has packs to delete and repack. */
  let pruneBase: string;
  const want = new Map<Id, Map<string, string>>();
  let s1: Id;
  let s2: Id;
  let s3: Id;
  let v3Hash: Map<string, string>;
  const tally = new Tally();
  let runCounter = 0;
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => {
    unhandled.push(err);
  };

  const backupInto = async (backend: Backend) => {
    const repo = await Repository.open(backend, PASSWORD);
    const r = await backup(repo, ["data"], {
      cwd: work,
      threads: 0,
      packSize: PACK_SIZE,
      chunker: CHUNKER,
    });
    if (r.snapshotId === undefined) throw new Error("backup wrote no snapshot");
    return r.snapshotId;
  };

  beforeAll(async () => {
    process.on("unhandledRejection", onUnhandled);
    tmp = await tempDir("restic-ts-faults-");
    work = path.join(tmp.dir, "work");
    dataDir = path.join(work, "data");
    base = path.join(tmp.dir, "base");
    await Repository.init(new LocalBackend(base), PASSWORD, { version: 2, kdf: KDF });
    writeTree(dataDir, V1, 1_600_000_000);
    s1 = await backupInto(new LocalBackend(base));
    want.set(s1, hashTree(dataDir));
    writeTree(dataDir, V2, 1_600_100_000);
    s2 = await backupInto(new LocalBackend(base));
    want.set(s2, hashTree(dataDir));
    writeTree(dataDir, V3, 1_600_200_000);
    v3Hash = hashTree(dataDir);
    pruneBase = path.join(tmp.dir, "prune-base");
    fs.cpSync(base, pruneBase, { recursive: true });
    s3 = await backupInto(new LocalBackend(pruneBase));
    const pr = await Repository.open(new LocalBackend(pruneBase), PASSWORD);
    await pr.backend.remove({ type: "snapshot", name: s1 });
    await verifyRepo(base, { expected: want, subfolder: "data", scratch: tmp.dir });
  });

  afterAll(async () => {
    process.off("unhandledRejection", onUnhandled);
    await tmp?.cleanup();
  });

  interface Op<T> {
    /** The repository the run starts from (copied unless `readOnly`). */
    readonly base: () => string;
    readonly readOnly?: boolean;
    /** What the summary line says was established (default: the repository verified). */
    readonly verdict?: string;
    readonly run: (backend: Backend, dir: string) => Promise<T>;
    /** Extra checks after a run, before the repository is verified. */
    readonly after?: (o: Outcome<T>, fb: FaultBackend, retry: boolean) => Promise<void> | void;
    readonly verify: (dir: string, o: Outcome<T>) => Parameters<typeof verifyRepo>[1];
  }

  /** One run: a fresh copy of the base, the operation through the faults, then verification. */
  async function runOnce<T>(op: Op<T>, plan: FaultPlan, retry: boolean, scenario: string) {
    const dir = op.readOnly ? op.base() : path.join(tmp.dir, `run-${++runCounter}`);
    if (!op.readOnly) fs.cpSync(op.base(), dir, { recursive: true });
    const before = op.readOnly ? fingerprint(dir) : "";
    const fb = new FaultBackend(new LocalBackend(dir), plan);
    const backend = retry ? withFastRetry(fb) : fb;
    const o = await outcomeOf(`${scenario} ${JSON.stringify(plan)}`, () => op.run(backend, dir));
    tally.add(scenario, o);
    // Work the operation left running must still end (and is counted: a caller that removes
    // the lock or the repository next would race it).
    if (fb.inFlight > 0) tally.note(scenario, "backend calls still running after it settled");
    await fb.idle();
    // Every fault injected here is an IO failure: it must surface as one, not as a claim
    // that the repository is damaged (CORRUPT) or missing.
    if (!o.ok) expect(o.code, `${scenario} ${JSON.stringify(plan)}: ${o.message}`).toBe("IO");
    if (!o.ok && !isInjectedMessage(o.message)) {
      tally.note(scenario, `not naming the fault: ${o.code}`);
      console.log(`${scenario} ${JSON.stringify(plan)}: ${o.code}: ${o.message}`);
    }
    await op.after?.(o, fb, retry);
    if (op.readOnly) {
      expect(fingerprint(dir), `${scenario}: a read-only run changed the repository`).toBe(before);
    } else {
      const v = await verifyRepo(dir, op.verify(dir, o));
      if (v.locksLeft > 0) tally.note(scenario, "lock left behind");
      if (!o.ok && v.newSnapshots.length > 0)
        tally.note(scenario, "snapshot saved by a failed run");
      fs.rmSync(dir, { recursive: true, force: true });
    }
    if (unhandled.length > 0) {
      const seen = unhandled.splice(0).map(String).join("; ");
      throw new Error(`${scenario} ${JSON.stringify(plan)}: unhandled rejection(s): ${seen}`);
    }
    return { o, fb };
  }

  const isInjectedMessage = (m: string) =>
    /injected failure|connection dropped|partial write/.test(m);

  /** Run `op` clean through a counting FaultBackend: how many calls does it make? */
  async function cleanCalls<T>(op: Op<T>, scenario: string): Promise<number> {
    const { o, fb } = await runOnce(op, {}, false, scenario);
    expect(o.ok, `${scenario}: ${o.ok ? "" : o.message}`).toBe(true);
    expect(fb.injected).toBe(0);
    return fb.calls;
  }

  async function scenario<T>(
    name: string,
    op: Op<T>,
    plans: readonly FaultPlan[],
    opts: { retry: boolean; mustSucceed?: boolean },
  ): Promise<void> {
    for (const plan of plans) {
      const { o } = await runOnce(op, plan, opts.retry, name);
      if (opts.mustSucceed) {
        expect(
          o.ok,
          `${name} ${JSON.stringify(plan)}: ${o.ok ? "" : `${o.code} ${o.message}`}`,
        ).toBe(true);
      }
    }
    tally.print(name, op.verdict);
  }

  const backupOp: Op<Id> = {
    base: () => base,
    run: (b) => backupInto(b),
    verify: (_dir, o) => ({
      expected: want,
      newContents: [v3Hash],
      mustExist: o.ok ? [o.value] : [],
      subfolder: "data",
      scratch: tmp.dir,
    }),
  };

  it("backup", async () => {
    const n = await cleanCalls(backupOp, "backup: clean run");
    tally.print("backup: clean run");
    const points = samplePoints(n, k(8));
    await scenario(
      "backup: fail call N, no retry",
      backupOp,
      points.map((failNth) => ({ failNth })),
      {
        retry: false,
      },
    );
    // A pack upload failing while the walk goes on was an unhandled rejection (it ended the
    // CLI); the runner fails on any.
    await scenario(
      "backup: fail the Kth pack upload, no retry",
      backupOp,
      [1, 2, 3].map((n) => ({ failNth: { n, ops: ["save"] as const, types: ["data"] as const } })),
      { retry: false },
    );
    await scenario(
      "backup: fail call N, with retry",
      backupOp,
      samplePoints(n, k(4)).map((failNth) => ({ failNth })),
      { retry: true, mustSucceed: true },
    );
    await scenario(
      "backup: fail call N permanently, with retry",
      backupOp,
      samplePoints(n, k(2)).map((failNth) => ({ failNth, permanent: true })),
      { retry: true },
    );
    await scenario(
      "backup: random failures at 10%, no retry",
      backupOp,
      [1, 2, 3].slice(0, k(3)).map((seed) => ({ failRate: 0.1, seed, listFailsMidway: true })),
      { retry: false },
    );
    await scenario(
      "backup: random failures at 30%, with retry",
      backupOp,
      [1, 2].slice(0, k(2)).map((seed) => ({ failRate: 0.3, seed, listFailsMidway: true })),
      { retry: true, mustSucceed: true },
    );
    await scenario(
      "backup: torn write (save N keeps half, then fails), with retry",
      backupOp,
      samplePoints(8, k(3)).map((nth) => ({ truncateWrites: { nth } })),
      { retry: true, mustSucceed: true },
    );
    await scenario(
      "backup: torn data pack write, no retry",
      backupOp,
      [1, 3].map((nth) => ({ truncateWrites: { nth, types: ["data"] as const } })),
      { retry: false },
    );
    await scenario(
      "backup: connection dropped after call N, no retry",
      backupOp,
      samplePoints(n, k(4)).map((dropAfter) => ({ dropAfter: dropAfter - 1 })),
      { retry: false },
    );
    await scenario(
      "backup: connection dropped after call N, back after 3 failed calls, with retry",
      backupOp,
      samplePoints(n, k(3)).map((dropAfter) => ({ dropAfter: dropAfter - 1, reconnectAfter: 3 })),
      { retry: true, mustSucceed: true },
    );
    await scenario(
      "backup: slow backend (0–3 ms per call)",
      backupOp,
      [{ delayMs: [0, 3], seed: 9 }],
      {
        retry: false,
        mustSucceed: true,
      },
    );
  }, 300_000);

  it("a lying store (a save silently truncated) is caught by both checks", async () => {
    // Not a fault the stack can notice while writing (the store reports success): what
    // matters is that neither check then calls the repository clean.
    const name = "backup through a lying store (one save silently keeps half)";
    const rules = [
      { types: ["data"] as const, nth: 1 },
      { types: ["index"] as const, nth: 1 },
      { types: ["snapshot"] as const, nth: 1 },
    ];
    for (const rule of rules) {
      const dir = path.join(tmp.dir, `run-${++runCounter}`);
      fs.cpSync(base, dir, { recursive: true });
      const fb = new FaultBackend(new LocalBackend(dir), {
        truncateWrites: { ...rule, keep: 0.5, fail: false },
      });
      const o = await outcomeOf(`${name} ${JSON.stringify(rule)}`, () => backupInto(fb));
      tally.add(name, o);
      await fb.idle();
      expect(fb.injected, JSON.stringify(rule)).toBe(1);
      const repo = await Repository.open(new LocalBackend(dir), PASSWORD);
      const ours = await outcomeOf("check", () =>
        checkRepository(repo, { readData: true, readThreads: 0 }),
      );
      const oursFound = !ours.ok || ours.value.errors > 0;
      // Without --read-data: restic finds the wrong pack size already, and reading a short
      // pack makes restic retry for most of a minute.
      const rc = await resticRun(["--no-lock", "-r", dir, "check"]);
      expect(oursFound, `our check missed a torn ${JSON.stringify(rule)}`).toBe(true);
      expect(rc.code, `restic check missed a torn ${JSON.stringify(rule)}:\n${rc.stdout}`).not.toBe(
        0,
      );
      fs.rmSync(dir, { recursive: true, force: true });
    }
    tally.print(name, "our check and restic check reported the damage after every run");
  }, 180_000);

  it("restore", async () => {
    const restoreOp: Op<number> = {
      base: () => base,
      readOnly: true,
      verdict: "repository unchanged; every restore that succeeded was byte-identical",
      run: async (b, _dir) => {
        const repo = await Repository.open(b, PASSWORD);
        const indexed = await repo.loadIndex();
        const sn = await loadSnapshot(repo, s2);
        const target = path.join(tmp.dir, `restore-target-${++runCounter}`);
        await restoreTree(indexed, sn.tree as Id, { target, subfolder: "data" });
        const same = sameTree(hashTree(target), want.get(s2) as Map<string, string>);
        fs.rmSync(target, { recursive: true, force: true });
        if (!same) throw new Error("restore resolved but the restored tree differs");
        return 1;
      },
      verify: () => {
        throw new Error("read-only");
      },
    };
    const n = await cleanCalls(restoreOp, "restore: clean run");
    await scenario(
      "restore: fail call N, no retry",
      restoreOp,
      samplePoints(n, k(6)).map((failNth) => ({ failNth })),
      { retry: false },
    );
    await scenario(
      "restore: fail call N, with retry",
      restoreOp,
      samplePoints(n, k(3)).map((failNth) => ({ failNth })),
      { retry: true, mustSucceed: true },
    );
    await scenario(
      "restore: random failures at 30%, with retry",
      restoreOp,
      [1, 2].map((seed) => ({ failRate: 0.3, seed, listFailsMidway: true })),
      { retry: true, mustSucceed: true },
    );
    await scenario(
      "restore: connection dropped after call N, no retry",
      restoreOp,
      samplePoints(n, k(3)).map((dropAfter) => ({ dropAfter: dropAfter - 1 })),
      { retry: false },
    );
  }, 180_000);

  it("check", async () => {
    const checkOp: Op<number> = {
      base: () => base,
      readOnly: true,
      verdict: "repository unchanged; no run without retries called it clean",
      run: async (b) => {
        const repo = await Repository.open(b, PASSWORD);
        const report = await checkRepository(repo, { readData: true, readThreads: 0 });
        return report.errors;
      },
      // A check that could not read something must not report a clean repository.
      after: (o, fb, retry) => {
        if (o.ok && o.value === 0 && fb.injected > 0 && !retry) {
          throw new Error(`check passed although ${fb.injected} call(s) failed`);
        }
      },
      verify: () => {
        throw new Error("read-only");
      },
    };
    const n = await cleanCalls(checkOp, "check: clean run");
    const noRetry = samplePoints(n, k(6)).map((failNth) => ({ failNth }));
    for (const plan of noRetry) {
      const { o } = await runOnce(
        checkOp,
        plan,
        false,
        "check (--read-data): fail call N, no retry",
      );
      if (o.ok && o.value > 0)
        tally.note("check (--read-data): fail call N, no retry", "reported errors");
    }
    tally.print("check (--read-data): fail call N, no retry", checkOp.verdict);
    await scenario(
      "check (--read-data): fail call N, with retry",
      { ...checkOp, after: (o) => expect(o.ok && o.value === 0).toBe(true) },
      samplePoints(n, k(3)).map((failNth) => ({ failNth })),
      { retry: true, mustSucceed: true },
    );
  }, 180_000);

  it("prune", async () => {
    const expected = new Map([
      [s2, want.get(s2) as Map<string, string>],
      [s3, v3Hash],
    ]);
    const pruneOp: Op<number> = {
      base: () => pruneBase,
      run: async (b) => {
        const repo = await Repository.open(b, PASSWORD);
        return withLock(repo, true, async () => {
          const { indexed, indexIds } = await loadIndexForPrune(repo);
          const opts = { maxUnused: { kind: "bytes", bytes: 0 } as const, packSize: PACK_SIZE };
          const plan = await planPrune(indexed, indexIds, opts);
          const r = await executePrune(indexed, plan, opts);
          return r.packsWritten;
        });
      },
      verify: () => ({ expected, subfolder: "data", scratch: tmp.dir }),
    };
    const n = await cleanCalls(pruneOp, "prune: clean run");
    await scenario(
      "prune: fail call N, no retry",
      pruneOp,
      samplePoints(n, k(8)).map((failNth) => ({ failNth })),
      { retry: false },
    );
    // prune used to report a snapshot it could not read as CORRUPT
    await scenario(
      "prune: loading a snapshot fails, no retry",
      pruneOp,
      [1, 2].map((n) => ({ failNth: { n, ops: ["load"] as const, types: ["snapshot"] as const } })),
      { retry: false },
    );
    await scenario(
      "prune: fail call N, with retry",
      pruneOp,
      samplePoints(n, k(4)).map((failNth) => ({ failNth })),
      { retry: true, mustSucceed: true },
    );
    await scenario(
      "prune: random failures at 10%, no retry",
      pruneOp,
      [1, 2].slice(0, k(2)).map((seed) => ({ failRate: 0.1, seed, listFailsMidway: true })),
      { retry: false },
    );
    await scenario(
      "prune: random failures at 30%, with retry",
      pruneOp,
      [1, 2].slice(0, k(2)).map((seed) => ({ failRate: 0.3, seed, listFailsMidway: true })),
      { retry: true, mustSucceed: true },
    );
    await scenario(
      "prune: torn write (save N keeps half, then fails), with retry",
      pruneOp,
      [1, 3].map((nth) => ({ truncateWrites: { nth } })),
      { retry: true, mustSucceed: true },
    );
    await scenario(
      "prune: connection dropped after call N, no retry",
      pruneOp,
      samplePoints(n, k(3)).map((dropAfter) => ({ dropAfter: dropAfter - 1 })),
      { retry: false },
    );
    await scenario(
      "prune: connection dropped after call N, back after 3 failed calls, with retry",
      pruneOp,
      samplePoints(n, k(2)).map((dropAfter) => ({ dropAfter: dropAfter - 1, reconnectAfter: 3 })),
      { retry: true, mustSucceed: true },
    );
  }, 300_000);
});
