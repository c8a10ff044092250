// check, step 3 (restic 0.14 checker.Structure / checkTree): load every snapshot, walk every
// tree reachable from them once, and check each tree's nodes: files have a content list whose
// blobs are all in the index, directories have a (non-null) subtree, node types are known and
// names are not empty — and, beyond restic, that no name would leave a restore target or
// appears twice in one tree (restore refuses both as HOSTILE_PATH). A tree that cannot be
// loaded (not indexed, pack damaged) is an error of its own. Trees are walked breadth-first,
// several loads in flight (walk.ts streamTrees).

import { mapLimit } from "../../backends/limit.js";
import { BlobSet } from "../blob-set.js";
import { goQuote } from "../gostring.js";
import type { Id } from "../id.js";
import type { IndexedRepository } from "../indexed.js";
import type { MasterIndex } from "../master-index.js";
import { validateNodeName } from "../node.js";
import { loadSnapshot } from "../snapshots.js";
import type { Tree } from "../tree.js";
import { NULL_ID, streamTrees, treeLoadReason } from "../walk.js";
import { describeError, errorFinding, type Finding } from "./findings.js";

const PLAIN_TYPES = new Set(["symlink", "socket", "chardev", "dev", "fifo"]);

export interface StructureResult {
  readonly findings: Finding[];
  readonly snapshots: number;
  readonly trees: number;
}

interface TreeJob {
  readonly id: Id;
  readonly snapshotId: Id;
  readonly path: string;
}

function isHostileName(name: string): boolean {
  try {
    validateNodeName(name);
    return false;
  } catch {
    return true;
  }
}

/** restic's checkTree: problems of one tree's nodes, each "tree <id>: <problem>". */
export function checkTreeNodes(id: Id, tree: Tree, index: MasterIndex): string[] {
  const errs: string[] = [];
  const add = (m: string) => errs.push(`tree ${id}: ${m}`);
  const names = new Set<string>();
  for (const node of tree.nodes) {
    const name = goQuote(node.name);
    // beyond restic 0.14's checks: what restic never writes and restore refuses (HOSTILE_PATH)
    if (node.name !== "" && isHostileName(node.name)) {
      add(`node ${name} has a name that would leave the restore target`);
    }
    if (names.has(node.name)) add(`node ${name} appears twice`);
    names.add(node.name);
    switch (node.type) {
      case "file":
        if (node.content === null) add(`file ${name} has nil blob list`);
        (node.content ?? []).forEach((blob, i) => {
          if (blob === NULL_ID) add(`file ${name} blob ${i} has null ID`);
          else if (!index.has("data", blob)) add(`file ${name} blob ${blob} not found in index`);
        });
        break;
      case "dir":
        if (node.subtree === undefined) add(`dir node ${name} has no subtree`);
        else if (node.subtree === NULL_ID) add(`dir node ${name} subtree id is null`);
        break;
      default:
        if (!PLAIN_TYPES.has(node.type))
          add(`node ${name} with invalid type ${goQuote(node.type)}`);
    }
    if (node.name === "") add("node with empty name");
  }
  return errs;
}

/**
 * Check every snapshot's tree graph. `snapshotIds` are the snapshot files to load;
 * `onSnapshot` is told as each one has been loaded (for progress).
 */
export async function checkStructure(
  repo: IndexedRepository,
  snapshotIds: readonly Id[],
  options: { concurrency?: number; onSnapshot?: () => void } = {},
): Promise<StructureResult> {
  const concurrency = options.concurrency ?? 16;
  const findings: Finding[] = [];
  const roots = await mapLimit(snapshotIds, concurrency, async (snapshotId) => {
    try {
      const sn = await loadSnapshot(repo.repo, snapshotId);
      if (sn.tree === null) {
        findings.push(
          errorFinding("snapshot-load", `snapshot ${snapshotId} has no tree`, { snapshotId }),
        );
        return undefined;
      }
      return { id: sn.tree, snapshotId, path: "/" };
    } catch (err) {
      findings.push(
        errorFinding(
          "snapshot-load",
          `failed to load snapshot ${snapshotId}: ${describeError(err)}`,
          {
            snapshotId,
          },
        ),
      );
      return undefined;
    } finally {
      options.onSnapshot?.();
    }
  });
  const seen = new BlobSet(); // trees queued once
  let trees = 0;
  await streamTrees(
    repo,
    roots.filter((r) => r !== undefined),
    {
      concurrency,
      seen: (id) => !seen.add("tree", id),
      child: (job, id, node) => ({
        id,
        snapshotId: job.snapshotId,
        path: job.path === "/" ? `/${node.name}` : `${job.path}/${node.name}`,
      }),
      onLoadError: (job, err) => {
        trees++;
        findings.push(treeFinding("tree-load", job, [treeLoadReason(job.id, err)]));
      },
      visit: (job, tree) => {
        trees++;
        const problems = checkTreeNodes(job.id, tree, repo.index);
        if (problems.length > 0) findings.push(treeFinding("tree", job, problems));
      },
    },
  );
  const order = (f: Finding) => `${f.treeId ?? ""}/${f.snapshotId ?? ""}`;
  findings.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
  return { findings, snapshots: snapshotIds.length, trees };
}

function treeFinding(kind: "tree" | "tree-load", job: TreeJob, details: string[]): Finding {
  return errorFinding(
    kind,
    `error for tree ${job.id.slice(0, 8)} (snapshot ${job.snapshotId.slice(0, 8)}, ${job.path})`,
    { treeId: job.id, snapshotId: job.snapshotId, path: job.path, details },
  );
}
