// Loading every tree reachable from some root trees once (restic's StreamTrees /
// FindUsedBlobs): breadth-first, several loads in flight, each tree handed to a visitor. The
// caller's `seen` decides which trees were already visited (and records the new ones), so
// several walks can share one set. A tree that cannot be loaded fails the walk.

import { isResticTsError, ResticTsError } from "../errors.js";
import type { BlobSet } from "./blob-set.js";
import type { Id } from "./id.js";
import { type IndexedRepository, mapLimit } from "./indexed.js";
import type { Tree } from "./tree.js";

const NULL_ID = "0".repeat(64);

export interface StreamTreesOptions {
  /** True if the tree was visited before; otherwise records it and returns false. */
  readonly seen: (id: Id) => boolean;
  readonly visit: (id: Id, tree: Tree) => void | Promise<void>;
  readonly concurrency?: number;
}

export async function streamTrees(
  repo: IndexedRepository,
  roots: readonly Id[],
  options: StreamTreesOptions,
): Promise<void> {
  let level = roots.filter((id) => !options.seen(id));
  while (level.length > 0) {
    const next: Id[] = [];
    await mapLimit(level, options.concurrency ?? 16, async (id) => {
      let tree: Tree;
      try {
        tree = await repo.loadTree(id);
      } catch (err) {
        const why = isResticTsError(err, "NOT_FOUND")
          ? `id ${id} not found in repository`
          : (err as Error).message;
        throw new ResticTsError(
          isResticTsError(err) ? err.code : "IO",
          `unable to load a tree from the repository: ${why}`,
          { id },
          { cause: err },
        );
      }
      await options.visit(id, tree);
      for (const node of tree.nodes) {
        if (node.type !== "dir" || node.subtree === undefined || node.subtree === NULL_ID) continue;
        if (!options.seen(node.subtree)) next.push(node.subtree);
      }
    });
    level = next;
  }
}

/** restic's FindUsedBlobs: add every tree and data blob reachable from `roots` to `used`. */
export async function findUsedBlobs(
  repo: IndexedRepository,
  roots: readonly Id[],
  used: BlobSet,
): Promise<void> {
  await streamTrees(repo, roots, {
    seen: (id) => !used.add("tree", id),
    visit: (_id, tree) => {
      for (const node of tree.nodes) {
        if (node.type === "file") for (const b of node.content ?? []) used.add("data", b);
      }
    },
  });
}
