// Worker-thread plumbing shared by the backup's blob workers (workers/) and check's read-data
// workers (check/): where a worker's compiled script is — beside this module in a build;
// under a TypeScript test runner, the build's copy in dist/ when there is one — and, inside a
// worker, its port to the main thread and the data it was started with.

import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type MessagePort, parentPort, workerData } from "node:worker_threads";

/** The compiled script `script` ("check/read-worker.js", relative to src/repo), if any. */
export function workerScript(script: string): string | undefined {
  const here = path.dirname(fileURLToPath(import.meta.url));
  if (import.meta.url.endsWith(".js")) return path.join(here, script);
  const built = path.join(here, "..", "..", "dist", "src", "repo", script);
  return existsSync(built) ? built : undefined;
}

/** Inside worker `name`: its port and start data (`T`, as the main thread passed it). */
export function workerStart<T>(name: string): { readonly port: MessagePort; readonly data: T } {
  if (parentPort === null) throw new Error(`${name} must run in a worker thread`);
  return { port: parentPort, data: workerData as T };
}
