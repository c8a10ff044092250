// The blob engine's side of the walk: file nodes written by the engine, files of unknown size,
// and chunks the index knew when the backup began.

import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NameCache, nodeFromStat, type StatLike } from "../../../src/repo/archiver/fsnode.js";
import { MasterIndex } from "../../../src/repo/master-index.js";
import { serialiseNode } from "../../../src/repo/node.js";
import { BlobEngine, packCapacity } from "../../../src/repo/workers/engine.js";
import type { FileTask } from "../../../src/repo/workers/protocol.js";
import { tempDir } from "../../helpers/tmp.js";
import { engineConfig, inlineEngine } from "./engine-helpers.js";

describe("blob engine", () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const files: string[] = [];
  let big = "";

  beforeAll(async () => {
    tmp = await tempDir("restic-ts-engine-");
    const dir = path.join(tmp.dir, "src");
    mkdirSync(dir);
    const shared = randomBytes(20_000);
    for (let i = 0; i < 12; i++) {
      const f = path.join(dir, `f${i}`);
      // every third file repeats one content: chunks claimed by an earlier job are known later
      writeFileSync(f, i % 3 === 0 ? shared : randomBytes(1000 + i * 7000));
      files.push(f);
    }
    linkSync(files[1], path.join(dir, "hardlink"));
    big = path.join(dir, "big");
    writeFileSync(big, randomBytes(300_000));
  });
  afterAll(() => tmp.cleanup());

  it("writes a file's node as the main thread would from the same fstat", async () => {
    const c = engineConfig({ fileNodes: { withAtime: false, xattrsOff: true } });
    const plain = engineConfig({ key: c.key });
    const { e: a } = await inlineEngine(c);
    const { e: b } = await inlineEngine(plain);
    const tasks: FileTask[] = files.map((f, i) => ({ ref: i + 1, path: f, name: `f ${i}\n` }));
    const encoded = a.processFiles(tasks);
    const raw = b.processFiles(tasks);
    const names = new NameCache();
    for (let i = 0; i < tasks.length; i++) {
      const r = raw[i];
      expect(r.stat, "the plain engine hands back the status").toBeDefined();
      const node = nodeFromStat(`f ${i}\n`, r.stat as StatLike, files[i], { names });
      node.size = r.size;
      node.content = r.content;
      expect(encoded[i].node).toBe(serialiseNode(node));
      expect(encoded[i].stat).toBeUndefined();
      expect(encoded[i]).toMatchObject({ size: r.size, newBlobs: r.newBlobs });
    }
  });

  it("hands back an unsized file over the limit unread, and reads it when sized", async () => {
    const c = engineConfig({ unsizedMax: 100_000 });
    const { e } = await inlineEngine(c);
    const [small, large] = e.processFiles([
      { ref: 1, path: files[2], unsized: true },
      { ref: 2, path: big, unsized: true },
    ]);
    expect(small.unread).toBeUndefined();
    expect(small.content.length).toBeGreaterThan(0);
    expect(large).toMatchObject({ unread: 300_000, content: [], size: 0, newBlobs: 0 });
    const [sized] = e.processFiles([{ ref: 2, path: big }]);
    expect(sized.size).toBe(300_000);
    expect(sized.newBlobs).toBe(sized.content.length);
  });

  it("claims only the chunks the index did not know when the backup began", async () => {
    const c = engineConfig();
    // the index: every chunk of the first six files
    const { e: first } = await inlineEngine(c);
    const indexed = first.processFiles(files.slice(0, 6).map((f, i) => ({ ref: i, path: f })));
    const index = new MasterIndex();
    index.add(
      "f".repeat(64),
      [...new Set(indexed.flatMap((r) => r.content))].map((id, i) => ({
        type: "data" as const,
        id,
        offset: i * 100,
        length: 100,
      })),
    );
    const asked: string[] = [];
    let read = 0;
    const e = await BlobEngine.create(c, {
      claim: (ids) => {
        asked.push(...ids);
        return new Uint8Array(ids.length).fill(1);
      },
      read: (n) => {
        read += n;
      },
      takeBuffer: () => new ArrayBuffer(packCapacity(c)),
      takeFile: () => {
        throw new Error("packs stay in memory here");
      },
      packFinished: () => {},
    });
    e.setKnown(index.shareDataBlobs());
    // all known: no claim at all, the bytes still reported
    const again = e.processFiles(files.slice(0, 6).map((f, i) => ({ ref: i, path: f })));
    expect(asked).toEqual([]);
    expect(again.map((r) => [r.content, r.newBlobs])).toEqual(indexed.map((r) => [r.content, 0]));
    expect(read).toBe(again.reduce((n, r) => n + r.size, 0));
    // the rest: only the chunks not indexed are claimed
    const rest = e.processFiles(files.slice(6).map((f, i) => ({ ref: i, path: f })));
    const known = new Set(indexed.flatMap((r) => r.content));
    expect(asked).toEqual(rest.flatMap((r) => r.content).filter((id) => !known.has(id)));
    expect(asked.length).toBeGreaterThan(0);
  });
});
