// Choosing and grouping snapshots on the command line, for every command that takes them:
// restic's --host/--tag/--path filter flags, its FindFilteredSnapshots (cmd/restic/find.go:
// explicit IDs or "latest", else every snapshot that matches), the header it prints above a
// group of snapshots, and the -v count.

import { isResticTsError } from "../../errors.js";
import { formatTagList, type GroupKey } from "../../repo/forget.js";
import { goQuote } from "../../repo/gostring.js";
import type { Repository } from "../../repo/repository.js";
import {
  findSnapshot,
  findSnapshotId,
  listSnapshots,
  loadSnapshot,
  type SnapshotEntry,
  type SnapshotFilter,
  splitTagList,
} from "../../repo/snapshots.js";
import type { CommandContext, FlagValues, OptionSpec } from "../command.js";
import { flagList, goSlice } from "../read-common.js";

/** restic's --host/-H, --tag and --path flags for choosing snapshots. */
export const SNAPSHOT_FILTER_OPTIONS = {
  host: { type: "string", multiple: true, short: "H" },
  tag: { type: "string", multiple: true },
  path: { type: "string", multiple: true },
} as const satisfies OptionSpec;

/** The snapshot filter of the --host/--tag/--path flags. */
export function snapshotFilter(flags: FlagValues): SnapshotFilter {
  return {
    hosts: flagList(flags, "host"),
    tags: flagList(flags, "tag"),
    paths: flagList(flags, "path"),
  };
}

/**
 * The one snapshot `restore` or `dump` works on (an ID prefix, or "latest" with the filter
 * flags), as restic 0.14 finds it; when there is none, restic's message on stderr (no
 * "Fatal: ") and undefined, for exit code 1.
 */
export async function snapshotToRead(
  ctx: CommandContext,
  repo: Repository,
  ref: string,
  filter: SnapshotFilter,
): Promise<SnapshotEntry | undefined> {
  try {
    return await findSnapshot(repo, ref, filter);
  } catch (err) {
    if (!isResticTsError(err, "NOT_FOUND") && !isResticTsError(err, "AMBIGUOUS_ID")) throw err;
    ctx.io.error(
      ref === "latest"
        ? `latest snapshot for criteria not found: ${err.message} Paths:${goSlice(filter.paths)} Hosts:${goSlice(filter.hosts)}\n`
        : `invalid id ${goQuote(ref)}: ${err.message}\n`,
    );
    return undefined;
  }
}

/** The number of -v flags. */
export function verbosity(ctx: CommandContext): number {
  const v = ctx.global.verbose;
  return Array.isArray(v) ? v.length : v === true ? 1 : 0;
}

/**
 * restic's FindFilteredSnapshots: with `args`, those snapshots ("latest" = the newest matching
 * the filter), warning about and skipping the ones not found; without, every snapshot that
 * matches the filter, oldest first.
 */
export async function findFilteredSnapshots(
  ctx: CommandContext,
  repo: Repository,
  filter: SnapshotFilter,
  args: readonly string[],
): Promise<SnapshotEntry[]> {
  if (args.length === 0) return listSnapshots(repo, filter);
  const ids = await repo.listIds("snapshot");
  const chosen: string[] = [];
  let usedFilter = false;
  for (const arg of args) {
    if (arg === "latest") {
      usedFilter = true;
      try {
        chosen.push((await findSnapshot(repo, arg, filter)).id);
      } catch (err) {
        if (!isResticTsError(err, "NOT_FOUND")) throw err;
        const tags = goSlice((filter.tags ?? []).map((l) => formatTagList(splitTagList(l))));
        ctx.io.error(
          `Ignoring "latest", no snapshot matched given filter (Paths:${goSlice(filter.paths)} Tags:${tags} Hosts:${goSlice(filter.hosts)})\n`,
        );
      }
      continue;
    }
    try {
      chosen.push(findSnapshotId(arg, ids));
    } catch (err) {
      ctx.io.error(`Ignoring ${goQuote(arg)}: ${(err as Error).message}\n`);
    }
  }
  const { hosts = [], tags = [], paths = [] } = filter;
  if (!usedFilter && (hosts.length > 0 || tags.length > 0 || paths.length > 0)) {
    ctx.io.error("Ignoring filters as there are explicit snapshot ids given\n");
  }
  const out: SnapshotEntry[] = [];
  for (const id of [...new Set(chosen)]) {
    try {
      out.push({ id, snapshot: await loadSnapshot(repo, id) });
    } catch (err) {
      ctx.io.error(`Ignoring "${id}", could not load snapshot: ${(err as Error).message}\n`);
    }
  }
  return out;
}

/** The line restic prints above a group ("snapshots for (host [h], paths [/a]):"), if any. */
export function groupHeader(key: GroupKey): string | undefined {
  if (key.hostname === "" && key.tags === null && key.paths === null) return undefined;
  const info: string[] = [];
  if (key.hostname !== "") info.push(`host [${key.hostname}]`);
  if (key.tags !== null) info.push(`tags ${formatTagList(key.tags)}`);
  if (key.paths !== null) info.push(`paths [${key.paths.join(", ")}]`);
  return `snapshots for (${info.join(", ")}):`;
}
