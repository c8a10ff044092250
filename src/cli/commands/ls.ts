// `restic-ts ls [-l] [--recursive] [--host H] [--tag T] [--path P] SNAPSHOT [dir...]`: restic
// 0.14's cmd_ls.go — a header line "snapshot ID of [paths] filtered by [dirs] at TIME):" then
// one path per node (with -l: mode, uid, gid, size, mtime, path, symlink target); with --json
// the snapshot object (struct_type "snapshot") then one object per node (struct_type "node").

import { ResticTsError } from "../../errors.js";
import { goJsonString } from "../../repo/gostring.js";
import { goTimeString, normalizeGoTime } from "../../repo/gotime.js";
import type { Id } from "../../repo/id.js";
import { fileModeString, type Node } from "../../repo/node.js";
import { walkTree } from "../../repo/walk.js";
import type { Command } from "../command.js";
import { formatNode, goSlice, printGo } from "../read-common.js";
import { findFilteredSnapshots, SNAPSHOT_FILTER_OPTIONS, snapshotFilter } from "./snapshot-args.js";
import { snapshotJson } from "./snapshot-table.js";

/** restic's fs.HasPathPrefix for slash paths: is `p` equal to or below `base`? */
export function hasPathPrefix(base: string, p: string): boolean {
  const b = base.split("/").filter((s) => s !== "");
  const q = p.split("/").filter((s) => s !== "");
  if (q.length < b.length) return false;
  return b.every((s, i) => q[i] === s);
}

/** A node as restic 0.14's `ls --json` prints it. */
export function lsNodeJson(path: string, n: Node): string {
  let s = `{"name":${goJsonString(n.name)},"type":${goJsonString(n.type)},"path":${goJsonString(path)},"uid":${n.uid},"gid":${n.gid}`;
  if (n.type === "file") s += `,"size":${n.size}`;
  if (n.mode !== 0) s += `,"mode":${n.mode}`;
  s += `,"permissions":"${fileModeString(n.mode)}"`;
  s += `,"mtime":"${normalizeGoTime(n.mtime) ?? n.mtime}","atime":"${normalizeGoTime(n.atime) ?? n.atime}","ctime":"${normalizeGoTime(n.ctime) ?? n.ctime}"`;
  return `${s},"struct_type":"node"}`;
}

export const lsCommand: Command = {
  name: "ls",
  summary: "List files in a snapshot",
  usage: "ls [-l] [--recursive] [--host H] [--tag T] [--path P] SNAPSHOT [dir...]",
  options: {
    ...SNAPSHOT_FILTER_OPTIONS,
    long: { type: "boolean", short: "l" },
    recursive: { type: "boolean" },
  },
  async run(ctx, args, flags) {
    if (args.length === 0) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        "no snapshot ID specified, specify snapshot ID or use special ID 'latest'",
      );
    }
    const dirs = args.slice(1);
    for (const d of dirs) {
      if (!d.startsWith("/")) {
        throw new ResticTsError(
          "INVALID_ARGUMENT",
          "All path filters must be absolute, starting with a forward slash '/'",
        );
      }
    }
    const withinDir = (p: string) => dirs.length === 0 || dirs.some((d) => hasPathPrefix(d, p));
    const approaching = (p: string) => dirs.length === 0 || dirs.some((d) => hasPathPrefix(p, d));
    const repo = await ctx.openRepository();
    const long = flags.long === true;
    const recursive = flags.recursive === true;
    // the index loads while the snapshots are read (restic: in turn)
    const index = repo.loadIndex();
    index.catch(() => {}); // reported below, if it is needed
    // restic 0.14 takes the first argument through FindFilteredSnapshots: an unknown ID or a
    // "latest" no snapshot matches is a warning, not an error
    const found = await findFilteredSnapshots(ctx, repo, snapshotFilter(flags), args.slice(0, 1));
    if (found.length === 0) return 0;
    const indexed = await index;
    for (const entry of found) {
      const sn = entry.snapshot;
      if (ctx.json) ctx.print(snapshotJson(entry, ',"struct_type":"snapshot"'));
      else {
        ctx.verbose(
          `snapshot ${entry.id.slice(0, 8)} of ${goSlice(sn.paths)} filtered by ${goSlice(dirs)} at ${goTimeString(sn.time)}):`,
        );
      }
      if (sn.tree === null) throw new ResticTsError("CORRUPT", `snapshot ${entry.id} has no tree`);
      await walkTree(indexed, sn.tree as Id, (p, node) => {
        if (withinDir(p)) {
          if (ctx.json) printGo(ctx.io, lsNodeJson(p, node));
          else printGo(ctx.io, formatNode(p, node, long));
          if (recursive) return undefined;
        }
        if (approaching(p)) return undefined;
        return node.type === "dir" ? { skip: true } : undefined;
      });
    }
    return 0;
  },
};
