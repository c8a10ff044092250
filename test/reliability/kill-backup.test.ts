// Crash consistency of backup: the built CLI backing up a changed tree into a repository with
// an earlier snapshot is SIGKILLed at evenly spread backend operations (before or right after
// the operation) and at random moments spread over its run, each time on a fresh copy of the
// repository. After every kill: our `check --read-data` and restic's (after `restic unlock`,
// see kill-harness.ts) pass, the earlier snapshot is still there, and a new backup succeeds
// without storing any blob twice, so whatever the killed run indexed is reused.

import { mkdirSync, rmSync, writeFileSync } from "node:fs";
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
  initRepo,
  type KillPoint,
  killAtTime,
  opKillPoints,
  PW,
  pseudoRandom,
  resticBlobs,
  resticSnapshotIds,
  runHooked,
  Tally,
  timeKills,
} from "./kill-harness.js";

const OP_KILLS = 12;
const TIME_KILLS = 8;

describe.runIf(hasTool("restic") && cliBuilt())("backup killed with SIGKILL", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let src: string;
  let base: string;
  let baseSnapshots: string[];
  let baseBlobs: Set<string>;
  let fullAdded: number;
  let probeOps: number;
  let probe: HookedRun;

  beforeAll(async () => {
    tmp = await tempDir("restic-ts-kill-backup-");
    src = path.join(tmp.dir, "src");
    // the earlier snapshot: one big file and small files
    mkdirSync(path.join(src, "small"), { recursive: true });
    writeFileSync(path.join(src, "big0.bin"), pseudoRandom(1, 2 << 20));
    for (let i = 0; i < 60; i++) {
      writeFileSync(path.join(src, "small", `f${i}`), pseudoRandom(100 + i, i * 150));
    }
    base = path.join(tmp.dir, "base");
    await initRepo(base);
    const first = await runCli(["-r", base, "backup", "--pack-size", "1", src], {
      RESTIC_PASSWORD: PW,
    });
    expect(first.code, first.stderr).toBe(0);
    baseSnapshots = await resticSnapshotIds(base);
    baseBlobs = new Set(await resticBlobs(base));
    // the backup that gets killed: new big files, new and changed small files
    writeFileSync(path.join(src, "big1.bin"), pseudoRandom(2, 2 << 20));
    writeFileSync(path.join(src, "big2.bin"), pseudoRandom(3, (3 << 19) + 12345));
    mkdirSync(path.join(src, "more"));
    for (let i = 0; i < 80; i++) {
      writeFileSync(path.join(src, "more", `g${i}`), pseudoRandom(1000 + i, 200 + i * 211));
    }
    for (let i = 0; i < 60; i += 7) {
      writeFileSync(path.join(src, "small", `f${i}`), pseudoRandom(500 + i, 4000 + i));
    }
    // an undisturbed run: its operations and duration place the kills
    const probeRepo = await copyDir(base, path.join(tmp.dir, "probe"));
    probe = await runHooked(
      ["-r", probeRepo, "backup", "--pack-size", "1", "--json", src],
      tmp.dir,
    );
    expect(probe.code, probe.output).toBe(0);
    fullAdded = backupSummary(probe.output).data_added;
    probeOps = probe.ops.length;
    expect(probe.ops.filter((o) => / save data\//.test(o)).length).toBeGreaterThanOrEqual(4);
    rmSync(probeRepo, { recursive: true, force: true });
  }, 300_000);

  afterAll(async () => {
    await tmp?.cleanup();
  });

  /** Kill one backup on a fresh copy of the base repository; counts the blobs it left indexed. */
  async function killOne(
    tally: Tally,
    point: KillPoint,
    n: number,
  ): Promise<{ run: HookedRun; survivors: number }> {
    const repo = await copyDir(base, path.join(tmp.dir, `repo${n}`));
    const run = await runHooked(["-r", repo, "backup", "--pack-size", "1", src], tmp.dir, point);
    let survivors = 0;
    await tally.record(point, run, async () => {
      tally.staleLocks += await checkBoth(repo);
      const snaps = await resticSnapshotIds(repo);
      for (const id of baseSnapshots) expect(snaps, "the earlier snapshot").toContain(id);
      expect(snaps.length).toBeLessThanOrEqual(baseSnapshots.length + 1);
      survivors = (await resticBlobs(repo)).filter((b) => !baseBlobs.has(b)).length;
      // a fresh backup succeeds and stores no blob the killed run had indexed again
      const again = await runCli(["-r", repo, "backup", "--pack-size", "1", "--json", src], {
        RESTIC_PASSWORD: PW,
      });
      expect(again.code, again.stderr).toBe(0);
      const blobs = await resticBlobs(repo);
      const dups = blobs.filter((b, i) => blobs.indexOf(b) !== i);
      expect(dups, "blobs stored twice after the resumed backup").toEqual([]);
      if (survivors > 0) expect(backupSummary(again.stdout).data_added).toBeLessThan(fullAdded);
      const check = await restic(repo, PW, ["check"]);
      expect(check.stdout).toContain("no errors were found");
    });
    rmSync(repo, { recursive: true, force: true });
    return { run, survivors };
  }

  it("is consistent after a kill at any backend operation", async () => {
    const tally = new Tally(`backup, killed at backend op (of ${probeOps})`);
    let reused = 0;
    for (const [i, p] of opKillPoints(probe.ops, OP_KILLS).entries()) {
      reused += (await killOne(tally, p, i)).survivors;
    }
    console.log(`${tally.summary()}; ${reused} indexed blobs of killed runs reused`);
    expect(tally.failures).toEqual([]);
    expect(tally.kills).toBe(OP_KILLS);
    expect(tally.consistent).toBe(tally.kills);
    expect(tally.afterChanges, "kills after the repository began to change").toBeGreaterThanOrEqual(
      OP_KILLS / 2,
    );
    // some kills came after packs were indexed, so the reuse check was not vacuous
    expect(reused).toBeGreaterThan(0);
  }, 600_000);

  it("is consistent after a kill at any moment", async () => {
    const tally = new Tally(`backup, killed by time (run ~${probe.ms} ms)`);
    for (const [i, k] of timeKills(TIME_KILLS).entries()) {
      await killAtTime(probe, k, async (p, attempt) => {
        return (await killOne(tally, p, 100 + 10 * i + attempt)).run;
      });
    }
    console.log(tally.summary());
    expect(tally.failures).toEqual([]);
    expect(tally.kills).toBe(TIME_KILLS);
    expect(tally.consistent).toBe(tally.kills);
  }, 600_000);
});
