// Maintenance benchmark: restic-ts (the built CLI) beside restic 0.14 on copies of the same
// restic-made repository, as ratios of wall time, CPU time (user + system, all threads: less
// sensitive than wall time to a busy machine) and peak RSS, measured with /usr/bin/time -v
// (without it: wall time only).
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

import { execFileSync, spawnSync } from "node:child_process";
import { createCipheriv } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

const MB = Number(process.env.MAINT_BENCH_MB ?? 1024);
const SNAPSHOTS = Number(process.env.MAINT_BENCH_SNAPSHOTS ?? 8);
const RUNS = Number(process.env.MAINT_BENCH_RUNS ?? 3);
const ONLY = (process.env.MAINT_BENCH_ONLY ?? "baseline,check,prune").split(",");
const BASE = process.env.MAINT_BENCH_DIR ?? "/tmp/restic-ts-bench-maintenance";
const PASSWORD = "bench-password";
const CLI = path.resolve(import.meta.dirname, "..", "src", "cli", "main.js");
const TIME = fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;
const COMPARE = process.env.MAINT_BENCH_COMPARE;

const env = {
  ...process.env,
  RESTIC_PASSWORD: PASSWORD,
  RESTIC_CACHE_DIR: path.join(BASE, "cache"),
};

/** A deterministic byte stream (AES-128-CTR key stream). */
function stream(seed: number): (n: number) => Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed);
  const c = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  return (n) => c.update(Buffer.alloc(n));
}

function writeRandom(file: string, mib: number, seed: number): void {
  const next = stream(seed);
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

interface Measure {
  seconds: number;
  /** User + system CPU seconds (all threads). */
  cpu: number;
  rssMiB: number;
  ok: boolean;
  output: string;
}

function measure(cmd: string, args: string[]): Measure {
  if (TIME !== undefined) {
    const r = spawnSync(TIME, ["-v", cmd, ...args], { env, encoding: "utf8", maxBuffer: 1 << 26 });
    const err = r.stderr;
    const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(
      err,
    );
    const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
    const user = /User time \(seconds\): ([\d.]+)/.exec(err);
    const sys = /System time \(seconds\): ([\d.]+)/.exec(err);
    const seconds = wall
      ? Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3])
      : Number.NaN;
    return {
      seconds,
      cpu: user && sys ? Number(user[1]) + Number(sys[1]) : Number.NaN,
      rssMiB: rss ? Number(rss[1]) / 1024 : Number.NaN,
      ok: r.status === 0,
      output: r.stdout + err,
    };
  }
  // without GNU time there is no portable way to read a child's peak RSS from Node
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { env, encoding: "utf8", maxBuffer: 1 << 26 });
  return {
    seconds: (performance.now() - t0) / 1000,
    cpu: Number.NaN,
    rssMiB: Number.NaN,
    ok: r.status === 0,
    output: r.stdout + r.stderr,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function report(name: string, ours: Measure[], theirs: Measure[]): string {
  const med = (ms: Measure[]) => ({
    s: median(ms.map((m) => m.seconds)),
    c: median(ms.map((m) => m.cpu)),
    r: median(ms.map((m) => m.rssMiB)),
  });
  const o = med(ours);
  const t = med(theirs);
  const cell = (x: typeof o) => `${x.s.toFixed(2)} / ${x.c.toFixed(2)} / ${x.r.toFixed(0)}`;
  return `| ${name} | ${cell(o)} | ${cell(t)} | ${(o.s / t.s).toFixed(2)}x | ${(o.c / t.c).toFixed(2)}x | ${(o.r / t.r).toFixed(2)}x |`;
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
      ours.push(measure("node", [CLI, "-r", repo, "list", "snapshots"]));
      theirs.push(measure("restic", ["-r", repo, "list", "snapshots"]));
    }
    rows.push(report("list snapshots (fixed cost of a command)", ours, theirs));
  }
  if (ONLY.includes("check")) {
    const ours: Measure[] = [];
    const theirs: Measure[] = [];
    for (let i = 0; i < RUNS; i++) {
      const a = measure("node", [CLI, "-r", repo, "check", "--read-data"]);
      if (!a.ok) fail("restic-ts check", a);
      ours.push(a);
      const b = measure("restic", ["-r", repo, "check", "--read-data"]);
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
      ["ours", ours, "node", [CLI]],
      ["restic", theirs, "restic", []],
    ];
    if (COMPARE !== undefined) tools.push(["before", before, "node", [COMPARE]]);
    for (let i = 0; i < RUNS; i++) {
      for (const [who, list, cmd, pre] of tools) {
        fs.rmSync(work, { recursive: true, force: true });
        execFileSync("cp", ["-r", forgotten, work]);
        const m = measure(cmd, [...pre, "-r", work, "prune"]);
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
    `restic-ts vs restic ${restic(repo, ["version"]).trim() || "0.14"}; ${RUNS} runs, medians; wall s / CPU s / peak RSS MiB`,
  );
  console.log("| operation | restic-ts | restic 0.14 | time ratio | CPU ratio | RSS ratio |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const r of rows) console.log(r);
}

main();
