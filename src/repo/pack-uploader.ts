// Writing packs (restic's packer manager, packer uploader and the "in flight" set of its
// master index), for backup, prune and copy: packs are saved to data/ under the SHA-256 of
// their bytes and only then indexed; in a backup a blob is claimed once — by the first worker
// or packer that finds it new — so no blob is stored twice. A MainPacker fills the packs of one
// blob type (data and trees never share a pack): backup's tree blobs and the main thread's
// own data blobs (stdin, in-memory files), and every blob prune and copy repack.

import { sha256, toHex } from "../crypto/hash.js";
import { SEAL_OVERHEAD, sealInto } from "../crypto/master-key.js";
import { type CompressionMode, compress } from "./compression.js";
import type { Id } from "./id.js";
import type { IndexWriter } from "./index-writer.js";
import type { MasterIndex } from "./master-index.js";
import { type BlobType, PackBuilder } from "./pack.js";
import type { Repository } from "./repository.js";
import type { PackedBlob } from "./workers/protocol.js";

/** Blobs already stored or being stored in this backup, on top of the index. */
export class BlobClaims {
  private readonly inFlight = { data: new Set<Id>(), tree: new Set<Id>() };

  constructor(private readonly index: MasterIndex) {}

  /** True (and now claimed) if the blob is neither indexed nor in flight. */
  claim(type: BlobType, id: Id): boolean {
    const set = this.inFlight[type];
    if (set.has(id) || this.index.has(type, id)) return false;
    set.add(id);
    return true;
  }

  /** One answer byte per ID (1 = claimed by the caller). */
  claimAll(type: BlobType, ids: readonly Id[]): Uint8Array {
    const out = new Uint8Array(ids.length);
    for (let i = 0; i < ids.length; i++) out[i] = this.claim(type, ids[i]) ? 1 : 0;
    return out;
  }

  /** The blobs are indexed now. */
  settle(type: BlobType, ids: Iterable<Id>): void {
    for (const id of ids) this.inFlight[type].delete(id);
  }
}

export interface UploadStats {
  packs: number;
  /** Stored bytes of all packs. */
  bytes: number;
}

export class PackUploader {
  readonly stats: UploadStats = { packs: 0, bytes: 0 };
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly repo: Repository,
    private readonly writer: IndexWriter,
    private readonly claims: BlobClaims | undefined,
    private readonly dryRun: boolean,
  ) {}

  /** Save a finished pack, then index its blobs. */
  upload(type: BlobType, id: Id, bytes: Uint8Array, blobs: readonly PackedBlob[]): Promise<void> {
    const p = this.save(type, id, bytes, blobs);
    this.running.add(p);
    const done = () => {
      this.running.delete(p);
    };
    p.then(done, done);
    return p;
  }

  /**
   * Resolve once no upload is running, whatever their outcome (each caller handles its own
   * errors). A failed backup or prune waits for this before it releases its lock, so nothing
   * it started can land after another process takes the repository over.
   */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private async save(
    type: BlobType,
    id: Id,
    bytes: Uint8Array,
    blobs: readonly PackedBlob[],
  ): Promise<void> {
    if (!this.dryRun) await this.repo.backend.save({ type: "data", name: id }, bytes);
    this.stats.packs++;
    this.stats.bytes += bytes.length;
    this.writer.add(
      id,
      blobs.map((b) => ({ ...b, type })),
    );
    this.claims?.settle(
      type,
      blobs.map((b) => b.id),
    );
  }
}

/** Room beyond the target pack size: restic's largest chunk (8 MiB) and the header. */
const PACK_SLACK = 8 * 1024 * 1024 + 64 * 1024;

export interface PackerOptions {
  /**
   * In v2, store a blob compressed even when zstd does not make it smaller (restic's own rule;
   * prune relies on it: a pack with an uncompressed tree would be repacked again and again).
   */
  readonly compressAlways?: boolean;
  /** Uploads in flight before `add` waits for the oldest (bounds memory). Default: no limit. */
  readonly maxUploads?: number;
}

/**
 * Packs blobs of one type on the main thread: compress (v2 unless off), seal, and upload each
 * pack when it reaches the target size.
 */
export class MainPacker {
  private builder: PackBuilder | undefined;
  private uploads: Promise<void>[] = [];
  /** Stored bytes added (sealed, after compression). */
  storedBytes = 0;

  constructor(
    private readonly repo: Repository,
    private readonly type: BlobType,
    private readonly uploader: PackUploader,
    private readonly packSize: number,
    private readonly compression: CompressionMode,
    private readonly options: PackerOptions = {},
  ) {}

  /** Store a blob the caller has claimed. Returns once it is in a pack (maybe not uploaded). */
  async add(id: Id, plaintext: Uint8Array): Promise<void> {
    let data = plaintext;
    let uncompressedLength: number | undefined;
    const compressIt =
      this.repo.version >= 2 && (this.compression !== "off" || this.type === "tree");
    if (compressIt && plaintext.length > 0) {
      const z = await compress(plaintext, this.compression === "max" ? "max" : "auto");
      if (z.length < plaintext.length || this.options.compressAlways === true) {
        data = z;
        uncompressedLength = plaintext.length;
      }
    }
    const sealed = new Uint8Array(data.length + SEAL_OVERHEAD);
    sealInto(this.repo.masterKey, data, sealed, 0);
    await this.addSealed(id, sealed, uncompressedLength);
  }

  /**
   * Store a blob already sealed with the repository's key (compressed first when
   * `uncompressedLength` is given). The bytes are copied.
   */
  async addSealed(id: Id, sealed: Uint8Array, uncompressedLength?: number): Promise<void> {
    this.builder ??= new PackBuilder({
      key: this.repo.masterKey,
      repoVersion: this.repo.version,
      capacity: this.packSize + PACK_SLACK,
    });
    this.builder.add(this.type, id, sealed, uncompressedLength);
    this.storedBytes += sealed.length;
    if (this.builder.size >= this.packSize || this.builder.headerFull) await this.finish();
  }

  private async finish(): Promise<void> {
    const b = this.builder;
    if (b === undefined || b.count === 0) return;
    this.builder = undefined;
    const blobs = b.blobs.map((x) =>
      x.uncompressedLength === undefined
        ? { id: x.id, offset: x.offset, length: x.length }
        : {
            id: x.id,
            offset: x.offset,
            length: x.length,
            uncompressedLength: x.uncompressedLength,
          },
    );
    const bytes = b.finalize();
    const id = toHex(sha256(bytes));
    const upload = this.uploader.upload(this.type, id, bytes, blobs);
    // Awaited by flush (or below); until then a failed upload must not be an unhandled
    // rejection, which would end the process.
    upload.catch(() => {});
    this.uploads.push(upload);
    const max = this.options.maxUploads ?? Number.POSITIVE_INFINITY;
    while (this.uploads.length > max) await this.uploads.shift();
  }

  /** Upload the open pack and wait for every upload of this packer. */
  async flush(): Promise<void> {
    await this.finish();
    const all = this.uploads;
    this.uploads = [];
    await Promise.all(all);
  }
}
