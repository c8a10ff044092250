// A deliberately plain model of restic/chunker v0.4.0's Next loop, for cross-checking
// src/chunker/rabin.ts on small inputs: one bigint digest, a 64-byte ring window, restic's
// out/mod tables built exactly as its fillTables describes them. Slow; small inputs only.

import type { ChunkBoundary } from "../../../src/chunker/index.js";

function deg(x: bigint): number {
  return x === 0n ? -1 : x.toString(2).length - 1;
}

function polMod(x: bigint, d: bigint): bigint {
  const dd = deg(d);
  for (let dx = deg(x); dx >= dd; dx = deg(x)) x ^= d << BigInt(dx - dd);
  return x;
}

export interface ReferenceOptions {
  minSize: number;
  maxSize: number;
  splitMask: bigint;
}

export function referenceChunks(
  data: Uint8Array,
  pol: bigint,
  { minSize, maxSize, splitMask }: ReferenceOptions,
): ChunkBoundary[] {
  const k = deg(pol);
  const polShift = BigInt(k - 8);
  const out: bigint[] = [];
  const modT: bigint[] = [];
  for (let b = 0; b < 256; b++) {
    let h = polMod(BigInt(b), pol);
    for (let i = 0; i < 63; i++) h = polMod(h << 8n, pol);
    out.push(h);
    modT.push(polMod(BigInt(b) << BigInt(k), pol) | (BigInt(b) << BigInt(k)));
  }
  const chunks: ChunkBoundary[] = [];
  const window = new Uint8Array(64);
  let wpos = 0;
  let digest = 0n;
  let count = 0;
  let start = 0;
  let pre = 0;
  const slide = (b: number): void => {
    const o = window[wpos];
    window[wpos] = b;
    wpos = (wpos + 1) % 64;
    digest ^= out[o];
    const index = digest >> polShift;
    digest = ((digest << 8n) & ((1n << 64n) - 1n)) | BigInt(b);
    digest ^= modT[Number(index)];
  };
  const reset = (): void => {
    window.fill(0);
    wpos = 0;
    digest = 0n;
    count = 0;
    slide(1);
    pre = minSize - 64;
  };
  reset();
  for (let i = 0; i < data.length; i++) {
    count++;
    if (pre > 0) {
      pre--;
      continue;
    }
    slide(data[i]);
    if ((digest & splitMask) === 0n || count >= maxSize) {
      if (count < minSize) continue;
      chunks.push({ start, length: count, cut: digest });
      start = i + 1;
      reset();
    }
  }
  if (count > 0) chunks.push({ start, length: count, cut: digest });
  return chunks;
}
