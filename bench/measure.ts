// One command's cost for the benchmarks that compare whole commands with restic's: wall
// seconds, CPU seconds (user + system, all threads: less sensitive than wall time to a busy
// machine) and peak RSS, measured with GNU time (`/usr/bin/time -v`); without it, wall time
// only. Beside the peak RSS, a sampled peak of the command's private memory (RssAnon in
// /proc/PID/status, every 5 ms, from a worker thread while this one waits): RSS also counts
// the program's own file-backed pages (Node's ~100 MB binary maps 30-48 MB of them, restic's
// ~15 MB), which are shared, clean page cache. Medians and a table row of restic-ts against
// restic.

import { spawnSync } from "node:child_process";
import { createCipheriv } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

const TIME = fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

export interface Measure {
  seconds: number;
  /** User + system CPU seconds (all threads). */
  cpu: number;
  /** Peak resident set size (GNU time's maximum RSS). */
  rssMiB: number;
  /** Sampled peak of private (anonymous) resident memory; NaN where /proc is missing. */
  anonMiB: number;
  ok: boolean;
  /** Standard output (unless discarded) and standard error. */
  output: string;
}

// The sampler thread: ctl[0] = 1 while a command runs (0 idle, 2 quit), ctl[1] = peak RssAnon
// in KiB of this process's descendants (GNU time itself left out), ctl[2] = 1 once a run's
// sampling has ended.
const SAMPLER_SOURCE = `
const fs = require("node:fs");
const { workerData } = require("node:worker_threads");
const ctl = new Int32Array(workerData.shared);
const root = workerData.pid;
function read(p) { try { return fs.readFileSync(p, "utf8"); } catch { return ""; } }
function children(pid) {
  const out = [];
  let tasks = [];
  try { tasks = fs.readdirSync("/proc/" + pid + "/task"); } catch { return out; }
  for (const t of tasks) {
    for (const c of read("/proc/" + pid + "/task/" + t + "/children").split(" ")) {
      if (c.trim() !== "") out.push(Number(c));
    }
  }
  return out;
}
function anonKiB() {
  let sum = 0;
  const stack = children(root);
  while (stack.length > 0) {
    const pid = stack.pop();
    const status = read("/proc/" + pid + "/status");
    const name = /^Name:\\s*(\\S+)/m.exec(status);
    const anon = /^RssAnon:\\s*(\\d+)/m.exec(status);
    if (anon && !(name && name[1] === "time")) sum += Number(anon[1]);
    stack.push(...children(pid));
  }
  return sum;
}
for (;;) {
  Atomics.wait(ctl, 0, 0);
  if (Atomics.load(ctl, 0) === 2) break;
  while (Atomics.load(ctl, 0) === 1) {
    const kib = anonKiB();
    if (kib > ctl[1]) Atomics.store(ctl, 1, kib);
    Atomics.wait(ctl, 0, 1, 5);
  }
  Atomics.store(ctl, 2, 1);
  Atomics.notify(ctl, 2);
}
`;

let sampler: { worker: Worker; ctl: Int32Array } | null | undefined;

function startSampling(): Int32Array | null {
  if (sampler === undefined) {
    sampler = null;
    if (fs.existsSync(`/proc/${process.pid}/task/${process.pid}/children`)) {
      const shared = new SharedArrayBuffer(12);
      const worker = new Worker(SAMPLER_SOURCE, {
        eval: true,
        workerData: { shared, pid: process.pid },
      });
      worker.unref();
      sampler = { worker, ctl: new Int32Array(shared) };
    }
  }
  if (sampler === null) return null;
  const { ctl } = sampler;
  Atomics.store(ctl, 1, 0);
  Atomics.store(ctl, 2, 0);
  Atomics.store(ctl, 0, 1);
  Atomics.notify(ctl, 0);
  return ctl;
}

/** End a run's sampling; its peak private memory in MiB (NaN without a sampler). */
function stopSampling(ctl: Int32Array | null): number {
  if (ctl === null) return Number.NaN;
  Atomics.store(ctl, 0, 0);
  Atomics.notify(ctl, 0);
  // The worker may not have begun yet (a first run): it then finds 0 and samples nothing.
  Atomics.wait(ctl, 2, 0, 1000);
  const kib = Atomics.load(ctl, 1);
  return kib > 0 ? kib / 1024 : Number.NaN;
}

/**
 * How to start the restic-ts CLI at `cli`: the file itself, through its launcher line (as the
 * installed `restic-ts` runs), or through node when it is not executable (an older build).
 */
export function cliCommand(cli: string): [string, string[]] {
  try {
    fs.accessSync(cli, fs.constants.X_OK);
    return [cli, []];
  } catch {
    return [process.execPath, [cli]];
  }
}

/** The restic-ts CLI next to the benches in the build output (dist/src/cli/main.js). */
export const BUILT_CLI = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
  "src",
  "cli",
  "main.js",
);

/** A deterministic byte stream for bench data (AES-128-CTR key stream of `seed`). */
export function keyStream(seed: number): (n: number) => Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed);
  const c = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  return (n) => c.update(Buffer.alloc(n));
}

export interface MeasureOptions {
  /** Send the command's standard output to /dev/null. */
  discardStdout?: boolean;
  cwd?: string;
}

/** Run `cmd args` with `env` (`discardStdout`: its standard output goes to /dev/null). */
export function measure(
  cmd: string,
  env: NodeJS.ProcessEnv,
  args: string[],
  options: boolean | MeasureOptions = false,
): Measure {
  const opts = typeof options === "boolean" ? { discardStdout: options } : options;
  const devNull = opts.discardStdout ? fs.openSync("/dev/null", "w") : undefined;
  const stdio: ("pipe" | "ignore" | number)[] = ["ignore", devNull ?? "pipe", "pipe"];
  const spawnOpts = { env, cwd: opts.cwd, encoding: "utf8" as const, maxBuffer: 1 << 26, stdio };
  const ctl = startSampling();
  let anonMiB = Number.NaN;
  try {
    if (TIME !== undefined) {
      const r = spawnSync(TIME, ["-v", cmd, ...args], spawnOpts);
      anonMiB = stopSampling(ctl);
      const err = r.stderr;
      const wall =
        /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(err);
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
        anonMiB,
        ok: r.status === 0,
        output: (r.stdout ?? "") + err,
      };
    }
    // without GNU time there is no portable way to read a child's peak RSS from Node
    const t0 = performance.now();
    const r = spawnSync(cmd, args, spawnOpts);
    anonMiB = stopSampling(ctl);
    return {
      seconds: (performance.now() - t0) / 1000,
      cpu: Number.NaN,
      rssMiB: Number.NaN,
      anonMiB,
      ok: r.status === 0,
      output: (r.stdout ?? "") + (r.stderr ?? ""),
    };
  } finally {
    if (Number.isNaN(anonMiB)) stopSampling(ctl);
    if (devNull !== undefined) fs.closeSync(devNull);
  }
}

/** `measure`, throwing with the command's output when it fails. */
export function measureOk(
  cmd: string,
  env: NodeJS.ProcessEnv,
  args: string[],
  options: boolean | MeasureOptions = false,
): Measure {
  const m = measure(cmd, env, args, options);
  if (!m.ok) throw new Error(`${cmd} ${args.join(" ")} failed:\n${m.output}`);
  return m;
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Medians of runs: wall s, CPU s, peak RSS MiB, peak private MiB. */
export function medians(ms: Measure[]): { s: number; c: number; r: number; a: number } {
  return {
    s: median(ms.map((m) => m.seconds)),
    c: median(ms.map((m) => m.cpu)),
    r: median(ms.map((m) => m.rssMiB)),
    a: median(ms.map((m) => m.anonMiB)),
  };
}

/** "RSS (private)" in MiB, as the tables print it. */
export function memoryCell(m: { r: number; a: number }): string {
  return `${m.r.toFixed(0)} (${m.a.toFixed(0)})`;
}

/**
 * A markdown row: medians (wall s / CPU s / RSS MiB (private MiB)) of both, and the ratios of
 * time, CPU, RSS and private memory.
 */
export function report(name: string, ours: Measure[], theirs: Measure[]): string {
  const o = medians(ours);
  const t = medians(theirs);
  const cell = (x: typeof o) => `${x.s.toFixed(2)} / ${x.c.toFixed(2)} / ${memoryCell(x)}`;
  return `| ${name} | ${cell(o)} | ${cell(t)} | ${(o.s / t.s).toFixed(2)}x | ${(o.c / t.c).toFixed(2)}x | ${(o.r / t.r).toFixed(2)}x | ${(o.a / t.a).toFixed(2)}x |`;
}
