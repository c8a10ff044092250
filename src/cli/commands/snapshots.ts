// `restic-ts snapshots [--host H] [--tag T] [--path P] [--latest N] [-c] [-g GROUP] [ID...]`:
// restic 0.14's cmd_snapshots.go — a table (ID, Time, Host, Tags, Paths; oldest first; a
// blank line between snapshots when one has several paths; "N snapshots" below), or with
// --json the snapshot objects with `id` and `short_id` added (grouped with --group-by).

import { ResticTsError } from "../../errors.js";
import { groupSnapshots, parseGroupBy } from "../../repo/forget.js";
import { compareTime, type SnapshotEntry } from "../../repo/snapshots.js";
import type { Command } from "../command.js";
import { withReadLock } from "../read-common.js";
import {
  findFilteredSnapshots,
  groupHeader,
  SNAPSHOT_FILTER_OPTIONS,
  snapshotFilter,
} from "./snapshot-args.js";
import { formatSnapshotTable, snapshotJson } from "./snapshot-table.js";

/** restic's FilterLastestSnapshots: the newest `n` per host and (sorted) paths. */
function latestPerHostAndPaths(list: readonly SnapshotEntry[], n: number): SnapshotEntry[] {
  return groupSnapshots(list, { host: true, paths: true, tags: false }).flatMap((g) =>
    g.snapshots.sort((a, b) => compareTime(b.snapshot.time, a.snapshot.time)).slice(0, n),
  );
}

export const snapshotsCommand: Command = {
  name: "snapshots",
  summary: "List all snapshots",
  usage: "snapshots [--host H] [--tag T] [--path P] [--latest N] [-c] [-g host,paths,tags] [ID...]",
  options: {
    ...SNAPSHOT_FILTER_OPTIONS,
    compact: { type: "boolean", short: "c" },
    latest: { type: "string" },
    "group-by": { type: "string", short: "g" },
  },
  async run(ctx, args, flags) {
    const latest = flags.latest === undefined ? 0 : Number(flags.latest);
    if (!Number.isInteger(latest) || latest < 0) {
      throw new ResticTsError("INVALID_ARGUMENT", `invalid value for --latest: ${flags.latest}`);
    }
    const by = parseGroupBy((flags["group-by"] as string | undefined) ?? "");
    const repo = await ctx.openRepository();
    const entries = await withReadLock(ctx, repo, () =>
      findFilteredSnapshots(ctx, repo, snapshotFilter(flags), args),
    );
    const groups = groupSnapshots(entries, by).map((g) => {
      const list = latest > 0 ? latestPerHostAndPaths(g.snapshots, latest) : g.snapshots;
      list.sort((a, b) => compareTime(a.snapshot.time, b.snapshot.time));
      return { ...g, list };
    });
    const grouped = by.host || by.paths || by.tags;
    if (ctx.json) {
      if (grouped) {
        const parts = groups.map(
          (g) =>
            `{"group_key":${g.keyJson},"snapshots":[${g.list.map((e) => snapshotJson(e)).join(",")}]}`,
        );
        ctx.print(`[${parts.join(",")}]`);
      } else {
        ctx.print(`[${groups.flatMap((g) => g.list.map((e) => snapshotJson(e))).join(",")}]`);
      }
      return 0;
    }
    let out = "";
    for (const g of groups) {
      const header = grouped ? groupHeader(g.key) : undefined;
      if (header !== undefined) out += `${header}\n`;
      out += formatSnapshotTable(g.list, undefined, flags.compact === true);
    }
    ctx.io.write(out);
    return 0;
  },
};
