// Live cross-check against restic's Go chunker (restic/chunker v0.4.0 from Debian's
// golang-github-restic-chunker-dev, via bench/go/chunkvec): the checked-in vectors are what the
// Go program makes today, and random inputs chunk the same on both sides. Needs `go` and the
// Debian package: skipped without them, except under CI=true, where their absence fails.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkBoundaries } from "../../../src/chunker/index.js";
import { VECTORS_PATH, xorshiftBytes } from "./inputs.js";

const GO_DIR = fileURLToPath(new URL("../../../bench/go/", import.meta.url));
const CHUNKER_SRC = "/usr/share/gocode/src/github.com/restic/chunker/chunker.go";
const haveGo = spawnSync("go", ["version"]).status === 0 && existsSync(CHUNKER_SRC);
const inCI = process.env.CI === "true";

describe.skipIf(!haveGo && !inCI)("restic's Go chunker, live", () => {
  let dir: string;
  let bin: string;

  beforeAll(async () => {
    if (!haveGo) {
      throw new Error(
        `CI=true but go or ${CHUNKER_SRC} is missing: install golang-go and golang-github-restic-chunker-dev`,
      );
    }
    dir = await mkdtemp(join(tmpdir(), "restic-ts-gochunker-"));
    bin = join(dir, "chunkvec");
    const r = spawnSync("go", ["build", "-o", bin, "./chunkvec"], {
      cwd: GO_DIR,
      env: { ...process.env, GOFLAGS: "-mod=mod", GOPROXY: "off" },
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`go build failed: ${r.stderr}`);
  }, 300_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("fixtures/chunker/vectors.json is what the Go program makes", () => {
    const r = spawnSync(bin, [], { maxBuffer: 64 << 20 });
    expect(r.status, String(r.stderr)).toBe(0);
    const want = createHash("sha256").update(readFileSync(VECTORS_PATH)).digest("hex");
    expect(createHash("sha256").update(r.stdout).digest("hex")).toBe(want);
  }, 120_000);

  it("random inputs and parameters chunk the same as in Go", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.integer({ min: 0, max: 300_000 }),
        fc.integer({ min: 64, max: 20_000 }),
        fc.integer({ min: 0, max: 40_000 }),
        fc.integer({ min: 0, max: 16 }),
        fc.constantFrom(0x3da3358b4dc173n, 0x2482734cacca49n, 0x2f3a9bf03fd73bn, 0x15c29088ec3n),
        async (seed, length, minSize, extra, averageBits, pol) => {
          const data = xorshiftBytes(seed, length);
          // long runs of one value too, for MaxSize cuts
          data.fill(seed & 0xff, length >> 2, length >> 1);
          const path = join(dir, "in.bin");
          await writeFile(path, data);
          const maxSize = minSize + extra;
          const args = ["-in", path, "-pol", pol.toString(16), "-min", String(minSize)];
          args.push("-max", String(maxSize), "-bits", String(averageBits));
          const r = spawnSync(bin, args, { encoding: "utf8", maxBuffer: 64 << 20 });
          expect(r.status, r.stderr).toBe(0);
          const go = JSON.parse(r.stdout) as [number, number, string, string][];
          const ours = chunkBoundaries(data, pol, { minSize, maxSize, averageBits });
          expect(ours.map((c) => [c.start, c.length, c.cut.toString(16)])).toEqual(
            go.map(([s, l, cut]) => [s, l, cut]),
          );
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);
});
