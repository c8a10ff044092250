// prune: the plan (what is kept, deleted, repacked), the result (the kept snapshots read back
// byte for byte, the check clean), and crash safety: a crash after any number of repository
// changes leaves a repository the checker accepts, and a second prune finishes the job.

import { beforeAll, describe, expect, it } from "vitest";
import type { MemoryBackend } from "../../../src/backends/mem.js";
import { checkRepository } from "../../../src/repo/checker.js";
import type { Id } from "../../../src/repo/id.js";
import {
  executePrune,
  loadIndexForPrune,
  type PruneOptions,
  planPrune,
} from "../../../src/repo/prune.js";
import { Repository } from "../../../src/repo/repository.js";
import { loadSnapshot } from "../../../src/repo/snapshots.js";
import {
  addSnapshot,
  bytes,
  CrashingBackend,
  cloneBackend,
  type FileTree,
  flatten,
  newRepo,
  PASSWORD,
  readTree,
} from "./build.js";

const OPTS: PruneOptions = { packSize: 4096, maxUnused: { kind: "percent", percent: 0 } };

const shared = bytes(1, 3000);
const TREES: FileTree[] = [
  { a: bytes(2, 5000), shared, dir: { x: "x1" } },
  { b: bytes(3, 5000), shared, dir: { x: "x2" } },
  { c: bytes(4, 2500), shared, dir: { x: "x2", y: bytes(5, 1500) } },
];

async function prune(repo: Repository, opts: PruneOptions = OPTS) {
  const { indexed, indexIds } = await loadIndexForPrune(repo);
  const plan = await planPrune(indexed, indexIds, opts);
  await executePrune(indexed, plan, opts);
  return plan;
}

async function expectClean(repo: Repository) {
  const report = await checkRepository(repo, { readData: true });
  expect(report.findings.filter((f) => f.severity === "error")).toEqual([]);
  return report;
}

async function expectSnapshotsIntact(repo: Repository, snaps: Map<Id, FileTree>) {
  expect((await repo.listIds("snapshot")).sort()).toEqual([...snaps.keys()].sort());
  for (const [id, files] of snaps) {
    const sn = await loadSnapshot(repo, id);
    expect(await readTree(repo, sn.tree as Id)).toEqual(flatten(files));
  }
}

describe("prune", () => {
  let base: MemoryBackend;
  let ids: Id[];
  beforeAll(async () => {
    const repo = await newRepo(2);
    ids = [];
    for (const [i, t] of TREES.entries()) {
      ids.push(await addSnapshot(repo, t, { time: `2022-01-0${i + 1}T00:00:00Z` }));
    }
    base = repo.backend as MemoryBackend;
  });

  it("does nothing to a repository where everything is used", async () => {
    const repo = await Repository.open(await cloneBackend(base), PASSWORD);
    const packs = (await repo.listIds("data")).sort();
    const plan = await prune(repo);
    expect(plan.stats.blobs.unused).toBe(0);
    expect(plan.removePacks.size + plan.repackPacks.size + plan.removePacksFirst.size).toBe(0);
    expect((await repo.listIds("data")).sort()).toEqual(packs);
  });

  it("after forgetting a snapshot: removes and repacks, keeps the others intact", async () => {
    const repo = await Repository.open(await cloneBackend(base), PASSWORD);
    await repo.backend.remove({ type: "snapshot", name: ids[0] });
    const before = await repo.loadIndex();
    const plan = await prune(repo);
    expect(plan.stats.blobs.unused).toBeGreaterThan(0);
    expect(plan.removePacks.size + plan.repackPacks.size).toBeGreaterThan(0);
    await expectClean(repo);
    await expectSnapshotsIntact(
      repo,
      new Map([
        [ids[1], TREES[1]],
        [ids[2], TREES[2]],
      ]),
    );
    // a's blobs are gone, nothing unused is left (max-unused 0%)
    const after = await repo.loadIndex();
    expect(after.index.size).toBeLessThan(before.index.size);
    const again = await planPrune(after, await repo.listIds("index"), OPTS);
    expect(again.stats.blobs.unused).toBe(0);
    expect(again.stats.blobs.duplicate).toBe(0);
    // one index file superseding the old ones
    expect(await repo.listIds("index")).toHaveLength(1);
  });

  it("removes unreferenced packs and forgets missing unused ones", async () => {
    const backend = await cloneBackend(base);
    const repo = await Repository.open(backend, PASSWORD);
    await backend.save({ type: "data", name: "ab".repeat(32) }, new Uint8Array(100));
    const plan = await prune(repo);
    expect([...plan.removePacksFirst]).toEqual(["ab".repeat(32)]);
    expect(await repo.listIds("data")).not.toContain("ab".repeat(32));
    await expectClean(repo);
  });

  it("refuses when a used blob is missing from the index", async () => {
    const repo = await Repository.open(await cloneBackend(base), PASSWORD);
    for (const id of await repo.listIds("index")) {
      await repo.backend.remove({ type: "index", name: id });
    }
    const indexed = await repo.loadIndex();
    await expect(planPrune(indexed, [], OPTS)).rejects.toThrow(
      /unable to load a tree|index is not complete/,
    );
  });

  it("respects --max-repack-size 0 and --max-unused unlimited", async () => {
    const repo = await Repository.open(await cloneBackend(base), PASSWORD);
    await repo.backend.remove({ type: "snapshot", name: ids[1] });
    const indexed = await repo.loadIndex();
    const idx = await repo.listIds("index");
    const noRepack = await planPrune(indexed, idx, { ...OPTS, maxRepackBytes: 0 });
    expect(noRepack.repackPacks.size).toBe(0);
    const unlimited = await planPrune(indexed, idx, { ...OPTS, maxUnused: { kind: "unlimited" } });
    expect([...unlimited.repackPacks].every((id) => noRepack.repackPacks.has(id))).toBe(true);
  });

  it("a crash after any change leaves a clean repository; a second prune completes", async () => {
    // count the changes of a full prune
    const probe = new CrashingBackend(await cloneBackend(base), Number.POSITIVE_INFINITY);
    const probeRepo = await Repository.open(probe, PASSWORD);
    await probe.inner.remove({ type: "snapshot", name: ids[0] });
    await prune(probeRepo);
    const total = probe.changes;
    expect(total).toBeGreaterThan(5);
    const kept = new Map([
      [ids[1], TREES[1]],
      [ids[2], TREES[2]],
    ]);
    for (let survive = 0; survive < total; survive++) {
      const inner = await cloneBackend(base);
      await inner.remove({ type: "snapshot", name: ids[0] });
      const crashing = new CrashingBackend(inner, survive);
      // a failed pack deletion is only a warning (as in restic), so prune may still finish
      await prune(await Repository.open(crashing, PASSWORD)).catch((err: Error) => {
        expect(err.message).toMatch("simulated crash");
      });
      expect(crashing.crashed).toBe(true);
      const repo = await Repository.open(inner, PASSWORD);
      const report = await checkRepository(repo, { readData: true });
      expect(
        report.findings.filter((f) => f.severity === "error"),
        `crash after ${survive} of ${total} changes`,
      ).toEqual([]);
      await expectSnapshotsIntact(repo, kept);
      await prune(repo);
      await expectClean(repo);
      await expectSnapshotsIntact(repo, kept);
    }
  });
});
