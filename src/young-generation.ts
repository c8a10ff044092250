// V8's young generation, kept at its start-up size for the CLI's process. V8 doubles the
// semi-spaces (up to 2 x 16 MiB) whenever objects keep surviving scavenges, as a backup's or a
// restore's file nodes do, and never gives the memory back: with the growth factor at 1 the
// peak RSS of a 5,000-file backup or a 20,000-file restore is 13-24 MiB lower for the same
// time (bench/RESULTS.md "## backup", "## restore"). V8 reads the flag each time it would
// grow the young generation, so it works when set at run time; but starting a worker thread
// resets V8's flags, so it is set again once each worker runs. The commands that hold many
// nodes (backup, restore) set it once their modules are loaded: the semi-spaces have grown
// to 2-4 MiB by then, and holding them at 1 MiB from the start only adds scavenges (+40% GC
// time in a restore, no lower peak). Library users' processes are left alone.

import { setFlagsFromString } from "node:v8";
import type { Worker } from "node:worker_threads";

const FLAG = "--semi-space-growth-factor=1";
let wanted = false;

/** Keep every isolate's young generation at its start-up size from now on. */
export function keepYoungGenerationSmall(): void {
  wanted = true;
  setFlagsFromString(FLAG);
}

/** Re-apply the setting once `worker` runs (its start reset V8's flags), if it was asked for. */
export function keepAfterWorkerStart(worker: Worker): Worker {
  if (wanted) worker.once("online", () => setFlagsFromString(FLAG));
  return worker;
}
