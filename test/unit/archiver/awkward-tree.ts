// A source tree that exercises every corner of the write path: unicode, space, newline and
// 255-byte names, a name that is not UTF-8, empty files and directories, deep nesting, a
// large file, a sparse file, hardlinks, symlinks (one dangling), fifos, character and block
// devices (root only), extended attributes on files and directories, setuid/setgid/sticky.
// Also a comparison of two trees as `restic restore` should reproduce them.

import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";

const isRoot = process.getuid?.() === 0;

function xattr(p: string, name: string, value: string): boolean {
  try {
    execFileSync("setfattr", ["-n", name, "-v", value, p], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export interface AwkwardOptions {
  /** Size of the large random file (default 24 MiB). */
  readonly largeSize?: number;
  /** Apparent size of the sparse file (default 64 MiB). */
  readonly sparseSize?: number;
}

/** Build the tree in `dir` (created); returns `dir`. */
export function buildAwkwardTree(dir: string, opts: AwkwardOptions = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  const w = (rel: string, data: string | Uint8Array, mode?: number) => {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
    if (mode !== undefined) fs.chmodSync(p, mode);
    return p;
  };
  w("plain.txt", "hello world\n");
  w("empty", "");
  fs.mkdirSync(path.join(dir, "empty dir"));
  w("space name.txt", "space\n");
  w("new\nline", "newline in name\n");
  w("ünïcødé-名前-🎉.txt", "unicode\n");
  w("x".repeat(255), "255 bytes\n");
  w(`${"é".repeat(127)}a`, "255 bytes of UTF-8\n");
  fs.writeFileSync(
    Buffer.concat([Buffer.from(`${dir}/latin1-`), Buffer.from([0xe9, 0xff]), Buffer.from(".txt")]),
    "not utf-8\n",
  );
  let deep = "deep";
  for (let i = 0; i < 40; i++) deep = path.join(deep, `d${i}`);
  w(path.join(deep, "leaf.txt"), "deep leaf\n");
  const large = randomBytes(opts.largeSize ?? 24 * 1024 * 1024);
  w("large.bin", large);
  // repetitive: many identical chunks
  w("repeat.bin", Buffer.concat(Array.from({ length: 8 }, () => large.subarray(0, 1024 * 1024))));
  const text = Array.from({ length: 60000 }, (_, i) => `line ${i} some log text ${i % 97}\n`).join(
    "",
  );
  w("logs/app.log", text);
  const sparse = path.join(dir, "sparse.img");
  const fd = fs.openSync(sparse, "w");
  fs.writeSync(fd, Buffer.from("start"), 0, 5, 0);
  fs.writeSync(fd, Buffer.from("middle"), 0, 6, 20 * 1024 * 1024);
  fs.ftruncateSync(fd, opts.sparseSize ?? 64 * 1024 * 1024);
  fs.closeSync(fd);
  const hl = w("hardlinks/one", "linked content\n");
  fs.linkSync(hl, path.join(dir, "hardlinks/two"));
  fs.linkSync(hl, path.join(dir, "hardlinks/three"));
  fs.symlinkSync("plain.txt", path.join(dir, "link-to-plain"));
  fs.symlinkSync("does/not/exist", path.join(dir, "dangling"));
  fs.symlinkSync("../plain.txt", path.join(dir, "hardlinks/up"));
  execFileSync("mkfifo", [path.join(dir, "fifo")]);
  w("setuid", "#!/bin/sh\n", 0o4755);
  w("setgid", "#!/bin/sh\n", 0o2755);
  fs.mkdirSync(path.join(dir, "sticky"));
  fs.chmodSync(path.join(dir, "sticky"), 0o1777);
  w("sticky/inside", "in sticky\n");
  w("private", "secret\n", 0o600);
  if (isRoot) {
    execFileSync("mknod", [path.join(dir, "chardev"), "c", "1", "3"]);
    execFileSync("mknod", [path.join(dir, "blockdev"), "b", "7", "200"]);
    const owned = w("owned-by-nobody", "chown\n");
    fs.chownSync(owned, 65534, 65534);
  }
  // names in sorted order: the kernel lists them as set, getfattr sorts
  xattr(path.join(dir, "plain.txt"), "user.alpha", "one");
  xattr(path.join(dir, "plain.txt"), "user.beta", "two");
  xattr(path.join(dir, "empty dir"), "user.dir", "on a directory");
  xattr(path.join(dir, "empty"), "user.empty", "");
  // fix the tree's directory times so runs compare equal
  const t = new Date("2021-06-01T12:00:00.123456789Z");
  fs.utimesSync(path.join(dir, "empty dir"), t, t);
  return dir;
}

export interface TreeEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: bigint;
  content?: string;
  target?: string;
  rdev?: number;
  xattrs?: string;
  /** Index of the first path with the same inode (hardlinks), or undefined. */
  linkGroup?: string;
}

function xattrDump(p: Buffer): string | undefined {
  try {
    const out = execFileSync(
      "getfattr",
      ["-d", "-m", "-", "-e", "base64", "--absolute-names", "-h", p.toString()],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      },
    );
    const lines = out.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    return lines.length > 0 ? lines.sort().join("\n") : undefined;
  } catch {
    return undefined;
  }
}

/** Every item under `root`, keyed by its relative path (as latin1 of the bytes). */
export function snapshotTree(
  root: string,
  opts: { xattrs?: boolean } = {},
): Map<string, TreeEntry> {
  const out = new Map<string, TreeEntry>();
  const inodes = new Map<string, string>();
  const walk = (abs: Buffer, rel: string) => {
    for (const name of fs.readdirSync(abs, { encoding: "buffer" })) {
      const p = Buffer.concat([abs, Buffer.from("/"), name]);
      const r = rel === "" ? name.toString("latin1") : `${rel}/${name.toString("latin1")}`;
      const st = fs.lstatSync(p, { bigint: true });
      const e: TreeEntry = {
        type: st.isFile()
          ? "file"
          : st.isDirectory()
            ? "dir"
            : st.isSymbolicLink()
              ? "symlink"
              : st.isFIFO()
                ? "fifo"
                : st.isCharacterDevice()
                  ? "chardev"
                  : st.isBlockDevice()
                    ? "dev"
                    : "other",
        mode: Number(st.mode),
        uid: Number(st.uid),
        gid: Number(st.gid),
        size: st.isFile() ? Number(st.size) : 0,
        mtimeNs: st.isSymbolicLink() ? 0n : st.mtimeNs,
      };
      if (st.isFile()) {
        e.content = createHash("sha256").update(fs.readFileSync(p)).digest("hex");
        if (st.nlink > 1n) {
          const key = `${st.dev}:${st.ino}`;
          e.linkGroup = inodes.get(key) ?? r;
          if (!inodes.has(key)) inodes.set(key, r);
        }
      }
      if (st.isSymbolicLink())
        e.target = fs.readlinkSync(p, { encoding: "buffer" }).toString("latin1");
      if (st.isCharacterDevice() || st.isBlockDevice()) e.rdev = Number(st.rdev);
      if (opts.xattrs !== false && !st.isSymbolicLink()) e.xattrs = xattrDump(p);
      out.set(r, e);
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(Buffer.from(root), "");
  return out;
}

/** Differences between two snapshots of trees (empty when identical). */
export function diffTrees(a: Map<string, TreeEntry>, b: Map<string, TreeEntry>): string[] {
  const diffs: string[] = [];
  for (const [k, ea] of a) {
    const eb = b.get(k);
    if (eb === undefined) {
      diffs.push(`missing: ${k}`);
      continue;
    }
    for (const f of Object.keys(ea) as (keyof TreeEntry)[]) {
      if (String(ea[f]) !== String(eb[f]))
        diffs.push(`${k}: ${f} ${String(ea[f])} != ${String(eb[f])}`);
    }
  }
  for (const k of b.keys()) if (!a.has(k)) diffs.push(`extra: ${k}`);
  return diffs;
}
