// `restic-ts restore SNAPSHOT[:subfolder] --target DIR [--include P | --exclude P]
// [--iinclude P | --iexclude P] [--sparse] [--verify] [--host H] [--tag T] [--path P]`:
// restic 0.14's cmd_restore.go (messages, per-node errors reported and counted, "There were N
// errors" at the end) with restic 0.16's subfolder syntax, --sparse, progress bar on a
// terminal and JSON status/summary lines with --json.

import { ResticTsError } from "../../errors.js";
import { restoreFilter } from "../../repo/filter.js";
import { goTimeString } from "../../repo/gotime.js";
import { newRestoreProgress, restoreTree } from "../../repo/restorer.js";
import { splitSnapshotRef } from "../../repo/walk.js";
import { keepHeapsSmall } from "../../small-heaps.js";
import { type Command, EXIT } from "../command.js";
import {
  Progress,
  restoreJsonStatus,
  restoreJsonSummary,
  restoreStatusLine,
  restoreSummaryLine,
} from "../progress.js";
import { flagList, goSlice, stdoutIsTerminal, withReadLock } from "../read-common.js";
import { SNAPSHOT_FILTER_OPTIONS, snapshotFilter, snapshotToRead } from "./snapshot-args.js";

/** Go's time.Duration.String() of a duration rounded to milliseconds. */
export function goDuration(ms: number): string {
  ms = Math.round(ms);
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  const sec = `${s.toFixed(3).replace(/\.?0+$/, "")}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  if (m > 0) return `${m}m${sec}`;
  return sec;
}

export const restoreCommand: Command = {
  name: "restore",
  summary: "Extract the data from a snapshot",
  usage:
    "restore SNAPSHOT[:subfolder] --target DIR [--include P|--exclude P] [--iinclude P|--iexclude P] [--sparse] [--verify] [--host H] [--tag T] [--path P]",
  options: {
    ...SNAPSHOT_FILTER_OPTIONS,
    target: { type: "string", short: "t" },
    include: { type: "string", short: "i", multiple: true },
    exclude: { type: "string", short: "e", multiple: true },
    iinclude: { type: "string", multiple: true },
    iexclude: { type: "string", multiple: true },
    sparse: { type: "boolean" },
    verify: { type: "boolean" },
  },
  async run(ctx, args, flags) {
    const filter = restoreFilter({
      exclude: flagList(flags, "exclude"),
      iexclude: flagList(flags, "iexclude"),
      include: flagList(flags, "include"),
      iinclude: flagList(flags, "iinclude"),
    });
    if (args.length === 0) throw new ResticTsError("INVALID_ARGUMENT", "no snapshot ID specified");
    if (args.length > 1) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `more than one snapshot ID specified: ${goSlice(args)}`,
      );
    }
    const target = flags.target as string | undefined;
    if (target === undefined || target === "") {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        "please specify a directory to restore to (--target)",
      );
    }
    const { ref, subfolder } = splitSnapshotRef(args[0]);
    // RESTIC_TS_TIMING=1: when each step starts, with the memory in use then (on stderr)
    const timing = (step: string) => {
      if (ctx.io.env.RESTIC_TS_TIMING !== "1") return;
      const m = process.memoryUsage();
      const mib = (n: number) => (n / 2 ** 20).toFixed(0);
      ctx.io.error(
        `[timing] ${step} at ${(performance.now() / 1000).toFixed(3)} s, rss ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)}/${mib(m.heapTotal)} MiB, external ${mib(m.external)} MiB\n`,
      );
    };
    keepHeapsSmall();
    timing("open");
    const repo = await ctx.openRepository();
    timing("opened");
    return withReadLock(ctx, repo, async () => {
      const entry = await snapshotToRead(ctx, repo, ref, snapshotFilter(flags));
      if (entry === undefined) return EXIT.fatal;
      const sn = entry.snapshot;
      if (sn.tree === null) throw new ResticTsError("CORRUPT", `snapshot ${entry.id} has no tree`);
      timing("index");
      const indexed = await repo.loadIndex();
      if (!ctx.json) {
        ctx.verbose(
          `restoring <Snapshot ${entry.id.slice(0, 8)} of ${goSlice(sn.paths)} at ${goTimeString(sn.time)} by ${sn.username}@${sn.hostname}> to ${target}`,
        );
      }
      const counters = newRestoreProgress();
      const mode = ctx.quiet
        ? "none"
        : ctx.json
          ? "json"
          : stdoutIsTerminal(ctx.io)
            ? "tty"
            : "none";
      const progress = new Progress({
        mode,
        sink: { write: (t) => ctx.io.write(t), columns: process.stdout.columns },
        state: () => counters,
        statusLines: restoreStatusLine,
        jsonStatus: restoreJsonStatus,
        env: ctx.io.env,
      }).begin();
      let errors = 0;
      let verifyStart = 0;
      const result = await restoreTree(indexed, sn.tree, {
        target,
        subfolder,
        filter,
        sparse: flags.sparse === true,
        verify: flags.verify === true,
        progress: counters,
        onPhase: (phase) => {
          timing(phase);
          if (phase === "verify") {
            verifyStart = Date.now();
            if (!ctx.json && !ctx.quiet) progress.print(`verifying files in ${target}`);
          }
        },
        onError: (location, err) => {
          errors++;
          ctx.io.error(`ignoring error for ${location}: ${(err as Error).message}\n`);
        },
      });
      progress.end();
      if (ctx.json) {
        ctx.printJSON(restoreJsonSummary(counters, progress.elapsedMs));
      } else if (!ctx.quiet) {
        if (flags.verify === true) {
          ctx.print(
            `finished verifying ${result.verified} files in ${target} (took ${goDuration(Date.now() - verifyStart)})`,
          );
        }
        ctx.print(restoreSummaryLine(counters, progress.elapsedMs));
      }
      if (errors > 0) throw new ResticTsError("IO", `There were ${errors} errors`, { errors });
      return 0;
    });
  },
};
