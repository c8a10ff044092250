// The checker against restic-made repositories: healthy ones pass, each damaged fixture
// (fixtures/damaged/make.sh) gives the finding it should, with and without --read-data.

import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../../src/backends/local.js";
import { checkRepository, type Finding } from "../../../src/repo/checker.js";
import { Repository } from "../../../src/repo/repository.js";
import { copyFixture, tempDir } from "../../helpers/tmp.js";
import { cli, damagedManifest, openDamaged } from "./helpers.js";

const m = damagedManifest();
const errors = (fs: readonly Finding[]) => fs.filter((f) => f.severity === "error");

describe("check", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  beforeAll(async () => {
    tmp = await tempDir();
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  for (const v of ["v1", "v2"]) {
    it(`passes the healthy restic fixture ${v}, with --read-data`, async () => {
      const dir = await copyFixture(`repos/${v}`, path.join(tmp.dir, `healthy-${v}`));
      const repo = await Repository.open(new LocalBackend(dir), "fixture-password-1");
      const report = await checkRepository(repo, { readData: true });
      expect(report.findings).toEqual([]);
      expect(report.packsRead).toBe(2);
      expect(report.snapshots).toBe(1);
      const out = await cli(["-r", dir, "check", "--read-data"], {
        RESTIC_PASSWORD: "fixture-password-1",
      });
      expect(out.stderr).toBe("");
      expect(out.code).toBe(0);
      expect(out.stdout).toBe(
        "create exclusive lock for repository\nload indexes\ncheck all packs\n" +
          "check snapshots, trees and blobs\nread all data\nno errors were found\n",
      );
    });
  }

  it("pack missing: reports the pack, structure still complete", async () => {
    const repo = await openDamaged("pack-missing", tmp.dir);
    const r = await checkRepository(repo);
    expect(errors(r.findings)).toEqual([
      expect.objectContaining({
        kind: "pack-missing",
        packId: m.packs.D1,
        message: `pack ${m.packs.D1}: does not exist`,
      }),
    ]);
    const rd = await checkRepository(repo, { readData: true });
    expect(errors(rd.findings).map((f) => f.kind)).toEqual(["pack-missing"]);
  });

  it("byte flipped in a pack: only --read-data finds it (hash and blob)", async () => {
    const repo = await openDamaged("pack-byte-flipped", tmp.dir);
    expect((await checkRepository(repo)).findings).toEqual([]);
    const r = await checkRepository(repo, { readData: true });
    expect(errors(r.findings)).toHaveLength(1);
    const f = r.findings[0];
    expect(f).toMatchObject({ kind: "pack-hash", packId: m.packs.D2 });
    expect(f.message).toMatch(/^pack [0-9a-f]{64} contains 2 errors$/);
    expect(f.details?.[0]).toMatch(
      new RegExp(`^Pack ID does not match, want ${m.packs.D2}, got [0-9a-f]{64}$`),
    );
    expect(f.details?.[1]).toMatch(/^blob [0-9a-f]{64}: ciphertext verification failed$/);
    const out = await cli(["-r", repo.backend.location, "check", "--read-data-subset", "1/1"], {
      RESTIC_PASSWORD: m.password,
    });
    expect(out.code).toBe(1);
    expect(out.stdout).toContain(
      "read group #1 of 6 data packs (out of total 6 packs in 1 groups)",
    );
    expect(out.stderr).toContain(`Pack ID does not match, want ${m.packs.D2}`);
    expect(out.stderr).toMatch(/Fatal: repository contains errors\n$/);
  });

  it("truncated pack: wrong size; --read-data also finds the hash mismatch", async () => {
    const repo = await openDamaged("pack-truncated", tmp.dir);
    const r = await checkRepository(repo);
    expect(errors(r.findings)).toEqual([
      expect.objectContaining({
        kind: "pack-size",
        packId: m.packs.D2,
        message: `pack ${m.packs.D2}: unexpected file size: got 206, expected 216`,
      }),
    ]);
    const rd = await checkRepository(repo, { readData: true });
    expect(errors(rd.findings).map((f) => [f.kind, f.packId])).toEqual([
      ["pack-size", m.packs.D2],
      ["pack-hash", m.packs.D2],
    ]);
  });

  it("index missing: orphaned packs (info) and trees not found", async () => {
    const repo = await openDamaged("index-missing", tmp.dir);
    const r = await checkRepository(repo);
    const info = r.findings.filter((f) => f.kind === "pack-orphaned").map((f) => f.packId);
    expect(info.sort()).toEqual([m.packs.D2, m.packs.P2].sort());
    const treeErrors = errors(r.findings);
    expect(treeErrors.every((f) => f.kind === "tree-load")).toBe(true);
    expect(treeErrors.map((f) => f.treeId)).toContain(m.trees.R2);
    expect(treeErrors.find((f) => f.treeId === m.trees.R2)?.details).toEqual([
      `id ${m.trees.R2} not found in repository`,
    ]);
  });

  it("tree blob missing: the subtree of snapshot 2", async () => {
    const repo = await openDamaged("tree-missing", tmp.dir);
    const r = await checkRepository(repo, { readData: true });
    expect(errors(r.findings)).toEqual([
      expect.objectContaining({
        kind: "tree-load",
        treeId: m.trees.S_a,
        snapshotId: m.snapshots.S2,
        path: "/a",
        details: [`id ${m.trees.S_a} not found in repository`],
      }),
    ]);
    const out = await cli(["-r", repo.backend.location, "check"], { RESTIC_PASSWORD: m.password });
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(
      `error for tree ${m.trees.S_a.slice(0, 8)} (snapshot ${m.snapshots.S2.slice(0, 8)}, /a):\n` +
        `  id ${m.trees.S_a} not found in repository\nFatal: repository contains errors\n`,
    );
  });

  it("snapshot pointing at a missing tree", async () => {
    const repo = await openDamaged("snapshot-missing-tree", tmp.dir);
    const r = await checkRepository(repo);
    expect(errors(r.findings)).toEqual([
      expect.objectContaining({
        kind: "tree-load",
        treeId: m.trees.R3,
        snapshotId: m.snapshots.S3,
        path: "/",
      }),
    ]);
  });
});
