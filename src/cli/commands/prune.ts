// `restic-ts prune [--dry-run] [--max-unused 5%|size|unlimited] [--max-repack-size size]
// [--repack-cacheable-only] [--repack-small] [--repack-uncompressed]`: remove unneeded data
// under an exclusive lock, printing restic 0.14's statistics. The flags are shared with
// `forget --prune`, which calls runPrune with the snapshots it removed.

import { ResticTsError } from "../../errors.js";
import { parseSize } from "../../repo/check/subset.js";
import type { Id } from "../../repo/id.js";
import type { IndexedRepository } from "../../repo/indexed.js";
import { withLock } from "../../repo/lock.js";
import {
  executePrune,
  loadIndexForPrune,
  type MaxUnused,
  type PruneOptions,
  type PrunePlan,
  type PruneStats,
  planPrune,
} from "../../repo/prune.js";
import type { MaintenanceLog } from "../../repo/rebuild-index.js";
import type { Repository } from "../../repo/repository.js";
import type { Command, CommandContext, FlagValues, OptionSpec } from "../command.js";
import { formatBytes, formatPercent } from "../progress.js";
import { verbosity } from "./snapshot-args.js";

export const PRUNE_OPTIONS = {
  "max-unused": { type: "string" },
  "max-repack-size": { type: "string" },
  "repack-cacheable-only": { type: "boolean" },
  "repack-small": { type: "boolean" },
  "repack-uncompressed": { type: "boolean" },
} as const satisfies OptionSpec;

const fatal = (m: string) => new ResticTsError("INVALID_ARGUMENT", m);

/** restic's verifyPruneOptions. */
export function pruneOptionsFromFlags(flags: FlagValues): PruneOptions {
  let maxRepackBytes: number | undefined;
  const repackSize = flags["max-repack-size"] as string | undefined;
  if (repackSize !== undefined && repackSize !== "") maxRepackBytes = parseSize(repackSize);
  const raw = (flags["max-unused"] as string | undefined) ?? "5%";
  const s = raw.trim();
  let maxUnused: MaxUnused;
  if (s === "") throw fatal(`invalid value for --max-unused: ${JSON.stringify(raw)}`);
  if (s === "unlimited") maxUnused = { kind: "unlimited" };
  else if (s.endsWith("%")) {
    const num = s.slice(0, -1);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(num)) {
      throw fatal(`invalid percentage ${JSON.stringify(raw)} passed for --max-unused`);
    }
    const p = Number(num);
    if (p < 0) throw fatal("percentage for --max-unused must be positive");
    if (p >= 100) throw fatal("percentage for --max-unused must be below 100%");
    maxUnused = { kind: "percent", percent: p };
  } else {
    try {
      maxUnused = { kind: "bytes", bytes: parseSize(s) };
    } catch (err) {
      throw fatal(
        `invalid number of bytes ${JSON.stringify(raw)} for --max-unused: ${(err as Error).message}`,
      );
    }
  }
  return {
    maxUnused,
    maxRepackBytes,
    repackCacheableOnly: flags["repack-cacheable-only"] === true,
    repackSmall: flags["repack-small"] === true,
    repackUncompressed: flags["repack-uncompressed"] === true,
  };
}

export function cliLog(ctx: CommandContext): MaintenanceLog {
  const v = verbosity(ctx);
  return {
    warn: (m) => ctx.io.error(`${m}\n`),
    verbose: (m) => ctx.verbose(m),
    verbose2: (m) => {
      if (v >= 1) ctx.print(m);
    },
  };
}

const pad = (n: number) => String(n).padStart(10);

/** restic's printPruneStats. */
export function pruneStatsLines(s: PruneStats, verbose2: boolean): string[] {
  const out: string[] = [];
  const v2 = (l: string) => {
    if (verbose2) out.push(l);
  };
  v2(`\nused:         ${pad(s.blobs.used)} blobs / ${formatBytes(s.size.used)}`);
  if (s.blobs.duplicate > 0)
    v2(`duplicates:   ${pad(s.blobs.duplicate)} blobs / ${formatBytes(s.size.duplicate)}`);
  v2(`unused:       ${pad(s.blobs.unused)} blobs / ${formatBytes(s.size.unused)}`);
  if (s.size.unref > 0) v2(`unreferenced:                    ${formatBytes(s.size.unref)}`);
  const totalBlobs = s.blobs.used + s.blobs.unused + s.blobs.duplicate;
  const totalSize = s.size.used + s.size.duplicate + s.size.unused + s.size.unref;
  const unusedSize = s.size.duplicate + s.size.unused;
  v2(`total:        ${pad(totalBlobs)} blobs / ${formatBytes(totalSize)}`);
  v2(`unused size: ${formatPercent(unusedSize, totalSize)} of total size`);
  out.push(`\nto repack:    ${pad(s.blobs.repack)} blobs / ${formatBytes(s.size.repack)}`);
  out.push(`this removes: ${pad(s.blobs.repackrm)} blobs / ${formatBytes(s.size.repackrm)}`);
  out.push(
    `to delete:    ${pad(s.blobs.remove)} blobs / ${formatBytes(s.size.remove + s.size.unref)}`,
  );
  const totalPrune = s.size.remove + s.size.repackrm + s.size.unref;
  out.push(
    `total prune:  ${pad(s.blobs.remove + s.blobs.repackrm)} blobs / ${formatBytes(totalPrune)}`,
  );
  out.push(
    `remaining:    ${pad(totalBlobs - (s.blobs.remove + s.blobs.repackrm))} blobs / ${formatBytes(totalSize - totalPrune)}`,
  );
  const unusedAfter = unusedSize - s.size.remove - s.size.repackrm;
  out.push(
    `unused size after prune: ${formatBytes(unusedAfter)} (${formatPercent(unusedAfter, totalSize - totalPrune)} of remaining size)`,
  );
  out.push("");
  v2(`totally used packs: ${pad(s.packs.used)}`);
  v2(`partly used packs:  ${pad(s.packs.partlyUsed)}`);
  v2(`unused packs:       ${pad(s.packs.unused)}\n`);
  v2(`to keep:      ${pad(s.packs.keep)} packs`);
  v2(`to repack:    ${pad(s.packs.repack)} packs`);
  v2(`to delete:    ${pad(s.packs.remove)} packs`);
  if (s.packs.unref > 0) v2(`to delete:    ${pad(s.packs.unref)} unreferenced packs\n`);
  return out;
}

/** `{a b c}`: restic's IDSet.String (sorted short IDs). */
export function idSetString(ids: Iterable<Id>): string {
  return `{${[...ids]
    .sort()
    .map((id) => id.slice(0, 8))
    .join(" ")}}`;
}

/** The read-only half of a prune (index, plan), with its messages held back until replayed. */
export interface PreparedPrune {
  /** Print what preparing said (in order), then hand out the plan or throw its error. */
  readonly take: () => { indexed: IndexedRepository; plan: PrunePlan };
}

/**
 * Load the index and plan a prune without printing anything yet: run while an exclusive lock
 * is being taken (lock.ts withLock's `prepare`), its messages come out only once it is held.
 */
export async function preparePrune(
  ctx: CommandContext,
  repo: Repository,
  options: PruneOptions,
): Promise<PreparedPrune> {
  const live = cliLog(ctx);
  const held: (() => void)[] = [];
  const log: MaintenanceLog = {
    warn: (m) => held.push(() => live.warn(m)),
    verbose: (m) => held.push(() => live.verbose(m)),
    verbose2: (m) => held.push(() => live.verbose2(m)),
  };
  const replay = () => {
    for (const h of held.splice(0)) h();
  };
  try {
    if (repo.version < 2 && options.repackUncompressed) {
      throw fatal("compression requires at least repository format version 2");
    }
    log.verbose("loading indexes...");
    const { indexed, indexIds } = await loadIndexForPrune(repo);
    const plan = await planPrune(indexed, indexIds, { ...options, log });
    return {
      take: () => {
        replay();
        return { indexed, plan };
      },
    };
  } catch (err) {
    return {
      take: () => {
        replay();
        throw err;
      },
    };
  }
}

/** restic's runPruneWithRepo, under a lock the caller holds (`prepared` made under it too). */
export async function runPrune(
  ctx: CommandContext,
  repo: Repository,
  options: PruneOptions,
  dryRun: boolean,
  prepared?: PreparedPrune,
): Promise<void> {
  const { indexed, plan } = (prepared ?? (await preparePrune(ctx, repo, options))).take();
  const log = cliLog(ctx);
  const lines = pruneStatsLines(plan.stats, verbosity(ctx) >= 1);
  if (!ctx.quiet) {
    for (const l of lines) ctx.io.write(`${l}\n`);
  }
  if (dryRun) {
    if (!ctx.json && verbosity(ctx) >= 1) {
      const would = (what: string, ids: ReadonlySet<Id>) =>
        ctx.io.write(`Would have ${what}:\n${idSetString(ids)}\n\n`);
      if (plan.removePacksFirst.size > 0) {
        would("removed the following unreferenced packs", plan.removePacksFirst);
      }
      would("repacked and removed the following packs", plan.repackPacks);
      would("removed the following no longer used packs", plan.removePacks);
    }
    return;
  }
  await executePrune(indexed, plan, { ...options, log });
}

export const pruneCommand: Command = {
  name: "prune",
  summary: "Remove unneeded data from the repository",
  usage:
    "prune [--dry-run] [--max-unused limit] [--max-repack-size size] [--repack-cacheable-only] [--repack-small] [--repack-uncompressed]",
  options: { "dry-run": { type: "boolean", short: "n" }, ...PRUNE_OPTIONS },
  async run(ctx, args, flags) {
    if (args.length !== 0) throw fatal("the prune command expects no arguments");
    const options = pruneOptionsFromFlags(flags);
    const repo = await ctx.openRepository();
    const dryRun = flags["dry-run"] === true;
    await withLock(
      repo,
      true,
      (_lock, prepared) => runPrune(ctx, repo, options, dryRun, prepared),
      () => preparePrune(ctx, repo, options),
    );
    return 0;
  },
};
