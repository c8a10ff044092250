// Tar archives as `restic dump` writes them (restic 0.14 internal/dump/tar.go through Go 1.19's
// archive/tar Writer with an unspecified format): a USTAR header when every field fits
// (names over 100 bytes split into prefix/name where possible), otherwise a PAX extended
// header ("PaxHeaders.0/<name>", records sorted by key) followed by the USTAR-shaped header;
// extended attributes as SCHILY.xattr.* records (POSIX ACLs as SCHILY.acl.access/default
// text); modification times rounded to the second, no atime/ctime; data padded to 512-byte
// blocks; two zero blocks at the end. Strings are Go strings (see gostring.ts), written as
// their bytes.

import { ResticTsError } from "../errors.js";
import { bytesToGoString, goStringToBytes } from "./gostring.js";
import { parseGoTime } from "./gotime.js";
import {
  type ExtendedAttribute,
  MODE_PERM,
  MODE_SETGID,
  MODE_SETUID,
  MODE_STICKY,
  type Node,
} from "./node.js";

export const BLOCK = 512;
/** The end of an archive: two zero blocks. */
export const TAR_TRAILER = new Uint8Array(2 * BLOCK);

export interface TarHeader {
  /** Go string. */
  readonly name: string;
  /** "0" regular file, "2" symlink, "5" directory. */
  readonly typeflag: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly uname: string;
  readonly gname: string;
  readonly size: number;
  /** Seconds since the epoch (already rounded). */
  readonly mtime: bigint;
  readonly linkname: string;
  /** Extra PAX records (key -> Go-string value). */
  readonly pax: ReadonlyMap<string, string>;
}

const enc = (s: string) => goStringToBytes(s);

function isAscii(b: Uint8Array): boolean {
  for (const c of b) if (c >= 0x80 || c === 0) return false;
  return true;
}

function toAscii(b: Uint8Array): Uint8Array {
  return isAscii(b) ? b : b.filter((c) => c < 0x80 && c !== 0);
}

/** Go's formatString: copy, NUL-terminate when shorter, don't leave a trailing "/" cut off. */
function putString(blk: Uint8Array, at: number, size: number, s: Uint8Array): void {
  const n = Math.min(s.length, size);
  blk.set(s.subarray(0, n), at);
  if (s.length < size) blk[at + s.length] = 0;
  if (s.length > size && blk[at + size - 1] === 0x2f) {
    let k = size;
    while (k > 0 && blk[at + k - 1] === 0x2f) k--;
    blk[at + k] = 0;
  }
}

function fitsOctal(size: number, x: bigint): boolean {
  return x >= 0n && (size >= 22 || x < 1n << BigInt((size - 1) * 3));
}

/** Go's formatOctal: zero-padded octal leaving room for a NUL (0 when it does not fit). */
function putOctal(blk: Uint8Array, at: number, size: number, x: bigint): void {
  let s = (fitsOctal(size, x) ? x : 0n).toString(8);
  if (size - s.length - 1 > 0) s = "0".repeat(size - s.length - 1) + s;
  putString(blk, at, size, new TextEncoder().encode(s));
}

function finish(blk: Uint8Array): void {
  blk.set(new TextEncoder().encode("ustar\0"), 257);
  blk.set(new TextEncoder().encode("00"), 263);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : blk[i];
  putOctal(blk, 148, 7, BigInt(sum));
  blk[155] = 0x20;
}

const NAME_SIZE = 100;
const PREFIX_SIZE = 155;

/** Go's splitUSTARPath: [prefix, name] for a long ASCII name, or undefined. */
function splitUstarPath(name: Uint8Array): [Uint8Array, Uint8Array] | undefined {
  let length = name.length;
  if (length <= NAME_SIZE || !isAscii(name)) return undefined;
  if (length > PREFIX_SIZE + 1) length = PREFIX_SIZE + 1;
  else if (name[length - 1] === 0x2f) length--;
  const i = name.subarray(0, length).lastIndexOf(0x2f);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > NAME_SIZE || nlen === 0 || i > PREFIX_SIZE) return undefined;
  return [name.subarray(0, i), name.subarray(i + 1)];
}

function paxRecord(key: Uint8Array, value: Uint8Array): Uint8Array {
  const base = key.length + value.length + 3;
  let size = base + String(base).length;
  if (String(size).length + base !== size) size = base + String(size).length;
  const head = new TextEncoder().encode(`${size} `);
  const out = new Uint8Array(head.length + key.length + 1 + value.length + 1);
  out.set(head, 0);
  out.set(key, head.length);
  out[head.length + key.length] = 0x3d;
  out.set(value, head.length + key.length + 1);
  out[out.length - 1] = 0x0a;
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function tarPadding(size: number): Uint8Array {
  const r = size % BLOCK;
  return new Uint8Array(r === 0 ? 0 : BLOCK - r);
}

function hasNul(b: Uint8Array): boolean {
  return b.includes(0);
}

/** The header block(s) for one entry, as Go's tar.Writer.WriteHeader writes them. */
export function tarHeader(h: TarHeader): Uint8Array {
  const name = enc(h.name);
  const linkname = enc(h.linkname);
  const uname = enc(h.uname);
  const gname = enc(h.gname);
  const pax = new Map<string, Uint8Array>();
  let ustar = true;
  const checkString = (s: Uint8Array, size: number, key: string, canSplit: boolean) => {
    if (!isAscii(s) || s.length > size) {
      if (!(canSplit && splitUstarPath(s) !== undefined)) ustar = false;
      pax.set(key, s);
    }
  };
  checkString(name, NAME_SIZE, "path", true);
  checkString(linkname, NAME_SIZE, "linkpath", false);
  checkString(uname, 32, "uname", false);
  checkString(gname, 32, "gname", false);
  const checkNumber = (n: bigint, size: number, key: string) => {
    if (!fitsOctal(size, n)) {
      ustar = false;
      pax.set(key, enc(n.toString()));
    }
  };
  checkNumber(BigInt(h.mode), 8, "");
  checkNumber(BigInt(h.uid), 8, "uid");
  checkNumber(BigInt(h.gid), 8, "gid");
  checkNumber(BigInt(h.size), 12, "size");
  if (!fitsOctal(12, h.mtime)) {
    ustar = false;
    pax.set("mtime", enc(h.mtime.toString()));
  }
  if (pax.has("")) {
    throw new ResticTsError("INVALID_ARGUMENT", `tar: cannot encode mode ${h.mode} of ${h.name}`);
  }
  if (h.typeflag === "0" && h.name.endsWith("/")) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `tar: filename may not have trailing slash: ${h.name}`,
    );
  }
  if (h.pax.size > 0) {
    ustar = false;
    for (const [k, v] of h.pax) if (!pax.has(k)) pax.set(k, enc(v));
  }
  for (const [k, v] of pax) {
    const kb = enc(k);
    const pathLike = k === "path" || k === "linkpath" || k === "uname" || k === "gname";
    if (k === "" || k.includes("=") || (pathLike ? hasNul(v) : hasNul(kb))) {
      throw new ResticTsError("INVALID_ARGUMENT", `tar: invalid PAX record ${JSON.stringify(k)}`);
    }
  }

  const blk = new Uint8Array(BLOCK);
  const template = (nm: Uint8Array, ln: Uint8Array, un: Uint8Array, gn: Uint8Array) => {
    blk[156] = h.typeflag.charCodeAt(0);
    putString(blk, 0, 100, nm);
    putString(blk, 157, 100, ln);
    putOctal(blk, 100, 8, BigInt(h.mode));
    putOctal(blk, 108, 8, BigInt(h.uid));
    putOctal(blk, 116, 8, BigInt(h.gid));
    putOctal(blk, 124, 12, BigInt(h.size));
    putOctal(blk, 136, 12, h.mtime);
    putString(blk, 265, 32, un);
    putString(blk, 297, 32, gn);
    putOctal(blk, 329, 8, 0n);
    putOctal(blk, 337, 8, 0n);
  };

  if (ustar) {
    const split = splitUstarPath(name);
    template(split ? split[1] : name, linkname, uname, gname);
    if (split) putString(blk, 345, 155, split[0]);
    finish(blk);
    return blk;
  }

  // PAX: the records as a file of type 'x', then the header with ASCII-only fields
  const keys = [...pax.keys()].sort((a, b) => Buffer.compare(enc(a), enc(b)));
  const data = concat(keys.map((k) => paxRecord(enc(k), pax.get(k) as Uint8Array)));
  const slash = h.name.lastIndexOf("/");
  const dir = h.name.slice(0, slash + 1);
  const file = h.name.slice(slash + 1);
  let xname = toAscii(enc(pathJoin(dir, "PaxHeaders.0", file)));
  if (xname.length > NAME_SIZE) xname = xname.subarray(0, NAME_SIZE);
  let end = xname.length;
  while (end > 0 && xname[end - 1] === 0x2f) end--;
  xname = xname.subarray(0, end);
  const xblk = new Uint8Array(BLOCK);
  xblk[156] = 0x78; // 'x'
  putString(xblk, 0, 100, xname);
  putOctal(xblk, 100, 8, 0n);
  putOctal(xblk, 108, 8, 0n);
  putOctal(xblk, 116, 8, 0n);
  putOctal(xblk, 124, 12, BigInt(data.length));
  putOctal(xblk, 136, 12, 0n);
  finish(xblk);
  template(toAscii(name), toAscii(linkname), toAscii(uname), toAscii(gname));
  finish(blk);
  return concat([xblk, data, tarPadding(data.length), blk]);
}

/** Go's path.Join for the PAX header name (dir ends with "/" or is ""). */
function pathJoin(dir: string, mid: string, file: string): string {
  const parts = [dir, mid, file].filter((p) => p !== "").join("/");
  return parts.replace(/\/+/g, "/").replace(/\/$/, "");
}

// --- restic's dumpNodeTar ------------------------------------------------------------------

/** POSIX ACL xattr (system.posix_acl_*) as getfacl-like text (restic's dump/acl.go). */
export function aclText(value: Uint8Array): string {
  if (value.length < 4) return "";
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  let out = "";
  for (let at = 4; at + 8 <= value.length; at += 8) {
    const tag = view.getUint16(at, true);
    const perm = view.getUint16(at + 2, true);
    const id = view.getUint32(at + 4, true);
    let who: string;
    switch (tag) {
      case 0x01:
        who = "user::";
        break;
      case 0x02:
        who = `user:${id}:`;
        break;
      case 0x04:
        who = "group::";
        break;
      case 0x08:
        who = `group:${id}:`;
        break;
      case 0x10:
        who = "mask::";
        break;
      case 0x20:
        who = "other::";
        break;
      default:
        who = "?:";
    }
    out += `${who}${perm & 4 ? "r" : "-"}${perm & 2 ? "w" : "-"}${perm & 1 ? "x" : "-"}\n`;
  }
  return out;
}

/** restic's parseXattrs: PAX records for a node's extended attributes. */
export function xattrRecords(
  xattrs: readonly ExtendedAttribute[] | undefined,
): Map<string, string> {
  const m = new Map<string, string>();
  for (const a of xattrs ?? []) {
    const value = a.value ?? new Uint8Array(0);
    if (a.name.startsWith("system.posix_acl_")) {
      const text = aclText(value);
      if (text !== "") {
        if (a.name.includes("system.posix_acl_access")) m.set("SCHILY.acl.access", text);
        else if (a.name.includes("system.posix_acl_default")) m.set("SCHILY.acl.default", text);
      }
    } else {
      m.set(`SCHILY.xattr.${a.name}`, bytesToGoString(value));
    }
  }
  return m;
}

/** The tar header restic's dump writes for `node` at snapshot path `path` ("/a/b"). */
export function nodeTarHeader(node: Node, path: string): TarHeader {
  let name = path.replace(/^\/+/, "");
  if (name === "") name = ".";
  let mode = node.mode & MODE_PERM;
  if (node.mode & MODE_SETUID) mode |= 0o4000;
  if (node.mode & MODE_SETGID) mode |= 0o2000;
  if (node.mode & MODE_STICKY) mode |= 0o1000;
  let typeflag = "0";
  let linkname = "";
  if (node.type === "symlink") {
    typeflag = "2";
    linkname = node.linkTarget;
  } else if (node.type === "dir") {
    typeflag = "5";
    name += "/";
  }
  const t = parseGoTime(node.mtime);
  // Go's zero time is written as the epoch; otherwise rounded to the second
  const zero = t.seconds === -62135596800n && t.nanos === 0;
  const mtime = zero ? 0n : t.seconds + (t.nanos >= 500_000_000 ? 1n : 0n);
  return {
    name,
    typeflag,
    mode,
    uid: node.uid,
    gid: node.gid,
    uname: node.user,
    gname: node.group,
    size: node.size,
    mtime,
    linkname,
    pax: xattrRecords(node.extendedAttributes),
  };
}
