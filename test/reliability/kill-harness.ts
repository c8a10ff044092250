// The crash-consistency harness shared by the kill tests: runs the built CLI
// (`node dist/src/cli/main.js`) with kill-hook.mjs preloaded, SIGKILLs it either at its Nth
// backend operation (the hook kills itself) or after a delay (the test kills it), and tallies
// per scenario how many kills left a consistent repository. A failed verification is recorded
// with where the process died, so one run reports every inconsistent kill point at once.
//
// restic 0.14 and stale locks: a SIGKILLed run leaves its lock file behind. restic 0.14 does
// not skip stale locks when it locks (only `restic unlock` looks at staleness), so `restic
// check` refuses with "repository is already locked by PID …" until `restic unlock` removes
// the lock; it does remove ours, as the dead PID on this host makes it stale. restic-ts skips
// stale locks when locking, so our check and backup need no unlock.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { cp } from "node:fs/promises";
import path from "node:path";
import { LocalBackend } from "../../src/backends/local.js";
import { Repository } from "../../src/repo/repository.js";
import { runCli } from "../helpers/cli.js";
import { restic } from "../helpers/restic.js";

export const CLI = path.resolve(import.meta.dirname, "..", "..", "dist", "src", "cli", "main.js");
export const HOOK = path.resolve(import.meta.dirname, "kill-hook.mjs");
export const PW = "kill-pw";

/** Whether dist/ holds the built CLI; in CI (CI=true) a missing build fails instead of skipping. */
export function cliBuilt(): boolean {
  if (existsSync(CLI)) return true;
  if (process.env.CI === "true") {
    throw new Error(`${CLI} is missing: the kill tests need \`npm run build\` first`);
  }
  return false;
}

/** An op log line of a save or remove of a pack, index or snapshot (not a lock). */
const CHANGE = /^\d+ (save|remove) (data|index|snapshot)\//;

export type KillWhen = "before" | "after";

/**
 * Where a run is killed: at a backend operation (before/after it runs), or `ms` after its
 * first backend operation or its first change of the repository began. (Timing from the
 * spawn would spend many kills on Node's start-up, and timing a backup's short saving phase
 * from its start would mostly miss it, as the lengths of both vary with the machine's load.)
 */
export type KillPoint = OpKillPoint | TimeKillPoint;
export type TimeKillPoint = {
  readonly kind: "time";
  readonly ms: number;
  readonly from: "first op" | "first change";
};
export type OpKillPoint = { readonly kind: "op"; readonly at: number; readonly when: KillWhen };

export interface HookedRun {
  /** Whether the process died of SIGKILL (false: it finished before the kill point). */
  readonly killed: boolean;
  readonly code: number | null;
  /** The backend operations it began, as `N op type/name` lines. */
  readonly ops: readonly string[];
  readonly output: string;
  readonly ms: number;
  /** When each of `ops` began, in ms after the spawn (Node's start-up comes first). */
  readonly opMs: readonly number[];
}

export function describePoint(p: KillPoint): string {
  return p.kind === "op" ? `${p.when} backend op ${p.at}` : `${p.ms} ms after the ${p.from}`;
}

/** Run the built CLI with the kill hook in `cwd`, killing it at `point` (none: run to the end). */
export async function runHooked(
  args: readonly string[],
  cwd: string,
  point?: KillPoint,
): Promise<HookedRun> {
  const opLog = path.join(cwd, `ops-${process.pid}-${Date.now()}.log`);
  const env: Record<string, string | undefined> = {
    ...process.env,
    RESTIC_PASSWORD: PW,
    KILL_OP_LOG: opLog,
  };
  if (point?.kind === "op") {
    env.KILL_AT_OP = String(point.at);
    env.KILL_WHEN = point.when;
  }
  const t0 = Date.now();
  const child = spawn(process.execPath, ["--import", HOOK, CLI, ...args], {
    cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => {
    output += d;
  });
  child.stderr.on("data", (d) => {
    output += d;
  });
  let timer: NodeJS.Timeout | undefined;
  if (point?.kind === "time") {
    // start the clock when the hook logs the first operation (or change)
    const kill = () => child.kill("SIGKILL");
    const started = (): boolean => {
      if (!existsSync(opLog)) return false;
      if (point.from === "first op") return true;
      return readFileSync(opLog, "utf8")
        .split("\n")
        .some((l) => CHANGE.test(l));
    };
    const poll = (): void => {
      timer = started() ? setTimeout(kill, point.ms) : setTimeout(poll, 2);
    };
    poll();
  }
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>(
    (resolve) => child.on("close", (c, s) => resolve({ code: c, signal: s })),
  );
  clearTimeout(timer);
  const ms = Date.now() - t0;
  const lines = existsSync(opLog) ? readFileSync(opLog, "utf8").split("\n").filter(Boolean) : [];
  rmSync(opLog, { force: true });
  const ops = lines.map((l) => l.slice(0, l.lastIndexOf(" ")));
  const opMs = lines.map((l) => Number(l.slice(l.lastIndexOf(" ") + 1)) - t0);
  return { killed: signal === "SIGKILL", code, ops, output, ms, opMs };
}

/**
 * `count` kill points for a run whose undisturbed twin began `ops`: two thirds right after
 * operations that change the repository (evenly chosen among them), the rest spread evenly
 * over operations 2..end (operation 1 is a config stat that changes nothing), alternately
 * before and after the operation.
 */
export function opKillPoints(ops: readonly string[], count: number): KillPoint[] {
  const changes = ops
    .map((op, i) => ({ op, at: i + 1 }))
    .filter(({ op }) => CHANGE.test(op))
    .map(({ at }) => at);
  const chosen = new Map<string, OpKillPoint>();
  const add = (p: OpKillPoint) => chosen.set(`${p.when}${p.at}`, p);
  const evenly = (n: number, from: number, to: number) =>
    Array.from({ length: n }, (_, i) => from + Math.round(((to - from) * i) / Math.max(1, n - 1)));
  // two thirds go right after changes, the rest anywhere
  const afterChanges = Math.min(changes.length, Math.ceil((2 * count) / 3));
  for (const i of evenly(afterChanges, 0, changes.length - 1)) {
    add({ kind: "op", at: changes[i], when: "after" });
  }
  for (let spread = count - chosen.size; chosen.size < count && spread <= ops.length; spread++) {
    for (const [i, at] of evenly(spread, 2, ops.length).entries()) {
      if (chosen.size < count) add({ kind: "op", at, when: i % 2 === 0 ? "before" : "after" });
    }
  }
  return [...chosen.values()].sort((a, b) => a.at - b.at);
}

/**
 * A kill moment: fraction `f` of a run's working part, from its first operation or (as a
 * backup spends most of its time chunking before it saves anything) from its first change of
 * the repository, to the start of its last operation.
 */
export interface TimeKill {
  readonly f: number;
  readonly from: TimeKillPoint["from"];
}

/**
 * `count` kill moments, alternately over the whole working part and over the changing part,
 * each at a random point of its own slice of 2%..95% of it.
 */
export function timeKills(count: number): TimeKill[] {
  return Array.from({ length: count }, (_, i) => ({
    f: 0.02 + (0.93 * (i + Math.random())) / count,
    from: i % 2 === 0 ? "first op" : "first change",
  }));
}

/** The kill point of `k` for a run timed like `run`. */
export function delayFor(run: HookedRun, k: TimeKill): KillPoint {
  const change = run.ops.findIndex((op) => CHANGE.test(op));
  const from = k.from === "first change" && change >= 0 ? k.from : "first op";
  const start = (from === "first op" ? run.opMs[0] : run.opMs[change]) ?? run.ms;
  // the work ends when the last operation (the lock's removal) begins; exiting takes a while
  const end = run.opMs.at(-1) ?? run.ms;
  return { kind: "time", ms: Math.round(k.f * Math.max(0, end - start)), from };
}

/**
 * Kill a run at `k`, timed by `probe`; a run faster than that finishes before the kill, so
 * try again (up to 4 times) timed by the run that finished.
 */
export async function killAtTime(
  probe: HookedRun,
  k: TimeKill,
  once: (point: KillPoint, attempt: number) => Promise<HookedRun>,
): Promise<void> {
  let timing = probe;
  for (let attempt = 0; attempt < 4; attempt++) {
    const run = await once(delayFor(timing, k), attempt);
    if (run.killed) return;
    timing = run;
  }
}

/** A new repository with cheap scrypt parameters, so each of the many opens stays fast. */
export async function initRepo(dir: string, version = 2): Promise<string> {
  const repo = await Repository.init(new LocalBackend(dir), PW, {
    version,
    kdf: { N: 1024, r: 8, p: 1 },
  });
  await repo.backend.close();
  return dir;
}

/** `size` reproducible bytes that do not compress (xorshift32 from `seed`). */
export function pseudoRandom(seed: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = (seed * 2654435761 + 1) | 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeInt32LE(x, i);
  }
  for (let i = size - (size % 4); i < size; i++) b[i] = (x >>> (8 * (i % 4))) & 0xff;
  return b;
}

/** Copy a repository (or any directory) for one kill. */
export async function copyDir(from: string, to: string): Promise<string> {
  await cp(from, to, { recursive: true });
  return to;
}

/** SHA-256 of every regular file under `root`, by path relative to it. */
export function hashTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string, rel: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory()) walk(p, r);
      else if (e.isFile()) out.set(r, createHash("sha256").update(readFileSync(p)).digest("hex"));
    }
  };
  walk(root, "");
  return out;
}

/** The repository's indexed blobs as `type id` lines (one per index entry), from restic. */
export async function resticBlobs(repo: string): Promise<string[]> {
  const { stdout } = await restic(repo, PW, ["list", "blobs"]);
  return stdout.split("\n").filter(Boolean);
}

export async function resticSnapshotIds(repo: string): Promise<string[]> {
  const { stdout } = await restic(repo, PW, ["snapshots", "--json"]);
  return (JSON.parse(stdout) as { id: string }[]).map((s) => s.id).sort();
}

/**
 * The two checks every kill must pass: our `check --read-data` (no unlock needed), then
 * `restic unlock` (which must leave no lock behind: restic judges our dead process's lock
 * stale) and `restic check --read-data`. Returns how many lock files the kill left.
 */
export async function checkBoth(repo: string): Promise<number> {
  const ours = await runCli(["-r", repo, "check", "--read-data"], { RESTIC_PASSWORD: PW });
  if (ours.code !== 0 || !ours.stdout.includes("no errors were found")) {
    throw new Error(`our check --read-data failed (${ours.code}):\n${ours.stdout}${ours.stderr}`);
  }
  // (a kill during a lock's save may also leave its temp file, which no one lists)
  const locks = () => readdirSync(path.join(repo, "locks")).filter((n) => /^[0-9a-f]{64}$/.test(n));
  const leftLocks = locks().length;
  await restic(repo, PW, ["unlock"]);
  const remaining = locks();
  if (remaining.length > 0) {
    throw new Error(`restic unlock left lock files: ${remaining.join(", ")}`);
  }
  const theirs = await restic(repo, PW, ["check", "--read-data"]).catch((err: Error) => {
    throw new Error(`restic check --read-data failed: ${err.message}`);
  });
  if (!theirs.stdout.includes("no errors were found")) {
    throw new Error(`restic check --read-data:\n${theirs.stdout}${theirs.stderr}`);
  }
  return leftLocks;
}

/** The `--json` summary line of a backup. */
export function backupSummary(stdout: string): { data_added: number; snapshot_id: string } {
  const line = stdout
    .trim()
    .split("\n")
    .find((l) => l.includes('"message_type":"summary"'));
  if (line === undefined) throw new Error(`no backup summary in:\n${stdout}`);
  return JSON.parse(line) as { data_added: number; snapshot_id: string };
}

/** One scenario's kills and how many of them left a consistent repository. */
export class Tally {
  kills = 0;
  consistent = 0;
  /** Runs that finished before their kill point (not counted as kills). */
  finished = 0;
  /** Kills after the run had begun changing the repository (saving or removing files). */
  afterChanges = 0;
  /** Kills that left a lock file (removed by `restic unlock`; ignored as stale by restic-ts). */
  staleLocks = 0;
  readonly failures: string[] = [];
  readonly lastOps = new Map<string, number>();

  constructor(readonly scenario: string) {}

  /** Record one run: `verify` throws when the repository is not consistent. */
  async record(point: KillPoint, run: HookedRun, verify: () => Promise<void>): Promise<void> {
    const last = run.ops.at(-1) ?? "0 (none)";
    const where = `${describePoint(point)} (${run.killed ? "killed" : `exited ${run.code}`} after ${run.ms} ms, last op: ${last})`;
    if (run.killed) {
      this.kills++;
      if (run.ops.some((op) => CHANGE.test(op))) this.afterChanges++;
      const kind = last.split(" ").slice(1, 3).join(" ").replace(/\/.*/, "");
      this.lastOps.set(kind, (this.lastOps.get(kind) ?? 0) + 1);
    } else {
      // it finished before its kill point: it must have succeeded; nothing to verify
      this.finished++;
      if (run.code !== 0) {
        this.failures.push(`${where}: the run failed without being killed:\n${run.output}`);
      }
      return;
    }
    try {
      await verify();
      if (run.killed) this.consistent++;
    } catch (err) {
      this.failures.push(`${where}: ${(err as Error).message}`);
    }
  }

  /** "backup, by op count: 15 kills, 15 consistent (…)" */
  summary(): string {
    const ops = [...this.lastOps]
      .sort()
      .map(([k, n]) => `${k} ×${n}`)
      .join(", ");
    let extra = `; ${this.afterChanges} after changes began; ${this.staleLocks} left a stale lock`;
    if (this.finished > 0) extra += `; ${this.finished} runs finished before their kill`;
    const failed = this.failures.map((f) => `\n  INCONSISTENT ${f}`).join("");
    return `${this.scenario}: ${this.kills} kills, ${this.consistent} consistent (last op begun: ${ops}${extra})${failed}`;
  }
}
