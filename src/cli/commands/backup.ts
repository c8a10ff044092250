// `restic-ts backup [flags] FILE/DIR...`: restic 0.14's backup command over the library's
// backup(): the same flags, a progress line on a terminal, restic's `--json` status/summary
// messages otherwise, and exit code 3 when some items could not be read.

import { readFileSync } from "node:fs";
import { ResticTsError } from "../../errors.js";
import {
  type BackupEvent,
  BackupStatus,
  backup,
  parseSize,
  prestartBackupWorkers,
  summaryJson,
} from "../../repo/archiver.js";
import type { CompressionMode } from "../../repo/compression.js";
import { keepHeapsSmall } from "../../small-heaps.js";
import { type Command, EXIT, type FlagValues } from "../command.js";
import { tuneMallocForThroughput } from "../malloc-tuning.js";
import { formatBytes, formatDuration, formatSeconds } from "../progress.js";

function list(v: FlagValues[string]): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

function str(v: FlagValues[string]): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** --files-from (lines, "#" comments), --files-from-verbatim (lines), --files-from-raw (NUL). */
function filesFrom(flags: FlagValues): string[] {
  const out: string[] = [];
  for (const f of list(flags["files-from"])) {
    for (let line of readFileSync(f, "utf8").split("\n")) {
      line = line.trim();
      if (line !== "" && !line.startsWith("#")) out.push(line);
    }
  }
  for (const f of list(flags["files-from-verbatim"])) {
    for (const line of readFileSync(f, "utf8").split("\n")) if (line !== "") out.push(line);
  }
  for (const f of list(flags["files-from-raw"])) {
    for (const p of readFileSync(f, "utf8").split("\0")) if (p !== "") out.push(p);
  }
  return out;
}

export const backupCommand: Command = {
  name: "backup",
  summary: "Create a new backup of files and/or directories",
  usage: "backup [flags] [FILE/DIR] ...",
  options: {
    exclude: { type: "string", short: "e", multiple: true },
    iexclude: { type: "string", multiple: true },
    "exclude-file": { type: "string", multiple: true },
    "iexclude-file": { type: "string", multiple: true },
    "exclude-caches": { type: "boolean" },
    "exclude-if-present": { type: "string", multiple: true },
    "exclude-larger-than": { type: "string" },
    "one-file-system": { type: "boolean", short: "x" },
    tag: { type: "string", multiple: true },
    host: { type: "string", short: "H" },
    hostname: { type: "string" },
    parent: { type: "string" },
    force: { type: "boolean", short: "f" },
    stdin: { type: "boolean" },
    "stdin-filename": { type: "string" },
    "dry-run": { type: "boolean", short: "n" },
    "files-from": { type: "string", multiple: true },
    "files-from-verbatim": { type: "string", multiple: true },
    "files-from-raw": { type: "string", multiple: true },
    time: { type: "string" },
    "with-atime": { type: "boolean" },
    "ignore-inode": { type: "boolean" },
    "ignore-ctime": { type: "boolean" },
    compression: { type: "string" },
    "pack-size": { type: "string" },
    threads: { type: "string" },
  },
  async run(ctx, args, flags) {
    // Pack buffers and file reads reuse warm heap pages instead of fresh mmap'd ones.
    tuneMallocForThroughput();
    const stdin = flags.stdin === true;
    const targets = [...args, ...filesFrom(flags)];
    if (stdin && targets.length > 0) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        "--stdin was specified and files/dirs were listed as arguments",
      );
    }
    if (!stdin && targets.length === 0) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        "nothing to backup, please specify target files/dirs",
      );
    }
    const compression = (str(flags.compression) ??
      ctx.io.env.RESTIC_COMPRESSION ??
      "auto") as CompressionMode;
    if (!["auto", "off", "max"].includes(compression)) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `invalid compression mode ${JSON.stringify(compression)}`,
      );
    }
    const packSizeMiB = str(flags["pack-size"]) ?? ctx.io.env.RESTIC_PACK_SIZE;
    const tags = list(flags.tag)
      .flatMap((t) => t.split(","))
      .filter((t) => t !== "");
    let time: Date | undefined;
    const timeFlag = str(flags.time);
    if (timeFlag !== undefined) {
      time = new Date(timeFlag.replace(" ", "T"));
      if (Number.isNaN(time.getTime()))
        throw new ResticTsError("INVALID_ARGUMENT", `invalid --time ${timeFlag}`);
    }
    const tracing = ctx.io.env.RESTIC_TS_TRACE !== undefined;
    const cpuMs = () => Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1000);
    if (tracing) {
      ctx.io.error(
        `[trace] backup command loaded at ${Math.round(performance.now())} ms after start (CPU ${cpuMs()} ms)\n`,
      );
    }
    keepHeapsSmall();
    const threads = str(flags.threads) === undefined ? undefined : Number(str(flags.threads));
    if (
      !stdin &&
      (flags.force === true ||
        (str(flags.parent) === undefined && (await ctx.knownWithoutSnapshots())))
    ) {
      // Every file will be read: the workers start up while the key's scrypt runs.
      prestartBackupWorkers(threads);
    }
    const repo = await ctx.openRepository();
    if (tracing) {
      ctx.io.error(
        `[trace] repository opened at ${Math.round(performance.now())} ms after start (CPU ${cpuMs()} ms)\n`,
      );
    }

    const status = new BackupStatus();
    const tty = !ctx.json && !ctx.quiet && process.stdout.isTTY === true;
    const progress = ctx.json || tty;
    let lastLine = "";
    const render = () => {
      if (ctx.json) {
        ctx.printJSON(status.statusJson());
        return;
      }
      const secs = (Date.now() - status.start) / 1000;
      const pct =
        status.totalBytes > 0 ? ((100 * status.bytesDone) / status.totalBytes).toFixed(2) : "0.00";
      const eta = status.eta();
      const line =
        `[${formatSeconds(secs)}] ${pct}%  ${status.filesDone} files ${formatBytes(status.bytesDone)}, ` +
        `total ${status.totalFiles} files ${formatBytes(status.totalBytes)}, ${status.errors} errors` +
        (eta > 0 ? ` ETA ${formatSeconds(eta)}` : "");
      ctx.io.write(`\r${line.padEnd(lastLine.length)}`);
      lastLine = line;
    };
    const timer = progress ? setInterval(render, ctx.json ? 1000 : 200) : undefined;
    timer?.unref();
    const onEvent = (e: BackupEvent) => {
      status.update(e);
      if (e.type === "error") {
        if (ctx.json) {
          ctx.printJSON({
            message_type: "error",
            error: { message: e.message },
            during: e.during,
            item: e.item,
          });
        } else ctx.io.error(`error: ${e.item}: ${e.message}\n`);
      } else if (e.type === "warning" && !ctx.json) ctx.io.error(`Warning: ${e.message}\n`);
    };
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once("SIGINT", onSignal);
    let result: Awaited<ReturnType<typeof backup>>;
    try {
      result = await backup(repo, targets, {
        exclude: list(flags.exclude),
        iexclude: list(flags.iexclude),
        excludeFiles: list(flags["exclude-file"]),
        iexcludeFiles: list(flags["iexclude-file"]),
        excludeCaches: flags["exclude-caches"] === true,
        excludeIfPresent: list(flags["exclude-if-present"]),
        excludeLargerThan:
          str(flags["exclude-larger-than"]) === undefined
            ? undefined
            : parseSize(str(flags["exclude-larger-than"]) ?? ""),
        oneFileSystem: flags["one-file-system"] === true,
        tags,
        host: str(flags.host) ?? str(flags.hostname) ?? ctx.io.env.RESTIC_HOST,
        parent: str(flags.parent),
        force: flags.force === true,
        stdin: stdin
          ? { stream: process.stdin, filename: str(flags["stdin-filename"]) ?? "stdin" }
          : undefined,
        dryRun: flags["dry-run"] === true,
        time,
        withAtime: flags["with-atime"] === true,
        ignoreInode: flags["ignore-inode"] === true,
        ignoreCtime: flags["ignore-ctime"] === true,
        compression,
        packSize: packSizeMiB === undefined ? undefined : Number(packSizeMiB) * 1024 * 1024,
        threads,
        scan: progress,
        signal: abort.signal,
        onEvent,
      });
    } finally {
      if (timer) clearInterval(timer);
      process.off("SIGINT", onSignal);
      if (tty && lastLine !== "") ctx.io.write("\n");
    }
    const s = result.summary;
    if (ctx.json) ctx.printJSON(summaryJson(s));
    else {
      ctx.verbose(
        result.parent === undefined
          ? "no parent snapshot found, will read all files"
          : `using parent snapshot ${result.parent.slice(0, 8)}`,
      );
      ctx.verbose("");
      ctx.verbose(
        `Files:       ${String(s.filesNew).padStart(5)} new, ${String(s.filesChanged).padStart(5)} changed, ${String(s.filesUnmodified).padStart(5)} unmodified`,
      );
      ctx.verbose(
        `Dirs:        ${String(s.dirsNew).padStart(5)} new, ${String(s.dirsChanged).padStart(5)} changed, ${String(s.dirsUnmodified).padStart(5)} unmodified`,
      );
      ctx.verbose(
        `Added to the repository: ${formatBytes(s.dataAdded)} (${formatBytes(s.dataAddedPacked)} stored)`,
      );
      ctx.verbose("");
      ctx.verbose(
        `processed ${s.totalFilesProcessed} files, ${formatBytes(s.totalBytesProcessed)} in ${formatDuration(s.totalDurationMs)}`,
      );
      if (result.snapshotId !== undefined)
        ctx.verbose(`snapshot ${result.snapshotId.slice(0, 8)} saved`);
    }
    if (result.errors.length > 0) {
      ctx.io.error("Warning: at least one source file could not be read\n");
      return EXIT.incomplete;
    }
    return EXIT.ok;
  },
};
