// `restic-ts find [-i] [-l] [-s ID]... [--host H] [--tag T] [--path P] [-O DATE] [-N DATE]
// PATTERN...` and `find --blob|--tree ID...`: restic 0.14's cmd_find.go — paths matching any
// pattern (restic's filter.Match; a directory is entered only while a pattern may match below
// it), per snapshot (oldest first) with a "Found matching entries in snapshot ..." heading;
// with --json one array of {"matches":[...],"hits":N,"snapshot":ID} objects. Subtrees with no
// match are remembered and not walked again in later snapshots, as restic does.

import { ResticTsError } from "../../errors.js";
import { childMatchPattern, matchPattern } from "../../repo/filter.js";
import { goJsonString } from "../../repo/gostring.js";
import { normalizeGoTime, parseGoTime } from "../../repo/gotime.js";
import type { Id } from "../../repo/id.js";
import type { IndexedRepository } from "../../repo/indexed.js";
import { fileModeString, type Node } from "../../repo/node.js";
import type { SnapshotEntry } from "../../repo/snapshots.js";
import { walkTree } from "../../repo/walk.js";
import type { Command, CommandContext } from "../command.js";
import { flagList, formatNode, localTime, printGo, withReadLock } from "../read-common.js";
import { findFilteredSnapshots, SNAPSHOT_FILTER_OPTIONS, snapshotFilter } from "./snapshot-args.js";

/** A node as restic 0.14's `find --json` prints it (restic.Node without name, inode, ...). */
export function findNodeJson(path: string, n: Node): string {
  let s = `{"path":${goJsonString(path)},"permissions":"${fileModeString(n.mode)}","type":${goJsonString(n.type)}`;
  if (n.mode !== 0) s += `,"mode":${n.mode}`;
  const t = (x: string) => normalizeGoTime(x) ?? x;
  s += `,"mtime":"${t(n.mtime)}","atime":"${t(n.atime)}","ctime":"${t(n.ctime)}","uid":${n.uid},"gid":${n.gid}`;
  if (n.user !== "") s += `,"user":${goJsonString(n.user)}`;
  if (n.group !== "") s += `,"group":${goJsonString(n.group)}`;
  if (n.deviceId !== 0n) s += `,"device_id":${n.deviceId}`;
  if (n.size !== 0) s += `,"size":${n.size}`;
  if (n.links !== 0) s += `,"links":${n.links}`;
  if (n.linkTarget !== "") s += `,"linktarget":${goJsonString(n.linkTarget)}`;
  if (n.error !== "") s += `,"error":${goJsonString(n.error)}`;
  return `${s}}`;
}

const TIME_FORMATS: readonly RegExp[] = [
  /^(\d{4})-(\d{2})-(\d{2})(?: (\d{2}):(\d{2})(?::(\d{2}))?)?$/,
  /^(\d{2})\.(\d{2})\.(\d{4})(?: (\d{2}):(\d{2})(?::(\d{2}))?)?$/,
];

/** restic's find time formats (the ones without a zone; local time), as epoch seconds. */
export function parseFindTime(text: string): number {
  for (const [i, re] of TIME_FORMATS.entries()) {
    const m = re.exec(text.trim());
    if (!m) continue;
    const [y, mo, d] = i === 0 ? [m[1], m[2], m[3]] : [m[3], m[2], m[1]];
    const date = new Date(
      Number(y),
      Number(mo) - 1,
      Number(d),
      Number(m[4] ?? 0),
      Number(m[5] ?? 0),
      Number(m[6] ?? 0),
    );
    if (!Number.isNaN(date.getTime())) return date.getTime() / 1000;
  }
  throw new ResticTsError("INVALID_ARGUMENT", `unable to parse time: ${JSON.stringify(text)}`);
}

function mtimeSeconds(n: Node): number {
  const t = parseGoTime(n.mtime);
  return Number(t.seconds) + t.nanos / 1e9;
}

export const findCommand: Command = {
  name: "find",
  summary: "Find a file, a directory or restic IDs",
  usage:
    "find [-i] [-l] [-s SNAPSHOT]... [-O DATE] [-N DATE] [--host H] [--tag T] [--path P] PATTERN... | find --blob|--tree ID...",
  options: {
    ...SNAPSHOT_FILTER_OPTIONS,
    snapshot: { type: "string", short: "s", multiple: true },
    "ignore-case": { type: "boolean", short: "i" },
    long: { type: "boolean", short: "l" },
    oldest: { type: "string", short: "O" },
    newest: { type: "string", short: "N" },
    blob: { type: "boolean" },
    tree: { type: "boolean" },
  },
  async run(ctx, args, flags) {
    if (args.length === 0) throw new ResticTsError("INVALID_ARGUMENT", "wrong number of arguments");
    if (flags.blob === true && flags.tree === true) {
      throw new ResticTsError("INVALID_ARGUMENT", "cannot have several ID types");
    }
    const ignoreCase = flags["ignore-case"] === true;
    const patterns = ignoreCase ? args.map((a) => a.toLowerCase()) : args;
    const oldest =
      typeof flags.oldest === "string" ? parseFindTime(flags.oldest) : Number.NEGATIVE_INFINITY;
    const newest =
      typeof flags.newest === "string" ? parseFindTime(flags.newest) : Number.POSITIVE_INFINITY;
    const long = flags.long === true;
    const repo = await ctx.openRepository();
    return withReadLock(ctx, repo, async () => {
      const indexed = await repo.loadIndex();
      const snapshots = await findFilteredSnapshots(
        ctx,
        repo,
        snapshotFilter(flags),
        flagList(flags, "snapshot"),
      );
      if (flags.blob === true || flags.tree === true) {
        await findIds(ctx, indexed, snapshots, args, flags.blob === true ? "blob" : "tree");
        return 0;
      }
      const ignoreTrees = new Set<Id>();
      const jsonParts: string[] = [];
      let first = true;
      for (const entry of snapshots) {
        const sn = entry.snapshot;
        if (sn.tree === null)
          throw new ResticTsError("CORRUPT", `snapshot ${entry.id} has no tree`);
        const matches: string[] = [];
        await walkTree(
          indexed,
          sn.tree,
          (p, node) => {
            const path = ignoreCase ? p.toLowerCase() : p;
            const found = patterns.some((pat) => matchPattern(pat, path));
            let ignore = true;
            let skip = false;
            if (node.type === "dir") {
              const may = patterns.some((pat) => childMatchPattern(pat, path));
              if (!may) skip = true;
              else ignore = false;
            }
            if (!found) return { ignore, skip };
            const m = mtimeSeconds(node);
            if (m < oldest || m > newest) return { ignore, skip };
            if (ctx.json) matches.push(findNodeJson(p, node));
            else {
              if (matches.length === 0) {
                if (!first) ctx.verbose("");
                first = false;
                ctx.verbose(
                  `Found matching entries in snapshot ${entry.id.slice(0, 8)} from ${localTime(sn.time)}`,
                );
              }
              matches.push(p);
              printGo(ctx.io, formatNode(p, node, long));
            }
            return undefined;
          },
          {
            ignoreTrees,
            onTreeError: (_p, treeId) => {
              ctx.print(
                `Unable to load tree ${treeId}\n ... which belongs to snapshot ${entry.id}`,
              );
            },
          },
        );
        if (ctx.json && matches.length > 0) {
          jsonParts.push(
            `{"matches":[${matches.join(",")}],"hits":${matches.length},"snapshot":"${entry.id}"}`,
          );
        }
      }
      if (ctx.json) printGo(ctx.io, `[${jsonParts.join(",")}]`);
      return 0;
    });
  },
};

/** `find --blob|--tree`: where blobs (full or 8-digit IDs) or trees occur in the snapshots. */
async function findIds(
  ctx: CommandContext,
  indexed: IndexedRepository,
  snapshots: readonly SnapshotEntry[],
  ids: readonly string[],
  kind: "blob" | "tree",
): Promise<void> {
  const wanted = new Set(ids.map((i) => i.toLowerCase()));
  const has = (id: Id) => wanted.has(id) || wanted.has(id.slice(0, 8));
  const json: string[] = [];
  const report = (id: Id, path: string, parentTree: string, entry: SnapshotEntry) => {
    if (ctx.json) {
      let s = `{"object_type":"${kind}","id":"${id}","path":${goJsonString(path)}`;
      if (parentTree !== "") s += `,"parent_tree":"${parentTree}"`;
      s += `,"snapshot":"${entry.id}","time":"${normalizeGoTime(entry.snapshot.time) ?? entry.snapshot.time}"}`;
      json.push(s);
      return;
    }
    ctx.print(`Found ${kind} ${id}`);
    if (kind === "blob") {
      printGo(ctx.io, ` ... in file ${path}`);
      ctx.print(`     (tree ${parentTree})`);
    } else printGo(ctx.io, ` ... path ${path}`);
    ctx.print(` ... in snapshot ${entry.id.slice(0, 8)} (${localTime(entry.snapshot.time)})`);
  };
  for (const entry of snapshots) {
    const tree = entry.snapshot.tree;
    if (tree === null) continue;
    await walkTree(indexed, tree, (p, node, parent) => {
      if (kind === "tree" && node.type === "dir" && node.subtree && has(node.subtree)) {
        report(node.subtree, p, "", entry);
      }
      if (kind === "blob" && node.type === "file") {
        for (const id of node.content ?? []) if (has(id)) report(id, p, parent, entry);
      }
      return undefined;
    });
  }
  if (ctx.json) printGo(ctx.io, `[${json.join(",")}]`);
}
