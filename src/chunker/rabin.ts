// Content-defined chunking with a rolling Rabin fingerprint, cut-for-cut identical with
// restic/chunker v0.4.0 (the version restic 0.14.0 uses to split file contents into blobs).
//
// restic's rules, for a chunk that starts at offset s:
//  - the fingerprint is taken over a 64-byte window, modulo the repository's polynomial P;
//  - at a chunk start the window is reset to 63 zero bytes followed by the byte 1 (digest 1),
//    and the first MinSize-64 bytes of the chunk are not hashed at all;
//  - after each hashed byte, with `count` bytes in the chunk so far: cut if count >= MinSize
//    and (digest & splitMask) == 0, or if count == MaxSize; a shorter last chunk ends the input.
//  - defaults: MinSize 512 KiB, MaxSize 8 MiB, splitMask 2^20-1 (about 1 MiB on average).
//
// Because the window starts full of zeros, the digest at every byte where a cut can happen is
// exactly the fingerprint of the 64 bytes before it. This module is pure: the caller feeds
// successive buffers and learns the cut offsets; no buffer is kept past the call.
//
// Speed: the hashing runs in WebAssembly (rabin-wasm.ts, rabin.wat: 64-bit integers, four bytes
// per step for degree 53) wherever it loads; the JavaScript loops below are the fallback (and
// the `engine: "js"` option), with the same state and cuts. In JavaScript the 53-bit digest
// lives in two int32 halves (hi: bits 32..52, lo: bits 0..31) and every table is an
// Int32Array. For degree-53 polynomials (every polynomial restic makes) and split masks within
// the low 32 bits (restic's is 20 bits) the hot loop advances two bytes per
// step: D' = D*x^16 + out2 + in2 (mod P), reducing the 16 bits that overflow through two
// independent 256-entry tables, which halves the serial chain of dependent table loads that
// bounds a byte-at-a-time loop. The outgoing byte is read from the input buffer itself, not
// from a ring. Other degrees (8..52) and wider masks run a byte-at-a-time loop on the digest
// scaled by x^(53-degree).

import { ResticTsError } from "../errors.js";
import { deg } from "./polynomial.js";
import { RabinWasm } from "./rabin-wasm.js";

/** Size of the sliding window in bytes. */
export const WINDOW_SIZE = 64;
/** restic's minimal chunk size (512 KiB). */
export const MIN_SIZE = 512 * 1024;
/** restic's maximal chunk size (8 MiB). */
export const MAX_SIZE = 8 * 1024 * 1024;
/** restic's split mask has this many low bits set: chunks average about 2^20 bytes past MinSize. */
export const AVERAGE_BITS = 20;

const UINT64_MASK = (1n << 64n) - 1n;

export interface ChunkerOptions {
  /** Smallest chunk (except the last); at least 64. Default 512 KiB. */
  minSize?: number;
  /** Largest chunk; at least minSize. Default 8 MiB. */
  maxSize?: number;
  /** Cut where the low `averageBits` bits of the fingerprint are zero (0..64). Default 20. */
  averageBits?: number;
  /** The split mask itself (a uint64), instead of averageBits. */
  splitMask?: bigint;
  /**
   * Which loop hashes: "wasm" (WebAssembly; INVALID_ARGUMENT where it cannot run), "js", or
   * "auto" (the default: WebAssembly where it runs, else JavaScript). The cuts are the same.
   */
  engine?: "auto" | "wasm" | "js";
}

/** One chunk: `length` bytes from absolute offset `start`; `cut` is restic's `Chunk.Cut`. */
export interface ChunkBoundary {
  start: number;
  length: number;
  /** The fingerprint when the chunk was cut (for the last chunk: the fingerprint at the end). */
  cut: bigint;
}

/** Precomputed tables for one polynomial, all `table[b] = b * x^e mod P'` split in halves. */
class Tables {
  /** 53 - degree: the digest is kept multiplied by x^shift so its top byte is at bits 45..52. */
  readonly shift: number;
  readonly r0Hi: Int32Array; // a * x^53: reduces the byte that overflows a shift by 8
  readonly r0Lo: Int32Array;
  readonly r1Hi: Int32Array; // a * x^61: reduces the high byte that overflows a shift by 16
  readonly r1Lo: Int32Array;
  readonly o8Hi: Int32Array; // b * x^(8*64): removes the outgoing byte, one byte later
  readonly o8Lo: Int32Array;
  readonly o16Hi: Int32Array; // b * x^(8*65): the same, two bytes later
  readonly o16Lo: Int32Array;
  readonly inHi: Int32Array; // b * x^shift: the incoming byte
  readonly inLo: Int32Array;

  readonly #scaled: bigint;

  constructor(pol: bigint) {
    const d = deg(pol);
    this.shift = 53 - d;
    const scaled = pol << BigInt(this.shift);
    this.#scaled = scaled;
    [this.r0Hi, this.r0Lo] = linearTable(scaled, 53);
    [this.r1Hi, this.r1Lo] = linearTable(scaled, 61);
    [this.o8Hi, this.o8Lo] = linearTable(scaled, 8 * WINDOW_SIZE + this.shift);
    [this.o16Hi, this.o16Lo] = linearTable(scaled, 8 * (WINDOW_SIZE + 1) + this.shift);
    [this.inHi, this.inLo] = linearTable(scaled, this.shift);
  }

  #wasm: Uint32Array | undefined;

  /** rabin.wat's tables T0..T3 (x^53..x^77) and O0..O3 (x^(512+shift)..), u64 as lo, hi. */
  get wasm(): Uint32Array {
    if (this.#wasm === undefined) {
      const out = new Uint32Array(8 * 512);
      const tables = [this.r0Hi, this.r0Lo, this.r1Hi, this.r1Lo];
      const scaled = this.#scaled;
      tables.push(...linearTable(scaled, 69), ...linearTable(scaled, 77));
      tables.push(this.o8Hi, this.o8Lo, this.o16Hi, this.o16Lo);
      for (const e of [8 * (WINDOW_SIZE + 2), 8 * (WINDOW_SIZE + 3)]) {
        tables.push(...linearTable(scaled, e + this.shift));
      }
      for (let k = 0; k < 8; k++) {
        const hi = tables[2 * k];
        const lo = tables[2 * k + 1];
        for (let b = 0; b < 256; b++) {
          out[2 * (256 * k + b)] = lo[b];
          out[2 * (256 * k + b) + 1] = hi[b];
        }
      }
      this.#wasm = out;
    }
    return this.#wasm;
  }
}

/** table[b] = b * x^e mod m (m of degree 53), as hi/lo int32 halves. */
function linearTable(m: bigint, e: number): [Int32Array, Int32Array] {
  const top = 1n << 53n;
  // x^e mod m by repeated doubling, then the 8 basis values x^(e+j).
  let p = 1n;
  for (let i = 0; i < e; i++) {
    p <<= 1n;
    if (p & top) p ^= m;
  }
  const basis: bigint[] = [];
  for (let j = 0; j < 8; j++) {
    basis.push(p);
    p <<= 1n;
    if (p & top) p ^= m;
  }
  const hi = new Int32Array(256);
  const lo = new Int32Array(256);
  const full: bigint[] = new Array(256).fill(0n);
  for (let b = 1; b < 256; b++) {
    const low = 31 - Math.clz32(b & -b);
    full[b] = full[b & (b - 1)] ^ basis[low];
    hi[b] = Number(full[b] >> 32n) | 0;
    lo[b] = Number(full[b] & 0xffff_ffffn) | 0;
  }
  return [hi, lo];
}

const TABLE_CACHE_LIMIT = 16;
const tableCache = new Map<bigint, Tables>();

function tablesFor(pol: bigint): Tables {
  let t = tableCache.get(pol);
  if (t === undefined) {
    t = new Tables(pol);
    if (tableCache.size >= TABLE_CACHE_LIMIT) {
      const oldest = tableCache.keys().next().value;
      if (oldest !== undefined) tableCache.delete(oldest);
    }
    tableCache.set(pol, t);
  }
  return t;
}

// The scan functions pass the digest in and out through this scratch pair (hi, lo).
const DIGEST = new Int32Array(2);

// The tables of the degree-53 loop are module constants: V8 then embeds their addresses in the
// compiled loop instead of holding eight array pointers in registers (measured: ~2x faster).
// A chunker whose polynomial is not the one loaded copies its tables in (8 KiB) before scanning.
const R0_HI = new Int32Array(256);
const R0_LO = new Int32Array(256);
const R1_HI = new Int32Array(256);
const R1_LO = new Int32Array(256);
const O8_HI = new Int32Array(256);
const O8_LO = new Int32Array(256);
const O16_HI = new Int32Array(256);
const O16_LO = new Int32Array(256);
let loaded: Tables | null = null;

function load(t: Tables): void {
  R0_HI.set(t.r0Hi);
  R0_LO.set(t.r0Lo);
  R1_HI.set(t.r1Hi);
  R1_LO.set(t.r1Lo);
  O8_HI.set(t.o8Hi);
  O8_LO.set(t.o8Lo);
  O16_HI.set(t.o16Hi);
  O16_LO.set(t.o16Lo);
  loaded = t;
}

/**
 * Hash buf[i, end) with outgoing bytes read from buf itself (i >= window start + 64), for a
 * degree-53 polynomial whose tables are loaded and a split mask within the low 32 bits.
 * Returns the index just past the first byte whose digest matches the mask, or -1. Every
 * position in range may cut (the caller bounds `end` by MaxSize and starts past MinSize).
 * The digest after the last byte hashed is left in DIGEST.
 *
 * The shape is what V8 compiles well, measured: one loop, leaving by `break` to a separate
 * function. A second loop in this function, even after this one, halves the speed.
 */
function scan53(buf: Uint8Array, i: number, end: number, mask: number): number {
  let hi = DIGEST[0];
  let lo = DIGEST[1];
  const end2 = end - 1;
  // Two bytes per step. D = a*x^45 + c*x^37 + r (r < x^37); with outgoing o0, o1 and
  // incoming b0, b1:  D1 = D*x^8 + o0*x^512 + b0,
  //                   D2 = r*x^16 + a*x^61 + c*x^53 + o0*x^520 + o1*x^512 + b0*x^8 + b1.
  // D1 is only tested, from its low half; on a match step53 recomputes it in full and cuts.
  for (; i < end2; i += 2) {
    const o0 = buf[i - 64];
    const o1 = buf[i - 63];
    const b0 = buf[i];
    const b1 = buf[i + 1];
    const a = hi >>> 13;
    const c = (hi >>> 5) & 0xff;
    if (((O8_LO[o0] ^ ((lo << 8) | b0) ^ R0_LO[a]) & mask) === 0) break;
    const nhi = O16_HI[o0] ^ O8_HI[o1] ^ (((hi & 0x1f) << 16) | (lo >>> 16)) ^ R1_HI[a] ^ R0_HI[c];
    lo = O16_LO[o0] ^ O8_LO[o1] ^ ((lo << 16) | (b0 << 8) | b1) ^ R1_LO[a] ^ R0_LO[c];
    hi = nhi;
    if ((lo & mask) === 0) {
      DIGEST[0] = hi;
      DIGEST[1] = lo;
      return i + 2;
    }
  }
  DIGEST[0] = hi;
  DIGEST[1] = lo;
  // The odd last byte, or the first byte of the step that matched there (and so cuts).
  return i < end ? step53(buf, i, mask) : -1;
}

/** scan53 for the one byte buf[i]: returns i + 1 if it cuts, else -1. */
function step53(buf: Uint8Array, i: number, mask: number): number {
  const hi = DIGEST[0];
  const lo = DIGEST[1];
  const o = buf[i - 64];
  const a = hi >>> 13;
  DIGEST[0] = O8_HI[o] ^ (((hi & 0x1fff) << 8) | (lo >>> 24)) ^ R0_HI[a];
  DIGEST[1] = O8_LO[o] ^ ((lo << 8) | buf[i]) ^ R0_LO[a];
  return (DIGEST[1] & mask) === 0 ? i + 1 : -1;
}

/** Like scan53, one byte at a time, for any degree (8..53): the digest is scaled. */
function scanAny(
  buf: Uint8Array,
  i: number,
  end: number,
  t: Tables,
  maskLo: number,
  maskHi: number,
): number {
  const r0Hi = t.r0Hi;
  const r0Lo = t.r0Lo;
  const o8Hi = t.o8Hi;
  const o8Lo = t.o8Lo;
  const inHi = t.inHi;
  const inLo = t.inLo;
  let hi = DIGEST[0];
  let lo = DIGEST[1];
  for (; i < end; i++) {
    const o = buf[i - 64];
    const b = buf[i];
    const a = hi >>> 13;
    const nhi = o8Hi[o] ^ inHi[b] ^ (((hi & 0x1fff) << 8) | (lo >>> 24)) ^ r0Hi[a];
    lo = o8Lo[o] ^ inLo[b] ^ (lo << 8) ^ r0Lo[a];
    hi = nhi;
    if ((lo & maskLo) === 0 && (hi & maskHi) === 0) {
      DIGEST[0] = hi;
      DIGEST[1] = lo;
      return i + 1;
    }
  }
  DIGEST[0] = hi;
  DIGEST[1] = lo;
  return -1;
}

function checkSize(value: unknown, name: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < WINDOW_SIZE) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `chunker ${name} must be an integer of at least ${WINDOW_SIZE}`,
      { [name]: String(value) },
    );
  }
  return value;
}

function splitMaskOf(opts: ChunkerOptions): bigint {
  if (opts.splitMask !== undefined && opts.averageBits !== undefined) {
    throw new ResticTsError("INVALID_ARGUMENT", "give either splitMask or averageBits, not both");
  }
  if (opts.splitMask !== undefined) {
    const m = opts.splitMask;
    if (typeof m !== "bigint" || m < 0n || m > UINT64_MASK) {
      throw new ResticTsError("INVALID_ARGUMENT", "chunker splitMask must be a uint64 bigint", {
        splitMask: String(m),
      });
    }
    return m;
  }
  const bits = opts.averageBits ?? AVERAGE_BITS;
  if (!Number.isInteger(bits) || bits < 0 || bits > 64) {
    throw new ResticTsError("INVALID_ARGUMENT", "chunker averageBits must be an integer 0..64", {
      averageBits: String(bits),
    });
  }
  return (1n << BigInt(bits)) - 1n;
}

/**
 * restic's chunker as a pure split-point finder. Feed the input in order, in buffers of any
 * size; `next` reports where chunks end. The cut points depend only on the bytes, never on how
 * they were split into buffers. Nothing is copied; buffers need not outlive the call.
 */
export class Chunker {
  readonly polynomial: bigint;
  readonly minSize: number;
  readonly maxSize: number;
  readonly splitMask: bigint;

  readonly #tables: Tables;
  readonly #fast: boolean;
  readonly #wasm: RabinWasm | null;
  readonly #wasmMask: bigint;
  readonly #wasmShift: bigint;
  readonly #maskLo: number;
  readonly #maskHi: number;
  /** The last 64 window bytes, oldest first; outgoing bytes for the start of each buffer. */
  readonly #tail = new Uint8Array(WINDOW_SIZE);
  #pos = 0;
  #start = 0;
  #hi = 0;
  #lo = 0;
  #cutHi = 0;
  #cutLo = 0;

  /**
   * @param pol the repository's chunker polynomial, of degree 8..53 (restic's are 53).
   * Throws INVALID_ARGUMENT for other polynomials or bad options.
   */
  constructor(pol: bigint, opts: ChunkerOptions = {}) {
    if (typeof pol !== "bigint" || pol < 0n || pol > UINT64_MASK) {
      throw new ResticTsError("INVALID_ARGUMENT", "chunker polynomial must be a uint64 bigint", {
        polynomial: String(pol),
      });
    }
    const d = deg(pol);
    if (d < 8 || d > 53) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `chunker polynomial ${pol.toString(16)} has degree ${d}; restic needs 8..53`,
        { polynomial: pol.toString(16), degree: d },
      );
    }
    this.polynomial = pol;
    this.minSize = checkSize(opts.minSize ?? MIN_SIZE, "minSize");
    this.maxSize = checkSize(opts.maxSize ?? MAX_SIZE, "maxSize");
    if (this.maxSize < this.minSize) {
      throw new ResticTsError("INVALID_ARGUMENT", "chunker maxSize is below minSize", {
        minSize: this.minSize,
        maxSize: this.maxSize,
      });
    }
    this.splitMask = splitMaskOf(opts);
    this.#tables = tablesFor(pol);
    const scaled = (this.splitMask << BigInt(this.#tables.shift)) & ((1n << 53n) - 1n);
    this.#maskLo = Number(scaled & 0xffff_ffffn) | 0;
    this.#maskHi = Number(scaled >> 32n) | 0;
    this.#fast = this.#tables.shift === 0 && this.#maskHi === 0;
    this.#wasmMask = scaled;
    this.#wasmShift = BigInt(this.#tables.shift);
    const engine = opts.engine ?? "auto";
    if (engine !== "auto" && engine !== "wasm" && engine !== "js") {
      throw new ResticTsError("INVALID_ARGUMENT", "chunker engine must be auto, wasm or js", {
        engine: String(engine),
      });
    }
    this.#wasm = engine === "js" ? null : RabinWasm.get();
    if (engine === "wasm" && this.#wasm === null) {
      throw new ResticTsError("INVALID_ARGUMENT", "the WebAssembly chunker cannot run here");
    }
    this.reset();
  }

  /** The loop that hashes: "wasm" or "js". */
  get engine(): "wasm" | "js" {
    return this.#wasm === null ? "js" : "wasm";
  }

  /** Start over at offset 0 (a new input). */
  reset(): void {
    this.#pos = 0;
    this.#cutHi = 0;
    this.#cutLo = 0;
    this.#newChunk();
  }

  #newChunk(): void {
    this.#start = this.#pos;
    this.#tail.fill(0);
    this.#tail[WINDOW_SIZE - 1] = 1;
    this.#hi = this.#tables.inHi[1];
    this.#lo = this.#tables.inLo[1];
  }

  /** Absolute offset of the next byte to be fed (= bytes fed so far). */
  get position(): number {
    return this.#pos;
  }

  /** Absolute offset where the pending (not yet cut) chunk starts. */
  get chunkStart(): number {
    return this.#start;
  }

  /** The current fingerprint, as restic's chunker holds it. */
  get digest(): bigint {
    return this.#unscale(this.#hi, this.#lo);
  }

  /** The fingerprint at the most recent cut (restic's `Chunk.Cut`); 0 before any cut. */
  get cutDigest(): bigint {
    return this.#unscale(this.#cutHi, this.#cutLo);
  }

  #unscale(hi: number, lo: number): bigint {
    const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    return v >> BigInt(this.#tables.shift);
  }

  /**
   * Consume buf[from, to) up to and including the next cut point. Returns the index in `buf`
   * just past the cut (the chunk ends there and the next one starts there: call again with
   * `from` set to it), or -1 if all of buf[from, to) was consumed without a cut.
   * `position` is then the absolute offset of the cut (or of `to`).
   */
  next(buf: Uint8Array, from = 0, to: number = buf.length): number {
    if (!(buf instanceof Uint8Array)) {
      throw new ResticTsError("INVALID_ARGUMENT", "chunker input must be a Uint8Array");
    }
    if (
      !Number.isInteger(from) ||
      !Number.isInteger(to) ||
      from < 0 ||
      to > buf.length ||
      from > to
    ) {
      throw new ResticTsError("INVALID_ARGUMENT", "chunker range out of bounds", {
        from,
        to,
        length: buf.length,
      });
    }
    let i = from;
    let count = this.#pos - this.#start;
    // 1. The first MinSize-64 bytes of a chunk are not hashed.
    const skip = this.minSize - WINDOW_SIZE - count;
    if (skip > 0) {
      if (skip >= to - i) {
        this.#pos += to - i;
        return -1;
      }
      i += skip;
      count += skip;
    }
    // Hashing: `limit` is where the chunk reaches MaxSize.
    const t = this.#tables;
    const maskLo = this.#maskLo;
    const maskHi = this.#maskHi;
    const limit = i + (this.maxSize - count);
    const end = Math.min(limit, to);
    const segStart = i;
    const tail = this.#tail;
    let cut = -1;
    // 2. The first 64 bytes of this buffer push out window bytes kept from before.
    {
      const pEnd = Math.min(end, segStart + WINDOW_SIZE);
      const r0Hi = t.r0Hi;
      const r0Lo = t.r0Lo;
      const o8Hi = t.o8Hi;
      const o8Lo = t.o8Lo;
      const inHi = t.inHi;
      const inLo = t.inLo;
      const minEnd = segStart + (this.minSize - count); // first index whose cut is allowed, + 1
      let hi = this.#hi;
      let lo = this.#lo;
      for (; i < pEnd; i++) {
        const o = tail[i - segStart];
        const b = buf[i];
        const a = hi >>> 13;
        const nhi = o8Hi[o] ^ inHi[b] ^ (((hi & 0x1fff) << 8) | (lo >>> 24)) ^ r0Hi[a];
        lo = o8Lo[o] ^ inLo[b] ^ (lo << 8) ^ r0Lo[a];
        hi = nhi;
        if ((lo & maskLo) === 0 && (hi & maskHi) === 0 && i + 1 >= minEnd) {
          cut = i + 1;
          break;
        }
      }
      DIGEST[0] = hi;
      DIGEST[1] = lo;
    }
    // 3. The rest reads outgoing bytes from buf; every position may cut (count > MinSize).
    if (cut < 0 && i < end) {
      if (this.#wasm !== null) {
        cut = this.#wasm.scan(buf, i, end, t.wasm, this.#wasmMask, this.#wasmShift, DIGEST);
      } else if (this.#fast) {
        if (loaded !== t) load(t);
        cut = scan53(buf, i, end, maskLo);
      } else {
        cut = scanAny(buf, i, end, t, maskLo, maskHi);
      }
    }
    // 4. MaxSize reached without a fingerprint match.
    if (cut < 0 && end === limit) cut = limit;
    if (cut >= 0) {
      this.#cutHi = DIGEST[0];
      this.#cutLo = DIGEST[1];
      this.#pos += cut - from;
      this.#newChunk();
      return cut;
    }
    this.#hi = DIGEST[0];
    this.#lo = DIGEST[1];
    this.#pos += to - from;
    const m = to - segStart;
    if (m >= WINDOW_SIZE) {
      tail.set(buf.subarray(to - WINDOW_SIZE, to));
    } else {
      tail.copyWithin(0, m);
      tail.set(buf.subarray(segStart, to), WINDOW_SIZE - m);
    }
    return -1;
  }

  /** Feed all of `buf`; returns the absolute offsets of the cuts found in it. */
  cuts(buf: Uint8Array): number[] {
    const out: number[] = [];
    let i = 0;
    for (;;) {
      const c = this.next(buf, i, buf.length);
      if (c < 0) return out;
      out.push(this.#pos);
      i = c;
    }
  }

  /**
   * End of input: the pending chunk (the last one, which may be shorter than minSize), or
   * null when the input ended exactly at a cut. Resets the chunker to offset 0.
   */
  finish(): ChunkBoundary | null {
    const length = this.#pos - this.#start;
    const last = length > 0 ? { start: this.#start, length, cut: this.digest } : null;
    this.reset();
    return last;
  }
}

/** All chunks of `data` (restic's split of a file with this content). */
export function chunkBoundaries(
  data: Uint8Array,
  pol: bigint,
  opts?: ChunkerOptions,
): ChunkBoundary[] {
  const c = new Chunker(pol, opts);
  const out: ChunkBoundary[] = [];
  let i = 0;
  let start = 0;
  for (;;) {
    const cut = c.next(data, i, data.length);
    if (cut < 0) break;
    out.push({ start, length: c.position - start, cut: c.cutDigest });
    start = c.position;
    i = cut;
  }
  const last = c.finish();
  if (last) out.push(last);
  return out;
}
