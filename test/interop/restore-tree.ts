// The source tree the restore interop tests back up with restic 0.14: everything of
// test/unit/repo/restic-repo.ts makeSourceTree (awkward names, non-UTF-8 name and link
// target, fifo, char device, setuid, sticky, xattrs, a hard link) plus block devices,
// setgid, 255-byte names, deep nesting, a larger multi-blob file, a sparse file, hard-link
// groups across directories (also of empty files), empty directories, symlinks to
// directories, absolute and dangling symlinks, unusual modes, other owners (as root) and
// nanosecond mtimes/atimes on everything, directories last.

import { execFileSync, spawnSync } from "node:child_process";
import { createCipheriv } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { makeSourceTree } from "../unit/repo/restic-repo.js";

const isRoot = process.getuid?.() === 0;

function randomBytes(n: number, seed: number): Buffer {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed);
  return createCipheriv("aes-128-ctr", key, Buffer.alloc(16)).update(Buffer.alloc(n));
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Set atime and mtime of `p` (not following symlinks) with touch(1), to the nanosecond. A path
 * that is not UTF-8 (argv cannot carry it) is touched under a temporary name.
 */
export function setTimes(p: string | Buffer, mtime: string, atime: string): void {
  const b = typeof p === "string" ? Buffer.from(p) : p;
  let arg: string;
  let tmp: Buffer | undefined;
  try {
    arg = UTF8.decode(b);
  } catch {
    const slash = b.lastIndexOf(0x2f);
    tmp = Buffer.concat([b.subarray(0, slash + 1), Buffer.from(".touch-tmp")]);
    fs.renameSync(b, tmp);
    arg = UTF8.decode(tmp);
  }
  try {
    execFileSync("touch", ["-h", "-m", "-d", mtime, arg]);
    execFileSync("touch", ["-h", "-a", "-d", atime, arg]);
  } finally {
    if (tmp) fs.renameSync(tmp, b);
  }
}

function walkPostOrder(dir: Buffer, fn: (p: Buffer, isDir: boolean) => void): void {
  for (const name of fs.readdirSync(dir, { encoding: "buffer" }) as Buffer[]) {
    const p = Buffer.concat([dir, Buffer.from("/"), name]);
    const st = fs.lstatSync(p);
    if (st.isDirectory()) walkPostOrder(p, fn);
    fn(p, st.isDirectory());
  }
}

/** Build the tree in `root` (which must not exist). */
export function makeRestoreSourceTree(root: string): void {
  makeSourceTree(root);
  // more kinds of entries
  fs.mkdirSync(join(root, "empty dir"));
  fs.mkdirSync(join(root, "setgid dir"));
  fs.chmodSync(join(root, "setgid dir"), 0o2775);
  fs.writeFileSync(join(root, "setgid dir", "sgid-file"), "sgid");
  fs.chmodSync(join(root, "setgid dir", "sgid-file"), 0o2750);
  fs.writeFileSync(join(root, "n".repeat(255)), "255 ascii");
  fs.writeFileSync(join(root, `${"é".repeat(127)}x`), "255 bytes of utf-8");
  let deep = join(root, "deep");
  for (let i = 0; i < 40; i++) deep = join(deep, `level${i}`);
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(join(deep, "bottom.txt"), "deep down\n");
  fs.writeFileSync(join(root, "large.bin"), randomBytes(12 * 1024 * 1024 + 12345, 7));
  const sparse = fs.openSync(join(root, "sparse.img"), "w");
  fs.writeSync(sparse, Buffer.from("head"), 0, 4, 0);
  fs.writeSync(sparse, Buffer.from("tail"), 0, 4, 40 * 1024 * 1024);
  fs.closeSync(sparse);
  fs.mkdirSync(join(root, "links", "a"), { recursive: true });
  fs.mkdirSync(join(root, "links", "b"), { recursive: true });
  fs.writeFileSync(join(root, "links", "a", "one"), "shared by three names\n");
  fs.linkSync(join(root, "links", "a", "one"), join(root, "links", "b", "two"));
  fs.linkSync(join(root, "links", "a", "one"), join(root, "links", "three"));
  fs.writeFileSync(join(root, "links", "empty1"), "");
  fs.linkSync(join(root, "links", "empty1"), join(root, "links", "b", "empty2"));
  fs.symlinkSync("sub dir", join(root, "dirlink"));
  fs.symlinkSync("/etc/passwd", join(root, "abslink"));
  fs.symlinkSync("does/not/exist", join(root, "dangling"));
  fs.writeFileSync(join(root, "mode0000"), "no permissions");
  fs.chmodSync(join(root, "mode0000"), 0o000);
  fs.writeFileSync(join(root, "readonly"), "read only");
  fs.chmodSync(join(root, "readonly"), 0o444);
  fs.mkdirSync(join(root, "locked dir"));
  fs.writeFileSync(join(root, "locked dir", "inside"), "in a 0555 directory");
  spawnSync("setfattr", ["-n", "user.dir", "-v", "on a directory", join(root, "sub dir")]);
  spawnSync("setfattr", ["-n", "user.bin", "-v", "0x00ff10ee", join(root, "plain.txt")]);
  if (isRoot) {
    spawnSync("mknod", [join(root, "block-dev"), "b", "7", "200"]);
    spawnSync("mknod", [join(root, "big-minor"), "c", "4095", "1048575"]);
    fs.chownSync(join(root, "readonly"), 1234, 5678);
    fs.lchownSync(join(root, "abslink"), 4321, 8765);
    fs.chownSync(join(root, "setgid dir"), 0, 100);
    spawnSync("setfattr", ["-n", "trusted.restic", "-v", "trusted value", join(root, "empty")]);
  }
  // times: every entry, children before their directory
  let i = 0;
  walkPostOrder(Buffer.from(root), (p, isDir) => {
    i++;
    const ns = String((i * 7919123) % 1_000_000_000).padStart(9, "0");
    const ns2 = String((i * 104729 + 1) % 1_000_000_000).padStart(9, "0");
    setTimes(p, `@${1600000000 + i * 86413}.${ns}`, `@${1650000000 + i * 3607}.${ns2}`);
    if (isDir && p.toString().endsWith("locked dir")) fs.chmodSync(p, 0o555);
  });
  setTimes(root, "@1582979696.123456789", "@1583020800.000000001");
}
