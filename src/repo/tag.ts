// Changing a snapshot's tags (restic 0.14 cmd_tag.go changeTags): --set replaces the tags,
// otherwise --add appends the missing ones and --remove drops each given tag once (by moving
// the last tag into its place, as restic does). A changed snapshot is saved as a new file with
// `original` set to the first ID it ever had, and only then the old file is removed.

import type { Id } from "./id.js";
import type { Repository } from "./repository.js";
import { type Snapshot, serialiseSnapshot } from "./snapshot.js";
import type { SnapshotEntry } from "./snapshots.js";

export interface TagChange {
  /** Replace all tags (empty: leave them). */
  readonly set?: readonly string[];
  readonly add?: readonly string[];
  readonly remove?: readonly string[];
}

/** The snapshot with its tags changed, or undefined when nothing changes. */
export function changeTags(sn: Snapshot, change: TagChange): Snapshot | undefined {
  const set = change.set ?? [];
  if (set.length > 0) {
    const tags = set.length === 1 && set[0] === "" ? undefined : [...set];
    const out: Snapshot = { ...sn, tags };
    if (tags === undefined) delete out.tags;
    return out;
  }
  const tags = [...(sn.tags ?? [])];
  let changed = false;
  for (const a of change.add ?? []) {
    if (!tags.includes(a)) {
      tags.push(a);
      changed = true;
    }
  }
  for (const r of change.remove ?? []) {
    const i = tags.indexOf(r);
    if (i < 0) continue;
    tags[i] = tags[tags.length - 1];
    tags.pop();
    changed = true;
  }
  if (!changed) return undefined;
  const out: Snapshot = { ...sn, tags };
  if (tags.length === 0 && sn.tags === undefined) delete out.tags;
  return out;
}

/**
 * Apply `change` to a snapshot: save the new file (with `original`), then remove the old one.
 * Returns the new ID, or undefined when the tags stay as they are.
 */
export async function tagSnapshot(
  repo: Repository,
  entry: SnapshotEntry,
  change: TagChange,
): Promise<Id | undefined> {
  const changed = changeTags(entry.snapshot, change);
  if (changed === undefined) return undefined;
  changed.original ??= entry.id;
  const id = await repo.saveUnpacked("snapshot", serialiseSnapshot(changed));
  if (id !== entry.id) await repo.backend.remove({ type: "snapshot", name: entry.id });
  return id;
}
