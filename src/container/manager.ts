// Container backup, full restore and data-only restore over a runtime adapter and a snapshot
// store. Every operation is a `Job`:
//
//   backup(id, "file:///srv/repo?password=PW", {tags})  → snapshot ID. The root filesystem plus
//     the redacted creation config at /.corex.meta; the container is paused while it is read and
//     resumed afterwards, also on failure or cancel (concurrent backups share one pause).
//   restore("file:///srv/repo?password=PW#1a2b3c4d")    → new container ID: same creation config
//     (default/DHCP network identity assigned afresh) and the same data.
//   create({root: "restic:file:///srv/repo?password=PW#1a2b3c4d", …}) → new container ID: the
//     new config over the backed-up root filesystem. Other roots go to the runtime as they are.

import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { isResticRoot, parseRepoUrl, parseResticRoot, type RepoUrl } from "../backends/url.js";
import { ResticTsError, redact } from "../errors.js";
import {
  type ContainerConfig,
  configForRestore,
  decodeMeta,
  encodeMeta,
  redactConfig,
  validateConfig,
} from "./config.js";
import { Job, type JobContext } from "./jobs.js";
import type { ContainerInfo, ContainerRuntime } from "./runtime.js";
import {
  EXCLUDED_TOP_LEVEL,
  META_PATH,
  type SnapshotProgress,
  type SnapshotStore,
} from "./store.js";

export interface ContainerManagerOptions {
  readonly runtime: ContainerRuntime;
  readonly store: SnapshotStore;
  /** Where root filesystems are restored when the runtime has no `scratchDir`; OS temp dir by default. */
  readonly tmpDir?: string;
}

export interface BackupOptions {
  readonly tags?: readonly string[];
  /** Create the repository if it does not exist (otherwise NO_REPOSITORY). */
  readonly init?: boolean;
  /** Snapshot host name (the store's default otherwise). */
  readonly host?: string;
}

export interface CreateOptions {
  /** Start the new container (needs `runtime.start`). */
  readonly start?: boolean;
}

interface PauseEntry {
  holders: number;
  /** Resolves to whether this manager paused the container (and so must resume it). */
  readonly paused: Promise<boolean>;
}

export class ContainerManager {
  readonly runtime: ContainerRuntime;
  readonly store: SnapshotStore;
  readonly #tmpDir: string;
  readonly #pauses = new Map<string, PauseEntry>();

  constructor(opts: ContainerManagerOptions) {
    this.runtime = opts.runtime;
    this.store = opts.store;
    this.#tmpDir = opts.tmpDir ?? os.tmpdir();
  }

  /** Back up a container into the repository at `url`; the job's result is the snapshot ID. */
  backup(containerId: string, url: string, opts: BackupOptions = {}): Job<string> {
    return Job.start("backup", async (ctx) => {
      const repo = parseRepoUrl(url);
      if (repo.snapshot !== undefined) {
        throw new ResticTsError("INVALID_URL", `a backup URL takes no #snapshot: ${redact(url)}`);
      }
      const tags = (opts.tags ?? []).map((t, i) => {
        if (typeof t !== "string" || t === "" || t.includes(",")) {
          throw new ResticTsError(
            "INVALID_ARGUMENT",
            `tag ${i} must be a non-empty string without ","`,
          );
        }
        return t;
      });
      const info = await this.runtime.inspect(containerId);
      const meta = encodeMeta(info.config);
      ctx.throwIfCancelled();

      ctx.progress({ phase: "pausing" });
      const release = await this.#hold(containerId);
      let snapshotId: string | undefined;
      let failure: unknown;
      try {
        ctx.progress({ phase: "backup" });
        snapshotId = await this.store.backup(repo, info.rootPath, {
          tags,
          host: opts.host,
          extraFiles: [{ path: META_PATH, data: meta }],
          excludeTopLevel: EXCLUDED_TOP_LEVEL,
          init: opts.init === true,
          signal: ctx.signal,
          onProgress: (p) => ctx.progress(counts(p)),
          onReadDone: () => {
            release().catch(() => {}); // reported by the final release below
          },
        });
      } catch (err) {
        failure = err;
      }
      ctx.progress({ phase: "resuming" });
      try {
        await release();
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new ResticTsError(
          "IO",
          `container ${containerId} could not be resumed after the backup: ${why}`,
          {
            containerId,
            snapshotId,
            backupError: failure === undefined ? undefined : String(failure),
          },
          { cause: err },
        );
      }
      if (failure !== undefined) throw failure;
      return snapshotId as string;
    });
  }

  /**
   * Full restore from `url#snapshot`: a new container with the snapshot's creation config (see
   * `configForRestore`) and root filesystem; the job's result is the new container ID.
   */
  restore(url: string, opts: CreateOptions = {}): Job<string> {
    return Job.start("restore", async (ctx) => {
      const repo = parseRepoUrl(url);
      if (repo.snapshot === undefined) {
        throw new ResticTsError("INVALID_URL", `a restore URL needs a #snapshot: ${redact(url)}`);
      }
      const snapshot = repo.snapshot;
      return this.#withRestoredRoot(ctx, { ...repo, snapshot }, async (dir, meta, snapshotId) => {
        if (meta === undefined) {
          throw new ResticTsError(
            "NOT_FOUND",
            `snapshot ${snapshotId} has no ${META_PATH}: it is not a container backup (create a container with root "restic:…#${snapshotId}" instead)`,
            { snapshotId },
          );
        }
        const config = configForRestore(decodeMeta(meta));
        return this.#createFrom(ctx, config, dir, opts);
      });
    });
  }

  /**
   * Create a container from `config`. A `restic:<url>#<snapshot>` root is restored from the
   * repository (data-only restore: the snapshot's own config is ignored); any other root goes to
   * the runtime unchanged. The job's result is the new container ID.
   */
  create(config: ContainerConfig, opts: CreateOptions = {}): Job<string> {
    return Job.start("create", async (ctx) => {
      const valid = validateConfig(config);
      if (!isResticRoot(valid.root)) {
        ctx.progress({ phase: "creating" });
        return this.#createFrom(ctx, valid, undefined, opts);
      }
      const repo = parseResticRoot(valid.root);
      return this.#withRestoredRoot(ctx, repo, (dir) => this.#createFrom(ctx, valid, dir, opts));
    });
  }

  /** The runtime's containers, configs redacted. */
  async list(): Promise<ContainerInfo[]> {
    if (this.runtime.list === undefined) {
      throw new ResticTsError("UNSUPPORTED", "this container runtime cannot list containers");
    }
    const all = await this.runtime.list();
    return all.map((c) => ({ ...c, config: redactConfig(c.config) }));
  }

  /** One container, config redacted. */
  async inspect(id: string): Promise<ContainerInfo> {
    const info = await this.runtime.inspect(id);
    return { ...info, config: redactConfig(info.config) };
  }

  /** Restore `repo` into a fresh scratch directory, run `use`, and remove what is left of it. */
  async #withRestoredRoot<T>(
    ctx: JobContext,
    repo: RepoUrl & { readonly snapshot: string },
    use: (dir: string, meta: Uint8Array | undefined, snapshotId: string) => Promise<T>,
  ): Promise<T> {
    const dir = await this.#scratch();
    try {
      ctx.progress({ phase: "restore" });
      const { meta, snapshotId } = await this.store.restore(repo, dir, {
        signal: ctx.signal,
        onProgress: (p) => ctx.progress(counts(p)),
      });
      ctx.throwIfCancelled();
      return await use(dir, meta, snapshotId);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async #createFrom(
    ctx: JobContext,
    config: ContainerConfig,
    preparedRoot: string | undefined,
    opts: CreateOptions,
  ): Promise<string> {
    if (opts.start === true && this.runtime.start === undefined) {
      throw new ResticTsError("UNSUPPORTED", "this container runtime cannot start containers");
    }
    ctx.progress({ phase: "creating" });
    // With a prepared root the runtime needs no credentials from `root` at all.
    const id = await this.runtime.create(
      preparedRoot === undefined ? config : redactConfig(config),
      preparedRoot,
    );
    try {
      ctx.throwIfCancelled();
      if (opts.start === true) await this.runtime.start?.(id);
      ctx.throwIfCancelled();
    } catch (err) {
      // The caller never learns this ID: do not leave the container behind.
      await this.runtime.delete?.(id, { force: true }).catch(() => {});
      throw err;
    }
    return id;
  }

  async #scratch(): Promise<string> {
    if (this.runtime.scratchDir !== undefined) return this.runtime.scratchDir();
    return mkdtemp(path.join(this.#tmpDir, "restic-ts-root-"));
  }

  /**
   * Pause a container for reading (unless another backup already holds it paused, or it is not
   * running) and return an idempotent release that resumes it when the last holder lets go.
   */
  async #hold(id: string): Promise<() => Promise<void>> {
    let entry = this.#pauses.get(id);
    if (entry === undefined) {
      const paused = (async () => {
        const { state } = await this.runtime.inspect(id);
        if (state !== "running") return false;
        await this.runtime.pause(id);
        return true;
      })();
      entry = { holders: 0, paused };
      this.#pauses.set(id, entry);
    }
    const held = entry;
    held.holders++;
    try {
      await held.paused;
    } catch (err) {
      if (--held.holders === 0 && this.#pauses.get(id) === held) this.#pauses.delete(id);
      throw err;
    }
    let released: Promise<void> | undefined;
    return () => {
      released ??= (async () => {
        if (--held.holders > 0) return;
        if (this.#pauses.get(id) === held) this.#pauses.delete(id);
        if (await held.paused) await this.runtime.resume(id);
      })();
      return released;
    };
  }
}

function counts(p: SnapshotProgress): { files: number; bytes: number } {
  return { files: p.files, bytes: p.bytes };
}
