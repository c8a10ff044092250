// Maintenance benchmark: restic-ts (the built CLI) beside restic 0.14 on copies of the same
// restic-made repository, as ratios of wall time, CPU time (user + system, all threads: less
// sensitive than wall time to a busy machine), peak RSS (/usr/bin/time -v; without it: wall
// time only) and the sampled peak of private memory (measure.ts).
//
//   check --read-data   on the whole repository (read-only, the same copy for both)
//   prune               after `restic forget --keep-last N/2` (the older half), on a fresh copy
//                       per run, default --max-unused 5%
//
// The repository (v2, random data): snapshot i holds shared.bin (MAINT_BENCH_MB/16 MiB, the
// same in every snapshot) and part-i.bin (MAINT_BENCH_MB/N MiB of its own), so forgetting the
// older half leaves whole packs unused and some packs partly used (repacked). It is made once
// with `restic backup` and kept in MAINT_BENCH_DIR for later runs with the same sizes.
//
//   npm run build && node dist/bench/maintenance.js
//   MAINT_BENCH_MB=256 MAINT_BENCH_RUNS=1 node dist/bench/maintenance.js
// Environment: MAINT_BENCH_MB (1024), MAINT_BENCH_SNAPSHOTS (8), MAINT_BENCH_RUNS (3),
// MAINT_BENCH_ONLY (baseline,check,prune), MAINT_BENCH_DIR (/tmp/restic-ts-bench-maintenance),
// MAINT_BENCH_COMPARE (another build's dist/src/cli/main.js, e.g. the previous commit's: its
// prune runs interleaved with the other two and gets a row of its own, against restic).

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { BUILT_CLI, cliCommand, keyStream, type Measure, measure, report } from "./measure.js";

const MB = Number(process.env.MAINT_BENCH_MB ?? 1024);
const SNAPSHOTS = Number(process.env.MAINT_BENCH_SNAPSHOTS ?? 8);
const RUNS = Number(process.env.MAINT_BENCH_RUNS ?? 3);
const ONLY = (process.env.MAINT_BENCH_ONLY ?? "baseline,check,prune").split(",");
const BASE = process.env.MAINT_BENCH_DIR ?? "/tmp/restic-ts-bench-maintenance";
const PASSWORD = "bench-password";
const [oursCmd, oursPre] = cliCommand(BUILT_CLI);
const COMPARE = process.env.MAINT_BENCH_COMPARE;

const env = {
  ...process.env,
  RESTIC_PASSWORD: PASSWORD,
  RESTIC_CACHE_DIR: path.join(BASE, "cache"),
};

function writeRandom(file: string, mib: number, seed: number): void {
  const next = keyStream(seed);
  const fd = fs.openSync(file, "w");
  for (let left = Math.round(mib * 2 ** 20); left > 0; left -= 2 ** 20) {
    fs.writeSync(fd, next(Math.min(left, 2 ** 20)));
  }
  fs.closeSync(fd);
}

function restic(repo: string, args: string[]): string {
  return execFileSync("restic", ["-r", repo, ...args], { env, encoding: "utf8" });
}

/** The base repository (made once) and its forgotten-half variant. */
function prepare(): { repo: string; forgotten: string } {
  const dir = path.join(BASE, `random-${MB}-${SNAPSHOTS}`);
  const repo = path.join(dir, "repo");
  const forgotten = path.join(dir, "forgotten");
  if (!fs.existsSync(path.join(dir, "done"))) {
    fs.rmSync(dir, { recursive: true, force: true });
    const src = path.join(dir, "src");
    fs.mkdirSync(src, { recursive: true });
    restic(repo, ["init", "-q", "--repository-version", "2"]);
    writeRandom(path.join(src, "shared.bin"), MB / 16, 1000);
    for (let i = 0; i < SNAPSHOTS; i++) {
      for (const f of fs.readdirSync(src)) if (f.startsWith("part-")) fs.rmSync(path.join(src, f));
      writeRandom(path.join(src, `part-${i}.bin`), MB / SNAPSHOTS, i + 1);
      restic(repo, [
        "backup",
        "-q",
        "--host",
        "bench",
        "--time",
        `2022-01-${String(i + 1).padStart(2, "0")} 00:00:00`,
        src,
      ]);
    }
    fs.rmSync(src, { recursive: true });
    execFileSync("cp", ["-r", repo, forgotten]);
    restic(forgotten, ["forget", "-q", "--keep-last", String(Math.ceil(SNAPSHOTS / 2))]);
    fs.writeFileSync(path.join(dir, "done"), "");
  }
  return { repo, forgotten };
}

function fail(what: string, m: Measure): never {
  throw new Error(`${what} failed:\n${m.output}`);
}

function main(): void {
  fs.mkdirSync(BASE, { recursive: true });
  const { repo, forgotten } = prepare();
  const rows: string[] = [];
  if (ONLY.includes("baseline")) {
    // the fixed cost of any command: start-up, key derivation, listing
    const ours: Measure[] = [];
    const theirs: Measure[] = [];
    for (let i = 0; i < RUNS; i++) {
      ours.push(measure(oursCmd, env, [...oursPre, "-r", repo, "list", "snapshots"]));
      theirs.push(measure("restic", env, ["-r", repo, "list", "snapshots"]));
    }
    rows.push(report("list snapshots (fixed cost of a command)", ours, theirs));
  }
  if (ONLY.includes("check")) {
    const ours: Measure[] = [];
    const theirs: Measure[] = [];
    for (let i = 0; i < RUNS; i++) {
      const a = measure(oursCmd, env, [...oursPre, "-r", repo, "check", "--read-data"]);
      if (!a.ok) fail("restic-ts check", a);
      ours.push(a);
      const b = measure("restic", env, ["-r", repo, "check", "--read-data"]);
      if (!b.ok) fail("restic check", b);
      theirs.push(b);
    }
    rows.push(report(`check --read-data, ${MB} MiB random`, ours, theirs));
  }
  if (ONLY.includes("prune")) {
    const ours: Measure[] = [];
    const theirs: Measure[] = [];
    const before: Measure[] = [];
    const work = path.join(BASE, "prune-work");
    const tools: [string, Measure[], string, string[]][] = [
      ["ours", ours, oursCmd, oursPre],
      ["restic", theirs, "restic", []],
    ];
    if (COMPARE !== undefined) tools.push(["before", before, ...cliCommand(COMPARE)]);
    for (let i = 0; i < RUNS; i++) {
      for (const [who, list, cmd, pre] of tools) {
        fs.rmSync(work, { recursive: true, force: true });
        execFileSync("cp", ["-r", forgotten, work]);
        const m = measure(cmd, env, [...pre, "-r", work, "prune"]);
        if (!m.ok) fail(`${who} prune`, m);
        list.push(m);
        // the result must satisfy restic
        restic(work, ["check", "-q"]);
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
    const name = `prune after forgetting ${Math.floor(SNAPSHOTS / 2)} of ${SNAPSHOTS}`;
    rows.push(report(name, ours, theirs));
    if (COMPARE !== undefined) rows.push(report(`${name} (before: ${COMPARE})`, before, theirs));
  }
  console.log(
    `restic-ts vs restic ${restic(repo, ["version"]).trim() || "0.14"}; ${RUNS} runs, medians; wall s / CPU s / peak RSS MiB (sampled peak of private memory, MiB)`,
  );
  console.log(
    "| operation | restic-ts | restic 0.14 | time ratio | CPU ratio | RSS ratio | private ratio |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) console.log(r);
}

main();
