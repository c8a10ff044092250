// The Rabin chunker's inner loop in WebAssembly (rabin.wat, assembled into
// rabin-wasm.generated.ts): restic/chunker v0.4.0's rolling fingerprint on native 64-bit
// integers, four bytes per step for degree-53 polynomials. rabin.ts feeds it blocks of the
// input copied into its memory (a memory copy costs a few percent of the scan) and keeps the
// JavaScript loop as the fallback where WebAssembly is not available.

import { RABIN_WASM_BASE64 } from "./rabin-wasm.generated.js";

/** Memory layout of rabin.wat. */
const TABLES_BYTES = 0x4000;
const BASE = 0x4040;
/** Input bytes per call (the block after the 64 window bytes at 0x4000). */
export const WASM_BLOCK = 512 * 1024;

// The few WebAssembly JS API members used here (TypeScript's ES2022 lib has no declarations).
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: object };
};

interface Exports {
  memory: { buffer: ArrayBuffer };
  digest: { value: bigint };
  scan(i: number, end: number, mask: bigint, shift: bigint): number;
}

/** One instance per thread; its memory never grows, so the views stay valid. */
export class RabinWasm {
  readonly #ex: Exports;
  readonly #mem: Uint8Array;
  readonly #tables: Uint32Array;
  #loaded: Uint32Array | null = null;

  private constructor(ex: Exports) {
    this.#ex = ex;
    this.#mem = new Uint8Array(ex.memory.buffer);
    this.#tables = new Uint32Array(ex.memory.buffer, 0, TABLES_BYTES / 4);
  }

  static #instance: RabinWasm | null | undefined;

  /** The thread's instance, or null where WebAssembly cannot run it. */
  static get(): RabinWasm | null {
    if (RabinWasm.#instance === undefined) {
      try {
        const module = new WebAssembly.Module(Buffer.from(RABIN_WASM_BASE64, "base64"));
        const ex = new WebAssembly.Instance(module).exports as unknown as Exports;
        RabinWasm.#instance =
          ex.memory.buffer.byteLength >= BASE + WASM_BLOCK ? new RabinWasm(ex) : null;
      } catch {
        RabinWasm.#instance = null;
      }
    }
    return RabinWasm.#instance;
  }

  /**
   * Hash buf[i, end) with the tables `tables` (T0..T3, O0..O3 as u64 halves, lo first; see
   * rabin.wat), starting from the scaled digest digest[0] (hi) / digest[1] (lo), which is
   * updated. buf[i - 64, i) must be the window's bytes. Returns the index in buf just past the
   * first byte whose digest has no bit of `mask` set, or -1.
   */
  scan(
    buf: Uint8Array,
    i: number,
    end: number,
    tables: Uint32Array,
    mask: bigint,
    shift: bigint,
    digest: Int32Array,
  ): number {
    if (this.#loaded !== tables) {
      this.#tables.set(tables);
      this.#loaded = tables;
    }
    const ex = this.#ex;
    const mem = this.#mem;
    ex.digest.value = (BigInt(digest[0] >>> 0) << 32n) | BigInt(digest[1] >>> 0);
    let cut = -1;
    while (i < end) {
      const n = Math.min(WASM_BLOCK, end - i);
      mem.set(buf.subarray(i - 64, i + n), BASE - 64);
      const c = ex.scan(BASE, BASE + n, mask, shift);
      if (c >= 0) {
        cut = i + (c - BASE);
        break;
      }
      i += n;
    }
    const d = ex.digest.value;
    digest[0] = Number(d >> 32n) | 0;
    digest[1] = Number(d & 0xffff_ffffn) | 0;
    return cut;
  }
}
