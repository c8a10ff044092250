// scrypt as restic's key files use it (N=2^15, r=8, p=1 by default): OpenSSL through
// node:crypto (sync and async), scrypt-js, and the WebAssembly ROMix (src/crypto/scrypt-wasm.ts)
// with trade-off k = 1, 2, 4, 8, each also with transparent huge pages under its table, and
// (with --p 2 or more) with two lanes mixed at once ("-x2").
//
//   npm run build && node dist/bench/scrypt.js [--runs 9] [--p 1] [--only wasm-k2,openssl-sync]
//
// Every measurement is one scrypt in a fresh child process (this script with --child VARIANT),
// as a command opening a key file would do: module compilation, first-call tier-up and fresh
// page faults included. The child reads VmHWM from /proc/self/status after loading its modules
// (and letting start-up's GC tasks run) and after the scrypt; the rise is the variant's peak RSS. Runs are interleaved (round i runs
// every variant once); medians of wall and CPU (user+sys) time and of the rise are printed.

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";

const VARIANTS = [
  "openssl-sync",
  "openssl-async",
  "scrypt-js",
  "wasm-k1",
  "wasm-k2",
  "wasm-k4",
  "wasm-k8",
  "wasm-k1-huge",
  "wasm-k2-huge",
  "wasm-k4-huge",
  "wasm-k8-huge",
  // two lanes mixed at once (lanes: 2): only with p >= 2
  "wasm-k1-x2",
  "wasm-k2-x2",
  "wasm-k4-x2",
  "wasm-k8-x2",
  "wasm-k2-x2-huge",
  "wasm-k4-x2-huge",
  "wasm-k8-x2-huge",
] as const;
type Variant = (typeof VARIANTS)[number];

interface Sample {
  wallMs: number;
  cpuMs: number;
  /** VmHWM after loading the variant's modules, and after the scrypt (KiB). */
  hwmBeforeKiB: number;
  hwmAfterKiB: number;
  hex: string;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

function vmHwmKiB(): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
  if (!m) throw new Error("no VmHWM in /proc/self/status");
  return Number(m[1]);
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** One scrypt of `variant` in this process; prints a Sample as JSON. */
async function child(variant: Variant, p: number): Promise<void> {
  const password = "correct horse battery staple";
  const salt = new Uint8Array(64).map((_, i) => i * 7);
  const params = { N: 32768, r: 8, p };
  const maxmem = 128 * params.r * (params.N + p + 2) + (1 << 20);
  let run: () => Promise<Uint8Array> | Uint8Array;
  if (variant === "openssl-sync" || variant === "openssl-async") {
    const crypto = await import("node:crypto");
    run =
      variant === "openssl-sync"
        ? () => crypto.scryptSync(password, salt, 64, { ...params, maxmem })
        : () =>
            new Promise((resolve, reject) =>
              crypto.scrypt(password, salt, 64, { ...params, maxmem }, (err, key) =>
                err ? reject(err) : resolve(key),
              ),
            );
  } else if (variant === "scrypt-js") {
    const scryptJs = (await import("scrypt-js")).default;
    const pw = new TextEncoder().encode(password);
    run = () => scryptJs.scrypt(pw, salt, params.N, params.r, params.p, 64);
  } else {
    const { scryptWasm } = await import("../src/crypto/scrypt-wasm.js");
    const m = /^wasm-k(\d)(-x2)?(-huge)?$/.exec(variant)!;
    const options = {
      tradeoff: Number(m[1]) as 1 | 2 | 4 | 8,
      lanes: m[2] ? (2 as const) : (1 as const),
      hugePages: m[3] !== undefined,
    };
    run = () => scryptWasm(password, salt, params, 64, options);
  }
  // let start-up's pending GC tasks run first: a scavenge raises VmHWM by ~4 MiB
  await new Promise((resolve) => setTimeout(resolve, 300));
  const hwmBeforeKiB = vmHwmKiB();
  const c0 = cpuMs();
  const t0 = performance.now();
  const key = await run();
  const wallMs = performance.now() - t0;
  const sample: Sample = {
    wallMs,
    cpuMs: cpuMs() - c0,
    hwmBeforeKiB,
    hwmAfterKiB: vmHwmKiB(),
    hex: Buffer.from(key).toString("hex"),
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function parent(): void {
  const runs = Number(arg("--runs", "9"));
  const p = Number(arg("--p", "1"));
  const only = arg("--only", "");
  const variants = only ? VARIANTS.filter((v) => only.split(",").includes(v)) : [...VARIANTS];
  const script = fileURLToPath(import.meta.url);
  const load0 = loadavg();
  const samples = new Map<Variant, Sample[]>(variants.map((v) => [v, []]));
  for (let i = 0; i < runs; i++) {
    for (const v of variants) {
      const r = spawnSync(process.execPath, [script, "--child", v, "--p", String(p)], {
        encoding: "utf8",
      });
      if (r.status !== 0) throw new Error(`${v}: exit ${r.status}\n${r.stderr}`);
      samples.get(v)!.push(JSON.parse(r.stdout) as Sample);
    }
  }
  const load1 = loadavg();
  const keys = new Set([...samples.values()].flat().map((s) => s.hex));
  if (keys.size !== 1) throw new Error(`variants disagree: ${[...keys].join(" ")}`);
  const MiB = (kib: number) => (kib / 1024).toFixed(1);
  const ref = samples.get(variants[0])!;
  const refWall = median(ref.map((s) => s.wallMs));
  const refCpu = median(ref.map((s) => s.cpuMs));
  console.log(
    `scrypt N=2^15 r=8 p=${p}, ${runs} interleaved runs, one per fresh process; ` +
      `load average ${load0[0].toFixed(2)} -> ${load1[0].toFixed(2)}; ratios to ${variants[0]}`,
  );
  console.log(
    "| variant | wall ms | CPU ms | wall, CPU ratio | peak RSS rise MiB | peak RSS MiB (modules loaded -> after) |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const [v, ss] of samples) {
    const wall = median(ss.map((s) => s.wallMs));
    const cpu = median(ss.map((s) => s.cpuMs));
    const rise = median(ss.map((s) => s.hwmAfterKiB - s.hwmBeforeKiB));
    const before = median(ss.map((s) => s.hwmBeforeKiB));
    const after = median(ss.map((s) => s.hwmAfterKiB));
    console.log(
      `| ${v} | ${wall.toFixed(0)} | ${cpu.toFixed(0)} | ${(wall / refWall).toFixed(2)}x, ${(
        cpu / refCpu
      ).toFixed(2)}x | ${MiB(rise)} | ${MiB(before)} -> ${MiB(after)} |`,
    );
  }
}

const childVariant = arg("--child", "");
if (childVariant) {
  if (!(VARIANTS as readonly string[]).includes(childVariant)) {
    throw new Error(`unknown variant ${childVariant}`);
  }
  await child(childVariant as Variant, Number(arg("--p", "1")));
} else {
  parent();
}
