// The Backend seam: stores opaque repository files by {type, name}. Layout (which path a file
// lives at) is the backend's business; see layout.ts for restic's.

export type FileType = "config" | "key" | "snapshot" | "index" | "data" | "lock";

export const FILE_TYPES: readonly FileType[] = [
  "config",
  "key",
  "snapshot",
  "index",
  "data",
  "lock",
];

/** A file in the repository. `name` is the lower-case hex ID; it is "" (ignored) for config. */
export interface Handle {
  readonly type: FileType;
  readonly name: string;
}

export interface FileInfo {
  /** The handle's name: a 64-character lower-case hex ID, or "" for config. */
  readonly name: string;
  readonly size: number;
}

export interface ByteRange {
  /** First byte to read; a non-negative integer. */
  readonly offset: number;
  /** Bytes to read from `offset`; to the end of the file when omitted. */
  readonly length?: number;
}

/**
 * Contracts every backend keeps (checked by test/backends/suite.ts):
 * - Handles are validated before any I/O: `type` must be one of FILE_TYPES and, except for
 *   config (whose name is ignored), `name` must be 64 lower-case hex characters. Anything
 *   else (`..`, `/`, upper case, short IDs) rejects with INVALID_ARGUMENT, so no name can
 *   reach outside the repository.
 * - `save` is atomic: a reader sees the whole file or none of it, also after a crash.
 *   Saving an existing handle replaces it (restic files are content-addressed, so the
 *   content is the same). The caller may reuse `data` once the promise settles.
 * - `load` resolves with a fresh buffer the caller owns (later saves do not change it, and
 *   changing it does not change what is stored). `load` of a missing file rejects with code
 *   NOT_FOUND; a range past the end rejects with CORRUPT ("short read") instead of returning
 *   fewer bytes; a range with `offset` equal to the size and no/zero `length` is empty; a
 *   negative or non-integer offset or length rejects with INVALID_ARGUMENT.
 * - `stat` of a missing file rejects with NOT_FOUND.
 * - `list` yields each stored file of a type once, in no particular order; temp files of
 *   unfinished saves, and anything else that is not a valid name in its place, are never
 *   listed. `list("config")` yields `{name: "", size}` when the config exists. Listing a
 *   location that was never created yields nothing (it does not reject).
 * - `remove` of a missing file rejects with NOT_FOUND.
 * - `create` may be called on an existing repository; it adds what is missing and never
 *   removes or overwrites files. Only `create` and `save` may create directories.
 * - `location` is printable: it never contains a password.
 * - `close` is idempotent; no other method is called after it.
 */
export interface Backend {
  readonly location: string;
  /** Create the directory structure of a new repository (idempotent). */
  create(): Promise<void>;
  save(h: Handle, data: Uint8Array): Promise<void>;
  load(h: Handle, range?: ByteRange): Promise<Uint8Array>;
  stat(h: Handle): Promise<FileInfo>;
  list(type: FileType): AsyncIterable<FileInfo>;
  remove(h: Handle): Promise<void>;
  close(): Promise<void>;
  /**
   * Whether the location holds nothing at all: for a directory-based backend, the directory
   * does not exist or has no entries (after `create` it is no longer empty); for the memory
   * backend, no file is stored. `init` refuses a location that is not empty. Optional: a
   * backend that cannot tell leaves it out and `init` relies on `stat(config)` alone.
   */
  isEmpty?(): Promise<boolean>;
}
