// Writing index files (restic design.rst "Indexing"; restic 0.14's MasterIndex.SaveFullIndex,
// MasterIndex.Save and Repository.Flush), for backup, copy, prune and rebuild-index: every
// pack is added to the in-memory master index at once (when there is one) and to the pending
// index file, which is saved when it is "full" — restic's rule: 150,000 blobs in a v2
// repository (50,000 in v1) or 10 minutes old — and at the end. In a backup (for crash
// safety: the next backup can only reuse blobs whose packs are indexed) a checkpoint is also
// written every `checkpointPacks` packs or `checkpointMs`. Index files are saved one at a
// time, always after the packs they name; only the last one carries `supersedes`, so a crash
// part-way leaves the old index files in force (the caller deletes them afterwards).

import type { Id } from "./id.js";
import type { IndexBlob, IndexPack } from "./index-file.js";
import { serialiseIndex } from "./index-file.js";
import type { MasterIndex } from "./master-index.js";
import type { Repository } from "./repository.js";

/** Blobs per index file in a v1 repository (restic's indexMaxBlobs). */
export const INDEX_MAX_BLOBS = 50_000;
/** Blobs per (compressed) index file in a v2 repository. */
export const INDEX_MAX_BLOBS_COMPRESSED = 3 * INDEX_MAX_BLOBS;

export interface IndexWriterOptions {
  /** Write nothing (a dry run); the master index is still updated. */
  readonly dryRun?: boolean;
  /** Blobs per index file before it is saved (restic: 150,000 in v2, 50,000 in v1). */
  readonly maxBlobs?: number;
  /** Age of the pending index file before it is saved (restic: 10 minutes). */
  readonly maxAgeMs?: number;
  /** Save a checkpoint after this many packs (0: never). Default 8 (~128 MiB). */
  readonly checkpointPacks?: number;
  /** Save a checkpoint when the oldest pending pack is this old. Default 30 s. */
  readonly checkpointMs?: number;
  /** Index files the last file written supersedes (it is written even when empty). */
  readonly supersedes?: readonly Id[];
}

/** Save index files only when full and at the end (restic's MasterIndex.Save): no checkpoints. */
export const WHEN_FULL = {
  maxAgeMs: Number.POSITIVE_INFINITY,
  checkpointPacks: 0,
  checkpointMs: Number.POSITIVE_INFINITY,
} as const satisfies IndexWriterOptions;

export class IndexWriter {
  private pending: IndexPack[] = [];
  private pendingBlobs = 0;
  private since = 0;
  private saving: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private readonly saved: Id[] = [];
  private readonly maxBlobs: number;
  private readonly maxAgeMs: number;
  private readonly checkpointPacks: number;
  private readonly checkpointMs: number;
  /** Stored (sealed) bytes of the index files written. */
  bytesWritten = 0;

  constructor(
    private readonly repo: Repository,
    private readonly index: MasterIndex | undefined,
    private readonly opts: IndexWriterOptions = {},
  ) {
    this.maxBlobs =
      opts.maxBlobs ?? (repo.version >= 2 ? INDEX_MAX_BLOBS_COMPRESSED : INDEX_MAX_BLOBS);
    this.maxAgeMs = opts.maxAgeMs ?? 10 * 60 * 1000;
    this.checkpointPacks = opts.checkpointPacks ?? 8;
    this.checkpointMs = opts.checkpointMs ?? 30_000;
  }

  /** Record an uploaded pack: in the master index now, in an index file soon. */
  add(packId: Id, blobs: readonly IndexBlob[]): void {
    this.index?.add(packId, blobs);
    if (this.pending.length === 0) this.since = Date.now();
    this.pending.push({ id: packId, blobs });
    this.pendingBlobs += blobs.length;
    const age = Date.now() - this.since;
    if (
      this.pendingBlobs >= this.maxBlobs ||
      age >= this.maxAgeMs ||
      (this.checkpointPacks > 0 && this.pending.length >= this.checkpointPacks) ||
      age >= this.checkpointMs
    ) {
      this.saveDetached();
    }
  }

  private saveDetached(supersedes: readonly Id[] = []): void {
    const packs = this.pending;
    this.pending = [];
    this.pendingBlobs = 0;
    this.saving = this.saving
      .then(() => this.write(packs, supersedes))
      .catch((err: Error) => {
        this.failure ??= err;
      });
  }

  private async write(packs: IndexPack[], supersedes: readonly Id[]): Promise<void> {
    if ((packs.length === 0 && supersedes.length === 0) || this.opts.dryRun) return;
    const bytes = serialiseIndex({ supersedes, packs });
    const id = await this.repo.saveUnpacked("index", bytes);
    this.saved.push(id);
    this.bytesWritten += bytes.length;
  }

  /** Resolve once no index file is being saved (errors stay for `finish` to report). */
  async idle(): Promise<void> {
    let current: Promise<void>;
    do {
      current = this.saving;
      await current;
    } while (current !== this.saving);
  }

  /** Save what is pending and wait for every index file; returns the IDs written. */
  async finish(): Promise<Id[]> {
    this.saveDetached(this.opts.supersedes);
    await this.saving;
    if (this.failure !== undefined) throw this.failure;
    return [...this.saved];
  }
}
