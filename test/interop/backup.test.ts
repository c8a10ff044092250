// The write path against restic 0.14: repositories we write pass `restic check --read-data`
// (v1 and v2), `restic restore` reproduces the source exactly, and the same tree backed up by
// restic and by restic-ts gives the same blobs (no new data or tree blobs the second time, in
// both orders).

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.js";
import { backup } from "../../src/repo/archiver.js";
import { Repository } from "../../src/repo/repository.js";
import { restic } from "../helpers/restic.js";
import { tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";
import { buildAwkwardTree, diffTrees, snapshotTree } from "../unit/archiver/awkward-tree.js";

const PW = "interop-pw";

describe.runIf(hasTool("restic"))("backup interop with restic 0.14", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let src: string;
  let before: ReturnType<typeof snapshotTree>;

  beforeAll(async () => {
    tmp = await tempDir("restic-ts-backup-");
    src = buildAwkwardTree(path.join(tmp.dir, "src"));
    before = snapshotTree(src);
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  for (const version of [2, 1] as const) {
    it(`v${version}: restic check --read-data passes and restore reproduces the source`, async () => {
      const repoDir = path.join(tmp.dir, `repo-v${version}`);
      await restic(repoDir, PW, ["init", "--repository-version", String(version)]);
      const repo = await Repository.open(new LocalBackend(repoDir), PW);
      const r = await backup(repo, ["src"], { cwd: tmp.dir, packSize: 4 * 1024 * 1024 });
      expect(r.errors).toEqual([]);
      expect(r.snapshotId).toMatch(/^[0-9a-f]{64}$/);
      const check = await restic(repoDir, PW, ["check", "--read-data"]);
      expect(check.stdout).toContain("no errors were found");
      const target = path.join(tmp.dir, `restore-v${version}`);
      await restic(repoDir, PW, ["restore", r.snapshotId as string, "--target", target]);
      expect(diffTrees(before, snapshotTree(path.join(target, "src")))).toEqual([]);
      // a second backup reuses everything through the parent
      const again = await backup(repo, ["src"], { cwd: tmp.dir });
      expect(again.parent).toBe(r.snapshotId);
      expect(again.summary.dataBlobs).toBe(0);
      expect(again.summary.treeBlobs).toBe(0);
      expect(again.summary.filesNew + again.summary.filesChanged).toBe(0);
      expect(again.snapshot.tree).toBe(r.snapshot.tree);
    });
  }

  it("restic first, then restic-ts: no new data or tree blobs", async () => {
    const repoDir = path.join(tmp.dir, "repo-a");
    await restic(repoDir, PW, ["init"]);
    await restic(repoDir, PW, ["backup", "src"], { cwd: tmp.dir });
    const repo = await Repository.open(new LocalBackend(repoDir), PW);
    const r = await backup(repo, ["src"], { cwd: tmp.dir, force: true });
    expect(r.errors).toEqual([]);
    expect(r.summary.dataBlobs).toBe(0);
    expect(r.summary.treeBlobs).toBe(0);
    const snaps = JSON.parse((await restic(repoDir, PW, ["snapshots", "--json"])).stdout) as {
      tree: string;
    }[];
    expect(snaps.map((s) => s.tree)).toEqual([snaps[0].tree, snaps[0].tree]);
  });

  it("restic-ts first, then restic: no new data or tree blobs", async () => {
    const repoDir = path.join(tmp.dir, "repo-b");
    await restic(repoDir, PW, ["init"]);
    const repo = await Repository.open(new LocalBackend(repoDir), PW);
    const r = await backup(repo, ["src"], { cwd: tmp.dir });
    expect(r.errors).toEqual([]);
    const out = await restic(repoDir, PW, ["backup", "--json", "--force", "src"], { cwd: tmp.dir });
    const summary = JSON.parse(out.stdout.trim().split("\n").at(-1) as string);
    expect(summary.message_type).toBe("summary");
    expect(summary.data_blobs).toBe(0);
    expect(summary.tree_blobs).toBe(0);
  });

  it("backs up a directory's contents as the root (`cd dir && backup .`) like restic", async () => {
    const repoDir = path.join(tmp.dir, "repo-dot");
    await restic(repoDir, PW, ["init"]);
    await restic(repoDir, PW, ["backup", "."], { cwd: src });
    const repo = await Repository.open(new LocalBackend(repoDir), PW);
    const r = await backup(repo, ["."], {
      cwd: src,
      force: true,
      extraFiles: [{ path: "/.corex.meta", data: new TextEncoder().encode('{"meta":1}\n') }],
    });
    expect(r.errors).toEqual([]);
    expect(r.snapshot.paths).toEqual([src]);
    const ls = (await restic(repoDir, PW, ["ls", r.snapshotId as string])).stdout.split("\n");
    expect(ls).toContain("/plain.txt");
    expect(ls).toContain("/.corex.meta");
    expect(ls).toContain("/deep");
    const dump = await restic(repoDir, PW, ["dump", r.snapshotId as string, "/.corex.meta"]);
    expect(dump.stdout).toBe('{"meta":1}\n');
    // without the extra file the root tree is restic's
    const plain = await backup(repo, ["."], { cwd: src });
    expect(plain.errors).toEqual([]);
    const snaps = JSON.parse((await restic(repoDir, PW, ["snapshots", "--json"])).stdout) as {
      id: string;
      tree: string;
    }[];
    expect(snaps.find((s) => s.id === plain.snapshotId)?.tree).toBe(snaps[0].tree);
  });

  it("--stdin stores the stream as one file restic can dump", async () => {
    const repoDir = path.join(tmp.dir, "repo-stdin");
    await restic(repoDir, PW, ["init"]);
    const repo = await Repository.open(new LocalBackend(repoDir), PW);
    const data = readFileSync(path.join(src, "logs/app.log"));
    const r = await backup(repo, [], {
      stdin: { stream: Readable.from([data]), filename: "db.sql" },
    });
    expect(r.snapshot.paths).toEqual(["/db.sql"]);
    const dumped = execFileSync(
      "restic",
      ["--no-cache", "-r", repoDir, "dump", r.snapshotId as string, "/db.sql"],
      {
        env: { ...process.env, RESTIC_PASSWORD: PW },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    expect(Buffer.compare(dumped, data)).toBe(0);
    await restic(repoDir, PW, ["check", "--read-data"]);
  });
});
