// Restore benchmark: restic-ts (the built CLI) against restic 0.14 restoring the same
// snapshots, in one run, as wall-time ratios, peak RSS (/usr/bin/time -v) and the sampled peak
// of private memory (measure.ts).
//
// Data sets (sizes configurable for a quick run):
//   random  RESTORE_BENCH_MB MiB of random bytes in one file          (default 1024)
//   text    RESTORE_BENCH_MB MiB of compressible log text in one file  (default 1024)
//   small   RESTORE_BENCH_FILES small files (~8.7 KB average)          (default 20000)
// Repositories: v2 for all three, plus v1 for random (RESTORE_BENCH_V1=0 to skip); made once
// with `restic backup` and kept in RESTORE_BENCH_DIR (default /tmp/restic-ts-bench-restore)
// for later runs with the same sizes. Each restore runs RESTORE_BENCH_RUNS times (default 3),
// alternating the two programs; medians are printed.
//
//   npm run build && node dist/bench/restore.js
//   RESTORE_BENCH_MB=128 RESTORE_BENCH_FILES=2000 RESTORE_BENCH_RUNS=1 node dist/bench/restore.js

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import {
  BUILT_CLI,
  cliCommand,
  keyStream,
  type Measure,
  measureOk,
  medians,
  memoryCell,
} from "./measure.js";

const MB = Number(process.env.RESTORE_BENCH_MB ?? 1024);
const FILES = Number(process.env.RESTORE_BENCH_FILES ?? 20000);
const RUNS = Number(process.env.RESTORE_BENCH_RUNS ?? 3);
const WITH_V1 = process.env.RESTORE_BENCH_V1 !== "0";
const ONLY = process.env.RESTORE_BENCH_ONLY?.split(",");
const BASE = process.env.RESTORE_BENCH_DIR ?? "/tmp/restic-ts-bench-restore";
const PASSWORD = "bench-password";
const [oursCmd, oursPre] = cliCommand(BUILT_CLI);

const env = {
  ...process.env,
  RESTIC_PASSWORD: PASSWORD,
  RESTIC_CACHE_DIR: path.join(BASE, "cache"),
};

function makeRandom(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const next = keyStream(1);
  const fd = fs.openSync(path.join(dir, "random.bin"), "w");
  for (let left = MB * 2 ** 20; left > 0; left -= 2 ** 20)
    fs.writeSync(fd, next(Math.min(left, 2 ** 20)));
  fs.closeSync(fd);
}

function makeText(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const next = keyStream(2);
  const levels = ["INFO", "DEBUG", "WARN", "ERROR"];
  const paths = ["/api/v1/items", "/api/v1/users", "/health", "/static/app.js", "/login"];
  const fd = fs.openSync(path.join(dir, "log.txt"), "w");
  let t = Date.UTC(2026, 0, 1);
  let written = 0;
  const target = MB * 2 ** 20;
  while (written < target) {
    const r = next(4096);
    let chunk = "";
    for (let i = 0; i + 8 <= r.length && chunk.length < 60000; i += 8) {
      t += r[i] * 3;
      chunk += `${new Date(t).toISOString()} ${levels[r[i + 1] & 3]} [worker-${r[i + 2] & 31}] ${
        paths[r[i + 3] % paths.length]
      }/${r.readUInt16LE(i + 4)} status=${r[i + 6] & 1 ? 200 : 404} took=${r[i + 7]}ms\n`;
    }
    const b = Buffer.from(chunk.slice(0, Math.max(0, target - written)));
    fs.writeSync(fd, b);
    written += b.length;
  }
  fs.closeSync(fd);
}

function makeSmall(dir: string): void {
  const next = keyStream(3);
  for (let i = 0; i < FILES; i++) {
    const d = path.join(dir, `d${String(Math.floor(i / 100)).padStart(4, "0")}`);
    if (i % 100 === 0) fs.mkdirSync(d, { recursive: true });
    const r = next(4);
    // sizes 0..~35 KB, skewed small, ~8.7 KB on average
    const size = Math.floor((r.readUInt16LE(0) / 65536) ** 2 * 26000);
    fs.writeFileSync(path.join(d, `f${i}.dat`), next(size));
  }
}

interface DataSet {
  readonly name: string;
  readonly version: 1 | 2;
  readonly make: (dir: string) => void;
  readonly tag: string;
}

const sets: DataSet[] = [
  { name: `random ${MB} MiB`, version: 2 as const, make: makeRandom, tag: `random-${MB}` },
  { name: `text ${MB} MiB`, version: 2 as const, make: makeText, tag: `text-${MB}` },
  { name: `${FILES} small files`, version: 2 as const, make: makeSmall, tag: `small-${FILES}` },
  ...(WITH_V1
    ? [{ name: `random ${MB} MiB, v1`, version: 1 as const, make: makeRandom, tag: `random-${MB}` }]
    : []),
].filter((s) => !ONLY || ONLY.some((o) => s.tag.startsWith(o)));

function prepare(set: DataSet): string {
  const src = path.join(BASE, "src", set.tag);
  const repo = path.join(BASE, `repo-v${set.version}-${set.tag}`);
  if (!fs.existsSync(path.join(src, ".done"))) {
    fs.rmSync(src, { recursive: true, force: true });
    console.error(`making ${set.name} in ${src}`);
    set.make(src);
    fs.writeFileSync(path.join(src, ".done"), "");
  }
  if (!fs.existsSync(path.join(repo, "config"))) {
    fs.rmSync(repo, { recursive: true, force: true });
    console.error(`backing up ${set.name} into ${repo}`);
    execFileSync("restic", ["-r", repo, "init", "--repository-version", String(set.version)], {
      env,
      stdio: "ignore",
    });
    execFileSync("restic", ["-r", repo, "backup", "--no-cache", "."], {
      cwd: src,
      env,
      stdio: "ignore",
    });
  }
  return repo;
}

function timed([cmd, ...args]: string[]): Measure {
  return measureOk(cmd, env, args);
}

function main(): void {
  fs.mkdirSync(BASE, { recursive: true });
  const rows: string[] = [];
  for (const set of sets) {
    const repo = prepare(set);
    if (RUNS === 0) continue; // RESTORE_BENCH_RUNS=0: only make the data and repositories
    const target = path.join(BASE, "target");
    const restic: Measure[] = [];
    const ours: Measure[] = [];
    for (let i = 0; i < RUNS; i++) {
      for (const who of i % 2 === 0 ? ["restic", "ours"] : ["ours", "restic"]) {
        fs.rmSync(target, { recursive: true, force: true });
        if (who === "restic") {
          restic.push(
            timed(["restic", "-r", repo, "--no-cache", "restore", "latest", "--target", target]),
          );
        } else {
          ours.push(
            timed([oursCmd, ...oursPre, "-r", repo, "restore", "latest", "--target", target]),
          );
        }
      }
    }
    fs.rmSync(target, { recursive: true, force: true });
    const r = medians(restic);
    const o = medians(ours);
    const row = `| ${set.name} | ${r.s.toFixed(2)} / ${memoryCell(r)} | ${o.s.toFixed(2)} / ${memoryCell(o)} | ${(o.s / r.s).toFixed(2)}x | ${(o.r / r.r).toFixed(2)}x | ${(o.a / r.a).toFixed(2)}x |`;
    console.log(row);
    rows.push(row);
  }
  console.log(
    "\n| data | restic s / MiB (private) | restic-ts s / MiB (private) | time ratio | RSS ratio | private ratio |",
  );
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const r of rows) console.log(r);
}

main();
