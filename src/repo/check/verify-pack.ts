// Verifying one pack in full (restic 0.14 checker.checkPack), used by check --read-data on the
// main thread and in its worker threads (kept free of heavy imports for the workers' sake):
// read the file front to back, hash every byte (the name is the SHA-256), verify every blob
// the index places in it (MAC, decryption, decompression, SHA-256 = ID), then read the header
// and compare it with the index entries.

import type { Backend } from "../../backends/backend.js";
import { type MasterKey, open } from "../../crypto/master-key.js";
import { offThreadSha256 } from "../../crypto/sha256-offthread.js";
import type { Id } from "../id.js";
import type { IndexEntry } from "../master-index.js";
import { type PackBlob, packHeaderSize, readPackHeaderWith } from "../pack.js";
import {
  openPackFile,
  type PackEntry,
  type PackFile,
  type ScratchBuffer,
  scanPack,
  verifyBlob,
} from "../pack-stream.js";
import { describeError, type FindingKind } from "./findings.js";

export interface PackToRead {
  readonly id: Id;
  /** The file's size as listed (may differ from what the index implies). */
  readonly size: number;
  /** The index's entries for this pack. */
  readonly blobs: readonly IndexEntry[];
}

/**
 * Problems between a pack's header (blobs, header size including the length field) and the
 * index entries for that pack; empty when they agree.
 */
export function compareHeader(
  header: readonly PackBlob[],
  headerSize: number,
  indexBlobs: readonly IndexEntry[],
): string[] {
  const problems: string[] = [];
  const expectedHeader = packHeaderSize(indexBlobs);
  if (expectedHeader !== headerSize) {
    problems.push(`Pack header size does not match, want ${expectedHeader}, got ${headerSize}`);
  }
  // The index's entries in index order, each (type, ID, offset) once (a repeat replaces the
  // entry before it), chained by offset; those no header blob takes are reported at the end.
  const left: (IndexEntry | undefined)[] = [];
  const first = new Map<number, number>();
  const next: number[] = [];
  const find = (offset: number, b: { type: string; id: string }): number => {
    for (let i = first.get(offset) ?? -1; i >= 0; i = next[i]) {
      const e = left[i];
      if (e !== undefined && e.id === b.id && e.type === b.type) return i;
    }
    return -1;
  };
  for (const e of indexBlobs) {
    const i = find(e.offset, e);
    if (i >= 0) left[i] = e;
    else {
      next.push(first.get(e.offset) ?? -1);
      first.set(e.offset, left.push(e) - 1);
    }
  }
  for (const b of header) {
    const i = find(b.offset, b);
    const e = i < 0 ? undefined : left[i];
    if (
      e === undefined ||
      e.length !== b.length ||
      (e.uncompressedLength ?? 0) !== (b.uncompressedLength ?? 0)
    ) {
      problems.push(`Blob ${b.id} is not contained in index or position is incorrect`);
    } else {
      left[i] = undefined;
    }
  }
  for (const e of left) {
    if (e !== undefined)
      problems.push(`${e.type} blob ${e.id} is in the index but not in the pack header`);
  }
  return problems;
}

/** True when the index places the blobs back to back from offset 0 (restic's sanity check). */
function contiguous(blobs: readonly PackEntry[]): boolean {
  const sorted = [...blobs].sort((a, b) => a.offset - b.offset);
  let end = 0;
  for (const b of sorted) {
    if (b.offset !== end) return false;
    end = b.offset + b.length;
  }
  return true;
}

/** One thing wrong with a pack. */
export interface PackProblem {
  readonly kind: FindingKind;
  readonly text: string;
}

/** Read and verify one pack; the problems found (empty when it is sound). */
export async function verifyPack(
  backend: Backend,
  key: MasterKey,
  pack: PackToRead,
  buffer: ScratchBuffer,
): Promise<PackProblem[]> {
  const problems: PackProblem[] = [];
  const fail = (kind: FindingKind, text: string) => problems.push({ kind, text });
  const failBlob = (b: PackEntry, err: unknown) =>
    fail("blob", `blob ${b.id}: ${describeError(err)}`);
  const unreadable = (err: unknown): PackProblem => ({
    kind: "pack-read",
    text: `pack ${pack.id} failed to download: ${describeError(err)}`,
  });
  if (pack.blobs.length === 0) {
    return [{ kind: "pack-read", text: `pack ${pack.id} is empty or not indexed` }];
  }
  if (!contiguous(pack.blobs)) {
    fail("pack-index-layout", "Index for pack contains gaps / overlapping blobs");
  }
  let file: PackFile;
  try {
    file = await openPackFile(backend, pack.id, pack.size);
  } catch (err) {
    return [unreadable(err)];
  }
  try {
    // the file's SHA-256 runs on the thread pool while this thread verifies the blobs
    const hash = offThreadSha256();
    let skipped: PackEntry[];
    try {
      skipped = await scanPack(file, pack.blobs, {
        wholeFile: true,
        buffer,
        onBytes: (chunk) => hash.update(chunk),
        onBlob: async (entry, sealed) => {
          try {
            await verifyBlob(key, pack.id, entry, sealed);
          } catch (err) {
            failBlob(entry, err);
          }
        },
      });
    } catch (err) {
      await hash.digest().catch(() => {}); // frees it
      return [unreadable(err), ...problems];
    }
    for (const b of skipped) {
      if (b.offset + b.length > file.size) {
        failBlob(b, `lies beyond the end of the pack file (${file.size} bytes)`);
        continue;
      }
      try {
        const sealed = await file.read(b.offset, b.length, new Uint8Array(b.length));
        await verifyBlob(key, pack.id, b, sealed);
      } catch (err) {
        failBlob(b, err);
      }
    }
    const got = await hash.digest();
    if (got !== pack.id) {
      // restic reports only this: nothing else about the file can be trusted
      const text = `Pack ID does not match, want ${pack.id}, got ${got}`;
      return [{ kind: "pack-hash", text }, ...problems];
    }
    try {
      const header = await readPackHeaderWith(
        (offset, length) => file.read(offset, length, new Uint8Array(length)),
        file.size,
        (sealed) => open(key, sealed),
      );
      for (const text of compareHeader(header.blobs, header.headerSize, pack.blobs)) {
        fail("pack-header", text);
      }
    } catch (err) {
      fail("pack-header", `cannot read the pack header: ${describeError(err)}`);
    }
  } finally {
    await file.close();
  }
  return problems;
}
