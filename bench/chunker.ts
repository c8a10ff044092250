// Throughput of restic-ts's content-defined chunker beside restic's own Go chunker
// (restic/chunker v0.4.0, built from Debian's golang-github-restic-chunker-dev by
// bench/go/chunkbench) on the same input files: 256 MiB of random bytes and 256 MiB of
// compressible log-like text. Ours runs twice: with the WebAssembly inner loop (the default)
// and with the JavaScript fallback (`engine: "js"`).
//
//   npm run build && node dist/bench/chunker.js [--size MiB] [--rounds N] [--quick]
//
// The measurements are interleaved round by round (ours, Go, ..., in alternating order) so load
// from other processes on a shared machine hits them alike; medians of the rounds after one warm-up round, MB/s =
// 10^6 input bytes per second of wall time, and per second of the process's CPU time (which
// descheduling by other processes does not inflate); one thread (Go runs with GOMAXPROCS=1):
//  - core: the file already in memory. Ours: Chunker.next over 512 KiB slices, copying each
//    chunk's bytes into one reused MaxSize buffer. Go: chunker.Next from a bytes.Reader into one
//    reused MaxSize buffer (which copies twice: reader to its read buffer, then to yours).
//    "cut points only" is ours without the copy.
//  - file: from the page cache. Ours: chunkFile (a fresh buffer per chunk). Go: chunker.Next
//    straight from the os.File into one reused buffer.
// Both sides' cut points are compared (a hash of all chunk end offsets) before timing counts.

import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Chunker, chunkFile } from "../src/chunker/index.js";

type Engine = "wasm" | "js";
const ENGINES: Engine[] = ["wasm", "js"];

const MiB = 1024 * 1024;
const POL = 0x3da3358b4dc173n;
const SLICE = 512 * 1024;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
const quick = process.argv.includes("--quick");
const sizeMiB = arg("--size", 256);
const rounds = arg("--rounds", quick ? 3 : 9);

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("cannot find the repository root");
    dir = up;
  }
  return dir;
}

// ---- inputs -------------------------------------------------------------------------------

function xorshift(seed: number): () => number {
  let x = seed >>> 0;
  let y = 362436069;
  let z = 521288629;
  let w = 88675123;
  return () => {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return w;
  };
}

const WORDS =
  "the quick brown fox jumps over lazy dog restic backup chunk rabin polynomial repository snapshot index pack blob tree data error warning info debug GET POST /api/v1/items 200 404 500 user session"
    .split(" ")
    .map((s) => Buffer.from(s, "latin1"));

/** Write `size` bytes made by `fill` (which fills a buffer and returns how much) to `path`. */
function writeInput(path: string, size: number, fill: (buf: Buffer) => number): void {
  if (existsSync(path) && statSync(path).size === size) return;
  const fd = openSync(path, "w");
  const buf = Buffer.allocUnsafe(4 * MiB + 4096);
  try {
    for (let left = size; left > 0; ) {
      const n = Math.min(left, fill(buf));
      writeSync(fd, buf, 0, n);
      left -= n;
    }
  } finally {
    closeSync(fd);
  }
}

function randomFill(seed: number): (buf: Buffer) => number {
  const next = xorshift(seed);
  return (buf) => {
    const n = 4 * MiB;
    for (let i = 0; i < n; i += 4) buf.writeUInt32LE(next(), i);
    return n;
  };
}

function textFill(seed: number): (buf: Buffer) => number {
  const next = xorshift(seed);
  let line = 0;
  return (buf) => {
    let pos = 0;
    while (pos < 4 * MiB) {
      pos += buf.write(String(line++).padStart(8, "0"), pos, "latin1");
      const n = 4 + (next() % 8);
      for (let j = 0; j < n; j++) {
        buf[pos++] = 0x20;
        const w = WORDS[next() % 32];
        w.copy(buf, pos);
        pos += w.length;
      }
      buf[pos++] = 0x0a;
    }
    return pos;
  };
}

// ---- our side -----------------------------------------------------------------------------

interface Run {
  /** MB/s by wall time */
  mbps: number;
  /** MB/s by CPU time (user + system, all threads): less disturbed by other processes */
  cpuMbps: number;
  chunks: number;
  ends: string;
}

function clock(): () => { secs: number; cpuSecs: number } {
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  return () => {
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    return { secs, cpuSecs: (c.user + c.system) / 1e6 };
  };
}

function endsHash(ends: number[]): string {
  const b = Buffer.alloc(8 * ends.length);
  for (let i = 0; i < ends.length; i++) b.writeBigUInt64LE(BigInt(ends[i]), 8 * i);
  return createHash("sha256").update(b).digest("hex");
}

/** A reused MaxSize buffer that collects each chunk's bytes, as restic's chunker.Next(buf) does. */
const collect = new Uint8Array(8 * MiB);

function oursCore(data: Uint8Array, copy: boolean, engine: Engine): Run {
  const ch = new Chunker(POL, { engine });
  if (ch.engine !== engine) throw new Error(`the ${engine} chunker is not available`);
  const ends: number[] = [];
  let held = 0;
  const stop = clock();
  for (let off = 0; off < data.length; off += SLICE) {
    const slice = data.subarray(off, Math.min(off + SLICE, data.length));
    let i = 0;
    for (;;) {
      const cut = ch.next(slice, i, slice.length);
      if (copy) {
        const to = cut < 0 ? slice.length : cut;
        collect.set(slice.subarray(i, to), held);
        held += to - i;
      }
      if (cut < 0) break;
      ends.push(ch.position);
      held = 0;
      i = cut;
    }
  }
  const last = ch.finish();
  const { secs, cpuSecs } = stop();
  if (last) ends.push(last.start + last.length);
  const mb = data.length / 1e6;
  return { mbps: mb / secs, cpuMbps: mb / cpuSecs, chunks: ends.length, ends: endsHash(ends) };
}

async function oursFile(path: string, size: number, engine: Engine): Promise<Run> {
  const ends: number[] = [];
  let pos = 0;
  const stop = clock();
  for await (const chunk of chunkFile(path, POL, { engine })) {
    pos += chunk.length;
    ends.push(pos);
  }
  const { secs, cpuSecs } = stop();
  const mb = size / 1e6;
  return { mbps: mb / secs, cpuMbps: mb / cpuSecs, chunks: ends.length, ends: endsHash(ends) };
}

// ---- Go side ------------------------------------------------------------------------------

/** bench/go/bin/chunkbench, built if missing or older than its sources. */
function goBinary(root: string): string | null {
  const goDir = join(root, "bench", "go");
  const bin = join(goDir, "bin", "chunkbench");
  const sources = [join(goDir, "go.mod"), join(goDir, "chunkbench", "main.go")];
  const stale =
    !existsSync(bin) || sources.some((f) => statSync(f).mtimeMs > statSync(bin).mtimeMs);
  if (!stale) return bin;
  const env = { ...process.env, GOFLAGS: "-mod=mod", GOPROXY: "off" };
  const r = spawnSync("go", ["build", "-o", bin, "./chunkbench"], {
    cwd: goDir,
    env,
    stdio: "inherit",
  });
  if (r.error || r.status !== 0) {
    console.log(`(cannot build bench/go/chunkbench: ${r.error?.message ?? `exit ${r.status}`})`);
    return null;
  }
  return bin;
}

function goRun(bin: string, mode: "mem" | "file", path: string): Run {
  const out = execFileSync(bin, ["-mode", mode, "-runs", "1", "-pol", POL.toString(16), path], {
    env: { ...process.env, GOMAXPROCS: "1" },
    encoding: "utf8",
    maxBuffer: 1 << 20,
  });
  return JSON.parse(out.trim().split("\n")[0]) as Run;
}

// ---- main ---------------------------------------------------------------------------------

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main(): Promise<void> {
  const root = repoRoot();
  const dir = join(tmpdir(), "restic-ts-bench-chunker");
  mkdirSync(dir, { recursive: true });
  const size = sizeMiB * MiB;
  const inputs = [
    { name: "random", path: join(dir, `random-${sizeMiB}MiB.bin`), fill: randomFill(1) },
    { name: "text", path: join(dir, `text-${sizeMiB}MiB.txt`), fill: textFill(2) },
  ];
  for (const i of inputs) writeInput(i.path, size, i.fill);
  const bin = goBinary(root);
  let goVersion = "";
  try {
    goVersion = execFileSync("go", ["version"], { encoding: "utf8" }).trim();
  } catch {
    goVersion = "go not found";
  }
  console.log(`chunker bench: ${sizeMiB} MiB per input, ${rounds} rounds, pol ${POL.toString(16)}`);
  console.log(`node ${process.version}; ${goVersion}; Go side: ${bin ?? "not available"}`);

  const rows: string[] = [];
  for (const input of inputs) {
    const data = new Uint8Array(readFileSync(input.path));
    const runs: Record<string, Run[]> = {};
    const ops: [string, () => Run | Promise<Run>][] = [];
    for (const e of ENGINES) {
      ops.push([`${e}Core`, () => oursCore(data, true, e)]);
      ops.push([`${e}Cut`, () => oursCore(data, false, e)]);
    }
    if (bin) ops.push(["goCore", () => goRun(bin, "mem", input.path)]);
    for (const e of ENGINES) ops.push([`${e}File`, () => oursFile(input.path, size, e)]);
    if (bin) ops.push(["goFile", () => goRun(bin, "file", input.path)]);
    for (const [name] of ops) runs[name] = [];
    for (let round = -1; round < rounds; round++) {
      // every other round in reverse order, so no measurement always follows the same one
      const r: Record<string, Run> = {};
      for (const [name, op] of round % 2 ? [...ops].reverse() : ops) r[name] = await op();
      const ends = new Set(Object.values(r).map((x) => x.ends));
      if (ends.size !== 1) {
        throw new Error(`${input.name}: cut points differ: ${JSON.stringify(r)}`);
      }
      if (round < 0) continue; // warm-up
      for (const [k, v] of Object.entries(r)) runs[k].push(v);
    }
    const med = (k: string, f: (r: Run) => number) =>
      runs[k]?.length ? median(runs[k].map(f)) : Number.NaN;
    const fmt = (x: number) => (Number.isNaN(x) ? "-" : x.toFixed(0));
    const ratio = (a: number, b: number) =>
      Number.isNaN(a) || Number.isNaN(b) ? "-" : `${(a / b).toFixed(2)}x`;
    const list = (k: string) => runs[k].map((x) => x.mbps.toFixed(0)).join(" ");
    console.log(`${input.name}: ${runs.wasmCore[0].chunks} chunks; wall MB/s per round:`);
    for (const [name] of ops) console.log(`  ${name.padEnd(8)} ${list(name)}`);
    for (const [mode, key, go] of [
      ["core (in memory)", "Core", "goCore"],
      ["core, cut points only", "Cut", "goCore"],
      ["file (page cache)", "File", "goFile"],
    ]) {
      const wall = (r: Run) => r.mbps;
      const cpu = (r: Run) => r.cpuMbps;
      const [w, j, g] = [`wasm${key}`, `js${key}`, go].map((k) => med(k, wall));
      const [wc, jc, gc] = [`wasm${key}`, `js${key}`, go].map((k) => med(k, cpu));
      rows.push(
        `| ${input.name} | ${mode} | ${fmt(w)} / ${fmt(wc)} | ${fmt(j)} / ${fmt(jc)} | ` +
          `${fmt(g)} / ${fmt(gc)} | **${ratio(w, g)}** / ${ratio(wc, gc)} | ` +
          `${ratio(j, g)} / ${ratio(jc, gc)} | ${ratio(w, j)} / ${ratio(wc, jc)} |`,
      );
    }
  }
  console.log("\nMedians, MB/s by wall time / by CPU time (user+sys):\n");
  console.log(
    "| input | mode | restic-ts wasm | restic-ts js | restic Go | wasm / Go | js / Go | wasm / js |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) console.log(r);
  console.log("\n(cut points identical on both sides in every run)");
}

await main();
