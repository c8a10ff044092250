// One command's cost for the benchmarks that compare whole commands with restic's: wall
// seconds, CPU seconds (user + system, all threads: less sensitive than wall time to a busy
// machine) and peak RSS, measured with GNU time (`/usr/bin/time -v`); without it, wall time
// only. Medians and a table row of restic-ts against restic.

import { spawnSync } from "node:child_process";
import * as fs from "node:fs";

const TIME = fs.existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;

export interface Measure {
  seconds: number;
  /** User + system CPU seconds (all threads). */
  cpu: number;
  rssMiB: number;
  ok: boolean;
  /** Standard output (unless discarded) and standard error. */
  output: string;
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

/** Run `cmd args` with `env`; `discardStdout` sends its standard output to /dev/null. */
export function measure(
  cmd: string,
  env: NodeJS.ProcessEnv,
  args: string[],
  discardStdout = false,
): Measure {
  const devNull = discardStdout ? fs.openSync("/dev/null", "w") : undefined;
  const stdio: ("pipe" | "ignore" | number)[] = ["ignore", devNull ?? "pipe", "pipe"];
  try {
    if (TIME !== undefined) {
      const r = spawnSync(TIME, ["-v", cmd, ...args], {
        env,
        encoding: "utf8",
        maxBuffer: 1 << 26,
        stdio,
      });
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
        ok: r.status === 0,
        output: (r.stdout ?? "") + err,
      };
    }
    // without GNU time there is no portable way to read a child's peak RSS from Node
    const t0 = performance.now();
    const r = spawnSync(cmd, args, { env, encoding: "utf8", maxBuffer: 1 << 26, stdio });
    return {
      seconds: (performance.now() - t0) / 1000,
      cpu: Number.NaN,
      rssMiB: Number.NaN,
      ok: r.status === 0,
      output: (r.stdout ?? "") + (r.stderr ?? ""),
    };
  } finally {
    if (devNull !== undefined) fs.closeSync(devNull);
  }
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A markdown row: medians (wall s / CPU s / RSS MiB) of both, and the three ratios. */
export function report(name: string, ours: Measure[], theirs: Measure[]): string {
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
