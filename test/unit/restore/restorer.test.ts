import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256, toHex } from "../../../src/crypto/hash.js";
import { restoreFilter } from "../../../src/repo/filter.js";
import type { Id } from "../../../src/repo/id.js";
import { openMetadataOps } from "../../../src/repo/restore/fsops.js";
import { newRestoreProgress, restoreTree } from "../../../src/repo/restorer.js";
import { findSnapshot } from "../../../src/repo/snapshots.js";
import { nativeZstd } from "../../../src/repo/zstd-native.js";
import { tempDir } from "../../helpers/tmp.js";
import { craftRepo, dirNode, fileNode, node } from "./craft.js";

const isRoot = process.getuid?.() === 0;
const MODE_SETUID = 0x0080_0000;
const MODE_STICKY = 0x0010_0000;
const MODE_DIR = 0x8000_0000;
const MODE_NAMED_PIPE = 0x0200_0000;
const MODE_DEVICE = 0x0400_0000;
const MODE_CHAR_DEVICE = 0x0020_0000;

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const ns = (p: string) => fs.lstatSync(p, { bigint: true });

/** A snapshot with most kinds of nodes; returns what each file should contain. */
async function richRepo(version: 1 | 2, dir?: string) {
  const c = await craftRepo(version, dir);
  const a = pattern(300_000, 1);
  const b = pattern(70_000, 2);
  const zeros = new Uint8Array(200_000);
  const idA = await c.data(a, { compress: true });
  await c.nextPack();
  const idB = await c.data(b);
  const idZ = await c.data(zeros, { compress: true });
  const text = "text\n".repeat(1000);
  const idT = await c.data(text, { compress: true });
  const sub = await c.tree([
    fileNode("deep.txt", [idT], text.length),
    node("empty dir", "dir", { subtree: await c.tree([]) }),
  ]);
  const root = await c.tree([
    // a file made of several blobs, one of them twice
    fileNode("multi.bin", [idA, idB, idA], a.length * 2 + b.length, {
      mode: (0o4755 & 0o777) | MODE_SETUID,
    }),
    // another file sharing a blob: the blob goes to both
    fileNode("shared.bin", [idB], b.length, { mode: 0o600 }),
    fileNode("holes.img", [idZ, idB, idZ], zeros.length * 2 + b.length),
    fileNode("empty", [], 0),
    fileNode("hard1", [idT], text.length, { links: 2, inode: 77n, deviceId: 5n }),
    dirNode("sub", sub, { mode: (MODE_DIR | 0o750) >>> 0 }),
    fileNode("hard2", [idT], text.length, { links: 2, inode: 77n, deviceId: 5n }),
    fileNode("e1", [], 0, { links: 2, inode: 78n, deviceId: 5n }),
    fileNode("e2", [], 0, { links: 2, inode: 78n, deviceId: 5n }),
    node("link", "symlink", { linkTarget: "sub/deep.txt" }),
    node("outside", "symlink", { linkTarget: "/etc/passwd" }),
    node("fifo", "fifo", { mode: (MODE_NAMED_PIPE | 0o640) >>> 0 }),
    node("sticky", "dir", {
      subtree: await c.tree([]),
      mode: (MODE_DIR | MODE_STICKY | 0o777) >>> 0,
    }),
    fileNode("xattrs", [idB], b.length, {
      extendedAttributes: [
        { name: "user.one", value: new TextEncoder().encode("first") },
        { name: "user.bin", value: new Uint8Array([0, 255, 1]) },
      ],
    }),
    node("sock", "socket"),
  ]);
  const ir = await c.commit(root);
  const files: Record<string, Uint8Array> = {
    "multi.bin": Buffer.concat([a, b, a]),
    "shared.bin": b,
    "holes.img": Buffer.concat([zeros, b, zeros]),
    empty: new Uint8Array(0),
    hard1: Buffer.from(text),
    hard2: Buffer.from(text),
    "sub/deep.txt": Buffer.from(text),
    xattrs: b,
  };
  return { ir, root, files, c };
}

describe("restoreTree", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    tmp = await tempDir("restic-ts-restore-");
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it.each([1, 2] as const)("restores every kind of node (v%i) with its metadata", async (v) => {
    const { ir, root, files } = await richRepo(v);
    const target = path.join(tmp.dir, "t");
    const progress = newRestoreProgress();
    const res = await restoreTree(ir, root, { target, verify: true, progress });
    expect(res.errors).toBe(0);
    // times to the nanosecond (perl helper) — for files, dirs (after their content) and links;
    // checked first: reading a file may change its atime
    for (const p of ["multi.bin", "sub", "link", "fifo", "empty", "sub/empty dir"]) {
      const st = ns(path.join(target, p));
      if (res.timePrecision === "nanosecond") {
        expect(st.mtimeNs, p).toBe(1680674828123456789n);
        expect(st.atimeNs, p).toBe(1680674829987654321n);
      } else {
        expect(st.mtimeNs / 1000n, p).toBe(1680674828123456n);
      }
    }
    for (const [name, content] of Object.entries(files)) {
      expect(
        Buffer.compare(fs.readFileSync(path.join(target, name)), Buffer.from(content)),
        name,
      ).toBe(0);
    }
    expect(res.verified).toBe(Object.keys(files).length + 2);
    // types
    expect(fs.readlinkSync(path.join(target, "link"))).toBe("sub/deep.txt");
    expect(fs.readlinkSync(path.join(target, "outside"))).toBe("/etc/passwd");
    expect(ns(path.join(target, "fifo")).isFIFO()).toBe(true);
    expect(fs.existsSync(path.join(target, "sock"))).toBe(false);
    expect(fs.statSync(path.join(target, "sub", "empty dir")).isDirectory()).toBe(true);
    // hard links: same inode
    expect(ns(path.join(target, "hard1")).ino).toBe(ns(path.join(target, "hard2")).ino);
    expect(ns(path.join(target, "e1")).ino).toBe(ns(path.join(target, "e2")).ino);
    expect(ns(path.join(target, "hard1")).nlink).toBe(2n);
    // modes
    expect(Number(ns(path.join(target, "multi.bin")).mode & 0o7777n)).toBe(0o4755);
    expect(Number(ns(path.join(target, "shared.bin")).mode & 0o7777n)).toBe(0o600);
    expect(Number(ns(path.join(target, "sticky")).mode & 0o7777n)).toBe(0o1777);
    expect(Number(ns(path.join(target, "sub")).mode & 0o7777n)).toBe(0o750);
    expect(Number(ns(path.join(target, "fifo")).mode & 0o7777n)).toBe(0o640);
    // xattrs
    const attrs = execFileSync("getfattr", ["-d", "-e", "hex", path.join(target, "xattrs")], {
      encoding: "utf8",
    })
      .split("\n")
      .filter((l) => l.startsWith("user."));
    expect(attrs).toEqual(["user.bin=0x00ff01", "user.one=0x6669727374"]);
    // progress
    expect(progress.filesDone).toBe(progress.filesTotal);
    expect(progress.bytesDone).toBe(progress.bytesTotal);
    expect(progress.phase).toBe("done");
  });

  it("restores times to the microsecond and the rest with the Node fallback", async () => {
    const { ir, root, files } = await richRepo(2);
    const target = path.join(tmp.dir, "t");
    const meta = await openMetadataOps({ preferFallback: true });
    const res = await restoreTree(ir, root, { target, metadataOps: meta });
    expect(res.errors).toBe(0);
    expect(res.timePrecision).toBe("microsecond");
    for (const [name, content] of Object.entries(files)) {
      expect(Buffer.compare(fs.readFileSync(path.join(target, name)), Buffer.from(content))).toBe(
        0,
      );
    }
    for (const p of ["multi.bin", "sub", "link", "fifo"]) {
      expect(ns(path.join(target, p)).mtimeNs, p).toBe(1680674828123456000n);
    }
    expect(ns(path.join(target, "fifo")).isFIFO()).toBe(true);
    expect(Number(ns(path.join(target, "multi.bin")).mode & 0o7777n)).toBe(0o4755);
  });

  it("leaves holes for zero blobs with sparse", async () => {
    const { ir, root, files } = await richRepo(2);
    const target = path.join(tmp.dir, "t");
    await restoreTree(ir, root, { target, sparse: true });
    const p = path.join(target, "holes.img");
    expect(Buffer.compare(fs.readFileSync(p), Buffer.from(files["holes.img"]))).toBe(0);
    const st = fs.statSync(p);
    expect(st.size).toBe(files["holes.img"].length);
    // only the middle blob (70 kB) takes space
    expect(st.blocks * 512).toBeLessThan(200_000);
  });

  it("selects with include and exclude patterns, creating parents of included nodes", async () => {
    const { ir, root } = await richRepo(2);
    const inc = path.join(tmp.dir, "inc");
    await restoreTree(ir, root, {
      target: inc,
      filter: restoreFilter({ include: ["deep.txt"] }),
    });
    expect(fs.readdirSync(inc)).toEqual(["sub"]);
    expect(fs.readdirSync(path.join(inc, "sub"))).toEqual(["deep.txt"]);
    // the parent's metadata is restored too
    expect(Number(ns(path.join(inc, "sub")).mode & 0o777n)).toBe(0o750);
    const exc = path.join(tmp.dir, "exc");
    await restoreTree(ir, root, {
      target: exc,
      filter: restoreFilter({ exclude: ["/sub", "*.bin"] }),
    });
    const names = fs.readdirSync(exc).sort();
    expect(names).not.toContain("sub");
    expect(names).not.toContain("multi.bin");
    expect(names).toContain("holes.img");
    const iexc = path.join(tmp.dir, "iexc");
    await restoreTree(ir, root, { target: iexc, filter: restoreFilter({ iexclude: ["*.BIN"] }) });
    expect(fs.readdirSync(iexc)).not.toContain("shared.bin");
  });

  it("restores a subfolder into the target", async () => {
    const { ir, root } = await richRepo(1);
    const target = path.join(tmp.dir, "t");
    await restoreTree(ir, root, { target, subfolder: "sub" });
    expect(fs.readdirSync(target).sort()).toEqual(["deep.txt", "empty dir"]);
    await expect(restoreTree(ir, root, { target, subfolder: "nope" })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
    await expect(restoreTree(ir, root, { target, subfolder: "empty" })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
  });

  it("reports a file whose blob is missing and restores the others", async () => {
    const c = await craftRepo(2);
    const good = await c.data("good content");
    const missing = "ab".repeat(32);
    const root = await c.tree([
      fileNode("bad", [good, missing], 100),
      fileNode("good", [good], 12),
    ]);
    const ir = await c.commit(root);
    const target = path.join(tmp.dir, "t");
    const errors: string[] = [];
    const res = await restoreTree(ir, root, {
      target,
      onError: (loc, err) => errors.push(`${loc}: ${(err as { code?: string }).code}`),
    });
    expect(errors).toEqual(["/bad: NOT_FOUND"]);
    expect(res.errors).toBe(1);
    expect(fs.readFileSync(path.join(target, "good"), "utf8")).toBe("good content");
    // without onError the first problem aborts
    await expect(restoreTree(ir, root, { target: path.join(tmp.dir, "u") })).rejects.toMatchObject({
      code: "NOT_FOUND",
    });
  });

  it("reports a one-blob file it cannot create, and aborts on it without onError", async () => {
    const c = await craftRepo(2);
    // a small and a larger one-blob file (both written in one chain of callbacks)
    const small = await c.data("content");
    const big = pattern(100_000, 3);
    const bigId = await c.data(big);
    const long = "n".repeat(256); // NAME_MAX is 255: open fails with ENAMETOOLONG
    const longBig = "m".repeat(256);
    const root = await c.tree([
      fileNode("a", [small], 7),
      fileNode("b", [bigId], big.length),
      fileNode("blocked", [small], 7),
      fileNode("blockedBig", [bigId], big.length),
      fileNode(longBig, [bigId], big.length),
      fileNode(long, [small], 7),
      fileNode("z", [small], 7),
    ]);
    const ir = await c.commit(root);
    for (const name of ["t", "u", "v"]) {
      // a directory with something in it where a file goes: refused, never removed
      for (const d of ["blocked", "blockedBig"]) {
        fs.mkdirSync(path.join(tmp.dir, name, d), { recursive: true });
        fs.writeFileSync(path.join(tmp.dir, name, d, "keep"), "kept");
      }
    }
    const errors: string[] = [];
    const progress = newRestoreProgress();
    const res = await restoreTree(ir, root, {
      target: path.join(tmp.dir, "t"),
      progress,
      onError: (loc, err) => errors.push(`${loc}: ${(err as { code?: string }).code}`),
    });
    expect(errors.sort()).toEqual([
      "/blocked: EISDIR",
      "/blockedBig: EISDIR",
      `/${longBig}: ENAMETOOLONG`,
      `/${long}: ENAMETOOLONG`,
    ]);
    expect(res.errors).toBe(4);
    expect(progress.filesDone).toBe(3);
    for (const f of ["a", "z"]) {
      expect(fs.readFileSync(path.join(tmp.dir, "t", f), "utf8")).toBe("content");
    }
    expect(Buffer.compare(fs.readFileSync(path.join(tmp.dir, "t", "b")), big)).toBe(0);
    for (const d of ["blocked", "blockedBig"]) {
      expect(fs.readFileSync(path.join(tmp.dir, "t", d, "keep"), "utf8")).toBe("kept");
    }
    await expect(restoreTree(ir, root, { target: path.join(tmp.dir, "u") })).rejects.toMatchObject({
      code: expect.stringMatching(/^(EISDIR|ENAMETOOLONG)$/),
    });
    // the first failure of a large file aborts too
    const onlyBig = await c.tree([fileNode(longBig, [bigId], big.length)]);
    const ir2 = await c.commit(onlyBig);
    await expect(
      restoreTree(ir2, onlyBig, { target: path.join(tmp.dir, "v") }),
    ).rejects.toMatchObject({ code: "ENAMETOOLONG" });
  });

  it("reads a blob from another pack when its first copy is damaged", async () => {
    const dir = path.join(tmp.dir, "repo");
    const c = await craftRepo(1, dir);
    const content = pattern(50_000, 9);
    const id = await c.data(content);
    const root = await c.tree([fileNode("f", [id], content.length)]);
    const ir = await c.commit(root);
    // a second pack with the same blob, listed second in the index
    const c2Packs = fs.readdirSync(path.join(dir, "data"), { recursive: true }) as string[];
    const packFile = c2Packs
      .map((p) => path.join(dir, "data", p))
      .find((p) => fs.statSync(p).isFile() && fs.statSync(p).size > 50_000) as string;
    const copy = Buffer.from(fs.readFileSync(packFile));
    const locs = ir.index.lookup("data", id);
    expect(locs).toHaveLength(1);
    // damage the original in place (the repository file is read-only)
    fs.chmodSync(packFile, 0o600);
    const damaged = Buffer.from(copy);
    damaged[locs[0].offset + 100] ^= 0xff;
    fs.writeFileSync(packFile, damaged);
    const { toHex, sha256 } = await import("../../../src/crypto/hash.js");
    const copyId = toHex(sha256(copy));
    await ir.repo.backend.save({ type: "data", name: copyId }, copy);
    ir.index.add(copyId, [{ type: "data", id, offset: locs[0].offset, length: locs[0].length }]);
    const target = path.join(tmp.dir, "t");
    const res = await restoreTree(ir, root, { target, verify: true });
    expect(res.errors).toBe(0);
    expect(Buffer.compare(fs.readFileSync(path.join(target, "f")), Buffer.from(content))).toBe(0);
  });

  it("restores from a LocalBackend repository", async () => {
    const dir = path.join(tmp.dir, "repo");
    const { ir, root, files } = await richRepo(2, dir);
    const target = path.join(tmp.dir, "t");
    const res = await restoreTree(ir, root, { target, verify: true });
    expect(res.errors).toBe(0);
    expect(res.verified).toBe(Object.keys(files).length + 2);
  });

  it("reads each byte of a data pack at most once, in few requests", async () => {
    const c = await craftRepo(1);
    const blobs: Id[] = [];
    const nodes = [];
    for (let i = 0; i < 40; i++) {
      const id = await c.data(pattern(20_000 + i, i + 100));
      blobs.push(id);
      nodes.push(fileNode(`f${String(i).padStart(2, "0")}`, [id], 20_000 + i));
      if (i === 19) await c.nextPack();
    }
    // one file made of every blob, backwards: its blobs come from both packs out of order
    nodes.push(fileNode("all", [...blobs].reverse(), blobs.length * 20_000 + 780));
    const root = await c.tree(nodes);
    const ir = await c.commit(root);
    const dataPacks = new Set(blobs.map((id) => ir.index.lookup("data", id)[0].packId));
    const reads: { name: string; offset: number; length: number }[] = [];
    const backend = ir.repo.backend;
    const load = backend.load.bind(backend);
    backend.load = async (h, range) => {
      if (h.type === "data" && dataPacks.has(h.name)) {
        reads.push({ name: h.name, offset: range?.offset ?? 0, length: range?.length ?? -1 });
      }
      return load(h, range);
    };
    const target = path.join(tmp.dir, "t");
    const res = await restoreTree(ir, root, { target, verify: true });
    expect(res.errors).toBe(0);
    expect(res.verified).toBe(41);
    expect(reads.length).toBe(2);
    for (const name of dataPacks) {
      const mine = reads.filter((r) => r.name === name).sort((a, b) => a.offset - b.offset);
      for (let i = 1; i < mine.length; i++) {
        expect(mine[i].offset).toBeGreaterThanOrEqual(mine[i - 1].offset + mine[i - 1].length);
      }
    }
  });

  it.runIf(isRoot)("restores owners and device nodes as root", async () => {
    const c = await craftRepo(2);
    const root = await c.tree([
      fileNode("owned", [await c.data("x")], 1, { uid: 1234, gid: 5678 }),
      node("lnk", "symlink", { linkTarget: "owned", uid: 4321, gid: 8765 }),
      node("null", "chardev", {
        mode: (MODE_DEVICE | MODE_CHAR_DEVICE | 0o666) >>> 0,
        device: 0x103n,
      }),
      node("loop", "dev", { mode: (MODE_DEVICE | 0o660) >>> 0, device: 0x7c8n }),
    ]);
    const ir = await c.commit(root);
    const target = path.join(tmp.dir, "t");
    for (const meta of [undefined, await openMetadataOps({ preferFallback: true })]) {
      fs.rmSync(target, { recursive: true, force: true });
      const res = await restoreTree(ir, root, { target, metadataOps: meta });
      expect(res.errors).toBe(0);
      const o = ns(path.join(target, "owned"));
      expect([o.uid, o.gid]).toEqual([1234n, 5678n]);
      const l = ns(path.join(target, "lnk"));
      expect([l.uid, l.gid]).toEqual([4321n, 8765n]);
      const n = ns(path.join(target, "null"));
      expect(n.isCharacterDevice()).toBe(true);
      expect(n.rdev).toBe(0x103n);
      expect(Number(n.mode & 0o777n)).toBe(0o666);
      const d = ns(path.join(target, "loop"));
      expect(d.isBlockDevice()).toBe(true);
      expect(d.rdev).toBe(0x7c8n);
    }
  });

  it("restores the snapshot found by findSnapshot", async () => {
    const { ir, root } = await richRepo(1);
    const sn = await findSnapshot(ir.repo, "latest");
    expect(sn.snapshot.tree).toBe(root as Id);
  });
});

describe("decoding on libuv's thread pool", () => {
  it.runIf(nativeZstd() !== null)(
    "restores large compressed blobs off the main thread and refuses one that lies",
    async () => {
      const tmp = await tempDir("restic-ts-offthread-");
      try {
        const c = await craftRepo(2);
        const line = (i: number) =>
          Buffer.from(`line ${i} of a compressible file\n`.repeat(20_000));
        const ids: Id[] = [];
        for (let i = 0; i < 5; i++) ids.push(await c.data(line(i), { compress: true }));
        // stored under the ID of other content (as a damaged or hostile repository could be)
        const lie = await c.data(line(99), { compress: true, id: toHex(sha256(line(7))) });
        const size = line(0).length;
        const root = await c.tree([
          fileNode("good", ids, size * ids.length),
          fileNode("liar", [lie], size),
        ]);
        const ir = await c.commit(root);
        const target = path.join(tmp.dir, "t");
        const errors: string[] = [];
        const res = await restoreTree(ir, root, {
          target,
          decodeWorkers: 0,
          onError: (where, err) => errors.push(`${where}: ${(err as Error).message}`),
        });
        expect(res.errors).toBe(1);
        expect(errors).toEqual([`/liar: data blob ${lie} does not match its ID (SHA-256)`]);
        const want = Buffer.concat(ids.map((_, i) => line(i)));
        expect(fs.readFileSync(path.join(target, "good")).equals(want)).toBe(true);
      } finally {
        await tmp.cleanup();
      }
    },
  );
});

describe("decoding on worker threads", () => {
  it("restores large compressed blobs through the decode pool", async () => {
    const tmp = await tempDir("restic-ts-pool-");
    try {
      const c = await craftRepo(2);
      const text = Buffer.from("compressible line of text\n".repeat(40_000)); // ~1 MiB
      const ids: Id[] = [];
      for (let i = 0; i < 6; i++) {
        ids.push(await c.data(Buffer.concat([text, Buffer.from(`blob ${i}`)]), { compress: true }));
      }
      const root = await c.tree([fileNode("big", ids, (text.length + 6) * 6)]);
      const ir = await c.commit(root);
      const target = path.join(tmp.dir, "t");
      const res = await restoreTree(ir, root, { target, decodeWorkers: 1, verify: true });
      expect(res.errors).toBe(0);
      expect(res.verified).toBe(1);
      const want = Buffer.concat(
        ids.map((_, i) => Buffer.concat([text, Buffer.from(`blob ${i}`)])),
      );
      expect(fs.readFileSync(path.join(target, "big")).equals(want)).toBe(true);
    } finally {
      await tmp.cleanup();
    }
  });

  it("rejects a frame that does not match its ID", async () => {
    const { DecodePool } = await import("../../../src/repo/restore/decode-pool.js");
    const { compress } = await import("../../../src/repo/compression.js");
    const pool = await DecodePool.create(1);
    expect(pool).toBeDefined();
    if (!pool) return;
    try {
      const plain = Buffer.from("x".repeat(200_000));
      const frame = await compress(plain, "auto");
      const seg = new Uint8Array(new SharedArrayBuffer(frame.length));
      seg.set(frame);
      const out = new Uint8Array(new SharedArrayBuffer(plain.length));
      const { sha256, toHex } = await import("../../../src/crypto/hash.js");
      await pool.decode(seg, out, toHex(sha256(plain)));
      expect(Buffer.from(out).equals(plain)).toBe(true);
      await expect(pool.decode(seg, out, "00".repeat(32))).rejects.toMatchObject({
        code: "CORRUPT",
      });
      const short = new Uint8Array(new SharedArrayBuffer(10));
      await expect(pool.decode(seg, short, "00".repeat(32))).rejects.toMatchObject({
        code: "CORRUPT",
      });
    } finally {
      await pool.close();
    }
  });
});
