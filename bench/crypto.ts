// Throughput of restic-ts's crypto layer (restic's IV || AES-256-CTR || Poly1305-AES format)
// beside the raw node:crypto AES-256-CTR it is built on, and each Poly1305 implementation.
//
//   npm run build && node dist/bench/crypto.js [--quick] [--default-malloc]
//
// Like the CLI's data commands, the bench tunes glibc's malloc first (src/cli/malloc-tuning.ts)
// unless --default-malloc is given: fresh pages are very expensive in this VM.
//
// Figures are medians of several runs, in MB/s (10^6 bytes of plaintext per second), on one
// thread. "seal+open" is a full round trip: plaintext bytes / (seal time + open time); its
// ceiling is raw AES-CTR encrypt + decrypt of the same bytes.

import { createCipheriv, randomFillSync } from "node:crypto";
import { poly1305 as noblePoly1305 } from "@noble/ciphers/_poly1305.js";
import { tuneMallocForThroughput } from "../src/cli/malloc-tuning.js";
import {
  activePoly1305,
  availablePoly1305Providers,
  type MasterKey,
  newMasterKey,
  open,
  openInto,
  openPortable,
  SEAL_OVERHEAD,
  seal,
  sealInto,
  sealPortable,
  setPoly1305Provider,
} from "../src/crypto/index.js";

const quick = process.argv.includes("--quick");
const mallocTuned = !process.argv.includes("--default-malloc") && tuneMallocForThroughput();
const MiB = 1024 * 1024;
const SIZES = [1 * MiB, 16 * MiB];
const SLICE = 64 * 1024;

function runsFor(size: number, slow = false): number {
  const base = size <= MiB ? 41 : 15;
  return Math.max(3, Math.round((slow ? base / 4 : base) / (quick ? 3 : 1)));
}

interface Timing {
  seconds: number;
  /** Minor page faults per MiB processed (this VM makes fresh pages expensive). */
  faultsPerMiB: number;
}

interface Op {
  name: string;
  fn: () => unknown;
}

/**
 * Time every op once per round, `rounds` times, interleaved so that load from other processes
 * on a shared machine hits all ops alike; median seconds per op, after two warm-up rounds.
 */
function measure(ops: Op[], rounds: number, bytes: number): Map<string, Timing> {
  const times = new Map<string, number[]>(ops.map((o) => [o.name, []]));
  const faults = new Map<string, number>(ops.map((o) => [o.name, 0]));
  for (let round = -2; round < rounds; round++) {
    for (const op of ops) {
      const f0 = process.resourceUsage().minorPageFault;
      const t0 = process.hrtime.bigint();
      op.fn();
      const dt = Number(process.hrtime.bigint() - t0) / 1e9;
      if (round < 0) continue;
      times.get(op.name)!.push(dt);
      faults.set(op.name, faults.get(op.name)! + process.resourceUsage().minorPageFault - f0);
    }
  }
  const out = new Map<string, Timing>();
  for (const op of ops) {
    const t = times.get(op.name)!.sort((a, b) => a - b);
    out.set(op.name, {
      seconds: t[t.length >> 1],
      faultsPerMiB: faults.get(op.name)! / rounds / (bytes / MiB),
    });
  }
  return out;
}

const mbps = (bytes: number, seconds: number) => bytes / 1e6 / seconds;

// --- raw AES-256-CTR: the ceiling ----------------------------------------------------------

function aesCtrOneCall(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const c = createCipheriv("aes-256-ctr", key, iv);
  return c.update(data);
}

/** AES-CTR in 64 KiB slices into one output buffer: what seal does minus the MAC. */
function aesCtrSliced(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Uint8Array {
  const c = createCipheriv("aes-256-ctr", key, iv);
  const b = Buffer.allocUnsafeSlow(data.length);
  for (let p = 0; p < data.length; p += SLICE) {
    b.set(c.update(data.subarray(p, Math.min(data.length, p + SLICE))), p);
  }
  return b;
}

// --- Poly1305 options ----------------------------------------------------------------------

interface Poly1305Option {
  name: string;
  mac(msg: Uint8Array, key: Uint8Array): Uint8Array;
}

/** The subset of libsodium-wrappers(-sumo) used here. */
interface Libsodium {
  ready: Promise<void>;
  crypto_onetimeauth(msg: Uint8Array, key: Uint8Array): Uint8Array;
}

async function loadLibsodiumWasm(): Promise<Poly1305Option | null> {
  // A variable specifier: the bench still compiles and runs if the package is removed.
  const spec = "libsodium-wrappers-sumo";
  try {
    const mod = (await import(spec)) as { default?: Libsodium } & Partial<Libsodium>;
    const sodium = (mod.default ?? mod) as Libsodium;
    await sodium.ready;
    return {
      name: "libsodium-wrappers-sumo (WASM)",
      mac: (m, k) => sodium.crypto_onetimeauth(m, k),
    };
  } catch {
    return null;
  }
}

async function poly1305Options(): Promise<Poly1305Option[]> {
  const out: Poly1305Option[] = [];
  for (const p of availablePoly1305Providers()) {
    if (p.name === "openssl") out.push({ name: "OpenSSL via koffi FFI", mac: p.mac });
    if (p.name === "sodium-native") out.push({ name: "sodium-native (N-API)", mac: p.mac });
  }
  const wasm = await loadLibsodiumWasm();
  if (wasm) out.push(wasm);
  out.push({ name: "@noble/ciphers _poly1305 (JS)", mac: (m, k) => noblePoly1305(m, k) });
  return out;
}

// --- report --------------------------------------------------------------------------------

interface Row {
  what: string;
  mbps: number;
  faultsPerMiB?: number;
  /** The figure this row is compared with (the ceiling for its kind of operation). */
  vs?: number;
}

function printTable(size: number, rows: Row[]): void {
  console.log(`\n### ${size / MiB} MiB buffer\n`);
  console.log("| operation | MB/s | vs ceiling | page faults/MiB |");
  console.log("|---|---:|---:|---:|");
  for (const r of rows) {
    const ratio = r.vs === undefined ? "" : `${(r.mbps / r.vs).toFixed(2)}x`;
    const faults = r.faultsPerMiB === undefined ? "" : r.faultsPerMiB.toFixed(0);
    console.log(`| ${r.what} | ${r.mbps.toFixed(0)} | ${ratio} | ${faults} |`);
  }
}

/** One pass over everything, so glibc's heap and V8 reach the state a long-running process has. */
function warmUp(key: MasterKey, iv: Uint8Array): void {
  for (const size of [...SIZES].reverse()) {
    const data = new Uint8Array(size);
    for (let i = 0; i < 3; i++) {
      aesCtrOneCall(key.encrypt, iv, data);
      aesCtrSliced(key.encrypt, iv, data);
      open(key, seal(key, data));
    }
  }
}

async function main(): Promise<void> {
  const polys = await poly1305Options();
  const key: MasterKey = newMasterKey();
  const iv = new Uint8Array(16).fill(0x5a);
  const defaultProvider = activePoly1305().name;
  console.log(
    `node ${process.version} ${process.platform}-${process.arch}; seal/open use Poly1305 from ` +
      `${defaultProvider}; medians of ${runsFor(MiB)} (1 MiB) / ${runsFor(16 * MiB)} (16 MiB) ` +
      `runs, fallbacks ${runsFor(MiB, true)} / ${runsFor(16 * MiB, true)}; MB = 10^6 bytes; ` +
      `GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES ?? "(unset)"}; malloc tuning ` +
      (mallocTuned ? "applied" : "not applied"),
  );
  warmUp(key, iv);

  for (const size of SIZES) {
    const data = new Uint8Array(size);
    randomFillSync(data);
    const sealed = seal(key, data);
    const sealedPortable = sealPortable(key, data);
    const outSeal = new Uint8Array(size + SEAL_OVERHEAD);
    const outOpen = new Uint8Array(size);
    const polyKey = new Uint8Array(32).fill(3);

    const fast = measure(
      [
        { name: "aes1", fn: () => aesCtrOneCall(key.encrypt, iv, data) },
        { name: "aes", fn: () => aesCtrSliced(key.encrypt, iv, data) },
        { name: "seal", fn: () => seal(key, data) },
        { name: "open", fn: () => open(key, sealed) },
        { name: "sealInto", fn: () => sealInto(key, data, outSeal) },
        { name: "openInto", fn: () => openInto(key, sealed, outOpen) },
        ...polys
          .filter((p) => !p.name.includes("noble"))
          .map((p) => ({ name: p.name, fn: () => p.mac(data, polyKey) })),
      ],
      runsFor(size),
      size,
    );
    const fallbackOps: Op[] = [];
    for (const name of availablePoly1305Providers().map((p) => p.name)) {
      if (name === defaultProvider) continue;
      const withProvider = (fn: () => unknown) => () => {
        setPoly1305Provider(name);
        try {
          return fn();
        } finally {
          setPoly1305Provider("auto");
        }
      };
      fallbackOps.push({ name: `seal:${name}`, fn: withProvider(() => seal(key, data)) });
      fallbackOps.push({ name: `open:${name}`, fn: withProvider(() => open(key, sealed)) });
    }
    const slow = measure(
      [
        ...fallbackOps,
        { name: "sealPortable", fn: () => sealPortable(key, data) },
        { name: "openPortable", fn: () => openPortable(key, sealedPortable) },
        ...polys
          .filter((p) => p.name.includes("noble"))
          .map((p) => ({ name: p.name, fn: () => p.mac(data, polyKey) })),
      ],
      runsFor(size, true),
      size,
    );
    const t = (name: string): Timing => fast.get(name) ?? slow.get(name)!;
    const both = (a: string, b: string): Timing => ({
      seconds: t(a).seconds + t(b).seconds,
      faultsPerMiB: (t(a).faultsPerMiB + t(b).faultsPerMiB) / 2,
    });

    const rows: Row[] = [];
    const row = (what: string, timing: Timing, vs?: number) =>
      rows.push({ what, mbps: mbps(size, timing.seconds), faultsPerMiB: timing.faultsPerMiB, vs });
    const ceiling = mbps(size, t("aes").seconds);
    row("raw AES-256-CTR, one update() call", t("aes1"), ceiling);
    row("raw AES-256-CTR, 64 KiB slices into one buffer (**ceiling**)", t("aes"), ceiling);
    row("seal (AES-CTR + Poly1305-AES, new buffer)", t("seal"), ceiling);
    row("open (verify MAC, then AES-CTR, new buffer)", t("open"), ceiling);
    // A round trip is two passes; its ceiling is raw encrypt + decrypt, i.e. ceiling / 2.
    row(
      "**seal+open** round trip (ceiling: raw encrypt+decrypt)",
      both("seal", "open"),
      ceiling / 2,
    );
    row("sealInto+openInto round trip, reused buffers", both("sealInto", "openInto"), ceiling / 2);
    for (const name of availablePoly1305Providers().map((p) => p.name)) {
      if (name === defaultProvider) continue;
      row(
        `seal+open with the ${name} Poly1305 fallback`,
        both(`seal:${name}`, `open:${name}`),
        ceiling / 2,
      );
    }
    row(
      "seal+open, portable path (noble AES-CTR + noble Poly1305)",
      both("sealPortable", "openPortable"),
      ceiling / 2,
    );
    for (const p of polys) row(`Poly1305 alone: ${p.name}`, t(p.name));
    printTable(size, rows);
  }
  smallMessages(key);
}

/** Per-message cost for small blobs (tree blobs, small files), where fixed costs dominate. */
function smallMessages(key: MasterKey): void {
  const BATCH = 2000;
  console.log("\n### small messages (µs per call, median of batches of 2000)\n");
  console.log("| size | seal | open | raw AES-256-CTR (new cipher each) |");
  console.log("|---:|---:|---:|---:|");
  for (const n of [0, 256, 4096]) {
    const msg = new Uint8Array(n).fill(1);
    const sealed = seal(key, msg);
    const iv = new Uint8Array(16).fill(9);
    const batch = (fn: () => unknown) => () => {
      for (let i = 0; i < BATCH; i++) fn();
    };
    const r = measure(
      [
        { name: "seal", fn: batch(() => seal(key, msg)) },
        { name: "open", fn: batch(() => open(key, sealed)) },
        { name: "aes", fn: batch(() => aesCtrOneCall(key.encrypt, iv, msg)) },
      ],
      quick ? 5 : 15,
      n * BATCH,
    );
    const us = (name: string) => ((r.get(name)!.seconds / BATCH) * 1e6).toFixed(1);
    console.log(`| ${n} B | ${us("seal")} | ${us("open")} | ${us("aes")} |`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
