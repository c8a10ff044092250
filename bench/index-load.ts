// Index loading at scale: restic-ts vs restic 0.14 on the same repository, whose index lists N
// synthetic blobs (random IDs, 100 per pack, a tenth of them trees, half compressed) in index
// files of at most 50,000 blobs, as restic writes them. The packs themselves do not exist:
// `list blobs` loads every index file and prints every entry, nothing else. `cat config` (the
// same start-up and key, no index) is measured beside it, so the index's own share shows.
//
//   npm run build && node dist/bench/index-load.js [N (1000000)] [runs (5)]
//
// The repository is made once (`restic init`, then the index files written by restic-ts) in
// /tmp/restic-ts-bench-index/N and kept for later runs.

import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { LocalBackend } from "../src/backends/local.js";
import { type IndexPack, serialiseIndex } from "../src/repo/index-file.js";
import { Repository } from "../src/repo/repository.js";
import { BUILT_CLI, cliCommand, type Measure, measure, report } from "./measure.js";

const N = Number(process.argv[2] ?? 1_000_000);
const RUNS = Number(process.argv[3] ?? 5);
const PER_PACK = 100;
/** restic 0.14's indexMaxBlobs: an index file is written once it holds this many. */
const PER_INDEX_FILE = 50_000;
const PASSWORD = "bench-password";
const [oursCmd, oursPre] = cliCommand(BUILT_CLI);
const dir = path.join("/tmp/restic-ts-bench-index", String(N));
const repoDir = path.join(dir, "repo");
const env = {
  ...process.env,
  RESTIC_PASSWORD: PASSWORD,
  RESTIC_CACHE_DIR: path.join(dir, "cache"),
};

async function prepare(): Promise<void> {
  if (fs.existsSync(path.join(dir, "done"))) return;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  execFileSync("restic", ["-r", repoDir, "init", "-q", "--repository-version", "2"], { env });
  const repo = await Repository.open(new LocalBackend(repoDir), PASSWORD);
  let packs: IndexPack[] = [];
  let inFile = 0;
  const flush = async () => {
    if (packs.length > 0)
      await repo.saveUnpacked("index", serialiseIndex({ supersedes: [], packs }));
    packs = [];
    inFile = 0;
  };
  for (let p = 0; p < N / PER_PACK; p++) {
    const ids = randomBytes(32 * PER_PACK).toString("hex");
    let offset = 0;
    const blobs = [];
    for (let i = 0; i < PER_PACK; i++) {
      const length = 1000 + ((p * 7 + i) % 5000);
      blobs.push({
        id: ids.slice(i * 64, i * 64 + 64),
        type: i % 10 === 0 ? ("tree" as const) : ("data" as const),
        offset,
        length,
        ...(i % 2 === 0 ? { uncompressedLength: length * 2 } : {}),
      });
      offset += length;
    }
    packs.push({ id: randomBytes(32).toString("hex"), blobs });
    inFile += PER_PACK;
    if (inFile >= PER_INDEX_FILE) await flush();
  }
  await flush();
  fs.writeFileSync(path.join(dir, "done"), "");
}

async function main(): Promise<void> {
  await prepare();
  const files = fs.readdirSync(path.join(repoDir, "index")).length;
  const runs: Record<string, Measure[]> = { ours: [], theirs: [], oursBase: [], theirsBase: [] };
  const check = (who: string, m: Measure) => {
    if (!m.ok) throw new Error(`${who} failed:\n${m.output.slice(-2000)}`);
    return m;
  };
  // once, with the output kept: both must list every blob
  for (const [who, cmd, args] of [
    ["restic", "restic", ["-r", repoDir, "--no-cache", "list", "blobs"]],
    ["restic-ts", oursCmd, [...oursPre, "-r", repoDir, "list", "blobs"]],
  ] as const) {
    const out = execFileSync(cmd, args, { env, maxBuffer: 1 << 30 }).toString();
    const lines = out.split("\n").filter((l) => l !== "").length;
    if (lines !== N) throw new Error(`${who} listed ${lines} blobs, not ${N}`);
  }
  for (let r = 0; r < RUNS; r++) {
    runs.theirs.push(
      check("restic", measure("restic", env, ["-r", repoDir, "--no-cache", "list", "blobs"], true)),
    );
    runs.ours.push(
      check("restic-ts", measure(oursCmd, env, [...oursPre, "-r", repoDir, "list", "blobs"], true)),
    );
    runs.theirsBase.push(
      check("restic", measure("restic", env, ["-r", repoDir, "--no-cache", "cat", "config"], true)),
    );
    runs.oursBase.push(
      check("restic-ts", measure(oursCmd, env, [...oursPre, "-r", repoDir, "cat", "config"], true)),
    );
  }
  console.log(
    `${N} blobs in ${files} index files; ${RUNS} runs, medians; wall s / CPU s / peak RSS MiB (sampled peak of private memory, MiB)`,
  );
  console.log(
    "| command | restic-ts | restic 0.14 | time ratio | CPU ratio | RSS ratio | private ratio |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  console.log(report("`list blobs`", runs.ours, runs.theirs));
  console.log(report("`cat config` (start-up and key only)", runs.oursBase, runs.theirsBase));
}

await main();
