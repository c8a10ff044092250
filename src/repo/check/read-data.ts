// check --read-data (restic 0.14 checker.ReadPacks): verify each selected pack once, in full
// (verify-pack.ts). Packs are handed out to lanes: the main thread, and on a local repository
// worker threads besides it (read-pool.ts; by default one per idle core beyond the first), so
// idle cores hash and decrypt too. Each lane reads through one reused buffer, so memory stays
// bounded (lanes × (segment size + the largest blob)).

import { availableParallelism, loadavg } from "node:os";
import { LocalBackend } from "../../backends/local.js";
import type { Id } from "../id.js";
import { ScratchBuffer } from "../pack-stream.js";
import type { Repository } from "../repository.js";
import { errorFinding, type Finding } from "./findings.js";
import { ReadPool } from "./read-pool.js";
import { type PackProblem, type PackToRead, verifyPack } from "./verify-pack.js";

export type { PackProblem, PackToRead } from "./verify-pack.js";

/** Below this much data to read, the main thread alone verifies (by default). */
const WORKER_MIN_BYTES = 128 * 1024 * 1024;

/**
 * Workers beside the main thread: one per core the other processes leave idle (by the load
 * average), beyond the main thread's, at most 3 — and none for little data. A worker costs
 * ~0.2 s to start and ~50 MB; on a busy machine it gains nothing (measured: bench/RESULTS.md).
 */
function defaultThreads(bytes: number): number {
  if (bytes < WORKER_MIN_BYTES) return 0;
  const idle = availableParallelism() - loadavg()[0];
  return Math.max(0, Math.min(3, Math.floor(idle + 0.5) - 1));
}

export interface ReadDataOptions {
  /** Packs the main thread verifies at once (default 2: one read overlaps the other's work). */
  readonly concurrency?: number;
  /**
   * Worker threads beside the main thread for a local repository (default: defaultThreads).
   * Without a compiled worker script (a TypeScript runner and no build) there are none.
   */
  readonly threads?: number;
  readonly onPack?: (id: Id) => void;
}

function toFinding(id: Id, problems: readonly PackProblem[]): Finding | undefined {
  if (problems.length === 0) return undefined;
  const message =
    problems.length === 1 ? problems[0].text : `pack ${id} contains ${problems.length} errors`;
  return errorFinding(problems[0].kind, message, {
    packId: id,
    details: problems.length === 1 ? undefined : problems.map((p) => p.text),
  });
}

/** Verify the given packs; one finding per damaged pack, in the order of `packs`. */
export async function readPacks(
  repo: Repository,
  packs: readonly PackToRead[],
  options: ReadDataOptions = {},
): Promise<Finding[]> {
  let bytes = 0;
  for (const p of packs) bytes += p.size;
  const threads = options.threads ?? defaultThreads(bytes);
  const pool =
    repo.backend instanceof LocalBackend && threads > 0 && packs.length > 1
      ? ReadPool.start(repo.backend.root, repo.masterKey, threads)
      : undefined;
  type Lane = (pack: PackToRead) => Promise<PackProblem[]>;
  const lanes: Lane[] = [];
  const inline = Math.max(1, pool === undefined ? (options.concurrency ?? 2) : 1);
  for (let i = 0; i < inline; i++) {
    const buffer = new ScratchBuffer();
    lanes.push((pack) => verifyPack(repo.backend, repo.masterKey, pack, buffer));
  }
  for (let w = 0; w < (pool?.size ?? 0); w++) {
    lanes.push((pack) => (pool as ReadPool).verify(w, pack));
  }
  const results = new Array<Finding | undefined>(packs.length);
  let next = 0;
  try {
    await Promise.all(
      lanes.map(async (lane) => {
        while (next < packs.length) {
          const i = next++;
          results[i] = toFinding(packs[i].id, await lane(packs[i]));
          options.onPack?.(packs[i].id);
        }
      }),
    );
  } finally {
    await pool?.close();
  }
  return results.filter((f): f is Finding => f !== undefined);
}
