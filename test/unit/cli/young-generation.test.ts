// The CLI keeps V8's young generation at its start-up size (src/young-generation.ts), also
// after a worker thread starts (which resets V8's flags). Runs in a fresh node process on the
// built module, since the flag is process-wide and this process's heap has grown already.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const built = path.resolve("dist/src/young-generation.js");

const SCRIPT = `
import v8 from "node:v8";
import { Worker } from "node:worker_threads";
import { keepAfterWorkerStart, keepYoungGenerationSmall } from ${JSON.stringify(built)};
const mode = process.argv[1];
if (mode !== "default") keepYoungGenerationSmall();
const w = new Worker("setTimeout(() => {}, 300)", { eval: true });
if (mode === "kept") keepAfterWorkerStart(w);
await new Promise((r) => w.once("online", r));
await new Promise((r) => setTimeout(r, 50));
const keep = [];
let max = 0;
for (let round = 0; round < 60; round++) {
  for (let i = 0; i < 20000; i++) keep.push({ a: i, b: "x" + i, c: [i] });
  if (keep.length > 200000) keep.splice(0, 100000);
  const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === "new_space");
  max = Math.max(max, s.space_size);
}
console.log(max);
`;

function maxNewSpace(mode: "default" | "reset" | "kept"): number {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", SCRIPT, mode], {
    encoding: "utf8",
  });
  expect(r.status, r.stderr).toBe(0);
  return Number(r.stdout.trim());
}

describe("young generation", () => {
  it("stays at its start-up size after a worker starts, and only with the re-applied flag", () => {
    expect(existsSync(built), "npm run build first").toBe(true);
    const MiB = 1024 * 1024;
    // V8 would double it up to 2 x 16 MiB; a worker's start undoes the flag
    expect(maxNewSpace("default")).toBeGreaterThan(8 * MiB);
    expect(maxNewSpace("reset")).toBeGreaterThan(8 * MiB);
    expect(maxNewSpace("kept")).toBeLessThanOrEqual(4 * MiB);
  });
});
