// Repacking (src/repo/repacker.ts) when a source blob is damaged: the blob is taken from another
// copy the index knows of; with no good copy the repack fails naming the blob and its pack.

import { describe, expect, it } from "vitest";
import type { MemoryBackend } from "../../../src/backends/mem.js";
import { isResticTsError } from "../../../src/errors.js";
import { BlobSet } from "../../../src/repo/blob-set.js";
import type { Id } from "../../../src/repo/id.js";
import { IndexWriter, WHEN_FULL } from "../../../src/repo/index-writer.js";
import type { IndexedRepository } from "../../../src/repo/indexed.js";
import { PackUploader } from "../../../src/repo/pack-uploader.js";
import { repack, repackPackers } from "../../../src/repo/repacker.js";
import type { Repository } from "../../../src/repo/repository.js";
import { addSnapshot, bytes, newRepo } from "./build.js";

/** Flip one byte of the stored copy of a blob in `packId`. */
async function damage(repo: Repository, indexed: IndexedRepository, id: Id, packId: Id) {
  const loc = indexed.index.lookup("data", id).find((l) => l.packId === packId);
  if (loc === undefined) throw new Error(`blob ${id} is not in pack ${packId}`);
  const backend = repo.backend as MemoryBackend;
  const h = { type: "data", name: packId } as const;
  const pack = new Uint8Array(await backend.load(h));
  pack[loc.offset + 20] ^= 0xff;
  await backend.remove(h);
  await backend.save(h, pack);
}

/** Repack `packs` (every blob of them) into new packs of the same repository. */
async function repackAll(repo: Repository, indexed: IndexedRepository, packs: Id[]) {
  const keep = new BlobSet();
  for (const { packId, blobs } of indexed.index.byPack()) {
    if (packs.includes(packId)) for (const b of blobs) keep.add(b.type, b.id);
  }
  const writer = new IndexWriter(repo, indexed.index, WHEN_FULL);
  const uploader = new PackUploader(repo, writer, undefined, false);
  try {
    await repack(indexed, packs, keep, { repo, uploader, packSize: 4096 });
    await writer.finish();
  } finally {
    await uploader.idle();
  }
  return keep;
}

/** A repository with one snapshot (its data blobs in one pack), and one of those blobs. */
async function oneSnapshot() {
  const repo = await newRepo();
  await addSnapshot(repo, { f: bytes(3, 3000) }, { packSize: 1 << 20 });
  const indexed = await repo.loadIndex();
  const victim = [...indexed.index.entries()].find((e) => e.type === "data");
  if (victim === undefined) throw new Error("no data blob");
  return { repo, indexed, victim };
}

describe("repack with a damaged source blob", () => {
  it("takes the blob from another copy the index knows of", async () => {
    const { repo, indexed: first, victim } = await oneSnapshot();
    // a second copy of the blob in a pack of its own
    const plain = await first.loadBlob("data", victim.id);
    const writer = new IndexWriter(repo, undefined, WHEN_FULL);
    const uploader = new PackUploader(repo, writer, undefined, false);
    const packers = repackPackers({ repo, uploader });
    await packers.data.add(victim.id, plain);
    await packers.data.flush();
    await writer.finish();
    const indexed = await repo.loadIndex();
    const copies = indexed.index.lookup("data", victim.id).map((l) => l.packId);
    expect(copies).toHaveLength(2);
    await damage(repo, indexed, victim.id, victim.packId);
    await expect(indexed.loadBlob("data", victim.id)).resolves.toEqual(plain);

    const left = await repackAll(repo, indexed, [victim.packId]);
    expect(left.size).toBe(0);
    const moved = indexed.index.lookup("data", victim.id).filter((l) => !copies.includes(l.packId));
    expect(moved).toHaveLength(1);
    const sealed = await repo.backend.load(
      { type: "data", name: moved[0].packId },
      { offset: moved[0].offset, length: moved[0].length },
    );
    expect(await indexed.decodeBlob("data", victim.id, moved[0], sealed)).toEqual(plain);
  });

  it("fails naming the blob and its pack when no good copy exists", async () => {
    const { repo, indexed, victim } = await oneSnapshot();
    await damage(repo, indexed, victim.id, victim.packId);
    const err = await repackAll(repo, indexed, [victim.packId]).catch((e: unknown) => e);
    expect(isResticTsError(err, "CORRUPT")).toBe(true);
    expect((err as Error).message).toMatch(
      `cannot repack data blob ${victim.id} from pack ${victim.packId}`,
    );
  });
});
