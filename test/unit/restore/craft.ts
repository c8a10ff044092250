// Build small repositories by hand for restore tests, with the data model only (no archiver):
// data blobs sealed (v2: zstd-compressed when asked) into packs with PackBuilder, trees written
// as JSON node by node (so names restic would never write — "", "..", "a/b", a name twice —
// can be crafted), one index file and a snapshot saved with saveUnpacked.

import { LocalBackend } from "../../../src/backends/local.js";
import { MemoryBackend } from "../../../src/backends/mem.js";
import { sha256, toHex } from "../../../src/crypto/hash.js";
import { seal } from "../../../src/crypto/master-key.js";
import { compress } from "../../../src/repo/compression.js";
import type { Id } from "../../../src/repo/id.js";
import { serialiseIndex } from "../../../src/repo/index-file.js";
import type { IndexedRepository } from "../../../src/repo/indexed.js";
import { type Node, newNode, serialiseNode } from "../../../src/repo/node.js";
import { type BlobType, type PackBlob, PackBuilder } from "../../../src/repo/pack.js";
import { Repository } from "../../../src/repo/repository.js";
import { serialiseSnapshot } from "../../../src/repo/snapshot.js";

export const FAST_KDF = { N: 1024, r: 8, p: 1 };
export const PASSWORD = "craft-password";

export interface Crafted {
  readonly repo: Repository;
  /** Add a data blob (stored in the current pack; under `id` instead of its SHA-256, to lie). */
  data(bytes: Uint8Array | string, opts?: { compress?: boolean; id?: Id }): Promise<Id>;
  /** Add a tree of these nodes (written in this order, names as given); returns its ID. */
  tree(nodes: readonly Node[]): Promise<Id>;
  /** Start a new data pack (blobs added later go there). */
  nextPack(): Promise<void>;
  /** Write packs, the index and a snapshot of `root`; returns the indexed repository. */
  commit(root: Id, opts?: { hostname?: string; time?: string }): Promise<IndexedRepository>;
}

const enc = new TextEncoder();

/** A repository (in memory, or in `dir` on disk) to fill by hand. */
export async function craftRepo(version: 1 | 2 = 2, dir?: string): Promise<Crafted> {
  const backend = dir ? new LocalBackend(dir) : new MemoryBackend();
  const repo = await Repository.init(backend, PASSWORD, {
    version,
    kdf: FAST_KDF,
    chunkerPolynomial: 0x3da3358b4dc173n,
  });
  const key = repo.masterKey;
  const packs: { id: Id; blobs: PackBlob[] }[] = [];
  const builders: Record<BlobType, PackBuilder> = {
    data: new PackBuilder({ key, repoVersion: version }),
    tree: new PackBuilder({ key, repoVersion: version }),
  };
  const known = new Set<string>();

  const flush = async (type: BlobType) => {
    const b = builders[type];
    if (b.count === 0) return;
    const blobs = [...b.blobs];
    const bytes = b.finalize();
    const id = toHex(sha256(bytes));
    await backend.save({ type: "data", name: id }, bytes);
    packs.push({ id, blobs });
    builders[type] = new PackBuilder({ key, repoVersion: version });
  };

  const add = async (
    type: BlobType,
    plain: Uint8Array,
    compressIt: boolean,
    claimed?: Id,
  ): Promise<Id> => {
    const id = claimed ?? toHex(sha256(plain));
    if (known.has(type + id)) return id;
    known.add(type + id);
    if (compressIt && version === 2) {
      builders[type].add(type, id, seal(key, await compress(plain, "auto")), plain.length);
    } else {
      builders[type].add(type, id, seal(key, plain));
    }
    return id;
  };

  return {
    repo,
    data: (bytes, opts) =>
      add(
        "data",
        typeof bytes === "string" ? enc.encode(bytes) : bytes,
        opts?.compress ?? false,
        opts?.id,
      ),
    tree: (nodes) =>
      add("tree", enc.encode(`{"nodes":[${nodes.map(serialiseNode).join(",")}]}\n`), version === 2),
    nextPack: () => flush("data"),
    async commit(root, opts = {}) {
      await flush("data");
      await flush("tree");
      await repo.saveUnpacked(
        "index",
        serialiseIndex({
          supersedes: [],
          packs: packs.map((p) => ({
            id: p.id,
            blobs: p.blobs.map((b) => ({ ...b })),
          })),
        }),
      );
      await repo.saveUnpacked(
        "snapshot",
        serialiseSnapshot({
          time: opts.time ?? "2024-01-02T03:04:05.123456789Z",
          tree: root,
          paths: ["/src"],
          hostname: opts.hostname ?? "crafted",
          username: "tester",
          uid: 0,
          gid: 0,
        }),
      );
      return repo.loadIndex();
    },
  };
}

const DIR_MODE = 0x8000_0000 | 0o755;

/** A node with the usual fields filled. */
export function node(name: string, type: string, fields: Partial<Node> = {}): Node {
  const n = newNode(name, type);
  n.mode =
    type === "dir" ? DIR_MODE >>> 0 : type === "symlink" ? (0x0800_0000 | 0o777) >>> 0 : 0o644;
  n.mtime = "2023-04-05T06:07:08.123456789Z";
  n.atime = "2023-04-05T06:07:09.987654321Z";
  n.ctime = "2023-04-05T06:07:10Z";
  if (type === "file") n.content = [];
  return Object.assign(n, fields);
}

/** A file node whose content is `blobs` (sizes from `sizes`). */
export function fileNode(name: string, blobs: Id[], size: number, fields: Partial<Node> = {}) {
  return node(name, "file", { content: blobs, size, ...fields });
}

/** A directory node for `subtree`. */
export function dirNode(name: string, subtree: Id, fields: Partial<Node> = {}) {
  return node(name, "dir", { subtree, ...fields });
}
