// `restic-ts check [--read-data | --read-data-subset n/t|x%|size]`: check the repository for
// errors, printing what restic 0.14 prints (messages on stdout, errors on stderr) and exiting
// with 1 when errors were found. Takes an exclusive lock, as restic 0.14 does (--no-lock
// skips it). With --json: one JSON object per finding and a summary.

import { ResticTsError } from "../../errors.js";
import { type LoadedIndexes, loadIndexesForCheck } from "../../repo/check/index-check.js";
import {
  type CheckPhase,
  checkRepository,
  type Finding,
  parseReadDataSubset,
  type ReadDataSubset,
} from "../../repo/checker.js";
import { withLock } from "../../repo/lock.js";
import { type Command, type CommandContext, EXIT } from "../command.js";

function jsonFinding(f: Finding): Record<string, unknown> {
  return {
    message_type: f.severity,
    kind: f.kind,
    message: f.message,
    ...(f.packId !== undefined ? { pack_id: f.packId } : {}),
    ...(f.indexId !== undefined ? { index_id: f.indexId } : {}),
    ...(f.snapshotId !== undefined ? { snapshot_id: f.snapshotId } : {}),
    ...(f.treeId !== undefined ? { tree_id: f.treeId } : {}),
    ...(f.path !== undefined ? { path: f.path } : {}),
    ...(f.details !== undefined ? { details: f.details } : {}),
  };
}

/** Prints findings the way restic's runCheck does, phase by phase. */
class CheckPrinter {
  private orphans = 0;
  private suggestRebuild = false;
  private mixed = false;

  constructor(
    private readonly ctx: CommandContext,
    private readonly subset: ReadDataSubset | undefined,
  ) {}

  phase(phase: CheckPhase, info: { selected?: number; total?: number }): void {
    const { ctx } = this;
    if (ctx.json) return;
    switch (phase) {
      case "index":
        ctx.verbose("load indexes");
        break;
      case "packs":
        if (this.suggestRebuild)
          ctx.print("This is non-critical, you can run `restic rebuild-index' to correct this");
        if (this.mixed)
          ctx.print(
            "Mixed packs with tree and data blobs are non-critical, you can run `restic prune` to correct this.",
          );
        ctx.verbose("check all packs");
        break;
      case "structure":
        if (this.orphans > 0)
          ctx.verbose(
            `${this.orphans} additional files were found in the repo, which likely contain duplicate data.\n` +
              "This is non-critical, you can run `restic prune` to correct this.",
          );
        ctx.verbose("check snapshots, trees and blobs");
        break;
      case "read-data": {
        const s = this.subset;
        if (s === undefined) ctx.verbose("read all data");
        else if (s.kind === "bucket")
          ctx.verbose(
            `read group #${s.n} of ${info.selected} data packs (out of total ${info.total} packs in ${s.t} groups)`,
          );
        else if (s.kind === "percent") ctx.verbose(`read ${s.percent.toFixed(1)}% of data packs`);
        else ctx.verbose(`read ${s.bytes} bytes of data packs`);
        break;
      }
      default:
        break;
    }
  }

  finding(f: Finding): void {
    const { ctx } = this;
    if (ctx.json) {
      ctx.printJSON(jsonFinding(f));
      return;
    }
    switch (f.kind) {
      case "index-old-format":
      case "index-duplicate-pack":
        this.suggestRebuild = true;
        ctx.print(f.message);
        return;
      case "mixed-pack":
        this.mixed = true;
        ctx.print(f.message);
        return;
      case "pack-orphaned":
        this.orphans++;
        ctx.verbose(f.message);
        return;
      case "index-load":
      case "snapshot-load":
      case "key":
        ctx.io.error(`error: ${f.message}\n`);
        return;
      default: {
        const lines = [
          `${f.message}${f.details !== undefined && f.kind.startsWith("tree") ? ":" : ""}`,
        ];
        for (const d of f.details ?? []) lines.push(`  ${d}`);
        ctx.io.error(`${lines.join("\n")}\n`);
      }
    }
  }
}

/** RESTIC_TS_CHECK_THREADS: worker threads for --read-data (a tuning knob; default 2). */
function threadsFromEnv(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Number(v);
}

export const checkCommand: Command = {
  name: "check",
  summary: "Check the repository for errors",
  usage: "check [--read-data | --read-data-subset n/t|x%|size]",
  options: {
    "read-data": { type: "boolean" },
    "read-data-subset": { type: "string" },
    "with-cache": { type: "boolean" },
    "check-unused": { type: "boolean" },
  },
  async run(ctx, args, flags) {
    if (args.length !== 0) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        "the check command expects no arguments, only options - please see `restic help check` for usage and flags",
      );
    }
    const subsetArg = flags["read-data-subset"] as string | undefined;
    if (flags["read-data"] === true && subsetArg !== undefined) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        "check flags --read-data and --read-data-subset cannot be used together",
      );
    }
    const subset = subsetArg === undefined ? undefined : parseReadDataSubset(subsetArg);
    const repo = await ctx.openRepository();
    const printer = new CheckPrinter(ctx, subset);
    // Until `shown` settles, what the check reports is kept, then shown in order.
    let held: (() => void)[] | undefined;
    const show = (f: () => void) => (held === undefined ? f() : held.push(f));
    const run = (loadedIndex?: Promise<LoadedIndexes>, ready?: Promise<void>) =>
      checkRepository(repo, {
        loadedIndex,
        ready,
        readData: flags["read-data"] === true,
        readDataSubset: subset,
        readThreads: threadsFromEnv(ctx.io.env.RESTIC_TS_CHECK_THREADS),
        onPhase: (p, info) => show(() => printer.phase(p, info)),
        onFinding: (f) => show(() => printer.finding(f)),
      });
    let report: Awaited<ReturnType<typeof run>>;
    if (ctx.global["no-lock"] === true) report = await run();
    else {
      if (!ctx.json) ctx.verbose("create exclusive lock for repository");
      // The read-only phases (index, packs, trees) run while the exclusive lock settles (restic
      // waits 200 ms, then looks for other locks again); their output is held until the lock
      // is confirmed, and reading pack data waits for it.
      held = [];
      let confirm = () => {};
      let refuse: (err: unknown) => void = () => {};
      const confirmed = new Promise<void>((resolve, reject) => {
        confirm = resolve;
        refuse = reject;
      });
      confirmed.catch(() => {});
      try {
        report = await withLock(
          repo,
          true,
          (_lock, prepared) => {
            const output = held ?? [];
            held = undefined;
            for (const f of output) f();
            confirm();
            return prepared.report;
          },
          async () => {
            const report = run(loadIndexesForCheck(repo), confirmed);
            report.catch(() => {});
            return { report };
          },
        );
      } catch (err) {
        refuse(err);
        throw err;
      }
    }
    if (ctx.json) {
      ctx.printJSON({
        message_type: "summary",
        num_errors: report.errors,
        num_hints: report.findings.filter((f) => f.severity !== "error").length,
        snapshots: report.snapshots,
        trees: report.trees,
        packs: report.packs,
        packs_read: report.packsRead,
      });
      return report.errors > 0 ? EXIT.fatal : EXIT.ok;
    }
    if (report.stoppedAfterIndex) {
      ctx.io.error("Fatal: LoadIndex returned errors\n");
      return EXIT.fatal;
    }
    if (report.errors > 0) {
      ctx.io.error("Fatal: repository contains errors\n");
      return EXIT.fatal;
    }
    ctx.verbose("no errors were found");
    return EXIT.ok;
  },
};
