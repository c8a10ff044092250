// Backup speed and memory, restic-ts against `restic backup` (0.14) in one run: 1 GiB random
// data (one file), 1 GiB compressible log text (one file) and 20,000 small files, each as a
// fresh backup into a new v2 repository, an unchanged re-run (parent snapshot) and a --force
// re-read. Wall time, peak RSS (/usr/bin/time) and the sampled peak of private memory
// (measure.ts) per command; ratio = restic-ts / restic.
//
//   npm run build && node dist/bench/backup.js [--size MiB] [--files N] [--rounds N] [--keep]
//     [--only random,text,small] [--compare OTHER/dist/src/cli/main.js]
//
// --compare also runs another restic-ts build (e.g. a copy of the previous commit's dist/),
// interleaved with the other two, and adds its figures and ratios as "before" columns.
//
// Both tools run as child processes from the page cache (the data is read once before).

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { BUILT_CLI, cliCommand, type Measure, measureOk, medians, memoryCell } from "./measure.js";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: "1024" },
    files: { type: "string", default: "20000" },
    rounds: { type: "string", default: "1" },
    dir: { type: "string", default: path.join(os.tmpdir(), "restic-ts-bench-backup") },
    only: { type: "string" },
    keep: { type: "boolean", default: false },
    compare: { type: "string" },
  },
});

const SIZE = Number(values.size) * 1024 * 1024;
const FILES = Number(values.files);
const ROUNDS = Number(values.rounds);
const ROOT = values.dir as string;
const PW = "bench";
const CLI = BUILT_CLI;
const BEFORE = values.compare === undefined ? undefined : path.resolve(values.compare);
type Tool = "restic" | "restic-ts" | "before";
const TOOLS: Tool[] =
  BEFORE === undefined ? ["restic", "restic-ts"] : ["restic", "restic-ts", "before"];

function logText(n: number): Buffer {
  const levels = ["INFO", "WARN", "DEBUG", "ERROR"];
  const words =
    "request served user login cache miss hit backend timeout retry connection closed session token".split(
      " ",
    );
  let seed = 1;
  const rnd = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
    return seed;
  };
  const parts: string[] = [];
  let len = 0;
  let t = 1_700_000_000_000;
  while (len < n) {
    t += rnd() % 1000;
    const line = `${new Date(t).toISOString()} ${levels[rnd() % 4]} [worker-${rnd() % 16}] ${words[rnd() % words.length]} id=${rnd().toString(16)} latency=${rnd() % 5000}ms path=/api/v1/${words[rnd() % words.length]}/${rnd() % 100000}\n`;
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join("").slice(0, n));
}

function prepare(): Record<string, string> {
  const sets: Record<string, string> = {
    random: path.join(ROOT, "data", "random"),
    text: path.join(ROOT, "data", "text"),
    small: path.join(ROOT, "data", "small"),
  };
  const stamp = path.join(ROOT, "data", `.ready-${SIZE}-${FILES}`);
  if (existsSync(stamp)) return sets;
  rmSync(path.join(ROOT, "data"), { recursive: true, force: true });
  for (const d of Object.values(sets)) mkdirSync(d, { recursive: true });
  const chunk = 64 * 1024 * 1024;
  for (let off = 0; off < SIZE; off += chunk) {
    writeFileSync(path.join(sets.random, "random.bin"), randomBytes(Math.min(chunk, SIZE - off)), {
      flag: "a",
    });
  }
  for (let off = 0; off < SIZE; off += chunk) {
    writeFileSync(path.join(sets.text, "app.log"), logText(Math.min(chunk, SIZE - off)), {
      flag: "a",
    });
  }
  const perDir = 200;
  for (let i = 0; i < FILES; i++) {
    const dir = path.join(sets.small, `d${Math.floor(i / perDir)}`);
    if (i % perDir === 0) mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `f${i}`), randomBytes(Math.floor(Math.random() * 17_400)));
  }
  writeFileSync(stamp, "");
  return sets;
}

function timed(cmd: string, args: string[], cwd: string): Measure {
  return measureOk(cmd, { ...process.env, RESTIC_PASSWORD: PW }, args, { cwd });
}

function backupCmd(tool: Tool, repo: string, extra: string[]): [string, string[]] {
  if (tool === "restic")
    return ["restic", ["--no-cache", "-q", "-r", repo, "backup", ...extra, "."]];
  const cli = tool === "before" ? (BEFORE as string) : CLI;
  const [cmd, pre] = cliCommand(cli);
  return [cmd, [...pre, "-q", "-r", repo, "backup", ...extra, "."]];
}

const sets = prepare();
execFileSync("cat", [path.join(sets.random, "random.bin"), path.join(sets.text, "app.log")], {
  stdio: "ignore",
});
const rows: string[] = [];
rows.push(
  BEFORE === undefined
    ? "| data | run | restic s / MiB (private) | restic-ts s / MiB (private) | time ratio | RSS ratio | private ratio |"
    : "| data | run | restic s / MiB (private) | restic-ts s / MiB (private) | time ratio | RSS ratio | private ratio | before s / MiB (private) | before time ratio | before RSS ratio |",
);
rows.push(
  BEFORE === undefined
    ? "|---|---|---:|---:|---:|---:|---:|"
    : "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
);
for (const [name, dir] of Object.entries(sets)) {
  if (values.only !== undefined && !values.only.split(",").includes(name)) continue;
  const results: Record<string, Record<string, Measure[]>> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const tool of TOOLS) {
      const repo = path.join(ROOT, "repos", `${name}-${tool}`);
      rmSync(repo, { recursive: true, force: true });
      execFileSync("restic", ["init", "-q", "-r", repo], {
        env: { ...process.env, RESTIC_PASSWORD: PW },
      });
      for (const [run, extra] of [
        ["fresh", []],
        ["unchanged", []],
        ["--force", ["--force"]],
      ] as const) {
        const [cmd, args] = backupCmd(tool, repo, [...extra]);
        const r = timed(cmd, args, dir);
        results[run] ??= {};
        results[run][tool] ??= [];
        results[run][tool].push(r);
        process.stderr.write(
          `${name} ${run} ${tool}: ${r.seconds.toFixed(2)} s ${memoryCell({ r: r.rssMiB, a: r.anonMiB })} MiB\n`,
        );
      }
      if (!values.keep) rmSync(repo, { recursive: true, force: true });
    }
  }
  for (const run of ["fresh", "unchanged", "--force"]) {
    const a = medians(results[run].restic);
    const b = medians(results[run]["restic-ts"]);
    let row = `| ${name} | ${run} | ${a.s.toFixed(2)} / ${memoryCell(a)} | ${b.s.toFixed(2)} / ${memoryCell(b)} | ${(b.s / a.s).toFixed(2)} | ${(b.r / a.r).toFixed(2)} | ${(b.a / a.a).toFixed(2)} |`;
    const before = results[run].before;
    if (before !== undefined) {
      const c = medians(before);
      row += ` ${c.s.toFixed(2)} / ${memoryCell(c)} | ${(c.s / a.s).toFixed(2)} | ${(c.r / a.r).toFixed(2)} |`;
    }
    rows.push(row);
  }
}
process.stdout.write(
  `sizes: ${SIZE / 1048576} MiB, ${FILES} small files; rounds: ${ROUNDS}\n${rows.join("\n")}\n`,
);
