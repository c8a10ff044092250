// check, step 1 (restic 0.14 checker.LoadIndex): load every index file on its own — as restic
// does, superseded files included — and merge them. A file that cannot be loaded is an error;
// the legacy format, a pack listed in several index files, and a pack holding both tree and
// data blobs are hints. The pack sizes the index implies (header + blobs) come out too.

import { loadInOrder } from "../../backends/limit.js";
import type { Id } from "../id.js";
import { readIndexFile } from "../index-scan.js";
import { type IndexEntry, MasterIndex } from "../master-index.js";
import { entrySize, HEADER_LENGTH_SIZE } from "../pack.js";
import type { Repository } from "../repository.js";
import { describeError, errorFinding, type Finding } from "./findings.js";

/** Bytes a pack has besides its blobs and header entries: the sealed header's IV + MAC, the length. */
const PACK_FIXED_OVERHEAD = 32 + HEADER_LENGTH_SIZE;

export interface IndexedPack {
  /** The size the index implies: blobs + header entries + overhead (restic's pack.Size). */
  readonly size: number;
  readonly blobs: readonly IndexEntry[];
  readonly hasData: boolean;
  readonly hasTree: boolean;
}

export interface LoadedIndexes {
  readonly index: MasterIndex;
  /** Every index file listed. */
  readonly indexIds: readonly Id[];
  /** Packs the index knows, with their blobs. */
  readonly packs: ReadonlyMap<Id, IndexedPack>;
  readonly findings: readonly Finding[];
}

/** restic's pack.Size for one pack's entries. */
export function packSizeFromEntries(blobs: readonly IndexEntry[]): number {
  let size = PACK_FIXED_OVERHEAD;
  for (const b of blobs) size += b.length + entrySize(b);
  return size;
}

export async function loadIndexesForCheck(
  repo: Repository,
  concurrency = 8,
): Promise<LoadedIndexes> {
  const findings: Finding[] = [];
  const indexIds = (await repo.listIds("index")).sort();
  const index = new MasterIndex();
  const packToIndexes = new Map<Id, Id[]>();
  const hints: Finding[] = [];
  // each file is merged as soon as it and those before it are read (not all held at once)
  await loadInOrder(
    indexIds,
    concurrency,
    async (id) => {
      try {
        return readIndexFile(await repo.loadUnpacked("index", id));
      } catch (err) {
        findings.push(
          errorFinding("index-load", `error loading index ${id}: ${describeError(err)}`, {
            indexId: id,
          }),
        );
        return undefined;
      }
    },
    (file, id) => {
      if (file === undefined) return;
      if (file.oldFormat) {
        hints.push({
          kind: "index-old-format",
          severity: "hint",
          message: `index ${id} has old format`,
          indexId: id,
        });
      }
      file.addTo(index);
      for (const packId of file.packIds()) {
        const list = packToIndexes.get(packId);
        if (list === undefined) packToIndexes.set(packId, [id]);
        else if (!list.includes(id)) list.push(id);
      }
    },
  );
  findings.push(...hints);
  const packs = new Map<Id, IndexedPack>();
  for (const { packId, blobs } of index.byPack()) {
    let hasData = false;
    let hasTree = false;
    for (const b of blobs) {
      if (b.type === "data") hasData = true;
      else hasTree = true;
    }
    packs.set(packId, { size: packSizeFromEntries(blobs), blobs, hasData, hasTree });
  }
  for (const [packId, p] of [...packs].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const ids = packToIndexes.get(packId) ?? [];
    if (ids.length > 1) {
      findings.push({
        kind: "index-duplicate-pack",
        severity: "hint",
        message: `pack ${packId} contained in several indexes: {${ids.sort().join(" ")}}`,
        packId,
      });
    }
    if (p.hasData && p.hasTree) {
      findings.push({
        kind: "mixed-pack",
        severity: "hint",
        message: `pack ${packId.slice(0, 8)} contains a mix of tree and data blobs`,
        packId,
      });
    }
  }
  return { index, indexIds, packs, findings };
}
