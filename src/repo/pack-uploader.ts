// Writing packs (restic's packer manager, packer uploader and the "in flight" set of its
// master index), for backup, prune and copy: packs are saved to data/ under the SHA-256 of
// their bytes and only then indexed; in a backup a blob is claimed once — by the first worker
// or packer that finds it new — so no blob is stored twice. A MainPacker fills the packs of one
// blob type (data and trees never share a pack): backup's tree blobs and the main thread's
// own data blobs (stdin, in-memory files), and every blob prune and copy repack.
//
// On a local repository a MainPacker streams its pack to a temp file in data/ as blobs arrive
// (hashed on libuv's thread pool as they are written), and the uploader saves it by renaming
// it into place (local.ts saveTemp: fsync, rename, directory fsync), as restic writes packs
// to temp files: no pack is ever whole in memory. Elsewhere packs are built in memory.

import { LocalBackend, type LocalTempFile } from "../backends/local.js";
import { sha256Hex } from "../crypto/hash.js";
import { type MasterKey, SEAL_OVERHEAD, sealInto } from "../crypto/master-key.js";
import { offThreadSha256 } from "../crypto/sha256-offthread.js";
import { type CompressionMode, compress } from "./compression.js";
import type { Id } from "./id.js";
import type { IndexWriter } from "./index-writer.js";
import type { MasterIndex } from "./master-index.js";
import { type BlobType, type PackBlob, PackBuilder, PackEntries } from "./pack.js";
import type { Repository } from "./repository.js";

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
  settle(type: BlobType, blobs: readonly { id: Id }[]): void {
    const set = this.inFlight[type];
    for (const b of blobs) set.delete(b.id);
  }
}

export interface UploadStats {
  packs: number;
  /** Stored bytes of all packs. */
  bytes: number;
}

/** Whether packs for `repo` are written to temp files as they grow (a local repository). */
export function streamsPacksToFiles(repo: Repository, dryRun: boolean): boolean {
  return !dryRun && repo.backend instanceof LocalBackend;
}

export class PackUploader {
  readonly stats: UploadStats = { packs: 0, bytes: 0 };
  private readonly running = new Set<Promise<void>>();
  /** Temp files of packs being written, not yet handed to `uploadFile`. */
  private readonly temps = new Set<LocalTempFile>();

  constructor(
    private readonly repo: Repository,
    private readonly writer: IndexWriter,
    private readonly claims: BlobClaims | undefined,
    private readonly dryRun: boolean,
  ) {}

  /** Save a finished pack, then index its blobs. */
  upload(type: BlobType, id: Id, bytes: Uint8Array, blobs: readonly PackBlob[]): Promise<void> {
    const store = async () => {
      if (!this.dryRun) await this.repo.backend.save({ type: "data", name: id }, bytes);
    };
    return this.track(this.save(type, id, store, bytes.length, blobs));
  }

  /**
   * A temp file to stream a pack into, when the repository is local (and this is no dry
   * run); undefined otherwise (build packs in memory and `upload` them).
   */
  tempFile(): LocalTempFile | undefined {
    if (!streamsPacksToFiles(this.repo, this.dryRun)) return undefined;
    const tmp = (this.repo.backend as LocalBackend).createTemp("data");
    this.temps.add(tmp);
    return tmp;
  }

  /** Save a pack written to `tmp` (from `tempFile`) as `id`, then index its blobs. */
  uploadFile(
    type: BlobType,
    id: Id,
    tmp: LocalTempFile,
    length: number,
    blobs: readonly PackBlob[],
  ): Promise<void> {
    this.temps.delete(tmp);
    const save = () =>
      (this.repo.backend as LocalBackend).saveTemp({ type: "data", name: id }, tmp);
    return this.track(this.save(type, id, save, length, blobs));
  }

  /** Delete a temp file from `tempFile` that will not be saved. */
  async discard(tmp: LocalTempFile): Promise<void> {
    this.temps.delete(tmp);
    await tmp.discard();
  }

  /**
   * Resolve once no upload is running, whatever their outcome (each caller handles its own
   * errors), and delete the temp files of packs never finished. A failed backup or prune waits
   * for this before it releases its lock, so nothing it started can land after another process
   * takes the repository over.
   */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
    const left = [...this.temps];
    this.temps.clear();
    await Promise.all(left.map((t) => t.discard()));
  }

  private track(p: Promise<void>): Promise<void> {
    this.running.add(p);
    const done = () => {
      this.running.delete(p);
    };
    p.then(done, done);
    return p;
  }

  private async save(
    type: BlobType,
    id: Id,
    store: () => Promise<void>,
    length: number,
    blobs: readonly PackBlob[],
  ): Promise<void> {
    await store();
    this.stats.packs++;
    this.stats.bytes += length;
    this.writer.add(id, blobs);
    this.claims?.settle(type, blobs);
  }
}

/** Room beyond the target pack size: restic's largest chunk (8 MiB) and the header. */
const PACK_SLACK = 8 * 1024 * 1024 + 64 * 1024;
/** Blobs smaller than this are gathered in a buffer and written to a pack file together. */
const STAGE_SIZE = 512 * 1024;

export interface PackerOptions {
  /**
   * In v2, store a blob compressed even when zstd does not make it smaller (restic's own rule;
   * prune relies on it: a pack with an uncompressed tree would be repacked again and again).
   */
  readonly compressAlways?: boolean;
  /** Uploads in flight before `add` waits for the oldest (bounds memory). Default: no limit. */
  readonly maxUploads?: number;
}

/** A pack being written straight to a temp file: blobs are written (and hashed) as they come. */
class FilePack {
  readonly entries: PackEntries;
  private readonly hash = offThreadSha256();
  /** Bytes written (or being written) to the file. */
  private written = 0;
  private staged = 0;

  constructor(
    readonly tmp: LocalTempFile,
    repoVersion: 1 | 2,
    private readonly stage: Uint8Array,
  ) {
    this.entries = new PackEntries(repoVersion);
  }

  /** Append a sealed blob; `sealed` may be reused once this resolves. */
  async add(type: BlobType, id: Id, sealed: Uint8Array, uncompressedLength?: number) {
    this.entries.add(type, id, sealed.length, uncompressedLength);
    if (sealed.length >= STAGE_SIZE / 4) {
      await this.flushStage();
      await this.put(sealed);
      return;
    }
    if (this.staged + sealed.length > STAGE_SIZE) await this.flushStage();
    this.stage.set(sealed, this.staged);
    this.staged += sealed.length;
  }

  /** Write the header; returns the pack's ID and size. */
  async finish(key: MasterKey): Promise<{ id: Id; length: number }> {
    const trailer = this.entries.trailer(key);
    await this.flushStage();
    await this.put(trailer);
    return { id: await this.hash.digest(), length: this.written };
  }

  private async flushStage(): Promise<void> {
    if (this.staged === 0) return;
    const n = this.staged;
    this.staged = 0;
    await this.put(this.stage.subarray(0, n));
  }

  private async put(bytes: Uint8Array): Promise<void> {
    const at = this.written;
    this.written += bytes.length;
    await Promise.all([this.tmp.write(bytes, at), this.hash.update(bytes)]);
  }
}

/**
 * Packs blobs of one type on the main thread: compress (v2 unless off), seal, and upload each
 * pack when it reaches the target size. Blobs land in the pack in the order `add` and
 * `addSealed` are called, also when calls overlap.
 */
export class MainPacker {
  private builder: PackBuilder | undefined;
  private file: FilePack | undefined;
  private stage: Uint8Array | undefined;
  private uploads: Promise<void>[] = [];
  /** Adds run one after the other (a file pack is written as they go). */
  private queue: Promise<void> = Promise.resolve();
  private failure: unknown;
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
   * `uncompressedLength` is given). `sealed` may be reused once this resolves.
   */
  addSealed(id: Id, sealed: Uint8Array, uncompressedLength?: number): Promise<void> {
    return this.serially(() => this.put(id, sealed, uncompressedLength));
  }

  /** Upload the open pack and wait for every upload of this packer. */
  async flush(): Promise<void> {
    await this.serially(() => this.finish());
    const all = this.uploads;
    this.uploads = [];
    await Promise.all(all);
  }

  /** Run `step` after every earlier one; after a failure every later step fails with it. */
  private serially(step: () => Promise<void>): Promise<void> {
    const run = async () => {
      if (this.failure !== undefined) throw this.failure;
      try {
        await step();
      } catch (err) {
        this.failure ??= err;
        const f = this.file;
        this.file = undefined;
        if (f !== undefined) await this.uploader.discard(f.tmp);
        throw err;
      }
    };
    const p = this.queue.then(run);
    this.queue = p.catch(() => {});
    return p;
  }

  private async put(id: Id, sealed: Uint8Array, uncompressedLength?: number): Promise<void> {
    this.storedBytes += sealed.length;
    if (this.builder === undefined && this.file === undefined) {
      const tmp = this.uploader.tempFile();
      if (tmp !== undefined) {
        this.stage ??= new Uint8Array(STAGE_SIZE);
        this.file = new FilePack(tmp, this.repo.version, this.stage);
      } else {
        this.builder = new PackBuilder({
          key: this.repo.masterKey,
          repoVersion: this.repo.version,
          capacity: this.packSize + PACK_SLACK,
        });
      }
    }
    let entries: PackEntries | PackBuilder;
    if (this.file !== undefined) {
      await this.file.add(this.type, id, sealed, uncompressedLength);
      entries = this.file.entries;
    } else {
      const b = this.builder as PackBuilder;
      b.add(this.type, id, sealed, uncompressedLength);
      entries = b;
    }
    if (entries.size >= this.packSize || entries.headerFull) await this.finish();
  }

  private async finish(): Promise<void> {
    let upload: Promise<void>;
    if (this.file !== undefined) {
      const f = this.file;
      const { id, length } = await f.finish(this.repo.masterKey);
      this.file = undefined;
      upload = this.uploader.uploadFile(this.type, id, f.tmp, length, f.entries.blobs);
    } else {
      const b = this.builder;
      if (b === undefined || b.count === 0) return;
      this.builder = undefined;
      const blobs = b.blobs;
      const bytes = b.finalize();
      upload = this.uploader.upload(this.type, sha256Hex(bytes), bytes, blobs);
    }
    // Awaited by flush (or below); until then a failed upload must not be an unhandled
    // rejection, which would end the process.
    upload.catch(() => {});
    this.uploads.push(upload);
    const max = this.options.maxUploads ?? Number.POSITIVE_INFINITY;
    while (this.uploads.length > max) await this.uploads.shift();
  }
}
