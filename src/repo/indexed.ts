// A repository with its index loaded (restic design.rst "Indexing"): every index file is read
// (index-scan.ts: its fast path, else parseIndex) into one MasterIndex — superseded ones too, as restic does, so an interrupted prune that wrote
// new index files but not yet deleted the old ones loses nothing —, and blobs are loaded
// from packs by the byte range the index gives, authenticated, decompressed (v2 types 2/3,
// checked against their uncompressed length) and verified against their ID (SHA-256).

import { loadInOrder } from "../backends/limit.js";
import { sha256Hex } from "../crypto/hash.js";
import { open as openSealed } from "../crypto/master-key.js";
import { isResticTsError, ResticTsError } from "../errors.js";
import { decompress } from "./compression.js";
import type { Id } from "./id.js";
import { readIndexFile } from "./index-scan.js";
import { type BlobLocation, MasterIndex } from "./master-index.js";
import type { BlobType } from "./pack.js";
import type { Repository } from "./repository.js";
import { parseTree, type Tree } from "./tree.js";

/** Index files loaded at once. */
const INDEX_LOAD_CONCURRENCY = 8;
/** The largest blob restic writes is a chunk of 8 MiB; trees can be larger, never absurdly. */
export const MAX_BLOB_SIZE = 512 * 1024 * 1024;

/**
 * Load and merge every index file of `repo`, in list order; each is added as soon as it and
 * those before it are read, so only a few are held at once (a 50,000-blob file is ~7 MB of
 * plaintext).
 */
export async function loadMasterIndex(repo: Repository): Promise<MasterIndex> {
  const ids = await repo.listIds("index");
  const master = new MasterIndex();
  await loadInOrder(
    ids,
    INDEX_LOAD_CONCURRENCY,
    async (id) => {
      try {
        return readIndexFile(await repo.loadUnpacked("index", id));
      } catch (err) {
        if (isResticTsError(err)) {
          throw new ResticTsError(
            err.code,
            `index ${id}: ${err.message}`,
            { ...err.data, id },
            { cause: err },
          );
        }
        throw err;
      }
    },
    (file) => file.addTo(master),
  );
  return master;
}

export class IndexedRepository {
  constructor(
    readonly repo: Repository,
    readonly index: MasterIndex,
  ) {}

  /** Load, authenticate, decompress and verify one blob. Tries every pack that holds it. */
  async loadBlob(type: BlobType, id: Id): Promise<Uint8Array> {
    const locations = this.index.lookup(type, id);
    if (locations.length === 0) {
      throw new ResticTsError("NOT_FOUND", `${type} blob ${id} is not in the index`, { type, id });
    }
    let lastError: unknown;
    for (const loc of locations) {
      try {
        const sealed = await this.repo.backend.load(
          { type: "data", name: loc.packId },
          { offset: loc.offset, length: loc.length },
        );
        return await this.decodeBlob(type, id, loc, sealed);
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  /**
   * Turn a blob's stored bytes (as read from its pack at `loc`) into its plaintext, checking the
   * MAC, the uncompressed length and the SHA-256 against `id`.
   */
  async decodeBlob(
    type: BlobType,
    id: Id,
    loc: BlobLocation,
    sealed: Uint8Array,
  ): Promise<Uint8Array> {
    let plain: Uint8Array;
    try {
      plain = openSealed(this.repo.masterKey, sealed);
    } catch (err) {
      if (isResticTsError(err, "UNAUTHENTICATED")) {
        throw new ResticTsError(
          "UNAUTHENTICATED",
          `${type} blob ${id} in pack ${loc.packId} failed authentication`,
          {
            type,
            id,
            packId: loc.packId,
          },
        );
      }
      throw err;
    }
    if (loc.uncompressedLength !== undefined) {
      plain = await decompress(plain, MAX_BLOB_SIZE, loc.uncompressedLength);
    }
    if (sha256Hex(plain) !== id) {
      throw new ResticTsError(
        "CORRUPT",
        `${type} blob ${id} in pack ${loc.packId} does not match its ID (SHA-256)`,
        {
          type,
          id,
          packId: loc.packId,
        },
      );
    }
    return plain;
  }

  async loadTree(id: Id): Promise<Tree> {
    return parseTree(await this.loadBlob("tree", id));
  }
}
