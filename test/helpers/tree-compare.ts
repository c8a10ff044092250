// Compare two directory trees the way a restore must reproduce a backup: for every path (names
// as bytes, shown as Go strings), its type, permission bits (with setuid/setgid/sticky), size,
// content (SHA-256), symlink target bytes, device numbers, owner, mtime (to the nanosecond, or
// a coarser precision when asked), optionally atime, extended attributes (all namespaces,
// through one `getfattr -R` per tree) and hard-link groups (which paths share an inode).
// Metadata is collected with lstat before any file is read, so reading contents cannot change
// the atimes being compared. Used by the restore and backup interop tests.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { bytesToGoString } from "../../src/repo/gostring.js";

export type EntryType = "file" | "dir" | "symlink" | "fifo" | "chardev" | "blockdev" | "socket";

export interface TreeEntry {
  /** Path relative to the root ("" for the root itself), as a Go string. */
  readonly path: string;
  readonly type: EntryType;
  /** st_mode & 0o7777 */
  readonly perm: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly atimeNs: bigint;
  readonly rdev: bigint;
  readonly ino: bigint;
  readonly nlink: bigint;
  /** Symlink target bytes (hex). */
  readonly linkTarget?: string;
  /** SHA-256 of a regular file's content. */
  contentHash?: string;
  /** Extended attributes: name -> hex value. */
  xattrs: Record<string, string>;
}

export interface ScanOptions {
  /** Collect extended attributes (needs getfattr; default true when it is installed). */
  readonly xattrs?: boolean;
  /** Hash file contents (default true). */
  readonly contents?: boolean;
}

function typeOf(st: fs.BigIntStats): EntryType {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "dir";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isFIFO()) return "fifo";
  if (st.isCharacterDevice()) return "chardev";
  if (st.isBlockDevice()) return "blockdev";
  return "socket";
}

let getfattrPresent: boolean | undefined;
function hasGetfattr(): boolean {
  if (getfattrPresent === undefined) {
    try {
      execFileSync("getfattr", ["--version"], { stdio: "ignore" });
      getfattrPresent = true;
    } catch {
      getfattrPresent = false;
    }
  }
  return getfattrPresent;
}

/** Undo getfattr's escaping of file names (\ooo octal and \\). */
function unescapeGetfattr(s: string): Buffer {
  const out: number[] = [];
  const raw = Buffer.from(s, "latin1");
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length + 1 && /^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      out.push(Number.parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (raw[i] === 0x5c && raw[i + 1] === 0x5c) {
      out.push(0x5c);
      i++;
    } else out.push(raw[i]);
  }
  return Buffer.from(out);
}

/** Extended attributes of every path below `root` (absolute paths as latin1 keys). */
function readXattrs(root: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  let text: string;
  try {
    text = execFileSync(
      "getfattr",
      ["-R", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", root],
      { encoding: "latin1", maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "ignore"] },
    );
  } catch (err) {
    // getfattr exits non-zero when some file has no attributes support; keep what it printed
    text = String((err as { stdout?: string }).stdout ?? "");
  }
  let current: Record<string, string> | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("# file: ")) {
      current = {};
      out.set(unescapeGetfattr(line.slice(8)).toString("latin1"), current);
    } else if (current && line.includes("=")) {
      const eq = line.indexOf("=");
      const name = line.slice(0, eq);
      let value = line.slice(eq + 1);
      value = value.startsWith("0x") ? value.slice(2) : value === '""' ? "" : value;
      current[name] = value.toLowerCase();
    } else if (current && line !== "") {
      current[line] = ""; // an attribute without a value
    }
  }
  return out;
}

/** Collect every entry below (and including) `root`. */
export function scanTree(root: string, opts: ScanOptions = {}): Map<string, TreeEntry> {
  const entries = new Map<string, TreeEntry>();
  const files: [TreeEntry, Buffer][] = [];
  const rootBuf = Buffer.from(root);
  const visit = (abs: Buffer, rel: Buffer) => {
    const st = fs.lstatSync(abs, { bigint: true });
    const type = typeOf(st);
    const e: TreeEntry = {
      path: bytesToGoString(rel),
      type,
      perm: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size: type === "file" ? st.size : 0n,
      mtimeNs: st.mtimeNs,
      atimeNs: st.atimeNs,
      rdev: type === "chardev" || type === "blockdev" ? st.rdev : 0n,
      ino: st.ino,
      nlink: st.nlink,
      linkTarget:
        type === "symlink"
          ? (fs.readlinkSync(abs, { encoding: "buffer" }) as Buffer).toString("hex")
          : undefined,
      xattrs: {},
    };
    entries.set(e.path, e);
    if (type === "file") files.push([e, abs]);
    if (type === "dir") {
      const names = fs.readdirSync(abs, { encoding: "buffer" }) as Buffer[];
      for (const name of names) {
        const childRel = rel.length === 0 ? name : Buffer.concat([rel, Buffer.from("/"), name]);
        visit(Buffer.concat([abs, Buffer.from("/"), name]), childRel);
      }
    }
  };
  visit(rootBuf, Buffer.alloc(0));
  if (opts.xattrs ?? hasGetfattr()) {
    const xa = readXattrs(root);
    const prefix = rootBuf.toString("latin1");
    for (const [abs, attrs] of xa) {
      const relLatin = abs === prefix ? "" : abs.slice(prefix.length + 1);
      const e = entries.get(bytesToGoString(Buffer.from(relLatin, "latin1")));
      if (e) e.xattrs = attrs;
    }
  }
  if (opts.contents ?? true) {
    for (const [e, abs] of files) {
      const h = createHash("sha256");
      const fd = fs.openSync(abs, "r");
      try {
        const buf = Buffer.allocUnsafe(1 << 20);
        let pos = 0;
        for (;;) {
          const n = fs.readSync(fd, buf, 0, buf.length, pos);
          if (n === 0) break;
          h.update(buf.subarray(0, n));
          pos += n;
        }
      } finally {
        fs.closeSync(fd);
      }
      e.contentHash = h.digest("hex");
    }
  }
  return entries;
}

export interface CompareOptions {
  /** Compare atimes too (default false: reading a file may change its atime). */
  readonly atime?: boolean;
  /** Compare times only to this many nanoseconds (default 1: exact). */
  readonly timePrecisionNs?: bigint;
  /** Compare the roots' own metadata (default false). */
  readonly rootMetadata?: boolean;
  /** Compare owners (default true). */
  readonly owner?: boolean;
  /** Leave these paths (and everything below) out. */
  readonly ignore?: (path: string) => boolean;
}

function groups(tree: Map<string, TreeEntry>): Map<string, string> {
  const byIno = new Map<bigint, string[]>();
  for (const e of tree.values()) {
    if (e.type === "dir" || e.nlink < 2n) continue;
    const list = byIno.get(e.ino) ?? [];
    list.push(e.path);
    byIno.set(e.ino, list);
  }
  const out = new Map<string, string>();
  for (const list of byIno.values()) {
    const key = [...list].sort().join(" | ");
    for (const p of list) out.set(p, key);
  }
  return out;
}

/** Differences between `expected` and `actual`, one line each; [] when they are the same. */
export function compareTrees(
  expected: Map<string, TreeEntry>,
  actual: Map<string, TreeEntry>,
  opts: CompareOptions = {},
): string[] {
  const diffs: string[] = [];
  const prec = opts.timePrecisionNs ?? 1n;
  const skip = (p: string) => opts.ignore?.(p) ?? false;
  const ga = groups(expected);
  const gb = groups(actual);
  for (const [p, a] of expected) {
    if (skip(p)) continue;
    const b = actual.get(p);
    const show = JSON.stringify(p);
    if (b === undefined) {
      diffs.push(`${show}: missing`);
      continue;
    }
    if (a.type !== b.type) {
      diffs.push(`${show}: type ${a.type} != ${b.type}`);
      continue;
    }
    const meta = p !== "" || opts.rootMetadata;
    if (meta) {
      if (a.perm !== b.perm)
        diffs.push(`${show}: mode ${a.perm.toString(8)} != ${b.perm.toString(8)}`);
      if ((opts.owner ?? true) && (a.uid !== b.uid || a.gid !== b.gid)) {
        diffs.push(`${show}: owner ${a.uid}:${a.gid} != ${b.uid}:${b.gid}`);
      }
      if (a.mtimeNs / prec !== b.mtimeNs / prec)
        diffs.push(`${show}: mtime ${a.mtimeNs} != ${b.mtimeNs}`);
      if (opts.atime && a.atimeNs / prec !== b.atimeNs / prec)
        diffs.push(`${show}: atime ${a.atimeNs} != ${b.atimeNs}`);
      const xa = JSON.stringify(Object.entries(a.xattrs).sort());
      const xb = JSON.stringify(Object.entries(b.xattrs).sort());
      if (xa !== xb) diffs.push(`${show}: xattrs ${xa} != ${xb}`);
    }
    if (a.size !== b.size) diffs.push(`${show}: size ${a.size} != ${b.size}`);
    if (a.contentHash !== b.contentHash) diffs.push(`${show}: content differs`);
    if (a.linkTarget !== b.linkTarget)
      diffs.push(`${show}: link target ${a.linkTarget} != ${b.linkTarget}`);
    if (a.rdev !== b.rdev) diffs.push(`${show}: device ${a.rdev} != ${b.rdev}`);
    if ((ga.get(p) ?? "") !== (gb.get(p) ?? "")) {
      diffs.push(`${show}: hard links {${ga.get(p) ?? ""}} != {${gb.get(p) ?? ""}}`);
    }
  }
  for (const p of actual.keys()) {
    if (!skip(p) && !expected.has(p)) diffs.push(`${JSON.stringify(p)}: unexpected`);
  }
  return diffs;
}
