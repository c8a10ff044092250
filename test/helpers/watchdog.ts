// A vitest setup file: a watchdog thread that ends a test process whose event loop has been
// blocked for minutes. vitest's timeouts are timers on that same event loop, so a test stuck in
// synchronous code or an endless chain of microtasks (an async generator that never awaits I/O)
// would otherwise hang the whole run until CI's wall clock ends it, without saying where. The
// watchdog names the test and kills the process; vitest then fails that file and goes on. What
// it says also goes to a file in the run's report directory (watchdog-report.ts), printed again
// after vitest's summary.

import { Worker } from "node:worker_threads";
import { beforeAll, beforeEach, expect, inject } from "vitest";

/** How long the event loop may stay blocked (RESTIC_TS_TEST_STALL_MS; default 5 minutes). */
const LIMIT_MS = Number(process.env.RESTIC_TS_TEST_STALL_MS ?? 300_000);
const NAME_BYTES = 2048;

// [0]: heartbeats from the main thread; then the UTF-8 name of the current test
const shared = new SharedArrayBuffer(8 + NAME_BYTES);
const beats = new Int32Array(shared, 0, 2);
const name = new Uint8Array(shared, 8, NAME_BYTES);

function setName(text: string): void {
  const bytes = Buffer.from(text).subarray(0, NAME_BYTES - 1);
  name.fill(0);
  name.set(bytes);
}

const WATCHDOG = `
const { workerData } = require("node:worker_threads");
const { appendFileSync, writeSync } = require("node:fs");
const path = require("node:path");
const beats = new Int32Array(workerData.shared, 0, 2);
const name = new Uint8Array(workerData.shared, 8);
let last = Atomics.load(beats, 0);
let since = Date.now();
setInterval(() => {
  const now = Atomics.load(beats, 0);
  if (now !== last) {
    last = now;
    since = Date.now();
    return;
  }
  if (Date.now() - since < workerData.limit) return;
  const end = name.indexOf(0);
  const test = Buffer.from(name.subarray(0, end < 0 ? name.length : end)).toString();
  const message = "\\n[watchdog] the event loop has been blocked for " + Math.round((Date.now() - since) / 1000) +
    " s in " + test + ": killing this test process\\n";
  writeSync(2, message);
  if (workerData.reports) {
    try {
      appendFileSync(path.join(workerData.reports, process.pid + ".txt"), message);
    } catch {}
  }
  process.kill(process.pid, "SIGKILL");
}, 1000);
`;

if (Number.isFinite(LIMIT_MS) && LIMIT_MS > 0) {
  const heartbeat = setInterval(() => Atomics.add(beats, 0, 1), 1000);
  heartbeat.unref();
  const worker = new Worker(WATCHDOG, {
    eval: true,
    workerData: { shared, limit: LIMIT_MS, reports: inject("watchdogReports") ?? null },
  });
  worker.unref();
  setName("(loading a test file)");
  beforeAll(() => {
    setName(`${expect.getState().testPath ?? "a test file"} (its beforeAll hooks)`);
  });
  beforeEach((ctx) => {
    setName(`${ctx.task.file?.name ?? ""} > ${ctx.task.name}`);
  });
}
