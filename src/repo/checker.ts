// The repository checker (restic 0.14 `check`): runs the checks in restic's order and returns
// findings (it never throws for damage it finds):
//   1. key files parse (the config was checked when the repository was opened);
//   2. every index file loads (hints: legacy format, duplicate packs, mixed packs) — if one
//      does not, the check stops there, as restic's does;
//   3. every indexed pack exists with the size the index implies (unindexed packs are info);
//      each pack's header agrees with the index (read-data does this for the packs it reads);
//   4. every snapshot loads and its tree graph is complete: trees load, files' data blobs are
//      indexed, nodes are sane;
//   5. with read-data (or a subset): each selected pack is read once and verified in full.

import { sha256Hex } from "../crypto/hash.js";
import { isResticTsError } from "../errors.js";
import type { Finding } from "./check/findings.js";
import { describeError, errorFinding } from "./check/findings.js";
import { type LoadedIndexes, loadIndexesForCheck } from "./check/index-check.js";
import { checkPackFiles, checkPackHeaders } from "./check/packs.js";
import { type PackToRead, readPacks } from "./check/read-data.js";
import { checkStructure } from "./check/structure.js";
import { type ReadDataSubset, selectPacks } from "./check/subset.js";
import type { Id } from "./id.js";
import { IndexedRepository } from "./indexed.js";
import { parseKeyFile } from "./key-file.js";
import type { Repository } from "./repository.js";

export type { Finding, FindingKind, Severity } from "./check/findings.js";
export { parseReadDataSubset, type ReadDataSubset } from "./check/subset.js";

export type CheckPhase = "keys" | "index" | "packs" | "structure" | "read-data";

export interface CheckOptions {
  /** Read and verify every pack. */
  readonly readData?: boolean;
  /** Read and verify a subset of the packs (ignored when readData is set). */
  readonly readDataSubset?: ReadDataSubset;
  /** Compare pack headers with the index for packs not read in full (default true). */
  readonly checkHeaders?: boolean;
  /** Loads in flight for index files, headers and trees (default 8). */
  readonly concurrency?: number;
  /** Packs read at once by read-data on the main thread (default 2). */
  readonly readConcurrency?: number;
  /** Worker threads beside the main thread for read-data on a local repository (default:
   * one per further core, at most 3; 0: main thread only). */
  readonly readThreads?: number;
  /** Random source for percentage/size subsets. */
  readonly random?: () => number;
  /** Told when a phase starts; for read-data with the number of packs selected and in total. */
  readonly onPhase?: (phase: CheckPhase, info: { selected?: number; total?: number }) => void;
  /**
   * The index files, loaded already (check/index-check.ts loadIndexesForCheck): the command
   * loads them while its exclusive lock settles.
   */
  readonly loadedIndex?: Promise<LoadedIndexes>;
  /** Told about every finding as soon as it is known. */
  readonly onFinding?: (finding: Finding) => void;
  /** Told when a pack has been read (read-data progress). */
  readonly onPackRead?: (id: Id) => void;
  /**
   * Settles when the check may go on to reading pack data and finish (the command: when its
   * exclusive lock is confirmed, while the read-only phases before run); a rejection stops
   * the check with it.
   */
  readonly ready?: Promise<void>;
}

export interface CheckReport {
  readonly findings: readonly Finding[];
  /** Findings of severity "error": the check failed when > 0. */
  readonly errors: number;
  /** The check stopped after loading the index (restic: "LoadIndex returned errors"). */
  readonly stoppedAfterIndex: boolean;
  readonly snapshots: number;
  readonly trees: number;
  readonly packs: number;
  readonly packsRead: number;
}

export async function checkRepository(
  repo: Repository,
  options: CheckOptions = {},
): Promise<CheckReport> {
  const findings: Finding[] = [];
  const report = (list: readonly Finding[]) => {
    for (const f of list) {
      findings.push(f);
      options.onFinding?.(f);
    }
  };
  const concurrency = options.concurrency ?? 8;
  const done = (extra: Partial<CheckReport>): CheckReport => ({
    findings,
    errors: findings.filter((f) => f.severity === "error").length,
    stoppedAfterIndex: false,
    snapshots: 0,
    trees: 0,
    packs: 0,
    packsRead: 0,
    ...extra,
  });

  options.onPhase?.("keys", {});
  report(await checkKeys(repo));

  options.onPhase?.("index", {});
  const loaded = await (options.loadedIndex ?? loadIndexesForCheck(repo, concurrency));
  report(loaded.findings);
  if (loaded.findings.some((f) => f.kind === "index-load")) {
    return done({ stoppedAfterIndex: true, packs: loaded.packs.size });
  }

  options.onPhase?.("packs", {});
  const listing = await checkPackFiles(repo, loaded.packs);
  report(listing.findings);

  const readData = options.readData === true || options.readDataSubset !== undefined;
  const existing = new Map<Id, number>();
  for (const [id, p] of loaded.packs) if (listing.actual.has(id)) existing.set(id, p.size);
  const toRead = new Set(
    !readData
      ? []
      : options.readData
        ? [...existing.keys()]
        : selectPacks(existing, options.readDataSubset as ReadDataSubset, options.random),
  );
  // The pack headers (mostly waiting for reads) and the trees (mostly parsing) are checked
  // at the same time; their findings are reported in phase order all the same.
  const headers =
    (options.checkHeaders ?? true)
      ? checkPackHeaders(
          repo,
          new Map([...loaded.packs].filter(([id]) => !toRead.has(id))),
          listing.actual,
          concurrency,
        )
      : Promise.resolve([]);
  const indexed = new IndexedRepository(repo, loaded.index);
  const structureWork = (async () => {
    let snapshotIds: Id[] = [];
    let listingFailed: Finding | undefined;
    try {
      snapshotIds = (await repo.listIds("snapshot")).sort();
    } catch (err) {
      listingFailed = errorFinding(
        "snapshot-load",
        `listing snapshots failed: ${describeError(err)}`,
      );
    }
    return {
      listingFailed,
      structure: await checkStructure(indexed, snapshotIds, { concurrency }),
    };
  })();
  // both settle before either is reported: no rejection is left unhandled meanwhile
  const [headerFindings, structureResult] = await Promise.allSettled([headers, structureWork]);
  if (headerFindings.status === "rejected") throw headerFindings.reason;
  report(headerFindings.value);

  options.onPhase?.("structure", {});
  if (structureResult.status === "rejected") throw structureResult.reason;
  const { listingFailed, structure } = structureResult.value;
  if (listingFailed !== undefined) report([listingFailed]);
  report(structure.findings);

  let packsRead = 0;
  await options.ready;
  if (readData) {
    options.onPhase?.("read-data", { selected: toRead.size, total: loaded.packs.size });
    const packs: PackToRead[] = [...toRead].sort().map((id) => ({
      id,
      size: listing.actual.get(id) as number,
      blobs: loaded.packs.get(id)?.blobs ?? [],
    }));
    report(
      await readPacks(repo, packs, {
        concurrency: options.readConcurrency,
        threads: options.readThreads,
        onPack: (id) => {
          packsRead++;
          options.onPackRead?.(id);
        },
      }),
    );
  }
  return done({
    snapshots: structure.snapshots,
    trees: structure.trees,
    packs: loaded.packs.size,
    packsRead,
  });
}

async function checkKeys(repo: Repository): Promise<Finding[]> {
  const findings: Finding[] = [];
  let ids: Id[] = [];
  try {
    ids = (await repo.listIds("key")).sort();
  } catch (err) {
    return [errorFinding("key", `listing keys failed: ${describeError(err)}`)];
  }
  for (const id of ids) {
    try {
      const bytes = await repo.backend.load({ type: "key", name: id });
      if (sha256Hex(bytes) !== id) {
        findings.push(errorFinding("key", `key ${id}: content does not match its name (SHA-256)`));
        continue;
      }
      parseKeyFile(bytes);
    } catch (err) {
      const why = isResticTsError(err) ? err.message : describeError(err);
      findings.push(errorFinding("key", `key ${id}: ${why}`));
    }
  }
  return findings;
}
