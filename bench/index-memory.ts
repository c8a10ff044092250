// Memory (and speed) of the in-memory master index: bytes per indexed blob for N synthetic
// blobs with random IDs, 100 blobs per pack, a tenth of them trees, half compressed. restic
// 0.14 documents < 64 bytes per blob for its own index (internal/repository/index.go).
//
//   npx tsc -p tsconfig.build.json --outDir /tmp/rts && node --expose-gc /tmp/rts/bench/index-memory.js [N]

import { randomBytes } from "node:crypto";
import { type BlobInPack, MasterIndex } from "../src/repo/master-index.js";

const N = Number(process.argv[2] ?? 1_000_000);
const PER_PACK = 100;

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) {
  console.error("run with node --expose-gc");
  process.exit(1);
}

function used(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

const before = used();
const mi = new MasterIndex();
const t0 = performance.now();
let sample: string[] = [];
for (let p = 0; p < N / PER_PACK; p++) {
  const ids = randomBytes(32 * PER_PACK).toString("hex");
  const blobs: BlobInPack[] = [];
  let offset = 0;
  for (let i = 0; i < PER_PACK; i++) {
    const length = 1000 + ((p * 7 + i) % 5000);
    blobs.push({
      type: i % 10 === 0 ? "tree" : "data",
      id: ids.slice(i * 64, i * 64 + 64),
      offset,
      length,
      ...(i % 2 === 0 ? { uncompressedLength: length * 2 } : {}),
    });
    offset += length;
  }
  if (p % 100 === 0) sample.push(blobs[1].id);
  mi.add(randomBytes(32).toString("hex"), blobs);
}
const addMs = performance.now() - t0;
const after = used();

const t1 = performance.now();
let found = 0;
const rounds = 1_000_000 / Math.max(1, sample.length);
for (let r = 0; r < rounds; r++) for (const id of sample) if (mi.has("data", id)) found++;
const lookupNs = ((performance.now() - t1) * 1e6) / (rounds * sample.length);
sample = [];

const bytesPerBlob = (after - before) / N;
console.log(
  JSON.stringify({
    blobs: mi.size,
    packs: mi.packCount,
    bytesPerBlob: Math.round(bytesPerBlob * 10) / 10,
    addNsPerBlob: Math.round((addMs * 1e6) / N),
    hasNsPerLookup: Math.round(lookupNs),
    found: found > 0,
  }),
);
