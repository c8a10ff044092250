// Messages between the backup's main thread and its blob workers (the CPU half of restic's
// archiver pipeline: FileSaver + BlobSaver + packer). A worker reads whole files, splits them
// into restic's chunks, hashes them, asks the main thread which chunks are new (the "claim":
// index lookup and in-flight set live there), compresses and seals the new ones into its own
// data pack and hands finished packs back to be uploaded.

import type { Id } from "../id.js";
import type { SharedDataBlobs } from "../master-index.js";
import type { ExtendedAttribute } from "../node.js";
import type { PackBlob } from "../pack.js";
import type { SegmentResult, SegmentTask } from "./split.js";

/** What a worker needs to know about the repository (no secrets beyond the master key). */
export interface EngineConfig {
  /** The master key in restic's 64-byte encoding (encryption key || MAC k || MAC r). */
  readonly key: Uint8Array;
  readonly polynomial: bigint;
  readonly repoVersion: 1 | 2;
  /** zstd level for data blobs; undefined stores them uncompressed. */
  readonly zstdLevel: number | undefined;
  /** Target pack size (restic: 16 MiB). */
  readonly packSize: number;
  /** Chunker sizes (tests shrink them). */
  readonly minSize: number;
  readonly maxSize: number;
  /** Bytes per read(2) of a large file. */
  readonly readSize: number;
  /** Files at least this large are split over the workers (default split.ts SPLIT_MIN). */
  readonly splitSize?: number;
  /**
   * Write packs to temp files the main thread creates (a local repository) as they grow,
   * instead of building them whole in memory.
   */
  readonly packFiles?: boolean;
  /**
   * Read each whole file's extended attributes through its open descriptor (FileResult.xattrs),
   * where the worker can; the main thread reads those of the others.
   */
  readonly xattrs?: boolean;
  /**
   * Write each whole file's tree node here (FileResult.node) when its extended attributes are
   * known here too (read through the descriptor, or not wanted: `xattrsOff`), so the main
   * thread, which walks the tree, only places the text.
   */
  readonly fileNodes?: { readonly withAtime: boolean; readonly xattrsOff: boolean };
  /** The largest `unsized` file read at once; larger ones come back `unread` (default: none). */
  readonly unsizedMax?: number;
}

/** One file to read. */
export interface FileTask {
  /** The main thread's handle for the file. */
  readonly ref: number;
  /** A string, or the bytes of a path that is not UTF-8. */
  readonly path: string | Uint8Array;
  /** The file's name in its tree (a Go string), for its node (EngineConfig.fileNodes). */
  readonly name?: string;
  /**
   * The main thread has not stat'ed the file (its directory's listing says it is a regular
   * file): one larger than EngineConfig.unsizedMax is not read but answered with `unread`.
   */
  readonly unsized?: boolean;
  /** Only this segment of a large file split over several workers (split.ts). */
  readonly segment?: SegmentTask;
}

/** The file's status as read through the opened descriptor (restic builds the node from it). */
export interface OpenedStat {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly ino: bigint;
  readonly dev: bigint;
  readonly nlink: bigint;
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
  readonly atimeNs: bigint;
}

export interface FileResult {
  readonly ref: number;
  /** Set when the file could not be read; nothing else is then meaningful. */
  readonly error?: { readonly message: string; readonly code?: string };
  readonly stat?: OpenedStat;
  /** Data blob IDs in file order. */
  readonly content: Id[];
  /** Bytes read. */
  readonly size: number;
  /** New blobs this file added, and their plaintext bytes. */
  readonly newBlobs: number;
  readonly newBytes: number;
  /** For a segment task: its chunk layout and hand-off. */
  readonly segment?: SegmentResult;
  /** The file's extended attributes (null: none), when the worker read them (cfg.xattrs). */
  readonly xattrs?: ExtendedAttribute[] | null;
  /**
   * The file's tree node as restic writes it (node.ts serialiseNode), when the worker wrote it
   * (EngineConfig.fileNodes); `stat`, `content` and `xattrs` are then left out.
   */
  readonly node?: string;
  /** The size of an `unsized` file over EngineConfig.unsizedMax, which was not read. */
  readonly unread?: number;
}

/**
 * A finished data pack named `id`, `length` bytes: in memory (`buffer[0, length)`), or written
 * whole to the temp file at `path` (packFiles), which the main thread renames into place.
 */
export type FinishedPack = {
  readonly id: Id;
  readonly length: number;
  readonly blobs: PackBlob[];
} & ({ readonly buffer: ArrayBuffer } | { readonly path: string });

// --- wire messages ---------------------------------------------------------------------------

export type ToWorker =
  | { readonly t: "job"; readonly job: number; readonly files: FileTask[] }
  | { readonly t: "flush"; readonly job: number }
  /** The data blobs indexed when the backup began (BlobEngine.setKnown). */
  | { readonly t: "known"; readonly blobs: SharedDataBlobs }
  | { readonly t: "exit" };

/** Replies on the synchronous port (the worker blocks on them). */
export type SyncReply =
  | { readonly t: "claimed"; readonly store: Uint8Array }
  | { readonly t: "buffer"; readonly buffer: ArrayBuffer }
  /** A temp file for the next pack: its path and the main thread's open descriptor (-1: failed). */
  | { readonly t: "file"; readonly path: string; readonly fd: number };

export type FromWorker =
  | { readonly t: "ready" }
  | { readonly t: "claim"; readonly ids: Id[]; readonly bytesRead: number }
  /** File bytes read since the last claim, when there was nothing to claim. */
  | { readonly t: "read"; readonly bytes: number }
  | { readonly t: "buffer?" }
  | { readonly t: "file?" }
  | { readonly t: "pack"; readonly pack: FinishedPack }
  | { readonly t: "done"; readonly job: number; readonly results: FileResult[] }
  | { readonly t: "flushed"; readonly job: number }
  | { readonly t: "fatal"; readonly message: string };
