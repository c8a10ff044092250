// Index files (restic design.rst "Indexing"; internal/repository/index.go of restic 0.14):
//
//   {"supersedes":[<id>…],"packs":[{"id":<id>,"blobs":[{"id":<id>,"type":"data"|"tree",
//     "offset":<n>,"length":<n>,"uncompressed_length":<n>}…]}…]}
//
// written by Go's json.Encoder (so followed by "\n"); `supersedes` is omitted when empty,
// `uncompressed_length` when 0 (uncompressed blob); `length` is the stored (sealed) length.
// restic 0.14 still reads the legacy format, a bare array of packs (no supersedes, no
// compression); it never writes it. Pack and blob order are restic's hash-table order, which
// is random: serialising keeps the order it is given, so parse → serialise is byte-identical.

import { ResticTsError } from "../errors.js";
import { type Id, isId } from "./id.js";
import type { BlobType } from "./pack.js";

export interface IndexBlob {
  readonly id: Id;
  readonly type: BlobType;
  readonly offset: number;
  readonly length: number;
  /** Present (and > 0) only for compressed blobs. */
  readonly uncompressedLength?: number;
}

export interface IndexPack {
  readonly id: Id;
  readonly blobs: readonly IndexBlob[];
}

export interface IndexFile {
  readonly supersedes: readonly Id[];
  readonly packs: readonly IndexPack[];
}

export interface ParsedIndex {
  readonly index: IndexFile;
  /** True for the legacy format (a bare array of packs). */
  readonly oldFormat: boolean;
}

const ID_RE = /^[0-9a-fA-F]{64}$/;
const MAX_UINT32 = 0xffff_ffff;

function corrupt(message: string, data: Record<string, unknown> = {}): ResticTsError {
  return new ResticTsError("CORRUPT", `index: ${message}`, data);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function parseIdField(v: unknown, where: string): Id {
  if (typeof v !== "string" || !ID_RE.test(v)) throw corrupt(`${where} is not a 64-hex-digit ID`);
  return v.toLowerCase();
}

/** A short description of a JSON value for a message (JSON.stringify of a hostile, deeply
 * nested value would overflow the stack or make a huge message). */
function describeValue(v: unknown): string {
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : typeof v;
}

function parseUint(v: unknown, where: string): number {
  // Go's ParseUint refuses "-0" too
  if (
    typeof v !== "number" ||
    !Number.isInteger(v) ||
    v < 0 ||
    Object.is(v, -0) ||
    v > MAX_UINT32
  ) {
    throw corrupt(`${where} is not an unsigned 32-bit integer: ${describeValue(v)}`);
  }
  return v;
}

function parsePacks(list: unknown, oldFormat: boolean): IndexPack[] {
  if (list === null || list === undefined) return [];
  if (!Array.isArray(list)) throw corrupt("packs is not an array");
  const packs: IndexPack[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const p = list[i];
    const where = `packs[${i}]`;
    if (!isObject(p)) throw corrupt(`${where} is not an object`);
    const id = parseIdField(p.id, `${where}.id`);
    const rawBlobs = p.blobs;
    if (rawBlobs !== null && rawBlobs !== undefined && !Array.isArray(rawBlobs)) {
      throw corrupt(`${where}.blobs is not an array`);
    }
    const src = (rawBlobs ?? []) as unknown[];
    const blobs: IndexBlob[] = new Array(src.length);
    for (let j = 0; j < src.length; j++) {
      const b = src[j];
      const bw = `${where}.blobs[${j}]`;
      if (!isObject(b)) throw corrupt(`${bw} is not an object`);
      const type = b.type;
      if (type !== "data" && type !== "tree") throw corrupt(`${bw}.type is not "data" or "tree"`);
      const blobId = parseIdField(b.id, `${bw}.id`);
      const offset = parseUint(b.offset ?? 0, `${bw}.offset`);
      const length = parseUint(b.length ?? 0, `${bw}.length`);
      const u = oldFormat ? 0 : parseUint(b.uncompressed_length ?? 0, `${bw}.uncompressed_length`);
      blobs[j] =
        u === 0
          ? { id: blobId, type, offset, length }
          : { id: blobId, type, offset, length, uncompressedLength: u };
    }
    packs[i] = { id, blobs };
  }
  return packs;
}

/**
 * Parse an index file's plaintext (after decompression). CORRUPT, naming the field, for
 * anything restic 0.14 would refuse (and for lengths that are not integers). Unknown fields
 * are ignored, as Go does; IDs in upper-case hex are accepted and lower-cased.
 */
export function parseIndex(plaintext: Uint8Array | string): ParsedIndex {
  const text =
    typeof plaintext === "string"
      ? plaintext
      : new TextDecoder("utf-8", { ignoreBOM: true }).decode(plaintext);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ResticTsError(
      "CORRUPT",
      `index: not JSON: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
  if (Array.isArray(raw)) {
    return { index: { supersedes: [], packs: parsePacks(raw, true) }, oldFormat: true };
  }
  if (!isObject(raw)) throw corrupt("expected an object or (legacy format) an array");
  let supersedes: Id[] = [];
  if (raw.supersedes !== null && raw.supersedes !== undefined) {
    if (!Array.isArray(raw.supersedes)) throw corrupt("supersedes is not an array");
    supersedes = raw.supersedes.map((s, i) => parseIdField(s, `supersedes[${i}]`));
  }
  return { index: { supersedes, packs: parsePacks(raw.packs, false) }, oldFormat: false };
}

const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));
const SUPERSEDES = ascii('"supersedes":[');
const PACKS = ascii('"packs":[');
const ID_START = ascii('{"id":"');
const PACK_BLOBS = ascii('","blobs":[');
const TYPE_DATA = ascii('","type":"data","offset":');
const TYPE_TREE = ascii('","type":"tree","offset":');
const LENGTH = ascii(',"length":');
const UNCOMPRESSED = ascii(',"uncompressed_length":');
const END = ascii("]}\n");
/** Bytes an index file can take per pack and per blob beyond the fixed parts (upper bounds). */
const PACK_BYTES = ID_START.length + 64 + PACK_BLOBS.length + 3;
const BLOB_BYTES =
  ID_START.length + 64 + TYPE_DATA.length + LENGTH.length + UNCOMPRESSED.length + 33;

/**
 * The JSON restic 0.14 writes for `index` (json.Encoder output: ends with "\n"), as bytes. It is
 * ASCII only (hex IDs, two type names, integers), so it is written straight into one buffer:
 * an index of 150,000 blobs is ~20 MB of text, which strings would hold twice more.
 */
export function serialiseIndex(index: IndexFile): Uint8Array {
  validateIndex(index);
  let bound = SUPERSEDES.length + 67 * index.supersedes.length + PACKS.length + END.length + 2;
  for (const p of index.packs) bound += PACK_BYTES + BLOB_BYTES * p.blobs.length;
  const out = Buffer.allocUnsafeSlow(bound);
  let pos = 0;
  const put = (bytes: Uint8Array) => {
    out.set(bytes, pos);
    pos += bytes.length;
  };
  const id = (hex: string) => {
    pos += out.write(hex, pos, "latin1");
  };
  const uint = (n: number) => {
    let digits = 1;
    for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
    for (let i = pos + digits - 1, x = n; i >= pos; i--, x = Math.floor(x / 10)) {
      out[i] = 48 + (x % 10);
    }
    pos += digits;
  };
  out[pos++] = 0x7b; // {
  if (index.supersedes.length > 0) {
    put(SUPERSEDES);
    index.supersedes.forEach((s, i) => {
      if (i > 0) out[pos++] = 0x2c; // ,
      out[pos++] = 0x22; // "
      id(s);
      out[pos++] = 0x22;
    });
    out[pos++] = 0x5d; // ]
    out[pos++] = 0x2c;
  }
  put(PACKS);
  for (let i = 0; i < index.packs.length; i++) {
    const p = index.packs[i];
    if (i > 0) out[pos++] = 0x2c;
    put(ID_START);
    id(p.id);
    put(PACK_BLOBS);
    for (let j = 0; j < p.blobs.length; j++) {
      const b = p.blobs[j];
      if (j > 0) out[pos++] = 0x2c;
      put(ID_START);
      id(b.id);
      put(b.type === "data" ? TYPE_DATA : TYPE_TREE);
      uint(b.offset);
      put(LENGTH);
      uint(b.length);
      if (b.uncompressedLength) {
        put(UNCOMPRESSED);
        uint(b.uncompressedLength);
      }
      out[pos++] = 0x7d; // }
    }
    out[pos++] = 0x5d;
    out[pos++] = 0x7d;
  }
  put(END);
  return out.subarray(0, pos);
}

/** INVALID_ARGUMENT unless every ID, type and number of `index` is writable. */
export function validateIndex(index: IndexFile): void {
  const bad = (m: string) => new ResticTsError("INVALID_ARGUMENT", `index: ${m}`);
  const isU32 = (n: unknown) =>
    typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_UINT32;
  index.supersedes.forEach((s, i) => {
    if (!isId(s)) throw bad(`supersedes[${i}] is not an ID`);
  });
  for (let i = 0; i < index.packs.length; i++) {
    const p = index.packs[i];
    if (!isId(p.id)) throw bad(`packs[${i}].id is not an ID`);
    for (let j = 0; j < p.blobs.length; j++) {
      const b = p.blobs[j];
      let what: string | undefined;
      if (!isId(b.id)) what = ".id is not an ID";
      else if (b.type !== "data" && b.type !== "tree") what = ".type is invalid";
      else if (!isU32(b.offset) || !isU32(b.length)) what = " has an invalid offset or length";
      else if (b.uncompressedLength !== undefined && !isU32(b.uncompressedLength)) {
        what = " has an invalid uncompressed length";
      }
      if (what !== undefined) throw bad(`packs[${i}].blobs[${j}]${what}`);
    }
  }
}
