// `restic-ts diff [--metadata] SNAPSHOT1 SNAPSHOT2`: restic 0.14's cmd_diff.go — one line per
// changed path ("+" added, "-" removed, "M" content modified, "T" type changed, "U" metadata
// changed with --metadata; directories with a trailing "/"), then the statistics footer
// (files, dirs, others, data and tree blobs added/removed, their plaintext bytes); with --json
// one {"message_type":"change"} object per path and a final {"message_type":"statistics"}.

import { ResticTsError } from "../../errors.js";
import { goJsonString } from "../../repo/gostring.js";
import type { Id } from "../../repo/id.js";
import type { IndexedRepository } from "../../repo/indexed.js";
import type { Node } from "../../repo/node.js";
import { compareTime, findSnapshot } from "../../repo/snapshots.js";
import { compareNames } from "../../repo/tree.js";
import { goPathJoin } from "../../repo/walk.js";
import type { Command } from "../command.js";
import { formatBytes } from "../progress.js";
import { printGo, withReadLock } from "../read-common.js";

export interface DiffStat {
  files: number;
  dirs: number;
  others: number;
  dataBlobs: number;
  treeBlobs: number;
  bytes: number;
}

function newStat(): DiffStat {
  return { files: 0, dirs: 0, others: 0, dataBlobs: 0, treeBlobs: 0, bytes: 0 };
}

function addNode(s: DiffStat, n: Node | undefined): void {
  if (n === undefined) return;
  if (n.type === "file") s.files++;
  else if (n.type === "dir") s.dirs++;
  else s.others++;
}

/** Blob handles as "d<id>" / "t<id>". */
type BlobSet = Set<string>;

function addBlobs(set: BlobSet, n: Node | undefined): void {
  if (n === undefined) return;
  if (n.type === "file") for (const id of n.content ?? []) set.add(`d${id}`);
  else if (n.type === "dir" && n.subtree !== undefined) set.add(`t${n.subtree}`);
}

/** The same instant (node times are validated when trees are parsed). */
const sameTime = (a: string, b: string) => compareTime(a, b) === 0;

/** restic's Node.Equals. */
export function nodesEqual(a: Node, b: Node): boolean {
  if (
    a.name !== b.name ||
    a.type !== b.type ||
    a.mode !== b.mode ||
    !sameTime(a.mtime, b.mtime) ||
    !sameTime(a.atime, b.atime) ||
    !sameTime(a.ctime, b.ctime) ||
    a.uid !== b.uid ||
    a.gid !== b.gid ||
    a.user !== b.user ||
    a.group !== b.group ||
    a.inode !== b.inode ||
    a.deviceId !== b.deviceId ||
    a.size !== b.size ||
    a.links !== b.links ||
    a.linkTarget !== b.linkTarget ||
    a.device !== b.device ||
    a.subtree !== b.subtree ||
    a.error !== b.error
  ) {
    return false;
  }
  if (!sameContent(a.content, b.content)) return false;
  const xa = a.extendedAttributes ?? [];
  const xb = b.extendedAttributes ?? [];
  if (xa.length !== xb.length) return false;
  const hex = (v: Uint8Array | null) => (v === null ? "" : Buffer.from(v).toString("hex"));
  const map = new Map(xa.map((x) => [x.name, hex(x.value)]));
  const seen = new Set<string>();
  for (const x of xb) {
    if (map.get(x.name) !== hex(x.value)) return false;
    seen.add(x.name);
  }
  return [...map.keys()].every((k) => seen.has(k));
}

/** reflect.DeepEqual of two IDs lists (null and [] differ). */
function sameContent(a: readonly Id[] | null, b: readonly Id[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

interface Change {
  readonly path: string;
  readonly modifier: string;
}

/** Compares two snapshots' trees as restic's Comparer does. */
class Comparer {
  readonly before: BlobSet = new Set();
  readonly after: BlobSet = new Set();
  readonly common: BlobSet = new Set();
  readonly added = newStat();
  readonly removed = newStat();
  changedFiles = 0;
  private readonly collected = new Set<Id>();

  constructor(
    private readonly repo: IndexedRepository,
    private readonly metadata: boolean,
    private readonly print: (c: Change) => void,
  ) {}

  private async printDir(mode: string, stats: DiffStat, blobs: BlobSet, prefix: string, id: Id) {
    const tree = await this.repo.loadTree(id);
    for (const node of tree.nodes) {
      let name = goPathJoin(prefix, node.name);
      if (node.type === "dir") name += "/";
      this.print({ path: name, modifier: mode });
      addNode(stats, node);
      addBlobs(blobs, node);
      if (node.type === "dir" && node.subtree !== undefined) {
        await this.printDir(mode, stats, blobs, name, node.subtree);
      }
    }
  }

  private async collectDir(blobs: BlobSet, id: Id) {
    if (this.collected.has(id)) return;
    this.collected.add(id);
    const tree = await this.repo.loadTree(id);
    for (const node of tree.nodes) {
      addBlobs(blobs, node);
      if (node.type === "dir" && node.subtree !== undefined)
        await this.collectDir(blobs, node.subtree);
    }
  }

  async diffTree(prefix: string, id1: Id, id2: Id): Promise<void> {
    const [t1, t2] = await Promise.all([this.repo.loadTree(id1), this.repo.loadTree(id2)]);
    const m1 = new Map(t1.nodes.map((n) => [n.name, n]));
    const m2 = new Map(t2.nodes.map((n) => [n.name, n]));
    const names = [...new Set([...m1.keys(), ...m2.keys()])].sort(compareNames);
    for (const name of names) {
      const n1 = m1.get(name);
      const n2 = m2.get(name);
      addBlobs(this.before, n1);
      addBlobs(this.after, n2);
      if (n1 && n2) {
        let p = goPathJoin(prefix, name);
        let mod = "";
        if (n1.type !== n2.type) mod += "T";
        if (n2.type === "dir") p += "/";
        if (n1.type === "file" && n2.type === "file" && !sameContent(n1.content, n2.content)) {
          mod += "M";
          this.changedFiles++;
        } else if (this.metadata && !nodesEqual(n1, n2)) {
          mod += "U";
        }
        if (mod !== "") this.print({ path: p, modifier: mod });
        if (n1.type === "dir" && n2.type === "dir" && n1.subtree && n2.subtree) {
          if (n1.subtree === n2.subtree) await this.collectDir(this.common, n1.subtree);
          else await this.diffTree(p, n1.subtree, n2.subtree);
        }
      } else if (n1) {
        let p = goPathJoin(prefix, name);
        if (n1.type === "dir") p += "/";
        this.print({ path: p, modifier: "-" });
        addNode(this.removed, n1);
        if (n1.type === "dir" && n1.subtree) {
          await this.printDir("-", this.removed, this.before, p, n1.subtree);
        }
      } else if (n2) {
        let p = goPathJoin(prefix, name);
        if (n2.type === "dir") p += "/";
        this.print({ path: p, modifier: "+" });
        addNode(this.added, n2);
        if (n2.type === "dir" && n2.subtree) {
          await this.printDir("+", this.added, this.after, p, n2.subtree);
        }
      }
    }
  }

  /** Count the blobs only one side has (restic's updateBlobs). */
  finish(): void {
    const count = (set: BlobSet, other: BlobSet, stats: DiffStat) => {
      for (const h of set) {
        if (other.has(h) || this.common.has(h)) continue;
        const type = h[0] === "d" ? "data" : "tree";
        if (type === "data") stats.dataBlobs++;
        else stats.treeBlobs++;
        stats.bytes += this.repo.index.lookupSize(type, h.slice(1)) ?? 0;
      }
    };
    count(this.before, this.after, this.removed);
    count(this.after, this.before, this.added);
  }
}

function statJson(s: DiffStat): string {
  return `{"files":${s.files},"dirs":${s.dirs},"others":${s.others},"data_blobs":${s.dataBlobs},"tree_blobs":${s.treeBlobs},"bytes":${s.bytes}}`;
}

const pad5 = (n: number) => String(n).padStart(5);

export const diffCommand: Command = {
  name: "diff",
  summary: "Show differences between two snapshots",
  usage: "diff [--metadata] SNAPSHOT1 SNAPSHOT2",
  options: { metadata: { type: "boolean" } },
  async run(ctx, args, flags) {
    if (args.length !== 2) throw new ResticTsError("INVALID_ARGUMENT", "specify two snapshot IDs");
    const repo = await ctx.openRepository();
    return withReadLock(ctx, repo, async () => {
      const sn1 = await findSnapshot(repo, args[0]);
      const sn2 = await findSnapshot(repo, args[1]);
      if (!ctx.json)
        ctx.verbose(`comparing snapshot ${sn1.id.slice(0, 8)} to ${sn2.id.slice(0, 8)}:\n\n`);
      const indexed = await repo.loadIndex();
      for (const sn of [sn1, sn2]) {
        if (sn.snapshot.tree === null) {
          throw new ResticTsError("CORRUPT", `snapshot ${sn.id.slice(0, 8)} has nil tree`);
        }
      }
      const print = ctx.quiet
        ? () => {}
        : ctx.json
          ? (c: Change) =>
              printGo(
                ctx.io,
                `{"message_type":"change","path":${goJsonString(c.path)},"modifier":${goJsonString(c.modifier)}}`,
              )
          : (c: Change) => printGo(ctx.io, `${c.modifier.padEnd(5)}${c.path}`);
      const cmp = new Comparer(indexed, flags.metadata === true, print);
      const tree1 = sn1.snapshot.tree as Id;
      const tree2 = sn2.snapshot.tree as Id;
      cmp.before.add(`t${tree1}`);
      cmp.after.add(`t${tree2}`);
      await cmp.diffTree("/", tree1, tree2);
      cmp.finish();
      if (ctx.json) {
        ctx.print(
          `{"message_type":"statistics","source_snapshot":${goJsonString(args[0])},"target_snapshot":${goJsonString(args[1])},"changed_files":${cmp.changedFiles},"added":${statJson(cmp.added)},"removed":${statJson(cmp.removed)}}`,
        );
        return 0;
      }
      const a = cmp.added;
      const r = cmp.removed;
      ctx.print("");
      ctx.print(
        `Files:       ${pad5(a.files)} new, ${pad5(r.files)} removed, ${pad5(cmp.changedFiles)} changed`,
      );
      ctx.print(`Dirs:        ${pad5(a.dirs)} new, ${pad5(r.dirs)} removed`);
      ctx.print(`Others:      ${pad5(a.others)} new, ${pad5(r.others)} removed`);
      ctx.print(`Data Blobs:  ${pad5(a.dataBlobs)} new, ${pad5(r.dataBlobs)} removed`);
      ctx.print(`Tree Blobs:  ${pad5(a.treeBlobs)} new, ${pad5(r.treeBlobs)} removed`);
      ctx.print(`  Added:   ${formatBytes(a.bytes).padEnd(5)}`);
      ctx.print(`  Removed: ${formatBytes(r.bytes).padEnd(5)}`);
      return 0;
    });
  },
};
