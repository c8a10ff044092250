// The blob engine writing its packs to temp files as they grow (EngineConfig.packFiles, the
// local-repository path): every pack file is a valid restic pack named by its SHA-256 whose
// header lists exactly its blobs, each blob opens to its chunk, and the packs hold the same
// blobs in the same places as packs built whole in memory. With small chunks every blob goes
// through the engine's stage; with large ones the random chunks are sealed in zstd's output
// area and written from there (compressed or, in repository v1, not), the text ones staged.

import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkBoundaries } from "../../../src/chunker/index.js";
import {
  encodeMasterKey,
  type MasterKey,
  newMasterKey,
  openInPlace,
} from "../../../src/crypto/master-key.js";
import { decompress } from "../../../src/repo/compression.js";
import { parsePackHeader } from "../../../src/repo/pack.js";
import { BlobEngine, packCapacity } from "../../../src/repo/workers/engine.js";
import type { EngineConfig, FinishedPack } from "../../../src/repo/workers/protocol.js";
import { tempDir } from "../../helpers/tmp.js";

const POL = 0x3da3358b4dc173n;
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

interface Variant {
  chunks: { minSize: number; maxSize: number };
  repoVersion: 1 | 2;
}

function cfg(key: MasterKey, packFiles: boolean, v: Variant): EngineConfig {
  return {
    key: encodeMasterKey(key),
    polynomial: POL,
    repoVersion: v.repoVersion,
    zstdLevel: v.repoVersion >= 2 ? 1 : undefined,
    // larger than the engine's stage: packs are written out in several steps
    packSize: 2560 * 1024,
    ...v.chunks,
    readSize: 16 * 1024,
    packFiles,
  };
}

describe.each([
  { name: "small chunks, v2", chunks: { minSize: 4096, maxSize: 65536 }, repoVersion: 2 },
  { name: "large chunks, v2", chunks: { minSize: 256 * 1024, maxSize: 1 << 21 }, repoVersion: 2 },
  { name: "large chunks, v1", chunks: { minSize: 256 * 1024, maxSize: 1 << 21 }, repoVersion: 1 },
] as (Variant & { name: string })[])("packs written to temp files as they grow: $name", (v) => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let input: Buffer;
  let source: string;
  beforeAll(async () => {
    tmp = await tempDir("restic-ts-packfiles-");
    // random (stored as is) and text (compressed) blobs, more than a few packs' worth
    const text = Buffer.from(
      "a line of log text that compresses well, again and again\n".repeat(30_000),
    );
    input = Buffer.concat([randomBytes(6_000_000), text, randomBytes(2_000_000)]);
    source = path.join(tmp.dir, "input.bin");
    writeFileSync(source, input);
  });
  afterAll(async () => {
    await tmp?.cleanup();
  });

  async function run(key: MasterKey, packFiles: boolean) {
    const c = cfg(key, packFiles, v);
    const packs: FinishedPack[] = [];
    const fds: number[] = [];
    let n = 0;
    const engine = await BlobEngine.create(c, {
      claim: (ids) => new Uint8Array(ids.length).fill(1),
      takeBuffer: () => new ArrayBuffer(packCapacity(c)),
      takeFile: () => {
        const file = path.join(tmp.dir, `pack-${packFiles}-${n++}`);
        const fd = openSync(file, "w+");
        fds.push(fd);
        return { path: file, fd };
      },
      packFinished: (p) => packs.push(p),
    });
    const [result] = engine.processFiles([{ ref: 1, path: source }]);
    engine.flush();
    for (const fd of fds) closeSync(fd);
    return { packs, result };
  }

  function packBytes(p: FinishedPack): Uint8Array {
    return "path" in p
      ? new Uint8Array(readFileSync(p.path))
      : new Uint8Array(p.buffer, 0, p.length).slice();
  }

  it("each pack file is a restic pack named by its SHA-256, its blobs the file's chunks", async () => {
    const key = newMasterKey();
    const { packs, result } = await run(key, true);
    expect(packs.length).toBeGreaterThan(3);
    const chunks = chunkBoundaries(input, POL, v.chunks).map((b) =>
      input.subarray(b.start, b.start + b.length),
    );
    expect(result.content).toEqual(chunks.map(sha256));
    const seen: string[] = [];
    for (const p of packs) {
      expect("path" in p).toBe(true);
      const bytes = packBytes(p);
      expect(bytes.length).toBe(p.length);
      expect(sha256(bytes)).toBe(p.id);
      const headerLen = new DataView(bytes.buffer).getUint32(bytes.length - 4, true);
      const sealedHeader = bytes.slice(bytes.length - 4 - headerLen, bytes.length - 4);
      const entries = parsePackHeader(openInPlace(key, sealedHeader));
      expect(entries.map((e) => [e.id, e.offset, e.length, e.uncompressedLength])).toEqual(
        p.blobs.map((b) => [b.id, b.offset, b.length, b.uncompressedLength]),
      );
      for (const e of entries) {
        let plain = openInPlace(key, bytes.slice(e.offset, e.offset + e.length));
        if (e.uncompressedLength !== undefined)
          plain = await decompress(plain, e.uncompressedLength);
        expect(sha256(plain)).toBe(e.id);
        seen.push(e.id);
      }
    }
    expect(seen.sort()).toEqual([...new Set(result.content)].sort());
    // the large variants seal some blobs outside the stage (over 256 KiB sealed)
    const direct = packs.flatMap((p) => p.blobs).filter((b) => b.length > 256 * 1024);
    expect(direct.length > 0).toBe(v.chunks.maxSize > 256 * 1024);
  });

  it("puts the same blobs in the same places as packs built in memory", async () => {
    const key = newMasterKey();
    const files = await run(key, true);
    const memory = await run(key, false);
    expect(memory.packs.every((p) => "buffer" in p)).toBe(true);
    const layout = (ps: FinishedPack[]) =>
      ps.map((p) => [p.length, p.blobs.map((b) => [b.id, b.offset, b.length])]);
    expect(layout(files.packs)).toEqual(layout(memory.packs));
    expect(files.result.content).toEqual(memory.result.content);
  });
});
