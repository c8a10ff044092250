// A tiny snapshot writer for maintenance unit tests (no restic, no chunker): files are split into
// fixed 1 KiB data blobs, directories become trees, new blobs go through prune's packers into
// small packs, and an index file is written per snapshot — enough to give
// prune, copy, stats and check repositories with shared and unshared data.

import type { Backend } from "../../../src/backends/backend.js";
import { MemoryBackend } from "../../../src/backends/mem.js";
import { sha256, toHex } from "../../../src/crypto/hash.js";
import type { Id } from "../../../src/repo/id.js";
import { IndexWriter, WHEN_FULL } from "../../../src/repo/index-writer.js";
import { type Node, newNode } from "../../../src/repo/node.js";
import { BlobClaims, PackUploader } from "../../../src/repo/pack-uploader.js";
import { repackPackers } from "../../../src/repo/repacker.js";
import { Repository } from "../../../src/repo/repository.js";
import { type Snapshot, serialiseSnapshot } from "../../../src/repo/snapshot.js";
import { serialiseTree } from "../../../src/repo/tree.js";

export const FAST_KDF = { N: 1024, r: 8, p: 1 };
export const PASSWORD = "maintenance-pw";
const CHUNK = 1024;

export type FileTree = { [name: string]: string | Uint8Array | FileTree };

export async function newRepo(version = 2, backend: Backend = new MemoryBackend()) {
  return Repository.init(backend, PASSWORD, { version, kdf: FAST_KDF });
}

export interface SnapshotOptions {
  readonly time?: string;
  readonly host?: string;
  readonly tags?: string[];
  readonly paths?: string[];
  /** Target pack size (small, so several packs are written). */
  readonly packSize?: number;
}

/** Write a snapshot of `files`; returns its ID. */
export async function addSnapshot(
  repo: Repository,
  files: FileTree,
  opts: SnapshotOptions = {},
): Promise<Id> {
  const { index } = await repo.loadIndex();
  const claims = new BlobClaims(index);
  const indexWriter = new IndexWriter(repo, index, WHEN_FULL);
  const uploader = new PackUploader(repo, indexWriter, claims, false);
  const packers = repackPackers({ repo, uploader, packSize: opts.packSize ?? 4096 });
  const store = async (type: "data" | "tree", bytes: Uint8Array): Promise<Id> => {
    const id = toHex(sha256(bytes));
    if (claims.claim(type, id)) await packers[type].add(id, bytes);
    return id;
  };
  const writeDir = async (dir: FileTree): Promise<Id> => {
    const nodes: Node[] = [];
    for (const [name, v] of Object.entries(dir)) {
      if (typeof v === "string" || v instanceof Uint8Array) {
        const bytes = typeof v === "string" ? new TextEncoder().encode(v) : v;
        const n = newNode(name, "file");
        n.mode = 0o644;
        n.size = bytes.length;
        n.content = [];
        for (let o = 0; o < bytes.length; o += CHUNK) {
          n.content.push(await store("data", bytes.subarray(o, o + CHUNK)));
        }
        nodes.push(n);
      } else {
        const n = newNode(name, "dir");
        n.mode = 0x8000_01ed;
        n.subtree = await writeDir(v);
        nodes.push(n);
      }
    }
    return store("tree", serialiseTree(nodes));
  };
  const tree = await writeDir(files);
  await packers.data.flush();
  await packers.tree.flush();
  await indexWriter.finish();
  const sn: Snapshot = {
    time: opts.time ?? "2022-01-01T00:00:00Z",
    tree,
    paths: opts.paths ?? ["/data"],
    hostname: opts.host ?? "host",
    username: "user",
    uid: 1000,
    gid: 1000,
    ...(opts.tags !== undefined ? { tags: opts.tags } : {}),
  };
  return repo.saveUnpacked("snapshot", serialiseSnapshot(sn));
}

/** Deterministic pseudo-random bytes. */
export function bytes(seed: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** Read every file of a snapshot's tree back (content bytes by path). */
export async function readTree(repo: Repository, treeId: Id): Promise<Map<string, Uint8Array>> {
  const indexed = await repo.loadIndex();
  const out = new Map<string, Uint8Array>();
  const walk = async (id: Id, prefix: string) => {
    for (const n of (await indexed.loadTree(id)).nodes) {
      const p = `${prefix}/${n.name}`;
      if (n.type === "dir" && n.subtree !== undefined) await walk(n.subtree, p);
      else if (n.type === "file") {
        const parts = await Promise.all((n.content ?? []).map((b) => indexed.loadBlob("data", b)));
        out.set(p, Buffer.concat(parts));
      }
    }
  };
  await walk(treeId, "");
  return out;
}

/** The files of a FileTree by path, as readTree returns them. */
export function flatten(files: FileTree, prefix = ""): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [name, v] of Object.entries(files)) {
    const p = `${prefix}/${name}`;
    if (typeof v === "string") out.set(p, Buffer.from(v));
    else if (v instanceof Uint8Array) out.set(p, Buffer.from(v));
    else for (const [k, x] of flatten(v, p)) out.set(k, x);
  }
  return out;
}

/** A copy of every file of `src` in a new memory backend. */
export async function cloneBackend(src: Backend): Promise<MemoryBackend> {
  const dst = new MemoryBackend();
  for (const type of ["config", "key", "snapshot", "index", "data", "lock"] as const) {
    for await (const fi of src.list(type)) {
      await dst.save({ type, name: fi.name }, await src.load({ type, name: fi.name }));
    }
  }
  return dst;
}

/**
 * A backend that dies after `survive` changes (save or remove of anything but locks): that
 * change and every later one throw, as if the process had crashed there.
 */
export class CrashingBackend implements Backend {
  changes = 0;
  crashed = false;
  constructor(
    readonly inner: Backend,
    private readonly survive: number,
  ) {}
  get location() {
    return this.inner.location;
  }
  private change(type: string): void {
    if (type === "lock") return;
    if (this.crashed || this.changes >= this.survive) {
      this.crashed = true;
      throw new Error("simulated crash");
    }
    this.changes++;
  }
  create() {
    return this.inner.create();
  }
  async save(h: Parameters<Backend["save"]>[0], data: Uint8Array) {
    this.change(h.type);
    return this.inner.save(h, data);
  }
  load(h: Parameters<Backend["load"]>[0], range?: Parameters<Backend["load"]>[1]) {
    return this.inner.load(h, range);
  }
  stat(h: Parameters<Backend["stat"]>[0]) {
    return this.inner.stat(h);
  }
  list(type: Parameters<Backend["list"]>[0]) {
    return this.inner.list(type);
  }
  async remove(h: Parameters<Backend["remove"]>[0]) {
    this.change(h.type);
    return this.inner.remove(h);
  }
  close() {
    return this.inner.close();
  }
}
