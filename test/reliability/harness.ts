// Shared pieces of the reliability tests: deterministic source trees, hashing restored trees,
// sampling fault points, running one operation with a hang guard and classifying its outcome,
// verifying a repository afterwards (real `restic check`, our check, every snapshot restored
// and compared byte for byte) and tallying outcomes per scenario for the README table.

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { LocalBackend } from "../../src/backends/local.js";
import { isResticTsError } from "../../src/errors.js";
import { checkRepository } from "../../src/repo/checker.js";
import type { Id } from "../../src/repo/id.js";
import { listLocks } from "../../src/repo/lock.js";
import { Repository } from "../../src/repo/repository.js";
import { restoreTree } from "../../src/repo/restorer.js";
import { loadSnapshot } from "../../src/repo/snapshots.js";

const execFileP = promisify(execFile);

export const PASSWORD = "reliability-pw";
/** Low scrypt cost: key derivation is not what these tests are about (restic accepts it). */
export const KDF = { N: 1024, r: 8, p: 1 };
/** Small packs and chunks, so a small tree gives many packs, blobs and backend calls. */
export const PACK_SIZE = 24 * 1024;
export const CHUNKER = { minSize: 4 * 1024, maxSize: 16 * 1024 };

/** Deterministic pseudo-random bytes (xorshift32), incompressible. */
export function pseudoRandom(seed: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** path (relative, "/"-separated) → content; a trailing "/" names an (empty) directory. */
export type TreeSpec = Record<string, Buffer>;

/**
 * Replace `dir`'s content with exactly `spec`, files dated `mtimeSec` (so a rewritten file with
 * the same size, reused inode and a coarse clock still looks changed to the archiver).
 */
export function writeTree(
  dir: string,
  spec: TreeSpec,
  mtimeSec = Math.floor(Date.now() / 1000),
): void {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const [rel, data] of Object.entries(spec)) {
    const p = path.join(dir, rel);
    if (rel.endsWith("/")) {
      fs.mkdirSync(p, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
    fs.utimesSync(p, mtimeSec, mtimeSec);
  }
}

/** Every entry under `dir`: files as `path → sha256`, directories as `path/ → "dir"`. */
export function hashTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string, prefix: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const rel = prefix === "" ? e.name : `${prefix}/${e.name}`;
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        out.set(`${rel}/`, "dir");
        walk(p, rel);
      } else if (e.isFile()) {
        out.set(rel, createHash("sha256").update(fs.readFileSync(p)).digest("hex"));
      } else {
        out.set(rel, `other:${e.isSymbolicLink() ? fs.readlinkSync(p) : "special"}`);
      }
    }
  };
  walk(dir, "");
  return out;
}

export function sameTree(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** The first few differences between two hashed trees, for messages. */
export function describeDiff(
  want: ReadonlyMap<string, string>,
  got: ReadonlyMap<string, string>,
): string {
  const out: string[] = [];
  for (const [k, v] of want)
    if (got.get(k) !== v) out.push(got.has(k) ? `${k} differs` : `${k} missing`);
  for (const k of got.keys()) if (!want.has(k)) out.push(`${k} unexpected`);
  return out.slice(0, 8).join(", ");
}

/** Up to `k` distinct points spread evenly over 1..n, always with 1 and n. */
export function samplePoints(n: number, k: number): number[] {
  if (n <= 0) return [];
  if (n <= k) return Array.from({ length: n }, (_, i) => i + 1);
  const out = new Set<number>();
  for (let i = 0; i < k; i++) out.add(1 + Math.round((i * (n - 1)) / (k - 1)));
  return [...out].sort((a, b) => a - b);
}

export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: string; readonly message: string };

/**
 * Run `fn`, failing the test (by rejecting with a plain Error) when it hangs longer than
 * `timeoutMs` or rejects with anything but a coded ResticTsError with a message.
 */
export async function outcomeOf<T>(
  what: string,
  fn: () => Promise<T>,
  timeoutMs = 30_000,
): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: hung for ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const value = await Promise.race([fn(), hang]);
    return { ok: true, value };
  } catch (err) {
    if (isResticTsError(err) && err.message !== "") {
      return { ok: false, code: err.code, message: err.message };
    }
    throw new Error(`${what}: rejected with an uncoded error: ${String(err)}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/** Outcome counts of one scenario, printed as a README table row. */
export class Tally {
  readonly rows = new Map<
    string,
    {
      runs: number;
      ok: number;
      failed: number;
      codes: Map<string, number>;
      notes: Map<string, number>;
    }
  >();

  #row(scenario: string) {
    let r = this.rows.get(scenario);
    if (r === undefined) {
      r = { runs: 0, ok: 0, failed: 0, codes: new Map(), notes: new Map() };
      this.rows.set(scenario, r);
    }
    return r;
  }

  add(scenario: string, o: Outcome<unknown>): void {
    const r = this.#row(scenario);
    r.runs++;
    if (o.ok) r.ok++;
    else {
      r.failed++;
      r.codes.set(o.code, (r.codes.get(o.code) ?? 0) + 1);
    }
  }

  /** Count something noteworthy about a run (e.g. "lock left behind"). */
  note(scenario: string, what: string): void {
    const r = this.#row(scenario);
    r.notes.set(what, (r.notes.get(what) ?? 0) + 1);
  }

  /** `verdict` says what was established after the runs. */
  line(scenario: string, verdict = "repository verified after every run"): string {
    const r = this.#row(scenario);
    const codes = [...r.codes].map(([c, n]) => `${c}×${n}`).join(", ");
    const notes = [...r.notes].map(([c, n]) => `${c}: ${n}`).join(", ");
    return (
      `[reliability] ${scenario}: ${r.runs} runs, ${r.ok} succeeded, ${r.failed} failed cleanly` +
      `${codes === "" ? "" : ` (${codes})`}${notes === "" ? "" : `; ${notes}`}; ${verdict}`
    );
  }

  /** Print the summary line; with RELIABILITY_SUMMARY=FILE also append it there as JSON. */
  print(scenario: string, verdict?: string): void {
    console.log(this.line(scenario, verdict));
    const file = process.env.RELIABILITY_SUMMARY;
    if (file !== undefined && file !== "") {
      const r = this.#row(scenario);
      const row = {
        scenario,
        runs: r.runs,
        succeeded: r.ok,
        failedCleanly: r.failed,
        codes: Object.fromEntries(r.codes),
        notes: Object.fromEntries(r.notes),
        verdict: verdict ?? "repository verified after every run",
      };
      fs.appendFileSync(file, `${JSON.stringify(row)}\n`);
    }
  }
}

/** Run the real restic (the oracle) with the test password; never throws. */
export async function resticRun(
  args: readonly string[],
  opts: { cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP("restic", ["--no-cache", ...args], {
      cwd: opts.cwd,
      env: { ...process.env, RESTIC_PASSWORD: PASSWORD },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === "number" ? e.code : -1,
      stdout: e.stdout ?? "",
      stderr: e.stderr ?? String(err),
    };
  }
}

/** A fingerprint of every file of a repository directory (paths and contents). */
export function fingerprint(repoDir: string): string {
  const h = createHash("sha256");
  const walk = (d: string) => {
    for (const e of fs
      .readdirSync(d, { withFileTypes: true })
      .sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        h.update(path.relative(repoDir, p));
        h.update("\0");
        h.update(createHash("sha256").update(fs.readFileSync(p)).digest());
      }
    }
  };
  walk(repoDir);
  return h.digest("hex");
}

export interface VerifyOptions {
  /** Contents each snapshot must restore to, by ID. */
  readonly expected: ReadonlyMap<Id, ReadonlyMap<string, string>>;
  /** Snapshots not in `expected` must restore to one of these (e.g. the backup under test). */
  readonly newContents?: readonly ReadonlyMap<string, string>[];
  /** Snapshot IDs that must exist (e.g. the one a successful backup returned). */
  readonly mustExist?: readonly Id[];
  /** Snapshot IDs that may be gone (e.g. forgotten ones a prune removes). */
  readonly mayBeGone?: readonly Id[];
  /** The directory inside each snapshot that holds the tree (the backed-up path). */
  readonly subfolder: string;
  /** Where to restore to (a fresh directory is made under it). */
  readonly scratch: string;
  /** Run restic check with --read-data. */
  readonly readData?: boolean;
}

export interface VerifyResult {
  /** Locks of this process left behind by the run (removed before checking). */
  readonly locksLeft: number;
  /** Snapshots found that were not in `expected`. */
  readonly newSnapshots: readonly Id[];
  /** The repository was byte-identical to one verified before, so checks were not repeated. */
  readonly cached: boolean;
}

/** Verification results by repository fingerprint (restic check is deterministic). */
const verified = new Map<string, Id[]>();
let restores = 0;

/**
 * Verify a repository after a run: remove the locks this process left behind (counted: a
 * dead process's locks would be stale), then `restic check` must pass, our check (reading all
 * data) must find nothing, and every snapshot must restore byte-identically. Throws on failure.
 */
export async function verifyRepo(repoDir: string, opts: VerifyOptions): Promise<VerifyResult> {
  const repo = await Repository.open(new LocalBackend(repoDir), PASSWORD);
  let locksLeft = 0;
  for (const { id, lock } of await listLocks(repo)) {
    if (lock.pid === process.pid) {
      await repo.backend.remove({ type: "lock", name: id });
      locksLeft++;
    }
  }
  const ids = await repo.listIds("snapshot");
  for (const id of opts.mustExist ?? []) {
    if (!ids.includes(id)) throw new Error(`snapshot ${id} reported as saved is missing`);
  }
  for (const id of opts.expected.keys()) {
    if (!ids.includes(id) && !(opts.mayBeGone ?? []).includes(id)) {
      throw new Error(`earlier snapshot ${id} is gone`);
    }
  }
  const newSnapshots = ids.filter((id) => !opts.expected.has(id));
  const expectHash = createHash("sha256");
  for (const [id, m] of [...opts.expected].sort()) expectHash.update(`${id}:${[...m].join(",")};`);
  for (const m of opts.newContents ?? []) expectHash.update(`new:${[...m].join(",")};`);
  const fp = `${fingerprint(repoDir)}/${expectHash.digest("hex")}/${opts.readData === true}`;
  if (verified.has(fp)) return { locksLeft, newSnapshots, cached: true };

  const rc = await resticRun([
    "--no-lock",
    "-r",
    repoDir,
    "check",
    ...(opts.readData ? ["--read-data"] : []),
  ]);
  if (rc.code !== 0 || !rc.stdout.includes("no errors were found")) {
    throw new Error(`restic check failed (exit ${rc.code}):\n${rc.stdout}\n${rc.stderr}`);
  }
  const ours = await checkRepository(repo, { readData: true, readThreads: 0 });
  if (ours.errors !== 0) {
    throw new Error(
      `our check found errors:\n${ours.findings.map((f) => `${f.severity}: ${f.message}`).join("\n")}`,
    );
  }
  const indexed = await repo.loadIndex();
  for (const id of ids) {
    const sn = await loadSnapshot(repo, id);
    if (sn.tree === null) throw new Error(`snapshot ${id} has no tree`);
    const target = path.join(opts.scratch, `restore-${process.pid}-${++restores}`);
    await restoreTree(indexed, sn.tree, { target, subfolder: opts.subfolder, decodeWorkers: 0 });
    const got = hashTree(target);
    fs.rmSync(target, { recursive: true, force: true });
    const want = opts.expected.get(id);
    if (want !== undefined) {
      if (!sameTree(got, want)) {
        throw new Error(`snapshot ${id} does not restore identically: ${describeDiff(want, got)}`);
      }
    } else if (!(opts.newContents ?? []).some((c) => sameTree(got, c))) {
      throw new Error(`new snapshot ${id} restores to unexpected content`);
    }
  }
  verified.set(fp, ids);
  return { locksLeft, newSnapshots, cached: false };
}

/** How many distinct repository states were fully verified. */
export function verifiedStates(): number {
  return verified.size;
}
