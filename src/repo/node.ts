// Tree nodes (restic design.rst "Trees and Data"; internal/restic/node.go of restic 0.14, plus
// the fields later restic versions added: linktarget_raw, generic_attributes). A node is written
// by Go's encoding/json from a struct, so the JSON has Go's field order and omitempty rules:
//
//   name, type, mode?, mtime, atime, ctime, uid, gid, user?, group?, inode?, device_id?, size?,
//   links?, linktarget?, linktarget_raw?, extended_attributes?, generic_attributes?, device?,
//   content (null for non-files, [] for empty files), subtree?, error?
//
// (`?` = omitted when zero/empty). The name is Go-quoted (strconv.Quote, quotes stripped) before
// JSON encoding, so names that are not UTF-8 survive. `mode` is Go's os.FileMode, not st_mode.
//
// Decisions: fields restic does not know are kept in `extra` when parsing but never written
// (restic drops them too). Timestamps are kept as the RFC 3339 text read and written in Go's
// canonical form (identical for everything Go wrote). Strings are Go strings (see gostring.ts:
// lone surrogates U+DC80..U+DCFF stand for bytes that are not UTF-8).

import { ResticTsError } from "../errors.js";
import {
  compactJson,
  JsonReader,
  type JsonValue,
  matchField,
  parseUintLiteral,
  readTime,
} from "./gojson.js";
import { bytesToGoString, goJsonString, goQuote, goUnquote } from "./gostring.js";
import { normalizeGoTime, ZERO_TIME } from "./gotime.js";
import { type Id, isId } from "./id.js";

export type NodeType =
  | "file"
  | "dir"
  | "symlink"
  | "dev"
  | "chardev"
  | "fifo"
  | "socket"
  | "irregular";

export interface ExtendedAttribute {
  name: string;
  /** null and empty are different in restic's JSON (`null` vs `""`). */
  value: Uint8Array | null;
}

export interface Node {
  /** The file name (a Go string: may hold escaped non-UTF-8 bytes). */
  name: string;
  /** A NodeType; other strings are kept as read. */
  type: NodeType | (string & {});
  /** Go os.FileMode bits (uint32); 0 is omitted. */
  mode: number;
  /** RFC 3339 timestamps; written in Go's RFC3339Nano form. */
  mtime: string;
  atime: string;
  ctime: string;
  uid: number;
  gid: number;
  user: string;
  group: string;
  inode: bigint;
  deviceId: bigint;
  size: number;
  links: number;
  /** Symlink target (a Go string; bytes that are not UTF-8 are written as \ufffd, as Go does). */
  linkTarget: string;
  /** `linktarget_raw` of newer restic (exact target bytes); restic 0.14 never writes it. */
  linkTargetRaw?: Uint8Array;
  extendedAttributes?: ExtendedAttribute[];
  /** `generic_attributes` of newer restic: raw JSON text per key. */
  genericAttributes?: Record<string, string>;
  /** st_rdev of a device node. */
  device: bigint;
  /** Data blob IDs of a file; null for everything but files. */
  content: Id[] | null;
  subtree?: Id;
  error: string;
  /** Fields of the JSON restic does not know: kept on parse, never serialised. */
  extra?: Record<string, JsonValue>;
}

// --- Go os.FileMode ------------------------------------------------------------------------

export const MODE_DIR = 0x8000_0000;
export const MODE_APPEND = 0x4000_0000;
export const MODE_EXCLUSIVE = 0x2000_0000;
export const MODE_TEMPORARY = 0x1000_0000;
export const MODE_SYMLINK = 0x0800_0000;
export const MODE_DEVICE = 0x0400_0000;
export const MODE_NAMED_PIPE = 0x0200_0000;
export const MODE_SOCKET = 0x0100_0000;
export const MODE_SETUID = 0x0080_0000;
export const MODE_SETGID = 0x0040_0000;
export const MODE_CHAR_DEVICE = 0x0020_0000;
export const MODE_STICKY = 0x0010_0000;
export const MODE_IRREGULAR = 0x0008_0000;
export const MODE_PERM = 0o777;
export const MODE_TYPE =
  MODE_DIR |
  MODE_SYMLINK |
  MODE_NAMED_PIPE |
  MODE_SOCKET |
  MODE_DEVICE |
  MODE_CHAR_DEVICE |
  MODE_IRREGULAR;

const S_IFMT = 0o170000;
const S_IFSOCK = 0o140000;
const S_IFLNK = 0o120000;
const S_IFREG = 0o100000;
const S_IFBLK = 0o060000;
const S_IFDIR = 0o040000;
const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;

/**
 * Go's FileMode for a POSIX st_mode (as os.Lstat builds it on Linux), masked the way restic
 * stores it: permissions, type bits, setuid, setgid, sticky.
 */
export function fileModeFromPosix(stMode: number): number {
  let m = stMode & MODE_PERM;
  switch (stMode & S_IFMT) {
    case S_IFBLK:
      m |= MODE_DEVICE;
      break;
    case S_IFCHR:
      m |= MODE_DEVICE | MODE_CHAR_DEVICE;
      break;
    case S_IFDIR:
      m |= MODE_DIR;
      break;
    case S_IFIFO:
      m |= MODE_NAMED_PIPE;
      break;
    case S_IFLNK:
      m |= MODE_SYMLINK;
      break;
    case S_IFSOCK:
      m |= MODE_SOCKET;
      break;
  }
  if (stMode & 0o4000) m |= MODE_SETUID;
  if (stMode & 0o2000) m |= MODE_SETGID;
  if (stMode & 0o1000) m |= MODE_STICKY;
  return m >>> 0;
}

/** The POSIX st_mode (file type and permission bits) for a Go FileMode. */
export function posixModeFromFileMode(mode: number): number {
  let t = S_IFREG;
  if (mode & MODE_DIR) t = S_IFDIR;
  else if (mode & MODE_SYMLINK) t = S_IFLNK;
  else if (mode & MODE_DEVICE) t = mode & MODE_CHAR_DEVICE ? S_IFCHR : S_IFBLK;
  else if (mode & MODE_NAMED_PIPE) t = S_IFIFO;
  else if (mode & MODE_SOCKET) t = S_IFSOCK;
  return t | posixPermissionsFromFileMode(mode);
}

/** The bits chmod takes (Go's syscallMode): permissions plus setuid, setgid, sticky. */
export function posixPermissionsFromFileMode(mode: number): number {
  let p = mode & MODE_PERM;
  if (mode & MODE_SETUID) p |= 0o4000;
  if (mode & MODE_SETGID) p |= 0o2000;
  if (mode & MODE_STICKY) p |= 0o1000;
  return p;
}

/** restic's node type for a FileMode (nodeTypeFromFileInfo); "irregular" for anything else. */
export function nodeTypeFromFileMode(mode: number): NodeType {
  switch ((mode & (MODE_TYPE | MODE_CHAR_DEVICE)) >>> 0) {
    case 0:
      return "file";
    case MODE_DIR >>> 0:
      return "dir";
    case MODE_SYMLINK:
      return "symlink";
    case MODE_DEVICE | MODE_CHAR_DEVICE:
      return "chardev";
    case MODE_DEVICE:
      return "dev";
    case MODE_NAMED_PIPE:
      return "fifo";
    case MODE_SOCKET:
      return "socket";
    default:
      return "irregular";
  }
}

/** Go's FileMode.String(), e.g. "drwxr-xr-x", "Lrwxrwxrwx", "-rw-r--r--". */
export function fileModeString(mode: number): string {
  const letters = "dalTLDpSugct?";
  let s = "";
  for (let i = 0; i < letters.length; i++) if ((mode >>> (31 - i)) & 1) s += letters[i];
  if (s === "") s = "-";
  const rwx = "rwxrwxrwx";
  for (let i = 0; i < 9; i++) s += (mode >>> (8 - i)) & 1 ? rwx[i] : "-";
  return s;
}

// --- names ---------------------------------------------------------------------------------

/**
 * Refuse a node name that could escape the directory it is restored into: "", ".", "..", or
 * one containing "/" or NUL (HOSTILE_PATH).
 */
export function validateNodeName(name: string): void {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw new ResticTsError("HOSTILE_PATH", `refusing node name ${goQuote(name)}`, { name });
  }
}

/** A node with every field at its zero value (what Go's decoder starts from). */
export function newNode(name: string, type: NodeType | (string & {})): Node {
  return {
    name,
    type,
    mode: 0,
    mtime: ZERO_TIME,
    atime: ZERO_TIME,
    ctime: ZERO_TIME,
    uid: 0,
    gid: 0,
    user: "",
    group: "",
    inode: 0n,
    deviceId: 0n,
    size: 0,
    links: 0,
    linkTarget: "",
    device: 0n,
    content: null,
    error: "",
  };
}

// --- parse ---------------------------------------------------------------------------------

/** The JSON fields of a node, in the order restic writes them (its Node struct's). */
export const NODE_FIELDS: ReadonlySet<string> = new Set([
  "name",
  "type",
  "mode",
  "mtime",
  "atime",
  "ctime",
  "uid",
  "gid",
  "user",
  "group",
  "inode",
  "device_id",
  "size",
  "links",
  "linktarget",
  "linktarget_raw",
  "extended_attributes",
  "generic_attributes",
  "device",
  "content",
  "subtree",
  "error",
]);

const U32 = 0xffff_ffffn;
const U64 = 0xffff_ffff_ffff_ffffn;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function readStringOrNull(r: JsonReader, field: string, current: string): string {
  if (r.readNull()) return current;
  if (r.peekKind() !== "string") r.fail(`${field} is not a string`);
  return r.readString();
}

function readUint(r: JsonReader, field: string, max: bigint, current: bigint): bigint {
  if (r.readNull()) return current;
  if (r.peekKind() !== "number") r.fail(`${field} is not a number`);
  return parseUintLiteral(r, r.readNumber(), max, field);
}

/** A uint32 field: no BigInt on the hot path. */
function readU32(r: JsonReader, field: string, current: number): number {
  if (r.readNull()) return current;
  if (r.peekKind() !== "number") r.fail(`${field} is not a number`);
  const lit = r.readNumber();
  if (lit.length > 10 || !/^(?:0|[1-9][0-9]*)$/.test(lit))
    return Number(parseUintLiteral(r, lit, U32, field));
  const v = Number(lit);
  if (v > 0xffff_ffff) r.fail(`${field}: ${lit} is out of range`);
  return v;
}

function safeNumber(r: JsonReader, v: bigint, field: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ResticTsError("UNSUPPORTED", `node ${field} ${v} is larger than 2^53-1`, {
      field,
      offset: r.pos,
    });
  }
  return Number(v);
}

function readId(r: JsonReader, field: string): Id {
  if (r.peekKind() !== "string") r.fail(`${field} is not an ID string`);
  const s = r.readString();
  if (!/^[0-9a-fA-F]{64}$/.test(s))
    r.fail(`${field} ${JSON.stringify(s)} is not a 64-hex-digit ID`);
  return s.toLowerCase();
}

/** Go's []byte in JSON: standard base64 with padding (CR and LF ignored). */
function readBytes(r: JsonReader, field: string): Uint8Array | null {
  if (r.readNull()) return null;
  if (r.peekKind() !== "string") r.fail(`${field} is not a base64 string`);
  const s = r.readString().replace(/[\r\n]/g, "");
  if (!BASE64.test(s)) r.fail(`${field} is not valid base64`);
  const b = Buffer.from(s, "base64");
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

function readXattrs(r: JsonReader): ExtendedAttribute[] | undefined {
  if (r.readNull()) return undefined;
  const list: ExtendedAttribute[] = [];
  r.readArray(() => {
    const a: ExtendedAttribute = { name: "", value: null };
    if (!r.readNull()) {
      r.readObject((key) => {
        const f = matchField(key, XATTR_FIELDS);
        if (f === "name") a.name = readStringOrNull(r, "extended attribute name", a.name);
        else if (f === "value") {
          if (!r.readNull()) a.value = readBytes(r, "extended attribute value");
        } else r.readRaw();
      });
    }
    list.push(a);
  });
  return list;
}

const XATTR_FIELDS: ReadonlySet<string> = new Set(["name", "value"]);

function readGenericAttributes(
  r: JsonReader,
  current: Record<string, string> | undefined,
): Record<string, string> | undefined {
  if (r.readNull()) return current;
  if (r.peekKind() !== "object") r.fail("generic_attributes is not an object");
  const out: Record<string, string> = current ?? Object.create(null);
  r.readObject((key) => {
    out[key] = r.readRaw();
  });
  return out;
}

/**
 * Read one node object at the reader's position. CORRUPT where restic 0.14's decoder fails
 * (wrong types, bad IDs, bad timestamps, a name that is not a Go-quoted string).
 */
export function readNode(r: JsonReader): Node {
  const n = newNode("", "");
  let extra: Record<string, JsonValue> | undefined;
  let raw: Uint8Array | null | undefined;
  r.readObject((key) => {
    const f = matchField(key, NODE_FIELDS);
    switch (f) {
      case "name":
        n.name = readStringOrNull(r, "name", n.name);
        break;
      case "type":
        n.type = readStringOrNull(r, "type", n.type);
        break;
      case "mode":
        n.mode = readU32(r, "mode", n.mode);
        break;
      case "mtime":
        n.mtime = readTime(r, "mtime", n.mtime);
        break;
      case "atime":
        n.atime = readTime(r, "atime", n.atime);
        break;
      case "ctime":
        n.ctime = readTime(r, "ctime", n.ctime);
        break;
      case "uid":
        n.uid = readU32(r, "uid", n.uid);
        break;
      case "gid":
        n.gid = readU32(r, "gid", n.gid);
        break;
      case "user":
        n.user = readStringOrNull(r, "user", n.user);
        break;
      case "group":
        n.group = readStringOrNull(r, "group", n.group);
        break;
      case "inode":
        n.inode = readUint(r, "inode", U64, n.inode);
        break;
      case "device_id":
        n.deviceId = readUint(r, "device_id", U64, n.deviceId);
        break;
      case "size":
        n.size = safeNumber(r, readUint(r, "size", U64, BigInt(n.size)), "size");
        break;
      case "links":
        n.links = safeNumber(r, readUint(r, "links", U64, BigInt(n.links)), "links");
        break;
      case "linktarget":
        n.linkTarget = readStringOrNull(r, "linktarget", n.linkTarget);
        break;
      case "linktarget_raw":
        raw = readBytes(r, "linktarget_raw");
        break;
      case "extended_attributes":
        n.extendedAttributes = readXattrs(r);
        break;
      case "generic_attributes":
        n.genericAttributes = readGenericAttributes(r, n.genericAttributes);
        break;
      case "device":
        n.device = readUint(r, "device", U64, n.device);
        break;
      case "content":
        if (r.readNull()) n.content = null;
        else {
          const ids: Id[] = [];
          if (r.peekKind() !== "array") r.fail("content is not an array");
          r.readArray(() => {
            ids.push(readId(r, "content"));
          });
          n.content = ids;
        }
        break;
      case "subtree":
        if (r.readNull()) n.subtree = undefined;
        else n.subtree = readId(r, "subtree");
        break;
      case "error":
        n.error = readStringOrNull(r, "error", n.error);
        break;
      default:
        extra ??= Object.create(null) as Record<string, JsonValue>;
        extra[key] = r.readValue();
    }
  });
  const name = goUnquote(`"${n.name}"`);
  if (name === undefined) r.fail(`node name ${JSON.stringify(n.name)} is not a Go-quoted string`);
  n.name = name;
  if (raw !== undefined && raw !== null && raw.length > 0) {
    // newer restic: the exact bytes of a target that is not UTF-8
    n.linkTargetRaw = raw;
    n.linkTarget = bytesToGoString(raw);
  }
  if (n.extendedAttributes !== undefined && n.extendedAttributes.length === 0)
    n.extendedAttributes = undefined;
  if (n.genericAttributes !== undefined && Object.keys(n.genericAttributes).length === 0)
    n.genericAttributes = undefined;
  if (extra !== undefined) n.extra = extra;
  return n;
}

// --- serialise -----------------------------------------------------------------------------

function bad(message: string): ResticTsError {
  return new ResticTsError("INVALID_ARGUMENT", `node: ${message}`);
}

function checkUint(v: number, max: number, field: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw bad(`${field} ${v} is out of range`);
}

function checkBig(v: bigint, field: string): void {
  if (typeof v !== "bigint" || v < 0n || v > U64)
    throw bad(`${field} ${String(v)} is out of range`);
}

function time(s: string, field: string): string {
  const t = normalizeGoTime(s);
  if (t === undefined) throw bad(`${field} ${JSON.stringify(s)} is not an RFC 3339 timestamp`);
  return t;
}

function b64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

function goCompareKeys(a: string, b: string): number {
  // Go sorts map keys as byte strings; UTF-16 order differs only around surrogates
  const ea = Buffer.from(a, "utf8");
  const eb = Buffer.from(b, "utf8");
  return Buffer.compare(ea, eb);
}

/** The JSON restic writes for one node (no trailing newline). INVALID_ARGUMENT if unwritable. */
export function serialiseNode(n: Node): string {
  checkUint(n.mode, 0xffff_ffff, "mode");
  checkUint(n.uid, 0xffff_ffff, "uid");
  checkUint(n.gid, 0xffff_ffff, "gid");
  checkUint(n.size, Number.MAX_SAFE_INTEGER, "size");
  checkUint(n.links, Number.MAX_SAFE_INTEGER, "links");
  checkBig(n.inode, "inode");
  checkBig(n.deviceId, "device_id");
  checkBig(n.device, "device");
  const quoted = goQuote(n.name);
  let s = `{"name":${goJsonString(quoted.slice(1, -1))},"type":${goJsonString(n.type)}`;
  if (n.mode !== 0) s += `,"mode":${n.mode}`;
  s += `,"mtime":"${time(n.mtime, "mtime")}","atime":"${time(n.atime, "atime")}","ctime":"${time(n.ctime, "ctime")}"`;
  s += `,"uid":${n.uid},"gid":${n.gid}`;
  if (n.user !== "") s += `,"user":${goJsonString(n.user)}`;
  if (n.group !== "") s += `,"group":${goJsonString(n.group)}`;
  if (n.inode !== 0n) s += `,"inode":${n.inode}`;
  if (n.deviceId !== 0n) s += `,"device_id":${n.deviceId}`;
  if (n.size !== 0) s += `,"size":${n.size}`;
  if (n.links !== 0) s += `,"links":${n.links}`;
  if (n.linkTarget !== "") s += `,"linktarget":${goJsonString(n.linkTarget)}`;
  if (n.linkTargetRaw !== undefined && n.linkTargetRaw.length > 0)
    s += `,"linktarget_raw":"${b64(n.linkTargetRaw)}"`;
  if (n.extendedAttributes !== undefined && n.extendedAttributes.length > 0) {
    s += `,"extended_attributes":[${n.extendedAttributes
      .map(
        (a) =>
          `{"name":${goJsonString(a.name)},"value":${a.value === null ? "null" : `"${b64(a.value)}"`}}`,
      )
      .join(",")}]`;
  }
  if (n.genericAttributes !== undefined) {
    const keys = Object.keys(n.genericAttributes).sort(goCompareKeys);
    if (keys.length > 0) {
      s += `,"generic_attributes":{${keys
        .map((k) => `${goJsonString(k)}:${compactRaw(n.genericAttributes?.[k] ?? "null")}`)
        .join(",")}}`;
    }
  }
  if (n.device !== 0n) s += `,"device":${n.device}`;
  if (n.content === null) s += `,"content":null`;
  else {
    for (const id of n.content)
      if (!isId(id)) throw bad(`content ID ${JSON.stringify(id)} is invalid`);
    s += `,"content":[${n.content.map((id) => `"${id}"`).join(",")}]`;
  }
  if (n.subtree !== undefined) {
    if (!isId(n.subtree)) throw bad(`subtree ID ${JSON.stringify(n.subtree)} is invalid`);
    s += `,"subtree":"${n.subtree}"`;
  }
  if (n.error !== "") s += `,"error":${goJsonString(n.error)}`;
  return `${s}}`;
}

function compactRaw(raw: string): string {
  const r = new JsonReader(raw, "generic attribute");
  r.readValue();
  r.finish();
  return compactJson(raw);
}
