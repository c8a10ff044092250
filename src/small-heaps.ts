// V8's heap sizing for the CLI's backup and restore, which hold many short-lived objects per
// file node. Two process-wide V8 flags:
// - `--semi-space-growth-factor=1` keeps the young generation at its start-up size. V8 doubles
//   the semi-spaces (up to 2 x 16 MiB) whenever objects keep surviving scavenges and never
//   gives the memory back: peak RSS of a 5,000-file backup or a 20,000-file restore 13-24 MiB
//   lower for the same time.
// - `--heap-growing-percent=25` lets the old generation grow by 25% (V8 adds at least 8 MB)
//   over what survived the last mark-compact before the next one, instead of up to 4x: the
//   main thread's heap peaked at 40-46 MiB with 8-14 MiB live in a 20,000-file backup, now at
//   25-30 MiB; peak RSS 151 -> 132 MiB (restore: 106 -> 97 MiB), time within the noise.
// (bench/RESULTS.md "## backup", "## restore".) V8 reads both flags whenever it sizes a
// space, so they work when set at run time; but starting a worker thread resets V8's flags,
// so they are set again once each worker runs. The commands set them once their modules are
// loaded: holding the semi-spaces at 1 MiB from the start only adds scavenges (+40% GC time
// in a restore, no lower peak). Library users' processes are left alone.

import { setFlagsFromString } from "node:v8";
import type { Worker } from "node:worker_threads";

const FLAGS = "--semi-space-growth-factor=1 --heap-growing-percent=25";
let wanted = false;

/** Keep every isolate's young generation at its start-up size and its old one near its live size. */
export function keepHeapsSmall(): void {
  wanted = true;
  setFlagsFromString(FLAGS);
}

/** Re-apply the settings once `worker` runs (its start reset V8's flags), if they were asked for. */
export function keepAfterWorkerStart(worker: Worker): Worker {
  if (wanted) worker.once("online", () => setFlagsFromString(FLAGS));
  return worker;
}
