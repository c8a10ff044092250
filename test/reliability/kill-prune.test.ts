// Crash consistency of prune: four backups share some files, two of the snapshots are
// forgotten, and the built CLI's `prune --max-unused 0` (which then repacks partly used packs,
// rewrites the index and deletes packs) is SIGKILLed at evenly spread backend operations
// (before or right after the operation) and at random moments of its run, each time on a fresh
// copy of that repository. After every kill: our `check --read-data` and restic's (after
// `restic unlock`, see kill-harness.ts) pass, exactly the kept snapshots exist and restore
// byte for byte, a forced backup of the newest tree succeeds re-uploading no file data, and a
// second prune finishes the job.

import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { restic } from "../helpers/restic.js";
import { tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";
import {
  backupSummary,
  checkBoth,
  cliBuilt,
  copyDir,
  type HookedRun,
  hashTree,
  initRepo,
  type KillPoint,
  killAtTime,
  opKillPoints,
  PW,
  pseudoRandom,
  resticSnapshotIds,
  runHooked,
  Tally,
  timeKills,
} from "./kill-harness.js";

const OP_KILLS = 12;
const TIME_KILLS = 8;
const PRUNE = ["prune", "--max-unused", "0"];

/**
 * Version `v` of the backed-up tree: shared small files and own small files in one directory
 * (read in one batch by one blob worker, so they share a pack: forgetting a version leaves that
 * pack partly used, for prune to repack), and an own big file.
 */
function writeVersion(src: string, v: number): void {
  rmSync(src, { recursive: true, force: true });
  mkdirSync(path.join(src, "files"), { recursive: true });
  for (let i = 0; i < 30; i++) {
    // files 0..9 never change; the rest change every second version
    const seed = i < 10 ? i : 100 * Math.floor(v / 2) + i;
    writeFileSync(path.join(src, "files", `s${i}`), pseudoRandom(seed, 1000 + 97 * i));
  }
  for (let i = 0; i < 25; i++) {
    writeFileSync(
      path.join(src, "files", `o${i}`),
      pseudoRandom(10_000 * (v + 1) + i, 500 + 61 * i),
    );
  }
  writeFileSync(path.join(src, `big${v}.bin`), pseudoRandom(77 + v, (3 << 19) + v));
}

describe.runIf(hasTool("restic") && cliBuilt())("prune killed with SIGKILL", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let src: string;
  let base: string;
  /** The snapshots prune must keep, with the SHA-256 of each of their files. */
  const kept = new Map<string, Map<string, string>>();
  let probe: HookedRun;

  beforeAll(async () => {
    tmp = await tempDir("restic-ts-kill-prune-");
    src = path.join(tmp.dir, "src");
    base = await initRepo(path.join(tmp.dir, "base"));
    const ids: string[] = [];
    const trees: Map<string, string>[] = [];
    for (let v = 0; v < 4; v++) {
      writeVersion(src, v);
      const r = await runCli(["-r", base, "backup", "--pack-size", "1", "--json", src], {
        RESTIC_PASSWORD: PW,
      });
      expect(r.code, r.stderr).toBe(0);
      ids.push(backupSummary(r.stdout).snapshot_id);
      trees.push(hashTree(src));
    }
    // the summary names a snapshot by its short ID
    const all = await resticSnapshotIds(base);
    for (const v of [1, 3]) kept.set(all.find((id) => id.startsWith(ids[v])) as string, trees[v]);
    const forget = await runCli(["-r", base, "forget", ids[0], ids[2]], { RESTIC_PASSWORD: PW });
    expect(forget.code, forget.stderr).toBe(0);
    expect(await resticSnapshotIds(base)).toEqual([...kept.keys()].sort());
    // an undisturbed prune: it repacks and deletes; its operations and duration place the kills
    const probeRepo = await copyDir(base, path.join(tmp.dir, "probe"));
    probe = await runHooked(["-r", probeRepo, ...PRUNE], tmp.dir);
    expect(probe.code, probe.output).toBe(0);
    expect(
      probe.ops.some((o) => / save data\//.test(o)),
      "prune repacks",
    ).toBe(true);
    expect(probe.ops.filter((o) => / remove data\//.test(o)).length).toBeGreaterThanOrEqual(3);
    expect(
      probe.ops.some((o) => / remove index\//.test(o)),
      "prune rewrites the index",
    ).toBe(true);
    rmSync(probeRepo, { recursive: true, force: true });
  }, 300_000);

  afterAll(async () => {
    await tmp?.cleanup();
  });

  async function verify(tally: Tally, repo: string, n: number): Promise<void> {
    tally.staleLocks += await checkBoth(repo);
    expect(await resticSnapshotIds(repo), "the kept snapshots").toEqual([...kept.keys()].sort());
    for (const [id, files] of kept) {
      const target = path.join(tmp.dir, `restore${n}`);
      await restic(repo, PW, ["restore", id, "--target", target]);
      expect(
        Object.fromEntries(hashTree(path.join(target, src))),
        `snapshot ${id.slice(0, 8)} restored`,
      ).toEqual(Object.fromEntries(files));
      rmSync(target, { recursive: true, force: true });
    }
    // a forced backup of the newest tree (v3, still in src) finds every file's data stored
    const again = await runCli(["-r", repo, "backup", "--force", "--json", src], {
      RESTIC_PASSWORD: PW,
    });
    expect(again.code, again.stderr).toBe(0);
    expect(backupSummary(again.stdout).data_added, "bytes re-uploaded").toBeLessThan(32 * 1024);
    // and a second prune finishes the job
    const prune = await runCli(["-r", repo, ...PRUNE], { RESTIC_PASSWORD: PW });
    expect(prune.code, prune.stderr).toBe(0);
    // nothing is left of the pack a killed run was writing (a temp file in data/)
    const strays = readdirSync(path.join(repo, "data")).filter((n) => !/^[0-9a-f]{2}$/.test(n));
    expect(strays, "unfinished pack files").toEqual([]);
    const check = await restic(repo, PW, ["check"]);
    expect(check.stdout).toContain("no errors were found");
  }

  async function killOne(tally: Tally, point: KillPoint, n: number): Promise<HookedRun> {
    const repo = await copyDir(base, path.join(tmp.dir, `repo${n}`));
    const run = await runHooked(["-r", repo, ...PRUNE], tmp.dir, point);
    await tally.record(point, run, () => verify(tally, repo, n));
    rmSync(repo, { recursive: true, force: true });
    return run;
  }

  it("keeps every kept snapshot after a kill at any backend operation", async () => {
    const tally = new Tally(`prune, killed at backend op (of ${probe.ops.length})`);
    for (const [i, p] of opKillPoints(probe.ops, OP_KILLS).entries()) {
      await killOne(tally, p, i);
    }
    console.log(tally.summary());
    expect(tally.failures).toEqual([]);
    expect(tally.kills).toBe(OP_KILLS);
    expect(tally.consistent).toBe(tally.kills);
    expect(tally.afterChanges, "kills after the repository began to change").toBeGreaterThanOrEqual(
      OP_KILLS / 2,
    );
  }, 600_000);

  it("keeps every kept snapshot after a kill at any moment", async () => {
    const tally = new Tally(`prune, killed by time (run ~${probe.ms} ms)`);
    for (const [i, k] of timeKills(TIME_KILLS).entries()) {
      await killAtTime(probe, k, (p, attempt) => killOne(tally, p, 100 + 10 * i + attempt));
    }
    console.log(tally.summary());
    expect(tally.failures).toEqual([]);
    expect(tally.kills).toBe(TIME_KILLS);
    expect(tally.consistent).toBe(tally.kills);
  }, 600_000);
});
