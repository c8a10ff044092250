import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBackend } from "../../../src/backends/mem.js";
import { type BackupEvent, backup, prestartBackupWorkers } from "../../../src/repo/archiver.js";
import type { IndexedRepository } from "../../../src/repo/indexed.js";
import { Repository } from "../../../src/repo/repository.js";
import { loadSnapshot } from "../../../src/repo/snapshots.js";
import { prestartedBlobWorkers } from "../../../src/repo/workers/pool.js";
import { tempDir } from "../../helpers/tmp.js";
import { hasTool } from "../../helpers/tools.js";

const KDF = { N: 1024, r: 1, p: 1 };
const SMALL = { minSize: 4096, maxSize: 65536 };

async function readFileFromSnapshot(
  r: IndexedRepository,
  tree: string,
  parts: string[],
): Promise<Uint8Array> {
  let t = await r.loadTree(tree);
  for (let i = 0; i < parts.length - 1; i++) {
    const n = t.nodes.find((x) => x.name === parts[i]);
    t = await r.loadTree(n?.subtree as string);
  }
  const node = t.nodes.find((x) => x.name === parts.at(-1));
  const blobs = await Promise.all((node?.content ?? []).map((id) => r.loadBlob("data", id)));
  return new Uint8Array(Buffer.concat(blobs));
}

describe("backup() in memory", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let big: Buffer;
  beforeAll(async () => {
    tmp = await tempDir("restic-ts-arch-");
    const src = path.join(tmp.dir, "src");
    mkdirSync(path.join(src, "sub", "deeper"), { recursive: true });
    big = randomBytes(300_000);
    writeFileSync(path.join(src, "big.bin"), big);
    writeFileSync(path.join(src, "copy.bin"), big);
    writeFileSync(path.join(src, "sub", "small.txt"), "small\n");
    writeFileSync(path.join(src, "sub", "deeper", "empty"), "");
    writeFileSync(path.join(src, "skip.tmp"), "excluded");
    symlinkSync("big.bin", path.join(src, "link"));
  });
  afterAll(() => tmp.cleanup());

  for (const version of [1, 2] as const) {
    it(`v${version}: stores, dedups, reuses the parent and re-reads with force`, async () => {
      const repo = await Repository.init(new MemoryBackend(), "pw", { version, kdf: KDF });
      const events: BackupEvent[] = [];
      const r1 = await backup(repo, ["src"], {
        cwd: tmp.dir,
        threads: 0,
        chunker: SMALL,
        packSize: 100_000,
        exclude: ["*.tmp"],
        tags: ["t1"],
        onEvent: (e) => events.push(e),
      });
      expect(r1.errors).toEqual([]);
      expect(r1.summary.filesNew).toBe(4);
      expect(r1.summary.dirsNew).toBe(3);
      // big.bin and copy.bin share every chunk
      const indexed = await repo.loadIndex();
      expect(
        await readFileFromSnapshot(indexed, r1.snapshot.tree as string, ["src", "copy.bin"]),
      ).toEqual(new Uint8Array(big));
      const sn = await loadSnapshot(repo, r1.snapshotId as string);
      expect(sn.tags).toEqual(["t1"]);
      expect(sn.excludes).toEqual(["*.tmp"]);
      expect(sn.paths).toEqual([path.join(tmp.dir, "src")]);
      const root = await indexed.loadTree(sn.tree as string);
      const srcTree = await indexed.loadTree(root.nodes[0].subtree as string);
      expect(srcTree.nodes.map((n) => n.name)).toEqual(["big.bin", "copy.bin", "link", "sub"]);
      expect(srcTree.nodes[2].linkTarget).toBe("big.bin");
      expect(events.some((e) => e.type === "done")).toBe(true);

      const r2 = await backup(repo, ["src"], {
        cwd: tmp.dir,
        threads: 0,
        chunker: SMALL,
        exclude: ["*.tmp"],
      });
      expect(r2.parent).toBe(r1.snapshotId);
      expect(r2.summary.filesUnmodified).toBe(4);
      expect(r2.summary.dataBlobs + r2.summary.treeBlobs).toBe(0);
      expect(r2.snapshot.tree).toBe(r1.snapshot.tree);

      const r3 = await backup(repo, ["src"], {
        cwd: tmp.dir,
        threads: 0,
        chunker: SMALL,
        force: true,
        exclude: ["*.tmp"],
      });
      expect(r3.parent).toBeUndefined();
      expect(r3.summary.filesNew).toBe(4);
      expect(r3.summary.dataBlobs).toBe(0);
      expect(r3.snapshot.tree).toBe(r1.snapshot.tree);
    });
  }

  it.runIf(hasTool("setfattr"))(
    "unchanged files keep their parent's extended attributes; a changed one moves the ctime",
    async () => {
      const dir = path.join(tmp.dir, "xattrs");
      mkdirSync(dir);
      const setfattr = (file: string, ...args: string[]) =>
        execFileSync("setfattr", [...args, path.join(dir, file)]);
      for (const f of ["a", "b", "c", "d"]) writeFileSync(path.join(dir, f), `${f}\n`);
      setfattr("a", "-n", "user.k", "-v", "one");
      setfattr("c", "-n", "user.k", "-v", "one");
      setfattr("d", "-n", "user.k", "-v", "one");
      const repo = await Repository.init(new MemoryBackend(), "pw", { kdf: KDF });
      const attrsOf = async (tree: string | null | undefined, opts = {}) => {
        const r = await backup(repo, ["xattrs"], { cwd: tmp.dir, threads: 0, ...opts });
        expect(r.errors).toEqual([]);
        const indexed = await repo.loadIndex();
        const root = await indexed.loadTree(r.snapshot.tree as string);
        const t = await indexed.loadTree(root.nodes[0].subtree as string);
        const out: Record<string, string> = {};
        for (const n of t.nodes) {
          out[n.name] = (n.extendedAttributes ?? [])
            .map((x) => `${x.name}=${x.value === null ? "" : Buffer.from(x.value).toString()}`)
            .join(",");
        }
        if (tree !== undefined) expect(r.snapshot.tree).toBe(tree);
        return { attrs: out, tree: r.snapshot.tree, summary: r.summary };
      };
      const first = await attrsOf(undefined);
      expect(first.attrs).toEqual({ a: "user.k=one", b: "", c: "user.k=one", d: "user.k=one" });
      // unchanged: the same tree, attributes taken over from the parent
      const again = await attrsOf(first.tree);
      expect(again.summary.filesUnmodified).toBe(4);
      // attributes added, changed and removed: each moves its file's ctime
      setfattr("b", "-n", "user.new", "-v", "two");
      setfattr("c", "-n", "user.k", "-v", "changed");
      setfattr("d", "-x", "user.k");
      const changed = await attrsOf(undefined);
      expect(changed.attrs).toEqual({
        a: "user.k=one",
        b: "user.new=two",
        c: "user.k=changed",
        d: "",
      });
      expect(changed.summary.filesUnmodified).toBe(1);
      // --xattrs off leaves them out, parent or not
      const off = await attrsOf(undefined, { xattrs: "off" });
      expect(off.attrs).toEqual({ a: "", b: "", c: "", d: "" });
    },
  );

  it("workers started ahead of a backup are taken by it and store the same blobs", async () => {
    const inline = await Repository.init(new MemoryBackend(), "pw", { kdf: KDF });
    const workers = await Repository.init(new MemoryBackend(), "pw", {
      kdf: KDF,
      chunkerPolynomial: inline.config.chunkerPolynomial,
    });
    const a = await backup(inline, ["src"], { cwd: tmp.dir, threads: 0, chunker: SMALL });
    prestartBackupWorkers(2);
    expect(prestartedBlobWorkers()).toBe(2);
    // let them load their modules first, as they do while the CLI's scrypt runs
    await new Promise((r) => setTimeout(r, 300));
    const b = await backup(workers, ["src"], { cwd: tmp.dir, threads: 2, chunker: SMALL });
    expect(prestartedBlobWorkers()).toBe(0);
    expect(b.errors).toEqual([]);
    expect(b.summary.filesNew).toBe(a.summary.filesNew);
    expect(b.summary.dataBlobs).toBe(a.summary.dataBlobs);
    expect(b.snapshot.tree).toBe(a.snapshot.tree);
    const indexed = await workers.loadIndex();
    expect(
      await readFileFromSnapshot(indexed, b.snapshot.tree as string, ["src", "big.bin"]),
    ).toEqual(new Uint8Array(big));
  });

  it("reports an unreadable file, leaves it out and still writes the snapshot", async () => {
    const repo = await Repository.init(new MemoryBackend(), "pw", { kdf: KDF });
    const victim = path.join(tmp.dir, "src", "vanishing");
    writeFileSync(victim, "gone before it is read");
    const r = await backup(repo, ["src"], {
      cwd: tmp.dir,
      threads: 0,
      filter: (p) => {
        if (p === victim) rmSync(victim); // vanishes between lstat and open
        return true;
      },
    });
    expect(r.errors.map((e) => e.item)).toEqual([victim]);
    expect(r.snapshotId).toBeDefined();
  });

  it("dry run writes nothing; extra files and stdin land in the root", async () => {
    const backend = new MemoryBackend();
    const repo = await Repository.init(backend, "pw", { kdf: KDF });
    const before = (await repo.listIds("data")).length;
    const dry = await backup(repo, ["src"], { cwd: tmp.dir, threads: 0, dryRun: true });
    expect(dry.snapshotId).toBeUndefined();
    expect(dry.summary.dataBlobs).toBeGreaterThan(0);
    expect((await repo.listIds("data")).length).toBe(before);
    expect(await repo.listIds("snapshot")).toEqual([]);

    const meta = new TextEncoder().encode("meta\n");
    const r = await backup(repo, ["."], {
      cwd: path.join(tmp.dir, "src"),
      threads: 0,
      extraFiles: [{ path: "/.corex.meta", data: meta }],
    });
    const indexed = await repo.loadIndex();
    expect(await readFileFromSnapshot(indexed, r.snapshot.tree as string, [".corex.meta"])).toEqual(
      meta,
    );
    const root = await indexed.loadTree(r.snapshot.tree as string);
    expect(root.nodes.map((n) => n.name)).toContain("sub");

    async function* stream() {
      yield new Uint8Array(big.subarray(0, 1000));
      yield new Uint8Array(big.subarray(1000));
    }
    const s = await backup(repo, [], {
      threads: 0,
      stdin: { stream: stream(), filename: "dump.bin" },
    });
    expect(s.snapshot.paths).toEqual(["/dump.bin"]);
    const indexed2 = await repo.loadIndex();
    expect(await readFileFromSnapshot(indexed2, s.snapshot.tree as string, ["dump.bin"])).toEqual(
      new Uint8Array(big),
    );
  });
});
