// The pack writer (src/repo/pack-uploader.ts) on a local repository: packs are streamed to temp
// files in data/ and renamed into place under the SHA-256 of their bytes; the real restic
// checks the result.

import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalBackend, LocalTempFile } from "../../../src/backends/local.js";
import { isResticTsError } from "../../../src/errors.js";
import { IndexWriter, WHEN_FULL } from "../../../src/repo/index-writer.js";
import { readPackHeader } from "../../../src/repo/pack.js";
import { openBlob } from "../../../src/repo/pack-stream.js";
import { MainPacker, PackUploader } from "../../../src/repo/pack-uploader.js";
import { Repository } from "../../../src/repo/repository.js";
import { restic } from "../../helpers/restic.js";
import { tempDir } from "../../helpers/tmp.js";

const PASSWORD = "pack-uploader-pw";
const FAST_KDF = { N: 1024, r: 8, p: 1 };

let tmp: { dir: string; cleanup(): Promise<void> };
beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.cleanup();
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Files and directories in data/ that are not one of its 256 subdirectories. */
async function strays(dir: string): Promise<string[]> {
  return (await readdir(path.join(dir, "data"))).filter((n) => !/^[0-9a-f]{2}$/.test(n));
}

async function packFiles(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const sub of await readdir(path.join(dir, "data"))) {
    if (!/^[0-9a-f]{2}$/.test(sub)) continue;
    for (const name of await readdir(path.join(dir, "data", sub))) {
      out.set(name, new Uint8Array(await readFile(path.join(dir, "data", sub, name))));
    }
  }
  return out;
}

describe("MainPacker on a local repository", () => {
  it("streams packs to temp files, in call order, that restic reads back", async () => {
    const repo = await Repository.init(new LocalBackend(tmp.dir), PASSWORD, { kdf: FAST_KDF });
    const writer = new IndexWriter(repo, undefined, WHEN_FULL);
    const uploader = new PackUploader(repo, writer, undefined, false);
    const packer = new MainPacker(repo, "data", uploader, 256 * 1024, "auto", { maxUploads: 2 });
    // small blobs (gathered before they are written) and large ones (written as they come),
    // random (stored uncompressed) and zeros (compressed), added concurrently
    const blobs = Array.from({ length: 60 }, (_, i) =>
      i % 7 === 3
        ? new Uint8Array(200 * 1024 + i)
        : randomBytes(i % 5 === 0 ? 150 * 1024 + i : 1000 + 97 * i),
    );
    await Promise.all(blobs.map((b) => packer.add(sha(b), b)));
    await packer.flush();
    await writer.finish();
    await uploader.idle();

    expect(await strays(tmp.dir)).toEqual([]);
    const files = await packFiles(tmp.dir);
    expect(files.size).toBeGreaterThan(3);
    expect(uploader.stats.packs).toBe(files.size);
    const stored: { id: string; pack: string; offset: number }[] = [];
    for (const [name, bytes] of files) {
      expect(sha(bytes)).toBe(name);
      const header = await readPackHeader(
        async (offset, length) => bytes.subarray(offset, offset + length),
        bytes.length,
        repo.masterKey,
      );
      for (const e of header) {
        const plain = await openBlob(
          repo.masterKey,
          name,
          e,
          bytes.subarray(e.offset, e.offset + e.length),
        );
        expect(sha(plain)).toBe(e.id);
        stored.push({ id: e.id, pack: name, offset: e.offset });
      }
    }
    expect(stored.map((s) => s.id).sort()).toEqual(blobs.map(sha).sort());
    // within a pack, blobs lie in the order they were added
    const order = new Map(blobs.map((b, i) => [sha(b), i]));
    for (const name of files.keys()) {
      const inPack = stored.filter((s) => s.pack === name).sort((a, b) => a.offset - b.offset);
      const idx = inPack.map((s) => order.get(s.id) as number);
      expect(idx).toEqual([...idx].sort((a, b) => a - b));
    }
    await restic(tmp.dir, PASSWORD, ["check", "--read-data"]);
  });

  it("deletes the temp file of a pack never finished", async () => {
    const repo = await Repository.init(new LocalBackend(tmp.dir), PASSWORD, { kdf: FAST_KDF });
    const writer = new IndexWriter(repo, undefined, WHEN_FULL);
    const uploader = new PackUploader(repo, writer, undefined, false);
    const packer = new MainPacker(repo, "tree", uploader, 1024 * 1024, "auto");
    const big = randomBytes(300 * 1024);
    await packer.add(sha(big), big);
    expect((await strays(tmp.dir)).length).toBe(1);
    await uploader.idle();
    expect(await strays(tmp.dir)).toEqual([]);
    expect((await packFiles(tmp.dir)).size).toBe(0);
  });

  it("fails every later add once a write failed, and leaves nothing behind", async () => {
    const repo = await Repository.init(new LocalBackend(tmp.dir), PASSWORD, { kdf: FAST_KDF });
    const writer = new IndexWriter(repo, undefined, WHEN_FULL);
    const uploader = new (class extends PackUploader {
      override tempFile(): LocalTempFile {
        const gone = path.join(tmp.dir, "no-such-dir", "pack");
        return new LocalTempFile(
          gone,
          Promise.reject(Object.assign(new Error("ENOSPC"), { code: "ENOSPC" })),
        );
      }
    })(repo, writer, undefined, false);
    const packer = new MainPacker(repo, "data", uploader, 1024 * 1024, "auto");
    const big = randomBytes(200 * 1024);
    const err = await packer.add(sha(big), big).catch((e: unknown) => e);
    expect(isResticTsError(err)).toBe(true);
    const small = randomBytes(100);
    await expect(packer.add(sha(small), small)).rejects.toBe(err);
    await expect(packer.flush()).rejects.toBe(err);
    await uploader.idle();
    expect(await strays(tmp.dir)).toEqual([]);
    expect(uploader.stats.packs).toBe(0);
  });

  it("removeTemps deletes the temp files a killed writer left, and only those", async () => {
    const backend = new LocalBackend(tmp.dir);
    await Repository.init(backend, PASSWORD, { kdf: FAST_KDF });
    const left = backend.createTemp("data");
    await left.write(randomBytes(1000), 0);
    await left.close();
    await writeFile(path.join(tmp.dir, "data", "notes"), "mine");
    expect((await strays(tmp.dir)).sort()).toEqual([path.basename(left.path), "notes"].sort());
    expect(await backend.removeTemps("data")).toBe(1);
    expect(await strays(tmp.dir)).toEqual(["notes"]);
    expect(await backend.removeTemps("data")).toBe(0);
  });
});
