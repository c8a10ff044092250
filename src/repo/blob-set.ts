// A compact set of blob handles (type + 32-byte ID), what restic's BlobSet is for check, prune,
// stats and copy: which blobs a set of snapshots uses. IDs live as 8 uint32 words in one typed
// array with a type bit beside them, found through an open-addressing table of slot numbers
// (linear probing, at most 3/4 full, backward-shift deletion): ~40 bytes per blob and no
// per-blob JS objects, so a repository of millions of blobs fits in little memory.

import { ResticTsError } from "../errors.js";
import { type Id, idWordsEqual } from "./id.js";
import type { BlobType } from "./pack.js";

const HEX = "0123456789abcdef";

function nib(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

function toWords(id: string, out: Uint32Array): void {
  if (typeof id !== "string" || id.length !== 64) {
    throw new ResticTsError("INVALID_ARGUMENT", `blob set: invalid ID ${JSON.stringify(id)}`);
  }
  for (let w = 0; w < 8; w++) {
    let v = 0;
    for (let k = 0; k < 8; k++) {
      const n = nib(id.charCodeAt(w * 8 + k));
      if (n < 0) throw new ResticTsError("INVALID_ARGUMENT", `blob set: invalid ID ${id}`);
      v = (v << 4) | n;
    }
    out[w] = v >>> 0;
  }
}

/** A blob handle as the set yields it. */
export interface BlobHandle {
  readonly type: BlobType;
  readonly id: Id;
}

export class BlobSet {
  private words = new Uint32Array(8 * 64);
  private types = new Uint8Array(64);
  private used = new Uint8Array(64);
  /** Free entry numbers (after deletions), reused before growing. */
  private free: number[] = [];
  private entries = 0;
  private count = 0;
  private table = new Uint32Array(128);
  private mask = 127;
  private readonly key = new Uint32Array(8);

  /** Number of blobs in the set. */
  get size(): number {
    return this.count;
  }

  private slot(w0: number, w1: number, t: number): number {
    let x = Math.imul(w0 ^ (t * 0x9e3779b1), 0x85ebca77) ^ w1;
    x ^= x >>> 15;
    x = Math.imul(x, 0xc2b2ae3d);
    x ^= x >>> 13;
    return (x >>> 0) & this.mask;
  }

  private matches(e: number, t: number): boolean {
    return this.types[e] === t && idWordsEqual(this.words, e * 8, this.key);
  }

  /** Table position holding (t, key), or the empty position where it would go, as ~pos. */
  private find(t: number): number {
    let s = this.slot(this.key[0], this.key[1], t);
    for (;;) {
      const v = this.table[s];
      if (v === 0) return ~s;
      if (this.matches(v - 1, t)) return s;
      s = (s + 1) & this.mask;
    }
  }

  private grow(): void {
    const size = (this.mask + 1) * 2;
    this.table = new Uint32Array(size);
    this.mask = size - 1;
    for (let e = 0; e < this.entries; e++) {
      if (!this.used[e]) continue;
      let s = this.slot(this.words[e * 8], this.words[e * 8 + 1], this.types[e]);
      while (this.table[s] !== 0) s = (s + 1) & this.mask;
      this.table[s] = e + 1;
    }
  }

  private newEntry(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    const e = this.entries++;
    if (e >= this.types.length) {
      const n = this.types.length * 2;
      const words = new Uint32Array(n * 8);
      words.set(this.words);
      this.words = words;
      const types = new Uint8Array(n);
      types.set(this.types);
      this.types = types;
      const used = new Uint8Array(n);
      used.set(this.used);
      this.used = used;
    }
    return e;
  }

  /** Add the blob; true if it was not in the set before. */
  add(type: BlobType, id: Id): boolean {
    toWords(id, this.key);
    const t = type === "tree" ? 1 : 0;
    const pos = this.find(t);
    if (pos >= 0) return false;
    const e = this.newEntry();
    this.words.set(this.key, e * 8);
    this.types[e] = t;
    this.used[e] = 1;
    this.count++;
    if (this.count * 4 > (this.mask + 1) * 3) this.grow();
    else this.table[~pos] = e + 1;
    return true;
  }

  has(type: BlobType, id: Id): boolean {
    toWords(id, this.key);
    return this.find(type === "tree" ? 1 : 0) >= 0;
  }

  /** Remove the blob; true if it was in the set. */
  delete(type: BlobType, id: Id): boolean {
    toWords(id, this.key);
    let pos = this.find(type === "tree" ? 1 : 0);
    if (pos < 0) return false;
    const e = this.table[pos] - 1;
    this.used[e] = 0;
    this.free.push(e);
    this.count--;
    // backward-shift deletion keeps every probe run unbroken
    let next = (pos + 1) & this.mask;
    for (;;) {
      const v = this.table[next];
      if (v === 0) break;
      const ve = v - 1;
      const home = this.slot(this.words[ve * 8], this.words[ve * 8 + 1], this.types[ve]);
      // move v into the hole when its home is not in (pos, next]
      const inRun = pos <= next ? home > pos && home <= next : home > pos || home <= next;
      if (!inRun) {
        this.table[pos] = v;
        pos = next;
      }
      next = (next + 1) & this.mask;
    }
    this.table[pos] = 0;
    return true;
  }

  /** Every blob of the set, in no particular order. Do not change the set while iterating. */
  *[Symbol.iterator](): IterableIterator<BlobHandle> {
    for (let e = 0; e < this.entries; e++) {
      if (!this.used[e]) continue;
      let id = "";
      for (let w = 0; w < 8; w++) {
        const v = this.words[e * 8 + w];
        for (let sh = 28; sh >= 0; sh -= 4) id += HEX[(v >>> sh) & 15];
      }
      yield { type: this.types[e] === 1 ? "tree" : "data", id };
    }
  }
}
