// The in-memory index of every blob in a repository (what restic's MasterIndex holds after
// loading all index files): for each (type, blob ID) the packs that hold it, with offset,
// stored length and uncompressed length. A blob may be in several packs.
//
// Memory is the point (restic spends < 64 bytes per blob): entries live in fixed-size chunks
// of typed arrays — the 32-byte ID as 8 uint32 words, then pack index | type bit, offset,
// length, uncompressed length (48 bytes) — and an open-addressing table of uint32 entry
// numbers (linear probing, at most 4/5 full) finds them. The slot is a keyed hash of the
// ID's first 8 bytes with a per-instance random seed, so crafted IDs cannot pile up in one
// probe run. Pack IDs sit once in a table of their own. No per-blob JS objects or strings.

import { randomBytes } from "node:crypto";
import { SEAL_OVERHEAD } from "../crypto/sizes.js";
import { ResticTsError } from "../errors.js";
import { type Id, idWordsEqual, isId } from "./id.js";
import type { IndexFile } from "./index-file.js";
import type { ScannedIndex } from "./index-scan.js";
import type { BlobType } from "./pack.js";

/** Where a blob is stored. */
export interface BlobLocation {
  readonly packId: Id;
  readonly offset: number;
  /** Stored (sealed) length. */
  readonly length: number;
  /** Present only for compressed blobs. */
  readonly uncompressedLength?: number;
}

export interface IndexEntry extends BlobLocation {
  readonly type: BlobType;
  readonly id: Id;
}

/** A blob as given to `add`. */
export interface BlobInPack {
  readonly type: BlobType;
  readonly id: Id;
  readonly offset: number;
  readonly length: number;
  readonly uncompressedLength?: number;
}

const CHUNK_BITS = 12;
const CHUNK = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK - 1;
const TREE_BIT = 0x8000_0000;
const MAX_PACKS = 0x7fff_ffff;
const MAX_UINT32 = 0xffff_ffff;

/** Scratch words for the ID being looked up (no allocation per lookup). */
const keyWords = new Uint32Array(8);

function nib(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Parse a hex ID into `out` as 8 big-endian words; false if it is not 64 hex characters. */
function hexToWords(id: string, out: Uint32Array): boolean {
  if (typeof id !== "string" || id.length !== 64) return false;
  for (let w = 0; w < 8; w++) {
    let v = 0;
    for (let k = 0; k < 8; k++) {
      const n = nib(id.charCodeAt(w * 8 + k));
      if (n < 0) return false;
      v = (v << 4) | n;
    }
    out[w] = v >>> 0;
  }
  return true;
}

/** Scratch bytes for wordsToHex: one native hex conversion instead of 64 string pieces. */
const idBytes = Buffer.alloc(32);

/** The 64-character hex ID of the 8 big-endian words at src[at, at + 8). */
export function wordsToHex(src: Uint32Array, at: number): string {
  for (let w = 0; w < 8; w++) idBytes.writeUInt32BE(src[at + w], w * 4);
  return idBytes.toString("hex");
}

/** The keyed hash of an ID's first two words that places it in a table (seed: 4 random words). */
function keyedHash(seed: Uint32Array, w0: number, w1: number): number {
  let x = Math.imul(w0 ^ seed[0], 0x9e3779b1) ^ Math.imul(w1 ^ seed[1], 0x85ebca77);
  x ^= x >>> 15;
  x = Math.imul(x, 0xc2b2ae3d);
  x ^= x >>> 13;
  x = Math.imul(x ^ seed[2], 0x27d4eb2f);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * The data blobs of a MasterIndex at one moment, in memory other threads can read (the blob
 * workers of a backup): the index's own ID chunks, shared, and a table of its data entries.
 * Valid while the index only grows (until a `removePacks`).
 */
export interface SharedDataBlobs {
  readonly seed: Uint32Array;
  /** The ID chunks (8 words per entry), of which the table's entries are in the first ones. */
  readonly chunks: readonly SharedArrayBuffer[];
  /** Open addressing, linear probing: entry number + 1, 0 = empty; size a power of two. */
  readonly table: SharedArrayBuffer;
}

/** Lookups in SharedDataBlobs, from any thread. */
export class SharedDataBlobSet {
  private readonly chunks: Uint32Array[];
  private readonly table: Uint32Array;
  private readonly mask: number;
  private readonly words = new Uint32Array(8);

  constructor(private readonly shared: SharedDataBlobs) {
    this.chunks = shared.chunks.map((b) => new Uint32Array(b));
    this.table = new Uint32Array(shared.table);
    this.mask = this.table.length - 1;
  }

  /** Whether the data blob `id` (64 hex digits) is in the set; false for anything else. */
  has(id: string): boolean {
    const w = this.words;
    if (!hexToWords(id, w)) return false;
    for (let slot = keyedHash(this.shared.seed, w[0], w[1]) & this.mask; ; ) {
      const t = this.table[slot];
      if (t === 0) return false;
      const e = t - 1;
      if (idWordsEqual(this.chunks[e >>> CHUNK_BITS], (e & CHUNK_MASK) * 8, w)) return true;
      slot = (slot + 1) & this.mask;
    }
  }
}

function invalid(message: string): ResticTsError {
  return new ResticTsError("INVALID_ARGUMENT", `master index: ${message}`);
}

export class MasterIndex {
  // entries
  private idChunks: Uint32Array[] = [];
  private metaChunks: Uint32Array[] = [];
  private count = 0;
  // blob table: entry number + 1, 0 = empty
  private table = new Uint32Array(1024);
  private tableMask = 1023;
  // packs
  private packWords = new Uint32Array(8 * 64);
  private packCountValue = 0;
  private packTable = new Uint32Array(128);
  private packTableMask = 127;
  /** Pack IDs as hex, made on first use (a lookup's result names its pack). */
  private packIdText: (Id | undefined)[] = [];
  private readonly seed: Uint32Array;

  constructor() {
    const s = randomBytes(16);
    this.seed = new Uint32Array([
      s.readUInt32LE(0),
      s.readUInt32LE(4),
      s.readUInt32LE(8),
      s.readUInt32LE(12),
    ]);
  }

  /** Number of entries (a blob stored in two packs counts twice). */
  get size(): number {
    return this.count;
  }

  /** Number of packs added (including packs whose blobs were all duplicates). */
  get packCount(): number {
    return this.packCountValue;
  }

  private hash(w0: number, w1: number): number {
    return keyedHash(this.seed, w0, w1);
  }

  // --- packs -------------------------------------------------------------------------------

  private findPack(words: Uint32Array): number {
    const pw = this.packWords;
    let slot = this.hash(words[0] ^ this.seed[3], words[1]) & this.packTableMask;
    for (;;) {
      const e = this.packTable[slot];
      if (e === 0) return -1;
      if (idWordsEqual(pw, (e - 1) * 8, words)) return e - 1;
      slot = (slot + 1) & this.packTableMask;
    }
  }

  private insertPackSlot(p: number): void {
    const at = p * 8;
    let slot =
      this.hash(this.packWords[at] ^ this.seed[3], this.packWords[at + 1]) & this.packTableMask;
    while (this.packTable[slot] !== 0) slot = (slot + 1) & this.packTableMask;
    this.packTable[slot] = p + 1;
  }

  private internPack(words: Uint32Array): number {
    const found = this.findPack(words);
    if (found >= 0) return found;
    if (this.packCountValue >= MAX_PACKS) throw invalid("too many packs");
    const p = this.packCountValue++;
    if (p * 8 + 8 > this.packWords.length) {
      const bigger = new Uint32Array(this.packWords.length * 2);
      bigger.set(this.packWords);
      this.packWords = bigger;
    }
    this.packWords.set(words, p * 8);
    if (this.packCountValue * 4 > (this.packTableMask + 1) * 3)
      this.rebuildPackTable((this.packTableMask + 1) * 2);
    else this.insertPackSlot(p);
    return p;
  }

  private rebuildPackTable(size: number): void {
    this.packTable = new Uint32Array(size);
    this.packTableMask = size - 1;
    for (let p = 0; p < this.packCountValue; p++) this.insertPackSlot(p);
  }

  private packIdAt(p: number): Id {
    let id = this.packIdText[p];
    if (id === undefined) {
      id = wordsToHex(this.packWords, p * 8);
      this.packIdText[p] = id;
    }
    return id;
  }

  // --- blobs -------------------------------------------------------------------------------

  private slotOf(idW: Uint32Array, at: number): number {
    return this.hash(idW[at], idW[at + 1]) & this.tableMask;
  }

  private entryMatches(e: number, typeBit: number, words: Uint32Array): boolean {
    if (!idWordsEqual(this.idChunks[e >>> CHUNK_BITS], (e & CHUNK_MASK) * 8, words)) return false;
    return (this.metaChunks[e >>> CHUNK_BITS][(e & CHUNK_MASK) * 4] & TREE_BIT) >>> 0 === typeBit;
  }

  private growTable(): void {
    const size = (this.tableMask + 1) * 2;
    this.table = new Uint32Array(size);
    this.tableMask = size - 1;
    for (let e = 0; e < this.count; e++) this.insertSlot(e);
  }

  private insertSlot(e: number): void {
    let slot = this.slotOf(this.idChunks[e >>> CHUNK_BITS], (e & CHUNK_MASK) * 8);
    while (this.table[slot] !== 0) slot = (slot + 1) & this.tableMask;
    this.table[slot] = e + 1;
  }

  /** Append one entry (ID words in `words`); skips an exact duplicate. */
  private addEntry(
    words: Uint32Array,
    typeBit: number,
    pack: number,
    offset: number,
    length: number,
    ulen: number,
  ): void {
    const packField = (pack | typeBit) >>> 0;
    // exact duplicate? (the same pack listed in two index files)
    let slot = this.hash(words[0], words[1]) & this.tableMask;
    for (;;) {
      const t = this.table[slot];
      if (t === 0) break;
      const e = t - 1;
      if (this.entryMatches(e, typeBit, words)) {
        const m = this.metaChunks[e >>> CHUNK_BITS];
        const at = (e & CHUNK_MASK) * 4;
        if (
          m[at] === packField &&
          m[at + 1] === offset &&
          m[at + 2] === length &&
          m[at + 3] === ulen
        )
          return;
      }
      slot = (slot + 1) & this.tableMask;
    }
    const e = this.count;
    if (e >= MAX_UINT32 - 1) throw invalid("too many entries");
    const c = e >>> CHUNK_BITS;
    if (c === this.idChunks.length) {
      // shared memory, so that blob workers can read it (shareDataBlobs)
      this.idChunks.push(new Uint32Array(new SharedArrayBuffer(CHUNK * 8 * 4)));
      this.metaChunks.push(new Uint32Array(CHUNK * 4));
    }
    this.idChunks[c].set(words, (e & CHUNK_MASK) * 8);
    const m = this.metaChunks[c];
    const at = (e & CHUNK_MASK) * 4;
    m[at] = packField;
    m[at + 1] = offset;
    m[at + 2] = length;
    m[at + 3] = ulen;
    this.count++;
    if (this.count * 5 > (this.tableMask + 1) * 4) this.growTable();
    else this.table[slot] = e + 1; // the empty slot the duplicate scan ended on
  }

  /** Record that pack `packId` holds `blobs`. Exact duplicates of known entries are skipped. */
  add(packId: Id, blobs: Iterable<BlobInPack>): void {
    const pw = new Uint32Array(8);
    if (!hexToWords(packId, pw)) throw invalid(`invalid pack ID ${JSON.stringify(packId)}`);
    const pack = this.internPack(pw);
    const words = new Uint32Array(8);
    for (const b of blobs) {
      if (!hexToWords(b.id, words)) throw invalid(`invalid blob ID ${JSON.stringify(b.id)}`);
      if (b.type !== "data" && b.type !== "tree")
        throw invalid(`invalid blob type ${JSON.stringify(b.type)}`);
      const u = b.uncompressedLength ?? 0;
      for (const n of [b.offset, b.length, u]) {
        if (!Number.isInteger(n) || n < 0 || n > MAX_UINT32)
          throw invalid(`offset or length out of range: ${n}`);
      }
      this.addEntry(words, b.type === "tree" ? TREE_BIT : 0, pack, b.offset, b.length, u);
    }
  }

  /** Add every pack of a parsed index file. */
  addIndex(index: IndexFile): void {
    for (const p of index.packs) this.add(p.id, p.blobs);
  }

  /** Add every pack of an index file taken by the fast path (index-scan.ts). */
  addScanned(index: ScannedIndex): void {
    const pw = new Uint32Array(8);
    const words = new Uint32Array(8);
    const { packWords, blobCounts, blobWords, blobMeta } = index;
    let blob = 0;
    for (let p = 0; p < index.packCount; p++) {
      for (let w = 0; w < 8; w++) pw[w] = packWords[p * 8 + w];
      const pack = this.internPack(pw);
      for (let n = blobCounts[p]; n > 0; n--, blob++) {
        for (let w = 0; w < 8; w++) words[w] = blobWords[blob * 8 + w];
        const m = blob * 4;
        const typeBit = blobMeta[m] === 1 ? TREE_BIT : 0;
        this.addEntry(words, typeBit, pack, blobMeta[m + 1], blobMeta[m + 2], blobMeta[m + 3]);
      }
    }
  }

  private location(e: number): BlobLocation {
    const m = this.metaChunks[e >>> CHUNK_BITS];
    const at = (e & CHUNK_MASK) * 4;
    const packId = this.packIdAt((m[at] & ~TREE_BIT) >>> 0);
    const u = m[at + 3];
    return u === 0
      ? { packId, offset: m[at + 1], length: m[at + 2] }
      : { packId, offset: m[at + 1], length: m[at + 2], uncompressedLength: u };
  }

  /** Visit the entry numbers of (type, id); stops early when `fn` returns false. */
  private each(type: BlobType, id: Id, fn: (e: number) => boolean | undefined): void {
    if (!hexToWords(id, keyWords)) throw invalid(`invalid blob ID ${JSON.stringify(id)}`);
    const words = keyWords;
    const typeBit = type === "tree" ? TREE_BIT : 0;
    let slot = this.hash(words[0], words[1]) & this.tableMask;
    for (;;) {
      const t = this.table[slot];
      if (t === 0) return;
      if (this.entryMatches(t - 1, typeBit, words) && fn(t - 1) === false) return;
      slot = (slot + 1) & this.tableMask;
    }
  }

  /** Every pack location of the blob (empty if unknown), in the order they were added. */
  lookup(type: BlobType, id: Id): BlobLocation[] {
    const found: number[] = [];
    this.each(type, id, (e) => {
      found.push(e);
      return true;
    });
    return found.sort((a, b) => a - b).map((e) => this.location(e));
  }

  has(type: BlobType, id: Id): boolean {
    let yes = false;
    this.each(type, id, () => {
      yes = true;
      return false;
    });
    return yes;
  }

  /** Plaintext length of the blob (uncompressed length, or stored length − 32), if known. */
  lookupSize(type: BlobType, id: Id): number | undefined {
    let size: number | undefined;
    this.each(type, id, (e) => {
      const m = this.metaChunks[e >>> CHUNK_BITS];
      const at = (e & CHUNK_MASK) * 4;
      size = m[at + 3] !== 0 ? m[at + 3] : Math.max(0, m[at + 2] - SEAL_OVERHEAD);
      return false;
    });
    return size;
  }

  hasPack(packId: Id): boolean {
    const w = new Uint32Array(8);
    return hexToWords(packId, w) && this.findPack(w) >= 0;
  }

  /** The IDs of all packs added. */
  packs(): Set<Id> {
    const out = new Set<Id>();
    for (let p = 0; p < this.packCountValue; p++) out.add(this.packIdAt(p));
    return out;
  }

  private entryAt(e: number): IndexEntry {
    const ids = this.idChunks[e >>> CHUNK_BITS];
    const m = this.metaChunks[e >>> CHUNK_BITS];
    const at = (e & CHUNK_MASK) * 4;
    const packId = this.packIdAt((m[at] & ~TREE_BIT) >>> 0);
    const type: BlobType = m[at] & TREE_BIT ? "tree" : "data";
    const id = wordsToHex(ids, (e & CHUNK_MASK) * 8);
    const offset = m[at + 1];
    const length = m[at + 2];
    const u = m[at + 3];
    return u === 0
      ? { type, id, packId, offset, length }
      : { type, id, packId, offset, length, uncompressedLength: u };
  }

  /** All entries in the order they were added. Do not modify the index while iterating. */
  *entries(): IterableIterator<IndexEntry> {
    const n = this.count;
    for (let e = 0; e < n; e++) yield this.entryAt(e);
  }

  [Symbol.iterator](): IterableIterator<IndexEntry> {
    return this.entries();
  }

  /**
   * Entries grouped by pack (packs in the order they were added, blobs in the order they were
   * added): the shape of an index file. Packs without entries are left out.
   */
  *byPack(): IterableIterator<{ packId: Id; blobs: IndexEntry[] }> {
    const np = this.packCountValue;
    const start = new Uint32Array(np + 1);
    for (let e = 0; e < this.count; e++) {
      start[((this.metaChunks[e >>> CHUNK_BITS][(e & CHUNK_MASK) * 4] & ~TREE_BIT) >>> 0) + 1]++;
    }
    for (let p = 0; p < np; p++) start[p + 1] += start[p];
    const order = new Uint32Array(this.count);
    const fill = start.slice(0, np);
    for (let e = 0; e < this.count; e++) {
      const p = (this.metaChunks[e >>> CHUNK_BITS][(e & CHUNK_MASK) * 4] & ~TREE_BIT) >>> 0;
      order[fill[p]++] = e;
    }
    for (let p = 0; p < np; p++) {
      if (start[p] === start[p + 1]) continue;
      const blobs: IndexEntry[] = [];
      for (let i = start[p]; i < start[p + 1]; i++) blobs.push(this.entryAt(order[i]));
      yield { packId: blobs[0].packId, blobs };
    }
  }

  /** The data blobs indexed now, for other threads to look up (see SharedDataBlobs). */
  shareDataBlobs(): SharedDataBlobs {
    let size = 1024;
    while (this.count * 5 > size * 4) size *= 2;
    const table = new Uint32Array(new SharedArrayBuffer(size * 4));
    const mask = size - 1;
    for (let e = 0; e < this.count; e++) {
      if ((this.metaChunks[e >>> CHUNK_BITS][(e & CHUNK_MASK) * 4] & TREE_BIT) !== 0) continue;
      const ids = this.idChunks[e >>> CHUNK_BITS];
      const at = (e & CHUNK_MASK) * 8;
      let slot = this.hash(ids[at], ids[at + 1]) & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = e + 1;
    }
    return {
      seed: this.seed.slice(),
      chunks: this.idChunks.map((c) => c.buffer as SharedArrayBuffer),
      table: table.buffer as SharedArrayBuffer,
    };
  }

  /** Forget the given packs and every entry in them (for prune). Returns entries removed. */
  removePacks(packIds: Iterable<Id>): number {
    const drop = new Uint8Array(this.packCountValue);
    const w = new Uint32Array(8);
    let any = false;
    for (const id of packIds) {
      if (!isId(id) || !hexToWords(id, w)) throw invalid(`invalid pack ID ${JSON.stringify(id)}`);
      const p = this.findPack(w);
      if (p >= 0) {
        drop[p] = 1;
        any = true;
      }
    }
    if (!any) return 0;
    // renumber the packs that stay
    const remap = new Int32Array(this.packCountValue).fill(-1);
    let np = 0;
    for (let p = 0; p < this.packCountValue; p++) {
      if (drop[p]) continue;
      remap[p] = np;
      if (np !== p) this.packWords.copyWithin(np * 8, p * 8, p * 8 + 8);
      np++;
    }
    this.packCountValue = np;
    this.packIdText = [];
    let size = 128;
    while (np * 4 > size * 3) size *= 2;
    this.rebuildPackTable(size);
    // compact the entries in place
    let out = 0;
    const before = this.count;
    for (let e = 0; e < before; e++) {
      const m = this.metaChunks[e >>> CHUNK_BITS];
      const at = (e & CHUNK_MASK) * 4;
      const typeBit = (m[at] & TREE_BIT) >>> 0;
      const p = (m[at] & ~TREE_BIT) >>> 0;
      if (remap[p] < 0) continue;
      const om = this.metaChunks[out >>> CHUNK_BITS];
      const oat = (out & CHUNK_MASK) * 4;
      om[oat] = (remap[p] | typeBit) >>> 0;
      om[oat + 1] = m[at + 1];
      om[oat + 2] = m[at + 2];
      om[oat + 3] = m[at + 3];
      if (out !== e) {
        const src = this.idChunks[e >>> CHUNK_BITS];
        this.idChunks[out >>> CHUNK_BITS].set(
          src.subarray((e & CHUNK_MASK) * 8, (e & CHUNK_MASK) * 8 + 8),
          (out & CHUNK_MASK) * 8,
        );
      }
      out++;
    }
    this.count = out;
    const chunks = Math.ceil(out / CHUNK);
    this.idChunks.length = chunks;
    this.metaChunks.length = chunks;
    let tsize = 1024;
    while (out * 5 > tsize * 4) tsize *= 2;
    this.table = new Uint32Array(tsize);
    this.tableMask = tsize - 1;
    for (let e = 0; e < out; e++) this.insertSlot(e);
    return before - out;
  }
}
