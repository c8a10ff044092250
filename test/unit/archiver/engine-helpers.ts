// Blob engines for tests: small chunker sizes, packs kept in memory, claims that say "new" for
// each ID seen the first time.

import { encodeMasterKey, newMasterKey } from "../../../src/crypto/master-key.js";
import { BlobEngine, packCapacity } from "../../../src/repo/workers/engine.js";
import type { EngineConfig } from "../../../src/repo/workers/protocol.js";

export const POL = 0x3da3358b4dc173n;
export const SMALL = { minSize: 4096, maxSize: 65536 };

export function engineConfig(extra: Partial<EngineConfig> = {}): EngineConfig {
  return {
    key: encodeMasterKey(newMasterKey()),
    polynomial: POL,
    repoVersion: 2,
    zstdLevel: 1,
    packSize: 256 * 1024,
    minSize: SMALL.minSize,
    maxSize: SMALL.maxSize,
    readSize: 16 * 1024,
    ...extra,
  };
}

/** An inline engine; `stored` collects the IDs it was told to store. */
export async function inlineEngine(
  c: EngineConfig,
): Promise<{ e: BlobEngine; stored: Set<string> }> {
  const stored = new Set<string>();
  const e = await BlobEngine.create(c, {
    claim: (ids) =>
      Uint8Array.from(ids, (id) => {
        if (stored.has(id)) return 0;
        stored.add(id);
        return 1;
      }),
    takeBuffer: () => new ArrayBuffer(packCapacity(c)),
    takeFile: () => {
      throw new Error("packs stay in memory here");
    },
    packFinished: () => {},
  });
  return { e, stored };
}
