// restic's snapshot table (cmd_snapshots.go PrintSnapshots over internal/ui/table): columns
// ID, Time, Host, Tags, [Reasons,] Paths; multi-line cells (one reason or path per line);
// widths in bytes as Go's len(); a blank line between rows when any snapshot has several paths;
// a footer "N snapshots". Also the JSON form of a snapshot with its id and short_id.

import { tryParseGoTime } from "../../repo/gotime.js";
import type { Id } from "../../repo/id.js";
import { type Snapshot, serialiseSnapshotText } from "../../repo/snapshot.js";
import type { SnapshotEntry } from "../../repo/snapshots.js";
import { formatLocalTime } from "../table.js";

const byteLength = (s: string) => Buffer.byteLength(s, "utf8");

/** internal/ui/table.Table.Write: header, rule, rows (cells may hold "\n"), rule, footer. */
export function formatGoTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  footer: readonly string[],
  blankLineBetweenRows = false,
): string {
  const widths = headers.map((h) => byteLength(h));
  for (const row of rows) {
    row.forEach((cell, i) => {
      for (const l of cell.split("\n")) widths[i] = Math.max(widths[i], byteLength(l));
    });
  }
  const total = widths.reduce((a, b) => a + b, 0) + (headers.length - 1) * 2;
  const lines = (cells: readonly string[]): string[] => {
    const split = cells.map((c) => c.split("\n"));
    const n = Math.max(1, ...split.map((s) => s.length));
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const parts = split.map((s, f) => {
        const v = s[i] ?? "";
        return v + " ".repeat(Math.max(0, widths[f] - byteLength(v)));
      });
      out.push(parts.join("  ").trimEnd());
    }
    return out;
  };
  const rule = "-".repeat(total);
  const out = [...lines(headers), rule];
  rows.forEach((row, i) => {
    const l = lines(row);
    if (blankLineBetweenRows && i > 0) l[0] = `\n${l[0]}`;
    out.push(...l);
  });
  out.push(rule, ...footer);
  return `${out.join("\n")}\n`;
}

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
  return formatGoTable(headers, rows, [`${sorted.length} snapshots`], multiline);
}

/** restic's JSON of a snapshot with "id" and "short_id" appended (cmd/restic Snapshot). */
export function snapshotJsonWithId(id: Id, sn: Snapshot): string {
  const text = serialiseSnapshotText(sn);
  return `${text.slice(0, -1)},"id":"${id}","short_id":"${id.slice(0, 8)}"}`;
}
