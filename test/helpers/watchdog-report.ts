// A vitest global setup: a directory where the watchdog (watchdog.ts) writes what it killed,
// read back when the run ends. A killed test process shows in vitest's summary only as "Worker
// exited unexpectedly", without the file; repeating the watchdog's own lines after the summary
// names the test even where only the end of CI's output is kept.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    watchdogReports: string;
  }
}

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(path.join(os.tmpdir(), "restic-ts-watchdog-"));
  project.provide("watchdogReports", dir);
  return () => {
    for (const name of readdirSync(dir).sort()) {
      process.stderr.write(readFileSync(path.join(dir, name), "utf8"));
    }
    rmSync(dir, { recursive: true, force: true });
  };
}
