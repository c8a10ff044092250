import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBackend } from "../../../src/backends/mem.js";
import { chunkBoundaries } from "../../../src/chunker/index.js";
import { backup } from "../../../src/repo/archiver.js";
import { Repository } from "../../../src/repo/repository.js";
import { BlobPool, GROW_AFTER } from "../../../src/repo/workers/pool.js";
import type { FileResult, FinishedPack } from "../../../src/repo/workers/protocol.js";
import { mergeSegments, planSegments, segmentTasks } from "../../../src/repo/workers/split.js";
import { tempDir } from "../../helpers/tmp.js";
import { engineConfig, inlineEngine, POL, SMALL } from "./engine-helpers.js";

const cfg = () => engineConfig();
const engine = inlineEngine;

function expectedIds(data: Uint8Array): string[] {
  return chunkBoundaries(data, POL, SMALL).map((b) =>
    createHash("sha256")
      .update(data.subarray(b.start, b.start + b.length))
      .digest("hex"),
  );
}

/** Run every segment of `file` on its own engine, in `order`, and merge the results. */
async function runSegments(file: string, size: number, order: number[]): Promise<FileResult> {
  const c = cfg();
  const starts = planSegments(size, 3, c.maxSize, 256 * 1024);
  expect(starts.length).toBe(3);
  const tasks = segmentTasks(starts, size, c.minSize, c.maxSize);
  const results: FileResult[] = [];
  for (const i of order) {
    const { e } = await engine(c);
    results[i] = e.processFiles([{ ref: 7, path: file, segment: tasks[i] }])[0];
    e.flush();
  }
  return mergeSegments(7, results);
}

describe("a large file split over several workers", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  const files: Record<string, Buffer> = {};
  beforeAll(async () => {
    tmp = await tempDir("restic-ts-split-");
    files.random = randomBytes(1_500_000);
    files.zeros = Buffer.alloc(1_200_000);
    // random, then a long run of zeros, then random: cut sequences meet in different ways
    files.mixed = Buffer.concat([
      randomBytes(400_000),
      Buffer.alloc(500_000),
      randomBytes(300_001),
    ]);
    for (const [name, data] of Object.entries(files)) writeFileSync(path.join(tmp.dir, name), data);
  });
  afterAll(() => tmp.cleanup());

  for (const name of ["random", "zeros", "mixed"]) {
    for (const order of [
      [2, 1, 0],
      [0, 1, 2],
      [1, 0, 2],
    ]) {
      it(`${name}, segments run in order ${order.join(",")}: restic's chunks of the whole file`, async () => {
        const data = files[name];
        const r = await runSegments(path.join(tmp.dir, name), data.length, order);
        expect(r.error).toBeUndefined();
        expect(r.size).toBe(data.length);
        expect(r.content).toEqual(expectedIds(data));
        expect(r.stat?.mtimeNs).toBeTypeOf("bigint");
      });
    }
  }

  it("segment starts are multiples of MaxSize; small files are not split", () => {
    // segment 0 also chunks segment 1's lead (2 MiB here): it gets that much less
    expect(planSegments(10 << 20, 2, 1 << 20, 4 << 20)).toEqual([0, 4 << 20]);
    expect(planSegments(3 << 20, 2, 1 << 20, 4 << 20)).toEqual([0]);
    for (const s of planSegments(100_000_000, 4, 8 << 20, 1 << 20)) expect(s % (8 << 20)).toBe(0);
  });

  it("backup() with two workers stores the same tree as with none", async () => {
    const trees: string[] = [];
    const masterRepo = await Repository.init(new MemoryBackend(), "pw", {
      version: 2,
      kdf: { N: 1024, r: 1, p: 1 },
    });
    for (const threads of [0, 2]) {
      const r = await backup(masterRepo, ["random", "mixed", "zeros"], {
        cwd: tmp.dir,
        threads,
        chunker: SMALL,
        packSize: 200_000,
        splitSize: 300_000,
        force: true,
        time: new Date("2026-01-01T00:00:00Z"),
      });
      expect(r.errors).toEqual([]);
      trees.push(r.snapshot.tree as string);
    }
    expect(trees[1]).toBe(trees[0]);
    const indexed = await masterRepo.loadIndex();
    const root = await indexed.loadTree(trees[1]);
    for (const node of root.nodes) {
      const blobs = await Promise.all(
        (node.content ?? []).map((id) => indexed.loadBlob("data", id)),
      );
      expect(Buffer.concat(blobs).equals(files[node.name])).toBe(true);
    }
  });

  it("a pool that starts with one of its two workers starts the other on large files", async () => {
    const big = randomBytes(GROW_AFTER + 1_000_000);
    writeFileSync(path.join(tmp.dir, "big"), big);
    const stored = new Set<string>();
    const packs: FinishedPack[] = [];
    const pool = await BlobPool.start(
      { ...cfg(), splitSize: 300_000 },
      {
        claim: (ids) =>
          Uint8Array.from(ids, (id) => {
            if (stored.has(id)) return 0;
            stored.add(id);
            return 1;
          }),
        onBytes: () => {},
        savePack: async (p) => {
          packs.push(p);
        },
      },
      2,
      1,
    );
    try {
      expect(pool.threads).toBe(1);
      const [small] = await pool.process(
        [{ ref: 1, path: path.join(tmp.dir, "random") }],
        files.random.length,
      );
      expect(small.content).toEqual(expectedIds(files.random));
      expect(pool.threads).toBe(1);
      // large files now past GROW_AFTER: the second worker starts, and takes a segment
      const [large] = await pool.process([{ ref: 2, path: path.join(tmp.dir, "big") }], big.length);
      expect(pool.threads).toBe(2);
      expect(large.error).toBeUndefined();
      expect(large.content).toEqual(expectedIds(big));
      await pool.flush();
      const packed = new Set(packs.flatMap((p) => p.blobs.map((b) => b.id)));
      expect([...stored].every((id) => packed.has(id))).toBe(true);
    } finally {
      await pool.close();
    }
  });
});
