// The Backend seam: stores opaque repository files by {type, name}. Layout (which path a file
// lives at) is the backend's business; see layout.ts for restic's.

export type FileType = "config" | "key" | "snapshot" | "index" | "data" | "lock";

export const FILE_TYPES: readonly FileType[] = ["config", "key", "snapshot", "index", "data", "lock"];

/** A file in the repository. `name` is the lower-case hex ID; it is "" (ignored) for config. */
export interface Handle {
  readonly type: FileType;
  readonly name: string;
}

export interface FileInfo {
  readonly name: string;
  readonly size: number;
}

export interface ByteRange {
  readonly offset: number;
  /** Bytes to read from `offset`; to the end of the file when omitted. */
  readonly length?: number;
}

/**
 * Contracts every backend keeps (checked by test/backends/suite.ts):
 * - `save` is atomic: a reader sees the whole file or none of it, also after a crash.
 *   Saving an existing handle replaces it (restic files are content-addressed, so the
 *   content is the same).
 * - `load` of a missing file rejects with code NOT_FOUND; a range past the end rejects
 *   with CORRUPT ("short read") instead of returning fewer bytes.
 * - `list` yields each stored file of a type once, in no particular order; temp files of
 *   unfinished saves are never listed.
 * - `remove` of a missing file rejects with NOT_FOUND.
 * - `location` is printable: it never contains a password.
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
}
