// Finding snapshots (restic's `SNAPSHOT` arguments): a full ID, a unique ID prefix or `latest`,
// narrowed by host, tag and path filters as restic 0.14's --host/--tag/--path do
// (Snapshot.HasHostname, HasTagList, HasPaths; FindLatestSnapshot makes the paths absolute).

import * as nodePath from "node:path";
import { mapLimit } from "../backends/limit.js";
import { ResticTsError } from "../errors.js";
import { goQuote } from "./gostring.js";
import { parseGoTime } from "./gotime.js";
import type { Id } from "./id.js";
import type { Repository } from "./repository.js";
import { parseSnapshot, type Snapshot } from "./snapshot.js";

export interface SnapshotEntry {
  readonly id: Id;
  readonly snapshot: Snapshot;
}

export interface SnapshotFilter {
  /** Any of these hosts. */
  readonly hosts?: readonly string[];
  /**
   * Any of these tag lists; each entry is a comma-separated list (see splitTagList) the
   * snapshot must all carry. An empty tag matches snapshots without tags: `--tag ''`.
   */
  readonly tags?: readonly string[];
  /** The snapshot's paths must include all of these. */
  readonly paths?: readonly string[];
}

/** restic's splitTagList: comma-separated, white space trimmed, empty entries kept. */
export function splitTagList(s: string): string[] {
  return s.split(",").map((t) => t.trim());
}

/** restic's Snapshot.HasTags: carries every tag of `l`; "" matches a snapshot without tags. */
export function hasTags(tags: readonly string[] | undefined, l: readonly string[]): boolean {
  const have = tags ?? [];
  for (const tag of l) {
    if (tag === "" && have.length === 0) return true;
    if (!have.includes(tag)) return false;
  }
  return true;
}

export async function loadSnapshot(repo: Repository, id: Id): Promise<Snapshot> {
  return parseSnapshot(await repo.loadUnpacked("snapshot", id));
}

/** Every snapshot, oldest first (ties broken by ID). */
export async function listSnapshots(
  repo: Repository,
  filter: SnapshotFilter = {},
): Promise<SnapshotEntry[]> {
  const ids = await repo.listIds("snapshot");
  const entries = await mapLimit(ids, 8, async (id) => ({
    id,
    snapshot: await loadSnapshot(repo, id),
  }));
  return entries
    .filter((e) => matchesFilter(e.snapshot, filter))
    .sort((a, b) => compareTime(a.snapshot.time, b.snapshot.time) || (a.id < b.id ? -1 : 1));
}

/** restic's HasHostname && HasTagList && HasPaths. */
export function matchesFilter(sn: Snapshot, filter: SnapshotFilter): boolean {
  if (filter.hosts?.length && !filter.hosts.includes(sn.hostname)) return false;
  if (filter.tags?.length && !filter.tags.some((l) => hasTags(sn.tags, splitTagList(l)))) {
    return false;
  }
  const paths = sn.paths ?? [];
  return (filter.paths ?? []).every((p) => paths.includes(p));
}

/**
 * restic's Find (internal/restic/backend_find.go): the one ID of `ids` that starts with
 * `prefix`, compared as text; NOT_FOUND or AMBIGUOUS_ID, with restic's messages, otherwise.
 */
export function findSnapshotId(prefix: string, ids: readonly Id[]): Id {
  const matches = ids.filter((id) => id.startsWith(prefix));
  if (matches.length === 1) return matches[0];
  const q = goQuote(prefix);
  if (matches.length === 0) {
    throw new ResticTsError("NOT_FOUND", `no matching ID found for prefix ${q}`, { ref: prefix });
  }
  throw new ResticTsError("AMBIGUOUS_ID", `multiple IDs with prefix ${q} found`, { ref: prefix });
}

/**
 * Resolve `ref` (ID, unique prefix or "latest") to a snapshot, honouring `filter` for "latest"
 * (its paths made absolute, as restic's FindLatestSnapshot does).
 */
export async function findSnapshot(
  repo: Repository,
  ref: string,
  filter: SnapshotFilter = {},
): Promise<SnapshotEntry> {
  if (ref === "latest") {
    const paths = filter.paths?.map((p) => nodePath.resolve(p));
    const all = await listSnapshots(repo, { ...filter, paths });
    const last = all.at(-1);
    // restic's ErrNoSnapshotFound
    if (last === undefined) throw new ResticTsError("NOT_FOUND", "no snapshot found", { ref });
    return last;
  }
  const id = findSnapshotId(ref, await repo.listIds("snapshot"));
  return { id, snapshot: await loadSnapshot(repo, id) };
}

/** Order RFC 3339 timestamps by the instant they denote (Go's Time.Before / Time.Equal). */
export function compareTime(a: string, b: string): number {
  const x = parseGoTime(a);
  const y = parseGoTime(b);
  if (x.seconds !== y.seconds) return x.seconds < y.seconds ? -1 : 1;
  return Math.sign(x.nanos - y.nanos);
}
