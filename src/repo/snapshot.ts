// Snapshot files (restic design.rst "Snapshots"; internal/restic/snapshot.go of restic 0.14,
// plus the program_version and summary fields of newer restic). Written by Go's json.Marshal
// (no trailing newline), in Go field order:
//
//   time, parent?, tree, paths, hostname?, username?, uid?, gid?, excludes?, tags?, original?,
//   program_version?, summary?
//
// (`?` = omitted when zero/empty; `tree` and `paths` are written as null when unset). restic
// 0.14 writes neither program_version nor summary; they are kept and written back when present.
// Unknown fields are kept in `extra` but not written, as restic does.

import { ResticTsError } from "../errors.js";
import {
  decodeJsonText,
  JsonReader,
  type JsonValue,
  matchField,
  parseUintLiteral,
  readTime,
} from "./gojson.js";
import { goJsonString } from "./gostring.js";
import { normalizeGoTime, ZERO_TIME } from "./gotime.js";
import { type Id, isId } from "./id.js";

/** Statistics newer restic versions record (all fields always present in their JSON). */
export interface SnapshotSummary {
  backupStart: string;
  backupEnd: string;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  dataBlobs: number;
  treeBlobs: number;
  dataAdded: number;
  dataAddedPacked: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
}

export interface Snapshot {
  /** RFC 3339 timestamp, written in Go's RFC3339Nano form. */
  time: string;
  parent?: Id;
  /** null only in a damaged snapshot. */
  tree: Id | null;
  /** null is written as null, [] as []. */
  paths: string[] | null;
  hostname: string;
  username: string;
  uid: number;
  gid: number;
  excludes?: string[];
  tags?: string[];
  original?: Id;
  programVersion?: string;
  summary?: SnapshotSummary;
  /** Fields restic does not know: kept on parse, never written. */
  extra?: Record<string, JsonValue>;
}

const FIELDS: ReadonlySet<string> = new Set([
  "time",
  "parent",
  "tree",
  "paths",
  "hostname",
  "username",
  "uid",
  "gid",
  "excludes",
  "tags",
  "original",
  "program_version",
  "summary",
]);

const SUMMARY_FIELDS = [
  ["backup_start", "backupStart"],
  ["backup_end", "backupEnd"],
  ["files_new", "filesNew"],
  ["files_changed", "filesChanged"],
  ["files_unmodified", "filesUnmodified"],
  ["dirs_new", "dirsNew"],
  ["dirs_changed", "dirsChanged"],
  ["dirs_unmodified", "dirsUnmodified"],
  ["data_blobs", "dataBlobs"],
  ["tree_blobs", "treeBlobs"],
  ["data_added", "dataAdded"],
  ["data_added_packed", "dataAddedPacked"],
  ["total_files_processed", "totalFilesProcessed"],
  ["total_bytes_processed", "totalBytesProcessed"],
] as const;
const SUMMARY_KEYS: ReadonlySet<string> = new Set(SUMMARY_FIELDS.map(([k]) => k));
const SUMMARY_PROP = new Map<string, keyof SnapshotSummary>(SUMMARY_FIELDS.map(([k, p]) => [k, p]));

function readId(r: JsonReader, field: string): Id | undefined {
  if (r.readNull()) return undefined;
  if (r.peekKind() !== "string") r.fail(`${field} is not an ID string`);
  const s = r.readString();
  if (!/^[0-9a-fA-F]{64}$/.test(s))
    r.fail(`${field} ${JSON.stringify(s)} is not a 64-hex-digit ID`);
  return s.toLowerCase();
}

function readStr(r: JsonReader, field: string, current: string): string {
  if (r.readNull()) return current;
  if (r.peekKind() !== "string") r.fail(`${field} is not a string`);
  return r.readString();
}

function readStrings(r: JsonReader, field: string): string[] | null {
  if (r.readNull()) return null;
  if (r.peekKind() !== "array") r.fail(`${field} is not an array`);
  const out: string[] = [];
  r.readArray(() => {
    // Go decodes a null element of []string as ""
    out.push(r.readNull() ? "" : readStr(r, field, ""));
  });
  return out;
}

function readUint(r: JsonReader, field: string, max: bigint, current: number): number {
  if (r.readNull()) return current;
  if (r.peekKind() !== "number") r.fail(`${field} is not a number`);
  const v = parseUintLiteral(r, r.readNumber(), max, field);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ResticTsError("UNSUPPORTED", `snapshot ${field} ${v} is larger than 2^53-1`);
  }
  return Number(v);
}

function readSummary(r: JsonReader): SnapshotSummary | undefined {
  if (r.readNull()) return undefined;
  if (r.peekKind() !== "object") r.fail("summary is not an object");
  const s: SnapshotSummary = {
    backupStart: ZERO_TIME,
    backupEnd: ZERO_TIME,
    filesNew: 0,
    filesChanged: 0,
    filesUnmodified: 0,
    dirsNew: 0,
    dirsChanged: 0,
    dirsUnmodified: 0,
    dataBlobs: 0,
    treeBlobs: 0,
    dataAdded: 0,
    dataAddedPacked: 0,
    totalFilesProcessed: 0,
    totalBytesProcessed: 0,
  };
  r.readObject((key) => {
    const f = matchField(key, SUMMARY_KEYS);
    const prop = f === undefined ? undefined : SUMMARY_PROP.get(f);
    if (prop === "backupStart" || prop === "backupEnd")
      s[prop] = readTime(r, `summary.${f}`, s[prop]);
    else if (prop !== undefined)
      s[prop] = readUint(r, `summary.${f}`, 0xffff_ffff_ffff_ffffn, s[prop]);
    else r.readRaw();
  });
  return s;
}

/** Parse a snapshot file's plaintext (after decompression). CORRUPT where restic's decoder fails. */
export function parseSnapshot(plaintext: Uint8Array | string): Snapshot {
  const text = typeof plaintext === "string" ? plaintext : decodeJsonText(plaintext);
  const r = new JsonReader(text, "snapshot");
  const sn: Snapshot = {
    time: ZERO_TIME,
    tree: null,
    paths: null,
    hostname: "",
    username: "",
    uid: 0,
    gid: 0,
  };
  if (r.peekKind() !== "object") r.fail("expected an object");
  r.readObject((key) => {
    const f = matchField(key, FIELDS);
    switch (f) {
      case "time":
        sn.time = readTime(r, "time", sn.time);
        break;
      case "parent":
        sn.parent = readId(r, "parent");
        break;
      case "tree":
        sn.tree = readId(r, "tree") ?? null;
        break;
      case "paths":
        sn.paths = readStrings(r, "paths");
        break;
      case "hostname":
        sn.hostname = readStr(r, "hostname", sn.hostname);
        break;
      case "username":
        sn.username = readStr(r, "username", sn.username);
        break;
      case "uid":
        sn.uid = readUint(r, "uid", 0xffff_ffffn, sn.uid);
        break;
      case "gid":
        sn.gid = readUint(r, "gid", 0xffff_ffffn, sn.gid);
        break;
      case "excludes":
        sn.excludes = readStrings(r, "excludes") ?? undefined;
        break;
      case "tags":
        sn.tags = readStrings(r, "tags") ?? undefined;
        break;
      case "original":
        sn.original = readId(r, "original");
        break;
      case "program_version":
        sn.programVersion = readStr(r, "program_version", sn.programVersion ?? "");
        break;
      case "summary":
        sn.summary = readSummary(r);
        break;
      default:
        sn.extra ??= Object.create(null) as Record<string, JsonValue>;
        (sn.extra as Record<string, JsonValue>)[key] = r.readValue();
    }
  });
  r.finish();
  for (const k of [
    "parent",
    "excludes",
    "tags",
    "original",
    "programVersion",
    "summary",
  ] as const) {
    if (sn[k] === undefined) delete sn[k];
  }
  return sn;
}

function bad(message: string): ResticTsError {
  return new ResticTsError("INVALID_ARGUMENT", `snapshot: ${message}`);
}

function time(s: string, field: string): string {
  const t = normalizeGoTime(s);
  if (t === undefined) throw bad(`${field} ${JSON.stringify(s)} is not an RFC 3339 timestamp`);
  return t;
}

function id(v: Id, field: string): string {
  if (!isId(v)) throw bad(`${field} ${JSON.stringify(v)} is not an ID`);
  return `"${v}"`;
}

function uint(v: number, max: number, field: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw bad(`${field} ${v} is out of range`);
  return v;
}

function strings(list: readonly string[]): string {
  return `[${list.map(goJsonString).join(",")}]`;
}

/** The JSON text restic writes for a snapshot (no trailing newline). */
export function serialiseSnapshotText(sn: Snapshot): string {
  let s = `{"time":"${time(sn.time, "time")}"`;
  if (sn.parent !== undefined) s += `,"parent":${id(sn.parent, "parent")}`;
  s += `,"tree":${sn.tree === null ? "null" : id(sn.tree, "tree")}`;
  s += `,"paths":${sn.paths === null ? "null" : strings(sn.paths)}`;
  if (sn.hostname !== "") s += `,"hostname":${goJsonString(sn.hostname)}`;
  if (sn.username !== "") s += `,"username":${goJsonString(sn.username)}`;
  if (uint(sn.uid, 0xffff_ffff, "uid") !== 0) s += `,"uid":${sn.uid}`;
  if (uint(sn.gid, 0xffff_ffff, "gid") !== 0) s += `,"gid":${sn.gid}`;
  if (sn.excludes !== undefined && sn.excludes.length > 0)
    s += `,"excludes":${strings(sn.excludes)}`;
  if (sn.tags !== undefined && sn.tags.length > 0) s += `,"tags":${strings(sn.tags)}`;
  if (sn.original !== undefined) s += `,"original":${id(sn.original, "original")}`;
  if (sn.programVersion !== undefined && sn.programVersion !== "") {
    s += `,"program_version":${goJsonString(sn.programVersion)}`;
  }
  if (sn.summary !== undefined) {
    const sum = sn.summary;
    const parts = SUMMARY_FIELDS.map(([k, p]) => {
      if (p === "backupStart" || p === "backupEnd")
        return `"${k}":"${time(sum[p], `summary.${k}`)}"`;
      return `"${k}":${uint(sum[p], Number.MAX_SAFE_INTEGER, `summary.${k}`)}`;
    });
    s += `,"summary":{${parts.join(",")}}`;
  }
  return `${s}}`;
}

/** A snapshot file's plaintext bytes, byte-identical to restic's for the same snapshot. */
export function serialiseSnapshot(sn: Snapshot): Uint8Array {
  return new TextEncoder().encode(serialiseSnapshotText(sn));
}
