// `restic-ts stats [--mode restore-size|files-by-contents|blobs-per-file|raw-data] [ID…]`:
// restic 0.14's statistics over the selected snapshots (all by default), as text or --json.
// Non-exclusive lock (none with --no-lock).

import { withLock } from "../../repo/lock.js";
import { computeStats, parseStatsMode } from "../../repo/stats.js";
import type { Command } from "../command.js";
import { formatBytes } from "../progress.js";
import { findFilteredSnapshots, SNAPSHOT_FILTER_OPTIONS, snapshotFilter } from "./snapshot-args.js";

export const statsCommand: Command = {
  name: "stats",
  summary: "Scan the repository and show basic statistics",
  usage:
    "stats [--mode restore-size|files-by-contents|blobs-per-file|raw-data] [snapshot ID] [...]",
  options: { mode: { type: "string" }, ...SNAPSHOT_FILTER_OPTIONS },
  async run(ctx, args, flags) {
    const mode = parseStatsMode((flags.mode as string | undefined) ?? "restore-size");
    const repo = await ctx.openRepository();
    const go = async () => {
      const indexed = await repo.loadIndex();
      if (!ctx.json) ctx.print("scanning...");
      const snapshots = await findFilteredSnapshots(ctx, repo, snapshotFilter(flags), args);
      const s = await computeStats(indexed, snapshots, mode);
      if (ctx.json) {
        const blobs = s.totalBlobCount > 0 ? `,"total_blob_count":${s.totalBlobCount}` : "";
        ctx.print(
          `{"total_size":${s.totalSize},"total_file_count":${s.totalFileCount}${blobs},"snapshots_count":${s.snapshotsCount}}`,
        );
        return;
      }
      ctx.print(`Stats in ${mode} mode:`);
      ctx.print(`Snapshots processed:   ${s.snapshotsCount}`);
      if (s.totalBlobCount > 0) ctx.print(`   Total Blob Count:   ${s.totalBlobCount}`);
      if (s.totalFileCount > 0) ctx.print(`   Total File Count:   ${s.totalFileCount}`);
      ctx.print(`         Total Size:   ${formatBytes(s.totalSize).padEnd(5)}`);
    };
    if (ctx.global["no-lock"] === true) await go();
    else await withLock(repo, false, go);
    return 0;
  },
};
