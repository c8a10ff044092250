// What the maintenance commands share: restic's --host/--tag/--path snapshot filters and
// FindFilteredSnapshots (explicit IDs or "latest", else every snapshot that matches), tag
// lists ("a,b" with spaces trimmed), and the -v count.

import { hasTags } from "../../repo/forget.js";
import { resolvePrefix } from "../../repo/id.js";
import type { Repository } from "../../repo/repository.js";
import type { Snapshot } from "../../repo/snapshot.js";
import {
  compareTime,
  listSnapshots,
  loadSnapshot,
  type SnapshotEntry,
} from "../../repo/snapshots.js";
import type { CommandContext, FlagValues, OptionSpec } from "../command.js";

export const FILTER_OPTIONS = {
  host: { type: "string", multiple: true, short: "H" },
  tag: { type: "string", multiple: true },
  path: { type: "string", multiple: true },
} as const satisfies OptionSpec;

export interface ResticFilter {
  readonly hosts: readonly string[];
  readonly tags: readonly (readonly string[])[];
  readonly paths: readonly string[];
}

/** restic's splitTagList: comma-separated, white space trimmed, empty entries kept. */
export function splitTagList(s: string): string[] {
  return s.split(",").map((t) => t.trim());
}

export function stringList(v: FlagValues[string]): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === "string");
}

export function filterFromFlags(flags: FlagValues): ResticFilter {
  return {
    hosts: stringList(flags.host),
    tags: stringList(flags.tag).map(splitTagList),
    paths: stringList(flags.path),
  };
}

/** restic's HasHostname && HasTagList && HasPaths. */
export function matchesResticFilter(sn: Snapshot, f: ResticFilter): boolean {
  if (f.hosts.length > 0 && !f.hosts.includes(sn.hostname)) return false;
  if (f.tags.length > 0 && !f.tags.some((l) => hasTags(sn.tags, l))) return false;
  const paths = sn.paths ?? [];
  return f.paths.every((p) => paths.includes(p));
}

/** The number of -v flags. */
export function verbosity(ctx: CommandContext): number {
  const v = ctx.global.verbose;
  return Array.isArray(v) ? v.length : v === true ? 1 : 0;
}

/** `[a b]` as Go's %v prints a string slice. */
export const goList = (l: readonly string[]) => `[${l.join(" ")}]`;

/**
 * restic's FindFilteredSnapshots: with `args`, those snapshots ("latest" = the newest matching
 * the filter), warning about and skipping the ones not found; without, every snapshot that
 * matches the filter, oldest first.
 */
export async function findFilteredSnapshots(
  ctx: CommandContext,
  repo: Repository,
  filter: ResticFilter,
  args: readonly string[],
): Promise<SnapshotEntry[]> {
  if (args.length === 0) {
    return (await listSnapshots(repo)).filter((e) => matchesResticFilter(e.snapshot, filter));
  }
  const ids = await repo.listIds("snapshot");
  const chosen: string[] = [];
  let usedFilter = false;
  for (const arg of args) {
    if (arg === "latest") {
      usedFilter = true;
      const all = (await listSnapshots(repo)).filter((e) =>
        matchesResticFilter(e.snapshot, filter),
      );
      const last = all.sort((a, b) => compareTime(a.snapshot.time, b.snapshot.time)).at(-1);
      if (last === undefined) {
        ctx.io.error(
          `Ignoring "latest", no snapshot matched given filter (Paths:${goList(filter.paths)} Tags:${goList(
            filter.tags.map((l) => goList(l)),
          )} Hosts:${goList(filter.hosts)})\n`,
        );
        continue;
      }
      chosen.push(last.id);
      continue;
    }
    try {
      chosen.push(resolvePrefix(arg, ids));
    } catch (err) {
      ctx.io.error(`Ignoring "${arg}": ${(err as Error).message}\n`);
    }
  }
  if (
    !usedFilter &&
    (filter.hosts.length > 0 || filter.tags.length > 0 || filter.paths.length > 0)
  ) {
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
