// The CLI keeps V8's young generation at its start-up size and its old generation near its
// live size (src/small-heaps.ts), also after a worker thread starts (which resets V8's
// flags). Runs in fresh node processes on the built module, since the flags are process-wide
// and this process's heap has grown already.

import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const built = path.resolve("dist/src/small-heaps.js");

// ~12 MB live (a ring of 100,000 small objects), each object replaced 40 times: survivors of
// scavenges that die in the old generation, as a backup's file nodes do
const SCRIPT = `
import v8 from "node:v8";
import { Worker } from "node:worker_threads";
import { keepAfterWorkerStart, keepHeapsSmall } from ${JSON.stringify(built)};
const mode = process.argv[1];
if (mode !== "default") keepHeapsSmall();
const w = new Worker("setTimeout(() => {}, 300)", { eval: true });
if (mode === "kept") keepAfterWorkerStart(w);
await new Promise((r) => w.once("online", r));
await new Promise((r) => setTimeout(r, 50));
const ring = new Array(100000);
let young = 0;
let old = 0;
for (let round = 0; round < 40; round++) {
  for (let i = 0; i < ring.length; i++) ring[i] = { a: i, b: "x" + i, c: [i] };
  const spaces = v8.getHeapSpaceStatistics();
  const size = (name) => spaces.find((s) => s.space_name === name).space_size;
  young = Math.max(young, size("new_space"));
  old = Math.max(old, size("old_space"));
}
console.log(JSON.stringify({ young, old }));
`;

function maxSpaces(mode: "default" | "reset" | "kept"): { young: number; old: number } {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", SCRIPT, mode], {
    encoding: "utf8",
  });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { young: number; old: number };
}

describe("small heaps", () => {
  it("hold after a worker starts, and only with the re-applied flags", () => {
    expect(existsSync(built), "npm run build first").toBe(true);
    const MiB = 1024 * 1024;
    const byDefault = maxSpaces("default");
    const reset = maxSpaces("reset");
    const kept = maxSpaces("kept");
    // V8 doubles the young generation up to 2 x 16 MiB; a worker's start undoes the flag
    expect(byDefault.young).toBeGreaterThan(8 * MiB);
    expect(reset.young).toBeGreaterThan(8 * MiB);
    expect(kept.young).toBeLessThanOrEqual(4 * MiB);
    // the old generation grows up to 4x its live size by default (82 MiB here), 26 MiB kept
    expect(byDefault.old).toBeGreaterThan(50 * MiB);
    expect(kept.old).toBeLessThan(40 * MiB);
  });
});
