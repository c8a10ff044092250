// Walking snapshot trees, the two ways restic does:
//
// walkTree (restic 0.14 internal/walker): depth-first from the root tree, the nodes of each
// tree in byte order of their names, every node's path joined with Go's path.Join starting at
// "/". Subtrees are loaded through a bounded prefetcher so a walk over a remote backend is not
// one round trip per directory. A subtree that is one of its own ancestors (a cycle: only a
// forged repository can hold one, since tree IDs are hashes of their content) is refused with
// HOSTILE_PATH instead of recursing forever.
//
// streamTrees (restic's StreamTrees, FindUsedBlobs, the checker's structure walk): every tree
// reachable from some roots once, breadth-first, several loads in flight, each tree handed to
// a visitor. The caller's `seen` decides which trees were already visited (and records the
// new ones), so several walks can share one set.
//
// Also here: Go's path.Clean/path.Join, restic 0.16's `SNAPSHOT:subfolder` syntax and
// FindTreeDirectory (the tree of a directory inside a snapshot).

import { mapLimit } from "../backends/limit.js";
import { isResticTsError, ResticTsError } from "../errors.js";
import type { BlobSet } from "./blob-set.js";
import { goQuote } from "./gostring.js";
import type { Id } from "./id.js";
import type { Node } from "./node.js";
import { compareNames, type Tree } from "./tree.js";

/** The all-zero ID restic's checker reports for a subtree ("subtree id is null"). */
export const NULL_ID = "0".repeat(64);

/** Anything that loads (and verifies) tree blobs, e.g. an IndexedRepository. */
export interface TreeLoader {
  loadTree(id: Id): Promise<Tree>;
}

/**
 * A TreeLoader that starts loading subtrees before they are asked for. Each prefetched tree
 * is handed out once (then forgotten, so memory stays bounded by `maxAhead` trees).
 */
export class TreePrefetcher implements TreeLoader {
  private readonly ahead = new Map<Id, Promise<Tree>>();
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly loader: TreeLoader,
    private readonly concurrency = 8,
    private readonly maxAhead = 64,
  ) {}

  loadTree(id: Id): Promise<Tree> {
    const p = this.ahead.get(id);
    if (p !== undefined) {
      this.ahead.delete(id);
      return p;
    }
    return this.limited(id);
  }

  /** Start loading these trees (as far as the look-ahead allows). */
  prefetch(ids: Iterable<Id>): void {
    for (const id of ids) {
      if (this.ahead.size >= this.maxAhead) return;
      if (this.ahead.has(id)) continue;
      const p = this.limited(id);
      p.catch(() => {}); // reported when (if) it is asked for
      this.ahead.set(id, p);
    }
  }

  private async limited(id: Id): Promise<Tree> {
    if (this.active >= this.concurrency) {
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.active++;
    try {
      return await this.loader.loadTree(id);
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

// --- Go's path package ----------------------------------------------------------------------

/** Go's path.Clean: shortest equivalent slash path ("" becomes "."). */
export function goPathClean(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(part);
  }
  const joined = out.join("/");
  if (rooted) return `/${joined}`;
  return joined === "" ? "." : joined;
}

/** Go's path.Join(prefix, name) (fast path for an ordinary name below an absolute prefix). */
export function goPathJoin(prefix: string, name: string): string {
  if (name !== "" && name !== "." && name !== ".." && !name.includes("/")) {
    if (prefix === "/") return `/${name}`;
    if (prefix.startsWith("/") && !prefix.endsWith("/") && !/(^|\/)\.\.?(\/|$)/.test(prefix)) {
      return `${prefix}/${name}`;
    }
  }
  if (prefix === "" && name === "") return "";
  return goPathClean(prefix === "" ? name : name === "" ? prefix : `${prefix}/${name}`);
}

// --- walking --------------------------------------------------------------------------------

/** Nodes of a tree in the order restic's walker visits them (Go string order = bytes). */
export function sortedNodes(tree: Tree): Node[] {
  const nodes = tree.nodes;
  for (let i = 1; i < nodes.length; i++) {
    if (compareNames(nodes[i - 1].name, nodes[i].name) > 0) {
      return [...nodes].sort((a, b) => compareNames(a.name, b.name));
    }
  }
  return nodes;
}

/** What a visitor tells the walker (restic's (ignore, ErrSkipNode) pair). */
export interface WalkResult {
  /**
   * Do not visit this node's subtree again in this walk (it joins `ignoreTrees`); for other
   * nodes: counts towards "every node of this tree ignored", which ignores the whole tree.
   */
  readonly ignore?: boolean;
  /** For a directory: do not descend. For anything else: skip the rest of this tree. */
  readonly skip?: boolean;
}

export type WalkVisitor = (
  path: string,
  node: Node,
  parentTree: Id,
) => WalkResult | undefined | Promise<WalkResult | undefined>;

export interface WalkOptions {
  /**
   * Subtrees not to walk (their directory nodes are not visited either); trees the visitor
   * ignores are added. Share one set between walks of several snapshots, as restic's `find`
   * does, to visit a subtree common to them once.
   */
  readonly ignoreTrees?: Set<Id>;
  /**
   * Called when a subtree fails to load: return normally to skip that directory, throw to
   * abort. Without it, the error aborts the walk.
   */
  readonly onTreeError?: (path: string, treeId: Id, err: unknown) => void;
  /** Trees loaded in parallel ahead of the walk (default 8; 1 = none). */
  readonly prefetch?: number;
}

function cycleError(path: string, id: Id): ResticTsError {
  return new ResticTsError(
    "HOSTILE_PATH",
    `tree ${id.slice(0, 8)} at ${goQuote(path)} contains itself (a cycle in the snapshot's trees)`,
    { path, tree: id },
  );
}

/**
 * Walk the tree `root` depth-first, calling `visit` for every node below it (not for the root
 * itself) with its path ("/a/b"). A directory's node is visited before its contents.
 */
export async function walkTree(
  loader: TreeLoader,
  root: Id,
  visit: WalkVisitor,
  opts: WalkOptions = {},
): Promise<void> {
  const source =
    opts.prefetch === 1 || loader instanceof TreePrefetcher
      ? loader
      : new TreePrefetcher(loader, opts.prefetch ?? 8);
  const ignoreTrees = opts.ignoreTrees ?? new Set<Id>();
  const ancestors = new Set<Id>([root]);
  const tree = await source.loadTree(root);

  const walk = async (prefix: string, treeId: Id, t: Tree): Promise<boolean> => {
    const nodes = sortedNodes(t);
    if (source instanceof TreePrefetcher) {
      source.prefetch(
        nodes
          .filter((n) => n.type === "dir" && n.subtree !== undefined && !ignoreTrees.has(n.subtree))
          .map((n) => n.subtree as Id),
      );
    }
    let allIgnored = nodes.length > 0;
    for (const node of nodes) {
      const p = goPathJoin(prefix, node.name);
      if (node.type === "") {
        throw new ResticTsError("CORRUPT", `node type is empty for node ${goQuote(node.name)}`, {
          path: p,
        });
      }
      if (node.type !== "dir") {
        let r = visit(p, node, treeId);
        if (r instanceof Promise) r = await r; // most visitors answer at once: no await per node
        if (r?.skip) return allIgnored;
        if (!r?.ignore) allIgnored = false;
        continue;
      }
      const sub = node.subtree;
      if (sub === undefined) {
        throw new ResticTsError("CORRUPT", `directory ${goQuote(p)} has no subtree`, { path: p });
      }
      if (ignoreTrees.has(sub)) continue;
      let r = visit(p, node, treeId);
      if (r instanceof Promise) r = await r;
      if (r?.skip) {
        if (r.ignore) ignoreTrees.add(sub);
        continue;
      }
      if (r?.ignore) ignoreTrees.add(sub);
      else allIgnored = false;
      if (ancestors.has(sub)) throw cycleError(p, sub);
      let subtree: Tree;
      try {
        subtree = await source.loadTree(sub);
      } catch (err) {
        if (opts.onTreeError === undefined) throw err;
        opts.onTreeError(p, sub, err);
        allIgnored = false;
        continue;
      }
      ancestors.add(sub);
      const subIgnored = await walk(p, sub, subtree);
      ancestors.delete(sub);
      if (subIgnored) ignoreTrees.add(sub);
      else allIgnored = false;
    }
    return allIgnored;
  };

  await walk("/", root, tree);
}

// --- every tree once ------------------------------------------------------------------------

/** A tree to load, and whatever the caller keeps about where it was found. */
export interface TreeJob {
  readonly id: Id;
}

export interface StreamTreesOptions<J extends TreeJob> {
  /** True if the tree was visited before; otherwise records it and returns false. */
  readonly seen: (id: Id) => boolean;
  readonly visit: (job: J, tree: Tree) => void | Promise<void>;
  /** The job for a subtree of `job`'s tree, found at directory node `node`. */
  readonly child: (job: J, subtree: Id, node: Node) => J;
  /**
   * A tree that cannot be loaded: return normally to go on without it. Without this the walk
   * fails with restic's "unable to load a tree" error.
   */
  readonly onLoadError?: (job: J, err: unknown) => void;
  readonly concurrency?: number;
}

/** Why tree `id` could not be loaded, as restic says it. */
export function treeLoadReason(id: Id, err: unknown): string {
  if (isResticTsError(err, "NOT_FOUND")) return `id ${id} not found in repository`;
  return err instanceof Error ? err.message : String(err);
}

function loadFailure(id: Id, err: unknown): ResticTsError {
  return new ResticTsError(
    isResticTsError(err) ? err.code : "IO",
    `unable to load a tree from the repository: ${treeLoadReason(id, err)}`,
    { id },
    { cause: err },
  );
}

/** Visit every tree reachable from `roots` once (see the top of this file). */
export async function streamTrees<J extends TreeJob>(
  loader: TreeLoader,
  roots: readonly J[],
  options: StreamTreesOptions<J>,
): Promise<void> {
  let level = roots.filter((job) => !options.seen(job.id));
  while (level.length > 0) {
    const dirs = await mapLimit(level, options.concurrency ?? 16, async (job) => {
      let tree: Tree;
      try {
        tree = await loader.loadTree(job.id);
      } catch (err) {
        if (options.onLoadError === undefined) throw loadFailure(job.id, err);
        options.onLoadError(job, err);
        return undefined;
      }
      await options.visit(job, tree);
      return tree.nodes.filter((n) => n.type === "dir" && n.subtree !== undefined);
    });
    // the next level in a fixed order (a subtree found twice belongs to the first finder)
    const next: J[] = [];
    level.forEach((job, i) => {
      for (const node of dirs[i] ?? []) {
        const sub = node.subtree as Id;
        if (sub !== NULL_ID && !options.seen(sub)) next.push(options.child(job, sub, node));
      }
    });
    level = next;
  }
}

/** restic's FindUsedBlobs: add every tree and data blob reachable from `roots` to `used`. */
export async function findUsedBlobs(
  loader: TreeLoader,
  roots: readonly Id[],
  used: BlobSet,
): Promise<void> {
  await streamTrees(
    loader,
    roots.map((id) => ({ id })),
    {
      seen: (id) => !used.add("tree", id),
      child: (_job, id) => ({ id }),
      visit: (_job, tree) => {
        for (const node of tree.nodes) {
          if (node.type === "file") for (const b of node.content ?? []) used.add("data", b);
        }
      },
    },
  );
}

// --- SNAPSHOT:subfolder --------------------------------------------------------------------

/** Split restic's `SNAPSHOT[:subfolder]` argument at the first colon. */
export function splitSnapshotRef(arg: string): { ref: string; subfolder: string } {
  const i = arg.indexOf(":");
  return i < 0
    ? { ref: arg, subfolder: "" }
    : { ref: arg.slice(0, i), subfolder: arg.slice(i + 1) };
}

/**
 * The tree of directory `dir` (slash-separated, relative to the snapshot root) below `root`,
 * as restic's FindTreeDirectory: NOT_FOUND when a component is missing, INVALID_ARGUMENT when
 * one is not a directory.
 */
export async function findTreeDirectory(loader: TreeLoader, root: Id, dir: string): Promise<Id> {
  let id = root;
  let sub = "";
  for (const name of goPathClean(dir).split("/")) {
    if (name === "" || name === ".") continue;
    sub = sub === "" ? name : `${sub}/${name}`;
    const tree = await loader.loadTree(id);
    const node = tree.nodes.find((n) => n.name === name);
    if (node === undefined) {
      throw new ResticTsError("NOT_FOUND", `path ${sub}: not found`, { path: sub });
    }
    if (node.type !== "dir" || node.subtree === undefined) {
      throw new ResticTsError("INVALID_ARGUMENT", `path ${sub}: not a directory`, { path: sub });
    }
    id = node.subtree;
  }
  return id;
}
