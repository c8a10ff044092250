// Tree nodes from file metadata, as restic 0.14's NodeFromFileInfo + fillExtra build them
// (internal/restic/node.go): every type gets mode (Go FileMode: permissions, type, setuid,
// setgid, sticky), mtime, ctime, uid/gid with user/group names, inode and device_id; atime is
// the mtime unless --with-atime; files add size and links, symlinks links and the target,
// devices links and st_rdev; directories and fifos nothing more. Times are the stat's
// nanoseconds in the local time zone. Names and link targets are Go strings (gostring.ts).

import { readFileSync, readlinkSync } from "node:fs";
import { bytesToGoString } from "../gostring.js";
import { formatNodeTimeNs, localOffsetMinutes } from "../gotime.js";
import { fileModeFromPosix, type Node, newNode, nodeTypeFromFileMode } from "../node.js";

/** The stat fields a node needs (fs.BigIntStats has them all). */
export interface StatLike {
  readonly mode: number | bigint;
  readonly uid: number | bigint;
  readonly gid: number | bigint;
  readonly ino: bigint;
  readonly dev: bigint;
  readonly rdev?: bigint;
  readonly nlink: bigint;
  readonly size?: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly atimeNs: bigint;
}

/**
 * The local zone's offset by quarter hour (zone transitions fall on quarter hours since the
 * days of local mean time; a quarter with a transition inside is looked up per second).
 */
const offsets = new Map<number, number>();

function offsetAt(secs: number): number {
  const quarter = Math.floor(secs / 900);
  let off = offsets.get(quarter);
  if (off === undefined) {
    off = localOffsetMinutes(BigInt(quarter * 900));
    if (localOffsetMinutes(BigInt(quarter * 900 + 899)) !== off) off = Number.NaN;
    if (offsets.size >= 4096) offsets.clear();
    offsets.set(quarter, off);
  }
  return Number.isNaN(off) ? localOffsetMinutes(BigInt(secs)) : off;
}

/** The local date ("2006-01-02T") and offset ("Z", "+01:00") of the last day formatted. */
let dayKey = Number.NaN;
let dayOffset = Number.NaN;
let datePart = "";
let zonePart = "";

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** A timestamp for a node: nanoseconds since the epoch in the local zone's offset then. */
export function nodeTime(ns: bigint): string {
  let secsBig = ns / 1_000_000_000n;
  let nanos = Number(ns - secsBig * 1_000_000_000n);
  if (nanos < 0) {
    nanos += 1_000_000_000;
    secsBig -= 1n;
  }
  const secs = Number(secsBig);
  // Beyond ±10^12 s (years far outside 0..9999) leave the clamping to formatNodeTimeNs.
  if (!(Math.abs(secs) < 1e12)) return formatNodeTimeNs(ns, localOffsetMinutes(secsBig));
  const off = offsetAt(secs);
  const local = secs + off * 60;
  const day = Math.floor(local / 86400);
  const sod = local - day * 86400;
  if (day !== dayKey || off !== dayOffset) {
    // The day's midnight formatted in full gives the date (clamped as restic does) and zone.
    const midnight = formatNodeTimeNs(BigInt(day * 86400 - off * 60) * 1_000_000_000n, off);
    datePart = midnight.slice(0, 11);
    zonePart = midnight.slice(19);
    dayKey = day;
    dayOffset = off;
  }
  let s = `${datePart}${two(Math.floor(sod / 3600))}:${two(Math.floor(sod / 60) % 60)}:${two(sod % 60)}`;
  if (nanos !== 0) {
    let frac = String(nanos).padStart(9, "0");
    let end = 9;
    while (frac.charCodeAt(end - 1) === 48) end--;
    frac = frac.slice(0, end);
    s += `.${frac}`;
  }
  return s + zonePart;
}

/** Names of users and groups from /etc/passwd and /etc/group (as Go's os/user reads them). */
export class NameCache {
  private users: Map<number, string> | undefined;
  private groups: Map<number, string> | undefined;

  constructor(private readonly root = "/etc") {}

  private static parse(file: string): Map<number, string> {
    const m = new Map<number, string>();
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      return m;
    }
    for (const line of text.split("\n")) {
      if (line.startsWith("#") || line.startsWith("+") || line.startsWith("-")) continue;
      const f = line.split(":");
      if (f.length < 3) continue;
      const id = Number(f[2]);
      if (Number.isInteger(id) && !m.has(id)) m.set(id, f[0]);
    }
    return m;
  }

  user(uid: number): string {
    this.users ??= NameCache.parse(`${this.root}/passwd`);
    return this.users.get(uid) ?? "";
  }

  group(gid: number): string {
    this.groups ??= NameCache.parse(`${this.root}/group`);
    return this.groups.get(gid) ?? "";
  }
}

export interface NodeOptions {
  readonly withAtime?: boolean;
  readonly names: NameCache;
}

/**
 * The node restic writes for an item with this status. `path` is read for a symlink's target
 * (a readlink failure is thrown, as restic reports it). Extended attributes and, for files,
 * size and content are the caller's.
 */
export function nodeFromStat(
  name: string,
  st: StatLike,
  path: string | Buffer,
  opts: NodeOptions,
): Node {
  const mode = fileModeFromPosix(Number(st.mode));
  const type = nodeTypeFromFileMode(mode);
  const node = newNode(name, type);
  node.mode = mode;
  node.mtime = nodeTime(st.mtimeNs);
  node.atime = opts.withAtime ? nodeTime(st.atimeNs) : node.mtime;
  node.ctime = nodeTime(st.ctimeNs);
  node.uid = Number(st.uid);
  node.gid = Number(st.gid);
  node.user = opts.names.user(node.uid);
  node.group = opts.names.group(node.gid);
  node.inode = st.ino;
  node.deviceId = st.dev;
  switch (type) {
    case "file":
      node.size = Number(st.size ?? 0n);
      node.links = Number(st.nlink);
      node.content = [];
      break;
    case "symlink":
      node.linkTarget = bytesToGoString(readlinkSync(path, { encoding: "buffer" }));
      node.links = Number(st.nlink);
      break;
    case "dev":
    case "chardev":
      node.device = st.rdev ?? 0n;
      node.links = Number(st.nlink);
      break;
  }
  return node;
}
