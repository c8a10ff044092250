// Concurrency (issue #9 item 5): two backups into one repository at once (two processes of our
// CLI, and ours beside real restic), and backups racing prunes from another process — ours vs
// ours, restic's backup vs our prune, our backup vs restic's prune. Before each race a snapshot
// is forgotten whose data the racing backup contains again, so a prune that ignored the
// backup's lock would delete blobs the new snapshot reuses. Locks must be honoured (a prune
// meeting a backup's lock fails with LOCKED — exit 11 for us, "locked" from restic — and a
// backup meeting a prune's exclusive lock likewise); afterwards `restic check --read-data` and
// our check pass and every snapshot either tool reported as saved restores identically (with
// real restic).

import { spawn } from "node:child_process";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.js";
import { checkRepository } from "../../src/repo/checker.js";
import { Repository } from "../../src/repo/repository.js";
import { tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";
import {
  describeDiff,
  hashTree,
  KDF,
  PASSWORD,
  pseudoRandom,
  resticRun,
  sameTree,
  Tally,
  type TreeSpec,
  writeTree,
} from "./harness.js";

const VERDICT =
  "afterwards restic check --read-data and our check pass, every reported snapshot restores";
const CLI = path.resolve(import.meta.dirname, "..", "..", "dist", "src", "cli", "main.js");
if (process.env.CI === "true" && !fs.existsSync(CLI)) {
  throw new Error(`${CLI} is required in CI: run npm run build first`);
}

interface Proc {
  readonly tool: "ours" | "restic";
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run our CLI or restic with the test password; resolves with exit code and output. */
function run(
  tool: "ours" | "restic",
  args: readonly string[],
  opts: { cwd?: string; stdin?: string } = {},
): { done: Promise<Proc>; write: (b: Uint8Array) => void; end: () => void } {
  const cmd = tool === "ours" ? process.execPath : "restic";
  const argv = tool === "ours" ? [CLI, ...args] : ["--no-cache", ...args];
  const child = spawn(cmd, argv, {
    cwd: opts.cwd,
    env: { ...process.env, RESTIC_PASSWORD: PASSWORD },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  child.stdin.on("error", () => {}); // the process may exit before reading its input
  if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
  const done = new Promise<Proc>((resolve) =>
    child.on("close", (code) => resolve({ tool, code: code ?? -1, stdout, stderr })),
  );
  return {
    done,
    write: (b) => child.stdin.write(b),
    end: () => child.stdin.end(),
  };
}

const isLockedFailure = (p: Proc) =>
  p.code !== 0 && /already locked|LOCKED|unable to create lock/i.test(p.stderr + p.stdout);

/** The snapshot ID a backup printed (our `--json` summary, restic's `--json` summary). */
function reportedSnapshot(p: Proc): string {
  for (const line of p.stdout.trim().split("\n").reverse()) {
    try {
      const j = JSON.parse(line) as { message_type?: string; snapshot_id?: string };
      if (
        j.message_type === "summary" &&
        typeof j.snapshot_id === "string" &&
        j.snapshot_id !== ""
      ) {
        return j.snapshot_id;
      }
    } catch {}
  }
  throw new Error(`no snapshot ID in the ${p.tool} backup output:\n${p.stdout}\n${p.stderr}`);
}

describe.runIf(hasTool("restic") && fs.existsSync(CLI))("concurrency", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let repoDir: string;
  /** Snapshot ID (maybe short) → the tree it must restore to, and the backed-up path. */
  const reported = new Map<string, { tree: Map<string, string>; dir: string }>();
  const tally = new Tally();
  let sourceNo = 0;

  beforeAll(async () => {
    tmp = await tempDir("restic-ts-concurrency-");
    repoDir = path.join(tmp.dir, "repo");
    await Repository.init(new LocalBackend(repoDir), PASSWORD, { version: 2, kdf: KDF });
  });
  afterAll(async () => {
    await tmp?.cleanup();
  });

  /** Wait (up to 10 s, or until `holder` ends) for a lock file; false if none appeared. */
  async function lockAppears(holder?: Promise<unknown>): Promise<boolean> {
    const locksDir = path.join(repoDir, "locks");
    let ended = false;
    void holder?.then(() => {
      ended = true;
    });
    for (let i = 0; i < 1000 && !ended; i++) {
      if (fs.existsSync(locksDir) && fs.readdirSync(locksDir).length > 0) return true;
      await new Promise((r) => setTimeout(r, 10));
    }
    return false;
  }

  /** A new source directory holding `spec`; returns its path (relative to tmp.dir) and hashes. */
  function source(spec: TreeSpec): { rel: string; tree: Map<string, string> } {
    const rel = `src${++sourceNo}`;
    writeTree(path.join(tmp.dir, rel), spec, 1_600_000_000 + sourceNo);
    return { rel, tree: hashTree(path.join(tmp.dir, rel)) };
  }

  const files = (seed: number, n: number, size: number): TreeSpec =>
    Object.fromEntries(
      Array.from({ length: n }, (_, i) => [`d${i % 3}/f${i}`, pseudoRandom(seed * 1000 + i, size)]),
    );

  function backupArgs(tool: "ours" | "restic", rel: string): string[] {
    return tool === "ours"
      ? ["-r", repoDir, "backup", "--json", "--pack-size", "1", rel]
      : ["-r", repoDir, "backup", "--json", rel];
  }

  /** A backup's outcome: saved (its snapshot recorded) or refused because of a lock. */
  function recordBackup(
    scenario: string,
    p: Proc,
    src: { rel: string; tree: Map<string, string> },
  ) {
    if (p.code === 0) {
      reported.set(reportedSnapshot(p), { tree: src.tree, dir: src.rel });
      tally.add(scenario, { ok: true, value: undefined });
    } else {
      expect(isLockedFailure(p), `${p.tool} backup failed (exit ${p.code}):\n${p.stderr}`).toBe(
        true,
      );
      if (p.tool === "ours") expect(p.code).toBe(11);
      tally.add(scenario, { ok: false, code: "LOCKED", message: p.stderr });
    }
  }

  function recordPrune(scenario: string, p: Proc) {
    if (p.code === 0) tally.note(scenario, `${p.tool} prune ran`);
    else {
      expect(isLockedFailure(p), `${p.tool} prune failed (exit ${p.code}):\n${p.stderr}`).toBe(
        true,
      );
      if (p.tool === "ours") expect(p.code).toBe(11);
      tally.note(scenario, `${p.tool} prune refused (locked)`);
    }
  }

  it("two backups at once: ours and ours, ours and restic", async () => {
    for (const [name, a, b] of [
      ["two backups at once: ours + ours", "ours", "ours"],
      ["two backups at once: ours + restic", "ours", "restic"],
    ] as const) {
      for (let round = 0; round < 2; round++) {
        // Shared content too: both may try to store the same new blobs at once.
        const shared = files(100 + sourceNo, 3, 150_000);
        const sa = source({ ...shared, ...files(200 + sourceNo, 6, 120_000) });
        const sb = source({ ...shared, ...files(300 + sourceNo, 6, 120_000) });
        const pa = run(a, backupArgs(a, sa.rel), { cwd: tmp.dir });
        const pb = run(b, backupArgs(b, sb.rel), { cwd: tmp.dir });
        const [ra, rb] = await Promise.all([pa.done, pb.done]);
        // Non-exclusive locks coexist: both must succeed.
        expect(ra.code, ra.stderr).toBe(0);
        expect(rb.code, rb.stderr).toBe(0);
        recordBackup(name, ra, sa);
        recordBackup(name, rb, sb);
      }
      tally.print(name, VERDICT);
    }
  }, 180_000);

  it("a prune refuses to run while a backup holds its lock (ours and restic's prune)", async () => {
    const name = "prune while a backup (--stdin) holds its lock";
    const backup = run(
      "ours",
      ["-r", repoDir, "backup", "--json", "--stdin", "--stdin-filename", "held.bin"],
      {
        cwd: tmp.dir,
      },
    );
    const payload = pseudoRandom(4242, 300_000);
    backup.write(payload.subarray(0, 100_000));
    expect(await lockAppears(), "the backup took no lock").toBe(true);
    const ours = await run("ours", ["-r", repoDir, "prune"]).done;
    expect(ours.code, ours.stderr).toBe(11);
    expect(ours.stderr).toMatch(/already locked/);
    const theirs = await run("restic", ["-r", repoDir, "prune"]).done;
    expect(theirs.code).not.toBe(0);
    expect(theirs.stderr).toMatch(/already locked/);
    tally.add(name, { ok: false, code: "LOCKED", message: ours.stderr });
    tally.add(name, { ok: false, code: "LOCKED", message: theirs.stderr });
    backup.write(payload.subarray(100_000));
    backup.end();
    const b = await backup.done;
    expect(b.code, b.stderr).toBe(0);
    const heldDir = path.join(tmp.dir, "held");
    fs.mkdirSync(heldDir, { recursive: true });
    fs.writeFileSync(path.join(heldDir, "held.bin"), payload);
    reported.set(reportedSnapshot(b), { tree: hashTree(heldDir), dir: "" });
    tally.print(name, VERDICT);
  }, 180_000);

  it("backups racing prunes from another process", async () => {
    const pairs = [
      ["backup racing prune: ours vs ours", "ours", "ours"],
      ["backup racing prune: restic backup vs our prune", "restic", "ours"],
      ["backup racing prune: our backup vs restic prune", "ours", "restic"],
    ] as const;
    for (const [name, backupTool, pruneTool] of pairs) {
      for (let round = 0; round < 3; round++) {
        // A snapshot to forget whose data the racing backup stores again: its blobs are unused
        // when the prune plans, and used by the backup.
        const junkSpec = files(500 + sourceNo, 4, 100_000);
        const junk = source(junkSpec);
        const j = await run("ours", backupArgs("ours", junk.rel), { cwd: tmp.dir }).done;
        expect(j.code, j.stderr).toBe(0);
        const forget = await run("restic", ["-r", repoDir, "forget", reportedSnapshot(j)]).done;
        expect(forget.code, forget.stderr).toBe(0);
        const src = source({ ...junkSpec, ...files(600 + sourceNo, 4, 400_000) });
        // Round 0 starts both at once; round 1 starts the prune once the backup holds its
        // lock, round 2 the backup once the prune holds its lock.
        const pruneArgs = ["-r", repoDir, "prune", "--max-unused", "0"];
        let b: ReturnType<typeof run>;
        let p: ReturnType<typeof run>;
        if (round < 2) {
          b = run(backupTool, backupArgs(backupTool, src.rel), { cwd: tmp.dir });
          if (round === 1) await lockAppears(b.done);
          p = run(pruneTool, pruneArgs);
        } else {
          p = run(pruneTool, pruneArgs);
          await lockAppears(p.done);
          b = run(backupTool, backupArgs(backupTool, src.rel), { cwd: tmp.dir });
        }
        const [rb, rp] = await Promise.all([b.done, p.done]);
        recordBackup(name, rb, src);
        recordPrune(name, rp);
        // Both succeeding means they ran one after the other; both refusing is allowed too
        // (each saw the other's lock), but never both running at once unnoticed — the
        // repository checks below would find the lost blobs.
      }
      tally.print(name, VERDICT);
    }
  }, 300_000);

  it("afterwards: restic check --read-data, our check and every reported snapshot restore", async () => {
    // A prune after all races (nothing holds a lock now) must work too.
    const final = await run("ours", ["-r", repoDir, "prune", "--max-unused", "0"]).done;
    expect(final.code, final.stderr).toBe(0);
    const rc = await resticRun(["-r", repoDir, "check", "--read-data"]);
    expect(rc.code, `${rc.stdout}\n${rc.stderr}`).toBe(0);
    expect(rc.stdout).toContain("no errors were found");
    const repo = await Repository.open(new LocalBackend(repoDir), PASSWORD);
    const ours = await checkRepository(repo, { readData: true, readThreads: 0 });
    expect(ours.findings.filter((f) => f.severity === "error")).toEqual([]);
    expect(reported.size).toBeGreaterThan(0);
    let restored = 0;
    for (const [id, { tree, dir }] of reported) {
      const target = path.join(tmp.dir, `restore-${id}`);
      const r = await resticRun(["-r", repoDir, "restore", id, "--target", target]);
      expect(r.code, `restic restore ${id}: ${r.stderr}`).toBe(0);
      // a relative backup path is the top of the snapshot's tree ("" for --stdin)
      const got = hashTree(path.join(target, dir));
      expect(sameTree(got, tree), `snapshot ${id}: ${describeDiff(tree, got)}`).toBe(true);
      fs.rmSync(target, { recursive: true, force: true });
      restored++;
    }
    console.log(
      `[reliability] concurrency: ${reported.size} snapshots reported saved, ${restored} restored identically by restic; restic check --read-data and our check passed`,
    );
  }, 300_000);
});
