// `restic-ts snapshots [--host H] [--tag T] [--path P] [--latest N] [-c] [-g GROUP] [ID...]`:
// restic 0.14's cmd_snapshots.go — a table (ID, Time, Host, Tags, Paths; oldest first; a
// blank line between snapshots when one has several paths; "N snapshots" below), or with
// --json the snapshot objects with `id` and `short_id` added (grouped with --group-by).

import { ResticTsError } from "../../errors.js";
import { goJsonString } from "../../repo/gostring.js";
import {
  compareTime,
  findSnapshot,
  listSnapshots,
  loadSnapshot,
  type SnapshotEntry,
} from "../../repo/snapshots.js";
import type { Command } from "../command.js";
import { SNAPSHOT_FILTER_OPTIONS, snapshotFilter, withReadLock } from "../read-common.js";
import { formatSnapshotTable, snapshotJson } from "./snapshot-table.js";

/** restic's FilterLastestSnapshots: the newest `n` per (host, sorted paths). */
export function latestPerHostAndPaths(list: readonly SnapshotEntry[], n: number): SnapshotEntry[] {
  const newestFirst = [...list].sort((a, b) => compareTime(b.snapshot.time, a.snapshot.time));
  const seen = new Map<string, number>();
  const out: SnapshotEntry[] = [];
  for (const e of newestFirst) {
    const key = `${e.snapshot.hostname}\0${[...(e.snapshot.paths ?? [])].sort().join("|")}`;
    const k = seen.get(key) ?? 0;
    if (k < n) {
      seen.set(key, k + 1);
      out.push(e);
    }
  }
  return out;
}

interface GroupKey {
  hostname: string;
  paths: string[] | null;
  tags: string[] | null;
}

function groupKeyJson(k: GroupKey): string {
  const list = (l: string[] | null) => (l === null ? "null" : `[${l.map(goJsonString).join(",")}]`);
  return `{"hostname":${goJsonString(k.hostname)},"paths":${list(k.paths)},"tags":${list(k.tags)}}`;
}

/** restic's GroupSnapshots: by any of host, paths, tags (comma-separated). */
export function groupSnapshots(
  list: readonly SnapshotEntry[],
  groupBy: string,
): { key: GroupKey; list: SnapshotEntry[] }[] {
  const by = new Set(groupBy.split(",").filter((s) => s !== ""));
  for (const b of by) {
    if (b !== "host" && b !== "paths" && b !== "tags") {
      throw new ResticTsError("INVALID_ARGUMENT", `unknown grouping option: '${b}'`);
    }
  }
  const groups = new Map<string, { key: GroupKey; list: SnapshotEntry[] }>();
  for (const e of list) {
    const key: GroupKey = {
      hostname: by.has("host") ? e.snapshot.hostname : "",
      paths: by.has("paths") ? [...(e.snapshot.paths ?? [])].sort() : null,
      tags: by.has("tags") ? [...(e.snapshot.tags ?? [])].sort() : null,
    };
    const k = groupKeyJson(key);
    let g = groups.get(k);
    if (g === undefined) {
      g = { key, list: [] };
      groups.set(k, g);
    }
    g.list.push(e);
  }
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
}

function groupHeader(k: GroupKey): string {
  if (k.hostname === "" && k.tags === null && k.paths === null) return "";
  const info: string[] = [];
  if (k.hostname !== "") info.push(`host [${k.hostname}]`);
  if (k.tags !== null) info.push(`tags [${k.tags.join(", ")}]`);
  if (k.paths !== null) info.push(`paths [${k.paths.join(", ")}]`);
  return `snapshots for (${info.join(", ")}):\n`;
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
    const repo = await ctx.openRepository();
    const filter = snapshotFilter(flags);
    const entries = await withReadLock(ctx, repo, async () => {
      if (args.length === 0) return listSnapshots(repo, filter);
      const out: SnapshotEntry[] = [];
      const seen = new Set<string>();
      for (const arg of args) {
        try {
          const e =
            arg === "latest"
              ? await findSnapshot(repo, arg, filter)
              : { id: (await findSnapshot(repo, arg)).id, snapshot: undefined };
          if (seen.has(e.id)) continue;
          seen.add(e.id);
          out.push({ id: e.id, snapshot: e.snapshot ?? (await loadSnapshot(repo, e.id)) });
        } catch (err) {
          ctx.io.error(`Ignoring "${arg}": ${(err as Error).message}\n`);
        }
      }
      return out;
    });
    const groups = groupSnapshots(entries, (flags["group-by"] as string | undefined) ?? "");
    for (const g of groups) {
      if (latest > 0) g.list = latestPerHostAndPaths(g.list, latest);
      g.list.sort((a, b) => compareTime(a.snapshot.time, b.snapshot.time));
    }
    const grouped = ((flags["group-by"] as string | undefined) ?? "") !== "";
    if (ctx.json) {
      if (grouped) {
        const parts = groups.map(
          (g) =>
            `{"group_key":${groupKeyJson(g.key)},"snapshots":[${g.list.map((e) => snapshotJson(e)).join(",")}]}`,
        );
        ctx.print(`[${parts.join(",")}]`);
      } else {
        ctx.print(`[${groups.flatMap((g) => g.list.map((e) => snapshotJson(e))).join(",")}]`);
      }
      return 0;
    }
    let out = "";
    for (const g of groups) {
      if (grouped) out += groupHeader(g.key);
      out += formatSnapshotTable(g.list, undefined, flags.compact === true);
    }
    if (groups.length === 0) out = formatSnapshotTable([], undefined, flags.compact === true);
    ctx.io.write(out);
    return 0;
  },
};
