// scrypt (RFC 7914) with its ROMix in WebAssembly SIMD (scrypt.wat, assembled into
// scrypt-wasm.generated.ts): the KDF of restic's key files (kdf.ts) in less memory. With the
// trade-off k (1, 2, 4 or 8) the table V holds only every k-th of its N entries, 128·N·r/k
// bytes instead of 128·N·r, for (k - 1)/2 extra BlockMix steps per step of ROMix's second loop
// on average: 1, 1.25, 1.75, 2.75 times the mixing for k = 1, 2, 4, 8.
//
// PBKDF2-HMAC-SHA256 (one iteration) runs in node:crypto, one lane (or, with lanes: 2, two
// lanes) at a time: lane i of B is PBKDF2 blocks 4r·i + 1 .. 4r·(i + 1), and the final PBKDF2
// takes the mixed lanes as a stream, so the p lanes share the table(s) and memory does not grow
// with p. The module's memory grows to (5 + N/k)·128·r bytes (twice that with two lanes) as
// needed and goes with the instance (to the garbage collector) after each call, zeroed first.
// Unlike OpenSSL it accepts N >= 2^(16r), as Go's scrypt (restic) does.

import { createHmac, type Hmac } from "node:crypto";
import { ResticTsError } from "../errors.js";
import { adviseHugePages } from "../huge-pages.js";
import { type KdfParams, validateKdfParams } from "./kdf.js";
import { SCRYPT_WASM_BASE64 } from "./scrypt-wasm.generated.js";

/** How many of V's entries share one stored entry (1 = the full table). */
export type ScryptTradeoff = 1 | 2 | 4 | 8;

export interface ScryptWasmOptions {
  /** Default 1: the full 128·N·r table. */
  tradeoff?: ScryptTradeoff;
  /**
   * Ask for transparent huge pages under the table (huge-pages.ts: loads koffi). On virtual
   * machines a fresh 4 KiB page costs a fault of ~15-20 µs, ~150 ms for a 32 MiB table.
   */
  hugePages?: boolean;
  /**
   * Mix two of the p lanes at once (default 1: one). One Salsa20/8 chain leaves the CPU's
   * vector units mostly idle, so two interleaved lanes cost about the time of one; each needs
   * its own table, so 2 doubles the memory for a given trade-off. No effect when p = 1.
   */
  lanes?: 1 | 2;
}

// The few WebAssembly JS API members used here (TypeScript's ES2022 lib has no declarations).
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
};

interface Exports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  smix(r: number, N: number, klog: number): void;
  smix2(r: number, N: number, klog: number): void;
}

const PAGE = 65536;
const TRADEOFFS: readonly number[] = [1, 2, 4, 8];

let compiled: object | undefined;

/** The compiled module (kept: 3.5 KB), or UNSUPPORTED where WebAssembly SIMD is not there. */
function scryptModule(): object {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(Buffer.from(SCRYPT_WASM_BASE64, "base64"));
    } catch (err) {
      throw new ResticTsError(
        "UNSUPPORTED",
        "WebAssembly SIMD is not available for scrypt",
        {},
        { cause: err },
      );
    }
  }
  return compiled;
}

/** HMAC-SHA256(key, ...parts). */
function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac("sha256", key);
  for (const part of parts) h.update(part);
  return h.digest();
}

function be32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

/**
 * scrypt(password, salt, N, r, p) -> `length` bytes, the same as node:crypto.scrypt (and Go's
 * scrypt.Key) for any parameters validateKdfParams accepts. Synchronous, on the calling thread:
 * 2·N·p·(1 + (k-1)/4) BlockMix steps on average (lanes: 2 runs two of them in about the time
 * of one). Passwords are taken as UTF-8 (no normalisation).
 */
export function scryptWasm(
  password: string | Uint8Array,
  salt: Uint8Array,
  params: KdfParams,
  length: number,
  options: ScryptWasmOptions = {},
): Uint8Array {
  validateKdfParams(params);
  if (!Number.isSafeInteger(length) || length < 1 || length > 1024) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `scrypt output length must be 1..1024, got ${length}`,
    );
  }
  const tradeoff = options.tradeoff ?? 1;
  if (!TRADEOFFS.includes(tradeoff)) {
    throw new ResticTsError("INVALID_ARGUMENT", `scrypt trade-off must be 1, 2, 4 or 8`, {
      tradeoff,
    });
  }
  if (!(salt instanceof Uint8Array)) {
    throw new ResticTsError("INVALID_ARGUMENT", "scrypt salt must be bytes");
  }
  const pw = typeof password === "string" ? new TextEncoder().encode(password) : password;
  const { N, r, p } = params;
  const k = Math.min(tradeoff, N);
  const klog = Math.log2(k);
  const blk = 128 * r;

  const lanes = options.lanes ?? 1;
  if (lanes !== 1 && lanes !== 2) {
    throw new ResticTsError("INVALID_ARGUMENT", "scrypt lanes must be 1 or 2", { lanes });
  }
  const paired = lanes === 2 && p >= 2;

  const ex = new WebAssembly.Instance(scryptModule()).exports as unknown as Exports;
  // scrypt.wat's layouts: smix (5 + N/k)·blk bytes, smix2 (10 + 2·N/k)·blk
  const bytes = (paired ? 10 + (2 * N) / k : 5 + N / k) * blk;
  const pages = Math.ceil(bytes / PAGE) - ex.memory.buffer.byteLength / PAGE;
  if (pages > 0) ex.memory.grow(pages);
  if (options.hugePages) adviseHugePages(ex.memory.buffer);
  const mem = new Uint8Array(ex.memory.buffer, 0, bytes);

  // the final PBKDF2: output block l is HMAC(password, B || INT(l)), B fed lane by lane
  const outs: Hmac[] = [];
  for (let l = 0; l < Math.ceil(length / 32); l++) outs.push(createHmac("sha256", pw));
  try {
    for (let lane = 0; lane < p; ) {
      const n = paired && lane + 1 < p ? 2 : 1;
      // lane i of B is PBKDF2 blocks 4r·i + 1 .. 4r·(i + 1); n lanes at address 0
      for (let b = 0; b < 4 * r * n; b++) {
        mem.set(hmac(pw, salt, be32(lane * 4 * r + b + 1)), 32 * b);
      }
      if (n === 2) ex.smix2(r, N, klog);
      else ex.smix(r, N, klog);
      for (const h of outs) h.update(mem.subarray(0, n * blk));
      lane += n;
    }
  } finally {
    mem.fill(0);
  }
  const out = new Uint8Array(length);
  outs.forEach((h, l) => {
    out.set(
      h
        .update(be32(l + 1))
        .digest()
        .subarray(0, length - 32 * l),
      32 * l,
    );
  });
  return out;
}
