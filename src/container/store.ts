// The seam between containers and the repository layer: `SnapshotStore` backs a root filesystem
// up into a restic repository and restores a snapshot into a directory. The container layer
// only pauses, resumes, creates and bookkeeps; all repository work happens behind this interface
// (the real implementation wraps the archiver and restorer; tests use a directory-copying fake).

import type { RepoUrl } from "../backends/url.js";

/** Where the creation config is stored in a container snapshot. */
export const META_PATH = "/.corex.meta";

/** Top-level directories of a root filesystem that are never backed up (nested ones are). */
export const EXCLUDED_TOP_LEVEL: readonly string[] = ["proc", "dev", "sys"];

export interface SnapshotProgress {
  /** Files (of any type) and file content bytes processed so far. */
  readonly files: number;
  readonly bytes: number;
}

export interface ExtraFile {
  /** Absolute path in the snapshot, e.g. `/.corex.meta`; replaces a file of that path in rootDir. */
  readonly path: string;
  readonly data: Uint8Array;
}

export interface StoreBackupOptions {
  /** Snapshot tags, in order. */
  readonly tags: readonly string[];
  /** Snapshot host name; the store's default (the OS host name) when absent. */
  readonly host?: string;
  /** Regular files (mode 0600, owner root) added at the snapshot's root. */
  readonly extraFiles: readonly ExtraFile[];
  /** Names excluded at the top level of rootDir only (`EXCLUDED_TOP_LEVEL`). */
  readonly excludeTopLevel: readonly string[];
  /** Create the repository if it does not exist; otherwise a missing one is NO_REPOSITORY. */
  readonly init: boolean;
  /** Aborted on cancel: stop soon, write no snapshot, reject with CANCELLED. */
  readonly signal: AbortSignal;
  onProgress(progress: SnapshotProgress): void;
  /**
   * May be called once every byte under rootDir has been read (before the final uploads), so
   * the container can be resumed early. Not calling it is correct: the container is then resumed
   * when `backup` settles.
   */
  onReadDone(): void;
}

export interface StoreRestoreOptions {
  /** Aborted on cancel: stop soon and reject with CANCELLED (targetDir may be left partial). */
  readonly signal: AbortSignal;
  onProgress(progress: SnapshotProgress): void;
}

export interface StoreRestoreResult {
  /** The full ID of the snapshot restored (`latest` and prefixes resolved). */
  readonly snapshotId: string;
  /** The content of `/.corex.meta` in the snapshot, if it has one. */
  readonly meta?: Uint8Array;
}

export interface SnapshotStore {
  /**
   * Back up the content of `rootDir` as the snapshot's root — paths relative to it, so
   * `restic ls` shows `/bin`, `/etc`, … — minus `excludeTopLevel`, plus `extraFiles`; ownership,
   * modes, symlinks, device nodes and timestamps as restic records them. Opens the repository at
   * `url` with `url.password` (creating it when `init`). `url.snapshot` is unset. Resolves to the
   * new snapshot's full ID.
   */
  backup(url: RepoUrl, rootDir: string, opts: StoreBackupOptions): Promise<string>;
  /**
   * Restore snapshot `url.snapshot` (full ID, unique prefix or `latest`) into `targetDir`, an
   * existing empty directory, with ownership, modes, symlinks, device nodes and timestamps.
   * `/.corex.meta` is returned as `meta` and not left in targetDir. NOT_FOUND for an unknown
   * snapshot, NO_REPOSITORY when there is no repository.
   */
  restore(
    url: RepoUrl & { readonly snapshot: string },
    targetDir: string,
    opts: StoreRestoreOptions,
  ): Promise<StoreRestoreResult>;
}
