// `restic-ts forget [policy flags] [--group-by host,paths] [--dry-run] [--prune] [ID…]`:
// remove snapshots by restic's policy (or the given IDs), printing restic 0.14's tables
// ("keep N snapshots:" with Reasons, "remove N snapshots:") or, with --json, its ForgetGroup
// list. Exclusive lock (none with --dry-run --no-lock); --prune then prunes under the same lock.

import { ResticTsError } from "../../errors.js";
import {
  applyPolicy,
  describePolicy,
  type ExpirePolicy,
  groupSnapshots,
  isPolicyEmpty,
  type KeepReason,
  makePolicy,
  parseDuration,
  parseGroupBy,
} from "../../repo/forget.js";
import { goJsonString } from "../../repo/gostring.js";
import type { Id } from "../../repo/id.js";
import { withLock } from "../../repo/lock.js";
import { removeFiles } from "../../repo/rebuild-index.js";
import type { Repository } from "../../repo/repository.js";
import { serialiseSnapshotText } from "../../repo/snapshot.js";
import { type SnapshotEntry, splitTagList } from "../../repo/snapshots.js";
import type { Command, CommandContext, FlagValues } from "../command.js";
import { flagList } from "../read-common.js";
import { cliLog, idSetString, PRUNE_OPTIONS, pruneOptionsFromFlags, runPrune } from "./prune.js";
import {
  findFilteredSnapshots,
  groupHeader,
  SNAPSHOT_FILTER_OPTIONS,
  snapshotFilter,
  verbosity,
} from "./snapshot-args.js";
import { formatSnapshotTable, snapshotJson } from "./snapshot-table.js";

function intFlag(flags: FlagValues, name: string): number {
  const v = flags[name];
  if (v === undefined) return 0;
  const s = String(Array.isArray(v) ? v.at(-1) : v);
  if (!/^[+-]?\d+$/.test(s)) {
    throw new ResticTsError("INVALID_ARGUMENT", `invalid argument "${s}" for "--${name}" flag`);
  }
  return Number(s);
}

function durationFlag(flags: FlagValues, name: string) {
  const v = flags[name];
  if (v === undefined) return undefined;
  try {
    return parseDuration(String(Array.isArray(v) ? v.at(-1) : v));
  } catch (err) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `invalid argument "${String(v)}" for "--${name}" flag: ${(err as Error).message}`,
    );
  }
}

export function policyFromFlags(flags: FlagValues): ExpirePolicy {
  const p: Record<string, unknown> = {
    last: intFlag(flags, "keep-last"),
    hourly: intFlag(flags, "keep-hourly"),
    daily: intFlag(flags, "keep-daily"),
    weekly: intFlag(flags, "keep-weekly"),
    monthly: intFlag(flags, "keep-monthly"),
    yearly: intFlag(flags, "keep-yearly"),
    tags: flagList(flags, "keep-tag").map(splitTagList),
  };
  const withins = {
    within: "keep-within",
    withinHourly: "keep-within-hourly",
    withinDaily: "keep-within-daily",
    withinWeekly: "keep-within-weekly",
    withinMonthly: "keep-within-monthly",
    withinYearly: "keep-within-yearly",
  } as const;
  for (const [k, flag] of Object.entries(withins)) {
    const d = durationFlag(flags, flag);
    if (d !== undefined) p[k] = d;
  }
  return makePolicy(p as Partial<ExpirePolicy>);
}

function countersJson(r: KeepReason): string {
  const parts = Object.entries(r.counters).map(([k, v]) => `"${k}":${v}`);
  return `{${parts.join(",")}}`;
}

function snapshotsJson(list: readonly SnapshotEntry[]): string {
  if (list.length === 0) return "null";
  return `[${list.map((e) => snapshotJson(e)).join(",")}]`;
}

function listJson(list: readonly string[] | null): string {
  return list === null ? "null" : `[${list.map(goJsonString).join(",")}]`;
}

/** One element of restic's JSON output: ForgetGroup. */
function groupJson(
  key: { hostname: string; paths: readonly string[] | null; tags: readonly string[] | null },
  keep: readonly SnapshotEntry[],
  remove: readonly SnapshotEntry[],
  reasons: readonly KeepReason[],
): string {
  const reasonJson = reasons.map((r) => {
    const matches = r.matches.length === 0 ? "null" : listJson(r.matches);
    const sn = serialiseSnapshotText(r.snapshot.snapshot);
    return `{"snapshot":${sn},"matches":${matches},"counters":${countersJson(r)}}`;
  });
  return (
    `{"tags":${listJson(key.tags)},"host":${goJsonString(key.hostname)},"paths":${listJson(key.paths)},` +
    `"keep":${snapshotsJson(keep)},"remove":${snapshotsJson(remove)},` +
    `"reasons":${reasons.length === 0 ? "null" : `[${reasonJson.join(",")}]`}}`
  );
}

async function runForget(
  ctx: CommandContext,
  repo: Repository,
  args: string[],
  flags: FlagValues,
  policy: ExpirePolicy,
  dryRun: boolean,
): Promise<void> {
  const snapshots = await findFilteredSnapshots(ctx, repo, snapshotFilter(flags), args);
  const removeIds = new Set<Id>();
  const jsonGroups: string[] = [];
  if (args.length > 0) {
    for (const e of snapshots) removeIds.add(e.id);
  } else {
    const groups = groupSnapshots(
      snapshots,
      parseGroupBy((flags["group-by"] as string) ?? "host,paths"),
    );
    if (isPolicyEmpty(policy)) {
      if (!ctx.json) ctx.verbose("no policy was specified, no snapshots will be removed");
    } else {
      if (!ctx.json) ctx.verbose(`Applying Policy: ${describePolicy(policy)}`);
      const compact = flags.compact === true;
      for (const g of groups) {
        if (verbosity(ctx) >= 1 && !ctx.json) {
          const h = groupHeader(g.key);
          if (h !== undefined) ctx.print(h);
        }
        const { keep, remove, reasons } = applyPolicy(g.snapshots, policy);
        const text = !ctx.quiet && !ctx.json;
        if (keep.length > 0 && text) {
          const why = new Map(reasons.map((r) => [r.snapshot.id, r.matches]));
          ctx.print(`keep ${keep.length} snapshots:`);
          ctx.io.write(formatSnapshotTable(keep, why, compact));
          ctx.print("");
        }
        if (remove.length > 0 && text) {
          ctx.print(`remove ${remove.length} snapshots:`);
          ctx.io.write(formatSnapshotTable(remove, undefined, compact));
          ctx.print("");
        }
        jsonGroups.push(groupJson(g.key, keep, remove, reasons));
        for (const e of remove) removeIds.add(e.id);
      }
    }
  }
  if (removeIds.size > 0) {
    if (!dryRun) {
      await removeFiles(repo, "snapshot", removeIds, cliLog(ctx), true);
    } else if (!ctx.json) {
      ctx.io.write(`Would have removed the following snapshots:\n${idSetString(removeIds)}\n\n`);
    }
  }
  if (ctx.json && jsonGroups.length > 0) ctx.io.write(`[${jsonGroups.join(",")}]\n`);
  if (removeIds.size > 0 && flags.prune === true) {
    if (!ctx.json) ctx.verbose(`${removeIds.size} snapshots have been removed, running prune`);
    await runPrune(
      ctx,
      repo,
      { ...pruneOptionsFromFlags(flags), ignoreSnapshots: removeIds },
      dryRun,
    );
  }
}

export const forgetCommand: Command = {
  name: "forget",
  summary: "Remove snapshots from the repository",
  usage: "forget [flags] [snapshot ID] [...]",
  options: {
    "keep-last": { type: "string", short: "l" },
    "keep-hourly": { type: "string", short: "H" },
    "keep-daily": { type: "string", short: "d" },
    "keep-weekly": { type: "string", short: "w" },
    "keep-monthly": { type: "string", short: "m" },
    "keep-yearly": { type: "string", short: "y" },
    "keep-within": { type: "string" },
    "keep-within-hourly": { type: "string" },
    "keep-within-daily": { type: "string" },
    "keep-within-weekly": { type: "string" },
    "keep-within-monthly": { type: "string" },
    "keep-within-yearly": { type: "string" },
    "keep-tag": { type: "string", multiple: true },
    ...SNAPSHOT_FILTER_OPTIONS,
    host: { type: "string", multiple: true }, // -H is --keep-hourly here
    hostname: { type: "string", multiple: true },
    compact: { type: "boolean", short: "c" },
    "group-by": { type: "string", short: "g" },
    "dry-run": { type: "boolean", short: "n" },
    prune: { type: "boolean" },
    ...PRUNE_OPTIONS,
  },
  async run(ctx, args, flags) {
    const merged: FlagValues = {
      ...flags,
      host: [...flagList(flags, "host"), ...flagList(flags, "hostname")],
    };
    pruneOptionsFromFlags(merged); // restic verifies the prune flags first
    const policy = policyFromFlags(merged);
    const dryRun = merged["dry-run"] === true;
    const noLock = ctx.global["no-lock"] === true;
    if (noLock && !dryRun) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        "--no-lock is only applicable in combination with --dry-run for forget command",
      );
    }
    const repo = await ctx.openRepository();
    const go = () => runForget(ctx, repo, args, merged, policy, dryRun);
    if (dryRun && noLock) await go();
    else await withLock(repo, true, go);
    return 0;
  },
};
