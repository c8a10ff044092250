// restic's snapshot table (cmd_snapshots.go PrintSnapshots over internal/ui/table): columns
// ID, Time, Host, Tags, [Reasons,] Paths; multi-line cells (one reason or path per line);
// widths in bytes as Go's len(); a blank line between rows when any snapshot has several paths;
// a footer "N snapshots". Also the JSON form of a snapshot with its id and short_id.

import { tryParseGoTime } from "../../repo/gotime.js";
import type { Id } from "../../repo/id.js";
import { type Snapshot, serialiseSnapshotText } from "../../repo/snapshot.js";
import type { SnapshotEntry } from "../../repo/snapshots.js";
import { formatLocalTime, formatTable } from "../table.js";

/** "2006-01-02 15:04:05" in the local zone, as restic shows snapshot times. */
export function localSnapshotTime(time: string): string {
  const t = tryParseGoTime(time);
  if (t === undefined) return time;
  return formatLocalTime(new Date(Number(t.seconds) * 1000));
}

/**
 * restic's PrintSnapshots: `list` sorted oldest first (stably); with `reasons` (snapshot ID →
 * the rules that keep it) a Reasons column.
 */
export function formatSnapshotTable(
  list: readonly SnapshotEntry[],
  reasons?: ReadonlyMap<Id, readonly string[]>,
  compact = false,
): string {
  const sorted = list
    .map((e, i) => ({ e, i, t: tryParseGoTime(e.snapshot.time) }))
    .sort((a, b) => {
      const ta = a.t === undefined ? 0n : a.t.seconds * 1_000_000_000n + BigInt(a.t.nanos);
      const tb = b.t === undefined ? 0n : b.t.seconds * 1_000_000_000n + BigInt(b.t.nanos);
      return ta < tb ? -1 : ta > tb ? 1 : a.i - b.i;
    })
    .map((x) => x.e);
  const withReasons = reasons !== undefined && reasons.size > 0;
  const headers = compact
    ? ["ID", "Time", "Host", "Tags  "]
    : ["ID", "Time", "Host      ", "Tags      ", ...(withReasons ? ["Reasons"] : []), "Paths"];
  let multiline = false;
  const rows = sorted.map(({ id, snapshot: sn }) => {
    const tags = sn.tags ?? [];
    const paths = sn.paths ?? [];
    if (paths.length > 1 && !compact) multiline = true;
    const base = [id.slice(0, 8), localSnapshotTime(sn.time), sn.hostname];
    if (compact) return [...base, tags.join("\n")];
    return [
      ...base,
      tags.join(","),
      ...(withReasons ? [(reasons.get(id) ?? []).join("\n")] : []),
      paths.join("\n"),
    ];
  });
  return formatTable(headers, rows, [`${sorted.length} snapshots`], multiline);
}

/** A snapshot's JSON as restic 0.14 prints it: its own fields (0.14's), then id, short_id. */
export function snapshotJson(entry: SnapshotEntry, extra = ""): string {
  const sn: Snapshot = { ...entry.snapshot, programVersion: undefined, summary: undefined };
  const text = serialiseSnapshotText(sn);
  return `${text.slice(0, -1)},"id":"${entry.id}","short_id":"${entry.id.slice(0, 8)}"${extra}}`;
}
