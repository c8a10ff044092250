// The fast path for index files (restic design.rst "Indexing"; format in index-file.ts) when
// all that is wanted is the master index: the plaintext bytes exactly as Go's json.Encoder
// writes restic 0.14's index (and restic-ts's serialiseIndex does),
//
//   {["supersedes":[<id>,…],]"packs":[{"id":<id>,"blobs":[{"id":<id>,"type":"data"|"tree",
//     "offset":<n>,"length":<n>[,"uncompressed_length":<n>]},…]},…]}\n
//
// scanned straight into typed arrays: no UTF-8 decoding, no JSON objects, no ID strings (a
// 20,000-blob index: ~130 ms and ~10 MB of garbage through JSON.parse and parseIndex on a
// fresh process). Anything else — whitespace, another field order, upper-case hex, null lists,
// numbers beyond uint32, trailing bytes — is not scanned: the caller then takes parseIndex,
// which accepts what restic accepts and names what is wrong. What a scan accepts, parseIndex
// accepts with the same entries (a property test holds them to that).

import type { Id } from "./id.js";
import { parseIndex } from "./index-file.js";
import { type MasterIndex, wordsToHex } from "./master-index.js";

/** An index file's entries in flat arrays, ready for MasterIndex.addScanned. */
export interface ScannedIndex {
  readonly supersedes: readonly Id[];
  readonly packCount: number;
  /** Pack IDs, 8 big-endian uint32 words each. */
  readonly packWords: Uint32Array;
  /** Blobs of each pack, in order: blob entries follow their packs. */
  readonly blobCounts: Uint32Array;
  readonly blobCount: number;
  /** Blob IDs, 8 big-endian words each. */
  readonly blobWords: Uint32Array;
  /** Per blob: 1 for a tree blob (0: data), offset, stored length, uncompressed length (0: none). */
  readonly blobMeta: Uint32Array;
}

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

const SUPERSEDES = ascii('{"supersedes":[');
const PACKS_AFTER_SUPERSEDES = ascii('],"packs":[');
const PACKS = ascii('{"packs":[');
const PACK_ID = ascii('{"id":"');
const BLOBS = ascii('","blobs":[');
const BLOB_ID = PACK_ID;
const TYPE_DATA = ascii('","type":"data","offset":');
const TYPE_TREE = ascii('","type":"tree","offset":');
const LENGTH = ascii(',"length":');
const UNCOMPRESSED = ascii(',"uncompressed_length":');

const QUOTE = 0x22;
const COMMA = 0x2c;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const NEWLINE = 0x0a;

/** Shortest encodings: `{"id":"…"}` of a pack without blobs, and a data blob at offset 0. */
const MIN_PACK_BYTES = PACK_ID.length + 64 + BLOBS.length + 2;
const MIN_BLOB_BYTES = BLOB_ID.length + 64 + TYPE_DATA.length + 1 + LENGTH.length + 1 + 1;

class Cursor {
  pos = 0;
  constructor(readonly b: Uint8Array) {}

  /** Consume `lit` if it comes next. */
  take(lit: Uint8Array): boolean {
    const b = this.b;
    const p = this.pos;
    if (p + lit.length > b.length) return false;
    for (let k = 0; k < lit.length; k++) if (b[p + k] !== lit[k]) return false;
    this.pos = p + lit.length;
    return true;
  }

  /** Consume the byte `c` if it comes next. */
  byte(c: number): boolean {
    if (this.b[this.pos] !== c) return false;
    this.pos++;
    return true;
  }

  /** 64 lower-case hex digits into out[at, at + 8). */
  hexId(out: Uint32Array, at: number): boolean {
    const b = this.b;
    let p = this.pos;
    if (p + 64 > b.length) return false;
    for (let w = 0; w < 8; w++) {
      let v = 0;
      for (let k = 0; k < 8; k++) {
        const c = b[p++];
        let n: number;
        if (c >= 0x30 && c <= 0x39) n = c - 0x30;
        else if (c >= 0x61 && c <= 0x66) n = c - 0x57;
        else return false;
        v = (v << 4) | n;
      }
      out[at + w] = v >>> 0;
    }
    this.pos = p;
    return true;
  }

  /** A JSON number that is a uint32 without a leading zero; -1 otherwise. */
  uint32(): number {
    const b = this.b;
    let p = this.pos;
    const first = b[p];
    if (first === undefined || first < 0x30 || first > 0x39) return -1;
    let v = first - 0x30;
    p++;
    if (v === 0) {
      const next = b[p];
      if (next !== undefined && next >= 0x30 && next <= 0x39) return -1;
    } else {
      for (;;) {
        const c = b[p];
        if (c === undefined || c < 0x30 || c > 0x39) break;
        v = v * 10 + (c - 0x30);
        if (v > 0xffff_ffff) return -1;
        p++;
      }
    }
    // a fraction or an exponent makes it another number
    const after = b[p];
    if (after === 0x2e || after === 0x65 || after === 0x45) return -1;
    this.pos = p;
    return v;
  }
}

/** Scan `plaintext` as described above; undefined when it is not in exactly that form. */
export function scanIndex(plaintext: Uint8Array): ScannedIndex | undefined {
  const c = new Cursor(plaintext);
  const supersedes: Id[] = [];
  if (c.take(SUPERSEDES)) {
    const words = new Uint32Array(8);
    do {
      if (!c.byte(QUOTE)) return undefined;
      const start = c.pos;
      if (!c.hexId(words, 0) || !c.byte(QUOTE)) return undefined;
      supersedes.push(Buffer.from(plaintext.subarray(start, start + 64)).toString("latin1"));
    } while (c.byte(COMMA));
    if (!c.take(PACKS_AFTER_SUPERSEDES)) return undefined;
  } else if (!c.take(PACKS)) return undefined;

  const maxPacks = Math.floor(plaintext.length / MIN_PACK_BYTES) + 1;
  const maxBlobs = Math.floor(plaintext.length / MIN_BLOB_BYTES) + 1;
  const packWords = new Uint32Array(maxPacks * 8);
  const blobCounts = new Uint32Array(maxPacks);
  const blobWords = new Uint32Array(maxBlobs * 8);
  const blobMeta = new Uint32Array(maxBlobs * 4);
  let packs = 0;
  let blobs = 0;
  if (!c.byte(CLOSE_ARRAY)) {
    do {
      if (packs === maxPacks) return undefined;
      if (!c.take(PACK_ID) || !c.hexId(packWords, packs * 8) || !c.take(BLOBS)) return undefined;
      const first = blobs;
      if (!c.byte(CLOSE_ARRAY)) {
        do {
          if (blobs === maxBlobs) return undefined;
          if (!c.take(BLOB_ID) || !c.hexId(blobWords, blobs * 8)) return undefined;
          const m = blobs * 4;
          if (c.take(TYPE_DATA)) blobMeta[m] = 0;
          else if (c.take(TYPE_TREE)) blobMeta[m] = 1;
          else return undefined;
          const offset = c.uint32();
          if (offset < 0 || !c.take(LENGTH)) return undefined;
          const length = c.uint32();
          if (length < 0) return undefined;
          let uncompressed = 0;
          if (c.take(UNCOMPRESSED)) {
            uncompressed = c.uint32();
            if (uncompressed < 0) return undefined;
          }
          if (!c.byte(CLOSE_OBJECT)) return undefined;
          blobMeta[m + 1] = offset;
          blobMeta[m + 2] = length;
          blobMeta[m + 3] = uncompressed;
          blobs++;
        } while (c.byte(COMMA));
        if (!c.byte(CLOSE_ARRAY)) return undefined;
      }
      if (!c.byte(CLOSE_OBJECT)) return undefined;
      blobCounts[packs++] = blobs - first;
    } while (c.byte(COMMA));
    if (!c.byte(CLOSE_ARRAY)) return undefined;
  }
  if (!c.byte(CLOSE_OBJECT)) return undefined;
  c.byte(NEWLINE);
  if (c.pos !== plaintext.length) return undefined;
  return {
    supersedes,
    packCount: packs,
    packWords,
    blobCounts,
    blobCount: blobs,
    blobWords,
    blobMeta,
  };
}

/** An index file as loading it into a master index needs it, read the fast way when it can be. */
export interface IndexFileRead {
  /** The legacy format (a bare array of packs: parseIndex's oldFormat). */
  readonly oldFormat: boolean;
  /** Add every entry to `index`. */
  addTo(index: MasterIndex): void;
  /** The packs it lists, in order. */
  packIds(): Id[];
}

/** `plaintext` through scanIndex, else parseIndex (which throws CORRUPT for a bad file). */
export function readIndexFile(plaintext: Uint8Array): IndexFileRead {
  const scanned = scanIndex(plaintext);
  if (scanned !== undefined) {
    return {
      oldFormat: false,
      addTo: (index) => index.addScanned(scanned),
      packIds: () =>
        Array.from({ length: scanned.packCount }, (_, p) => wordsToHex(scanned.packWords, p * 8)),
    };
  }
  const { index: parsed, oldFormat } = parseIndex(plaintext);
  return {
    oldFormat,
    addTo: (index) => index.addIndex(parsed),
    packIds: () => parsed.packs.map((p) => p.id),
  };
}
