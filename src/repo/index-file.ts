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
import type { Id } from "./id.js";
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

/** The JSON restic 0.14 writes for `index` (json.Encoder output: ends with "\n"). */
export function serialiseIndexText(index: IndexFile): string {
  const parts: string[] = [];
  parts.push("{");
  if (index.supersedes.length > 0)
    parts.push(`"supersedes":[${index.supersedes.map((s) => `"${s}"`).join(",")}],`);
  parts.push('"packs":[');
  for (let i = 0; i < index.packs.length; i++) {
    const p = index.packs[i];
    if (i > 0) parts.push(",");
    parts.push(`{"id":"${p.id}","blobs":[`);
    for (let j = 0; j < p.blobs.length; j++) {
      const b = p.blobs[j];
      const u = b.uncompressedLength ? `,"uncompressed_length":${b.uncompressedLength}` : "";
      parts.push(
        `${j > 0 ? "," : ""}{"id":"${b.id}","type":"${b.type}","offset":${b.offset},"length":${b.length}${u}}`,
      );
    }
    parts.push("]}");
  }
  parts.push("]}\n");
  return parts.join("");
}

/** `serialiseIndexText` as UTF-8 bytes. */
export function serialiseIndex(index: IndexFile): Uint8Array {
  validateIndex(index);
  return new TextEncoder().encode(serialiseIndexText(index));
}

/** INVALID_ARGUMENT unless every ID, type and number of `index` is writable. */
export function validateIndex(index: IndexFile): void {
  const bad = (m: string) => new ResticTsError("INVALID_ARGUMENT", `index: ${m}`);
  const isId = (s: unknown) => typeof s === "string" && /^[0-9a-f]{64}$/.test(s);
  const isU32 = (n: unknown) =>
    typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= MAX_UINT32;
  index.supersedes.forEach((s, i) => {
    if (!isId(s)) throw bad(`supersedes[${i}] is not an ID`);
  });
  index.packs.forEach((p, i) => {
    if (!isId(p.id)) throw bad(`packs[${i}].id is not an ID`);
    p.blobs.forEach((b, j) => {
      const w = `packs[${i}].blobs[${j}]`;
      if (!isId(b.id)) throw bad(`${w}.id is not an ID`);
      if (b.type !== "data" && b.type !== "tree") throw bad(`${w}.type is invalid`);
      if (!isU32(b.offset) || !isU32(b.length)) throw bad(`${w} has an invalid offset or length`);
      if (b.uncompressedLength !== undefined && !isU32(b.uncompressedLength)) {
        throw bad(`${w} has an invalid uncompressed length`);
      }
    });
  });
}
