// Makes the hostile fixture repositories of fixtures/hostile/ (run by fixtures/hostile/make.sh,
// which compiles this file and records what real restic says about each one). Written with our
// own data model, block by block, so they hold what restic never writes: node names that
// leave the target, a symlink and a directory of one name, trees that loop (stored under an ID
// that is not their hash: a loop needs a forged tree), blobs whose content does not hash to
// their ID, pack headers that disagree with the index, and an index pointing past a pack's
// end. Everything but the encryption (random IVs, keys and salt) is deterministic: names,
// contents, times and therefore every blob and tree ID are the same on every run.

import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { LocalBackend } from "../../src/backends/local.js";
import { sha256, toHex } from "../../src/crypto/hash.js";
import { type MasterKey, seal } from "../../src/crypto/master-key.js";
import { compress } from "../../src/repo/compression.js";
import type { Id } from "../../src/repo/id.js";
import { type IndexBlob, serialiseIndex } from "../../src/repo/index-file.js";
import { type Node, newNode, serialiseNode } from "../../src/repo/node.js";
import { type BlobType, buildPackHeader } from "../../src/repo/pack.js";
import { Repository } from "../../src/repo/repository.js";
import { serialiseSnapshot } from "../../src/repo/snapshot.js";

export const HOSTILE_PASSWORD = "hostile-fixture-password";
const FAST_KDF = { N: 1024, r: 8, p: 1 };
const POLYNOMIAL = 0x3da3358b4dc173n;
const TIME = "2024-05-06T07:08:09.123456789Z";
/** Where the absolute symlink of `symlink-parent` points: followed, it would write here. */
export const ABSOLUTE_LINK_TARGET = "/tmp";
/** The file that following it would create (in ABSOLUTE_LINK_TARGET or next to the target). */
export const PLANTED_NAME = "restic-ts-hostile-planted";

const enc = new TextEncoder();
const hash = (b: Uint8Array): Id => toHex(sha256(b));

interface StoredBlob {
  readonly type: BlobType;
  /** The ID the pack header and the index give it (its hash, unless forged). */
  readonly id: Id;
  readonly sealed: Uint8Array;
  readonly uncompressedLength?: number;
}

/** One repository under construction: blobs go to packs one type at a time, then an index. */
export class Builder {
  private pending: StoredBlob[] = [];
  readonly packs: { id: Id; size: number; blobs: IndexBlob[] }[] = [];
  readonly snapshots: Record<string, Id> = {};

  private constructor(
    readonly repo: Repository,
    private readonly key: MasterKey,
  ) {}

  static async create(dir: string): Promise<Builder> {
    const repo = await Repository.init(new LocalBackend(dir), HOSTILE_PASSWORD, {
      version: 2,
      kdf: FAST_KDF,
      chunkerPolynomial: POLYNOMIAL,
      username: "hostile",
      hostname: "hostile-host",
    });
    return new Builder(repo, repo.masterKey);
  }

  /** Store `plain` as a blob with ID `id` (its hash unless given), compressed when asked. */
  async blob(
    type: BlobType,
    plain: Uint8Array,
    opts: { id?: Id; compress?: boolean } = {},
  ): Promise<Id> {
    const id = opts.id ?? hash(plain);
    if (this.pending.some((b) => b.id === id && b.type === type)) return id;
    if (this.pending.length > 0 && this.pending[0].type !== type) await this.flush();
    const sealed = opts.compress
      ? seal(this.key, await compress(plain, "auto"))
      : seal(this.key, plain);
    this.pending.push(
      opts.compress ? { type, id, sealed, uncompressedLength: plain.length } : { type, id, sealed },
    );
    return id;
  }

  data(text: string, opts: { id?: Id; compress?: boolean } = {}): Promise<Id> {
    return this.blob("data", enc.encode(text), opts);
  }

  /** A tree of these nodes in this order (names as given: unsorted, repeated, hostile). */
  tree(nodes: readonly Node[], opts: { id?: Id } = {}): Promise<Id> {
    return this.blob("tree", enc.encode(`{"nodes":[${nodes.map(serialiseNode).join(",")}]}\n`), {
      ...opts,
      compress: true,
    });
  }

  /**
   * Write the pending blobs as one pack. `header` may replace the header entries (a lie);
   * the index always gets the truth unless `index` rewrites it.
   */
  async flush(
    opts: {
      header?: (blobs: IndexBlob[]) => IndexBlob[];
      index?: (blobs: IndexBlob[], packSize: number) => IndexBlob[];
    } = {},
  ): Promise<Id | undefined> {
    if (this.pending.length === 0) return undefined;
    let offset = 0;
    const truth: IndexBlob[] = this.pending.map((b) => {
      const e: IndexBlob = {
        id: b.id,
        type: b.type,
        offset,
        length: b.sealed.length,
        ...(b.uncompressedLength !== undefined ? { uncompressedLength: b.uncompressedLength } : {}),
      };
      offset += b.sealed.length;
      return e;
    });
    const sealedHeader = seal(this.key, buildPackHeader(opts.header ? opts.header(truth) : truth));
    const pack = new Uint8Array(offset + sealedHeader.length + 4);
    let p = 0;
    for (const b of this.pending) {
      pack.set(b.sealed, p);
      p += b.sealed.length;
    }
    pack.set(sealedHeader, p);
    new DataView(pack.buffer).setUint32(pack.length - 4, sealedHeader.length, true);
    const id = hash(pack);
    await this.repo.backend.save({ type: "data", name: id }, pack);
    this.packs.push({
      id,
      size: pack.length,
      blobs: opts.index ? opts.index(truth, pack.length) : truth,
    });
    this.pending = [];
    return id;
  }

  /** A snapshot of `root`, remembered as `name`; its tag is `name`. */
  async snapshot(name: string, root: Id): Promise<Id> {
    const id = await this.repo.saveUnpacked(
      "snapshot",
      serialiseSnapshot({
        time: TIME,
        tree: root,
        paths: [`/hostile/${name}`],
        hostname: "hostile-host",
        username: "hostile",
        uid: 0,
        gid: 0,
        tags: [name],
      }),
    );
    this.snapshots[name] = id;
    return id;
  }

  /** Write the remaining blobs and the one index file. */
  async finish(): Promise<Id> {
    await this.flush();
    return this.repo.saveUnpacked(
      "index",
      serialiseIndex({
        supersedes: [],
        packs: this.packs.map((p) => ({ id: p.id, blobs: p.blobs })),
      }),
    );
  }
}

// --- nodes --------------------------------------------------------------------------------

function node(name: string, type: string, fields: Partial<Node> = {}): Node {
  const n = newNode(name, type);
  n.mode =
    type === "dir"
      ? (0x8000_0000 | 0o755) >>> 0
      : type === "symlink"
        ? (0x0800_0000 | 0o777) >>> 0
        : 0o644;
  n.mtime = n.atime = n.ctime = "2024-01-02T03:04:05Z";
  if (type === "file") n.content = [];
  return Object.assign(n, fields);
}
const file = (name: string, content: Id[], size: number) => node(name, "file", { content, size });
const dir = (name: string, subtree: Id) => node(name, "dir", { subtree });

// --- the cases ----------------------------------------------------------------------------

export interface HostileCase {
  /** What is wrong, for people. */
  readonly description: string;
  /** Snapshot IDs by name (each snapshot is tagged with its name). */
  readonly snapshots: Record<string, Id>;
  /** The IDs a test needs to name the problem (forged trees, lying packs, …). */
  readonly ids: Record<string, Id>;
}

/** The node names of `traversal-names`, by snapshot name. */
export const HOSTILE_NAMES: Record<string, string> = {
  dotdot: "..",
  dot: ".",
  slash: "a/b",
  "dotdot-slash": "../outside/escaped",
  nul: "x\u0000y",
  empty: "",
  absolute: `${ABSOLUTE_LINK_TARGET}/${PLANTED_NAME}`,
};

async function traversalNames(dir0: string): Promise<HostileCase> {
  const b = await Builder.create(dir0);
  const content = await b.data("hostile content\n");
  for (const [name, bad] of Object.entries(HOSTILE_NAMES)) {
    // a harmless file first, the hostile name one level down
    const sub = await b.tree([file("fine", [content], 16), file(bad, [content], 16)]);
    const root = await b.tree([file("a-first", [content], 16), dir("sub", sub)]);
    await b.snapshot(name, root);
    // and at the top: the tree "sub" above as the snapshot's root
    await b.snapshot(`${name}-root`, sub);
  }
  await b.finish();
  return {
    description:
      'node names that would leave the target: "..", ".", "a/b", "../outside/escaped", "x\\0y", "" and an absolute path, one per snapshot (tagged with its kind), each in directory "sub" next to a harmless file; snapshots "<kind>-root" have that directory as their root',
    snapshots: b.snapshots,
    ids: { content },
  };
}

async function symlinkParent(dir0: string): Promise<HostileCase> {
  const b = await Builder.create(dir0);
  const planted = await b.data("planted through a symlink\n");
  const inner = await b.tree([file(PLANTED_NAME, [planted], 26)]);
  // the symlink comes first, then a directory of the same name whose entries would be written
  // through it if the name were resolved again
  const abs = await b.tree([
    node("escape", "symlink", { linkTarget: ABSOLUTE_LINK_TARGET }),
    dir("escape", inner),
  ]);
  await b.snapshot("absolute", abs);
  const rel = await b.tree([
    node("escape", "symlink", { linkTarget: "../outside" }),
    dir("escape", inner),
  ]);
  await b.snapshot("relative", rel);
  await b.finish();
  return {
    description: `a symlink "escape" (to ${ABSOLUTE_LINK_TARGET} in snapshot "absolute", to ../outside in "relative") followed in the same tree by a directory "escape" holding ${PLANTED_NAME}`,
    snapshots: b.snapshots,
    ids: { absoluteRoot: abs, relativeRoot: rel },
  };
}

async function treeLoop(dir0: string): Promise<HostileCase> {
  const b = await Builder.create(dir0);
  const content = await b.data("inside a loop\n");
  // a tree that names itself as a subtree: stored under an ID that is not its hash
  const self = hash(enc.encode("forged tree: itself"));
  await b.tree([file("f", [content], 14), dir("loop", self)], { id: self });
  const selfRoot = await b.tree([dir("start", self)]);
  await b.snapshot("self", selfRoot);
  // root -> child -> root: the child is forged, the root is honest (its hash covers the child)
  const child = hash(enc.encode("forged tree: back to the root"));
  const root = await b.tree([dir("child", child)]);
  await b.tree([file("f", [content], 14), dir("back-to-root", root)], { id: child });
  await b.snapshot("ancestor", root);
  await b.finish();
  return {
    description:
      'trees that loop, each possible only with a tree stored under an ID that is not its hash: "self" (root/start/loop/loop/…: tree selfLoop names itself), "ancestor" (root/child/back-to-root/…: forged tree ancestorChild names the root)',
    snapshots: b.snapshots,
    ids: { selfLoop: self, ancestorChild: child, ancestorRoot: root, content },
  };
}

async function dataHashMismatch(dir0: string): Promise<HostileCase> {
  const b = await Builder.create(dir0);
  const honest = await b.data("an honest file\n");
  const plainLie = hash(enc.encode("what the index promises (plain)\n"));
  await b.data("something else entirely (plain)\n", { id: plainLie });
  const zstdLie = hash(enc.encode("what the index promises (zstd)\n"));
  await b.data("something else entirely (zstd)\n", { id: zstdLie, compress: true });
  const root = await b.tree([
    file("honest.txt", [honest], 15),
    file("liar-plain.txt", [plainLie], 32),
    file("liar-zstd.txt", [zstdLie], 31),
  ]);
  await b.snapshot("mismatch", root);
  await b.finish();
  return {
    description:
      'data blobs whose content does not hash to their ID (one stored plain, one zstd-compressed), used by "liar-plain.txt" and "liar-zstd.txt" next to an honest file',
    snapshots: b.snapshots,
    ids: { honest, plainLie, zstdLie },
  };
}

async function packHeaderLies(dir0: string): Promise<HostileCase> {
  const b = await Builder.create(dir0);
  const first = await b.data("first blob of the swapped pack: a bit longer than the second\n");
  const second = await b.data("second blob\n");
  // header entries with the two lengths swapped: same total, every offset after the first wrong
  const swapped = await b.flush({
    header: (t) => [
      { ...t[0], length: t[1].length },
      { ...t[1], length: t[0].length },
    ],
  });
  const third = await b.data("the only blob of a pack whose header overstates its length\n");
  // the header says the blob runs 100 bytes on, into the header itself
  const overlong = await b.flush({ header: (t) => [{ ...t[0], length: t[0].length + 100 }] });
  const root = await b.tree([
    file("first.txt", [first], 61),
    file("second.txt", [second], 12),
    file("third.txt", [third], 60),
  ]);
  await b.snapshot("lies", root);
  await b.finish();
  return {
    description:
      "pack headers that lie while the index tells the truth: pack swappedPack lists its two blobs' lengths swapped (offsets shifted), pack overlongPack gives its blob 100 bytes more than there are before the header; restore reads through the index and is not misled",
    snapshots: b.snapshots,
    ids: {
      swappedPack: swapped as Id,
      overlongPack: overlong as Id,
      first,
      second,
      third,
    },
  };
}

async function indexPastEnd(dir0: string): Promise<HostileCase> {
  const b = await Builder.create(dir0);
  const good = await b.data("a blob the index places correctly\n");
  const beyond = await b.data("a blob the index places after the end of its pack\n");
  const straddle = await b.data("a blob the index makes run past the end of its pack\n");
  const pack = await b.flush({
    index: (t, size) => [
      t[0],
      { ...t[1], offset: size + 1000 },
      { ...t[2], length: size - t[2].offset + 64 },
    ],
  });
  const root = await b.tree([
    file("beyond.txt", [beyond], 51),
    file("good.txt", [good], 34),
    file("straddle.txt", [straddle], 52),
  ]);
  await b.snapshot("past-end", root);
  await b.finish();
  return {
    description:
      'an index that places blob "beyond" 1000 bytes after the end of its pack and makes blob "straddle" run 64 bytes past it (the pack itself is intact)',
    snapshots: b.snapshots,
    ids: { pack: pack as Id, good, beyond, straddle },
  };
}

async function indexAbsurdLength(dir0: string): Promise<HostileCase> {
  const b = await Builder.create(dir0);
  const honest = await b.data("an honest neighbour\n");
  const small = await b.data("a small compressed blob\n".repeat(40), { compress: true });
  // the index claims 3.5 GB for the 960-byte content: sizing buffers from it would be absurd
  const pack = await b.flush({
    index: (t) => t.map((e) => (e.id === small ? { ...e, uncompressedLength: 3_500_000_000 } : e)),
  });
  const root = await b.tree([
    file("claimed-huge.txt", [small], 960),
    file("honest.txt", [honest], 20),
  ]);
  await b.snapshot("absurd", root);
  await b.finish();
  return {
    description:
      'an index claiming an uncompressed length of 3,500,000,000 bytes for a compressed blob of 960 (file "claimed-huge.txt"); restore must not size buffers from it',
    snapshots: b.snapshots,
    ids: { pack: pack as Id, small, honest },
  };
}

export const CASES: Record<string, (dir: string) => Promise<HostileCase>> = {
  "traversal-names": traversalNames,
  "symlink-parent": symlinkParent,
  "tree-loop": treeLoop,
  "data-hash-mismatch": dataHashMismatch,
  "pack-header-lies": packHeaderLies,
  "index-past-end": indexPastEnd,
  "index-absurd-length": indexAbsurdLength,
};

/** Make every case below `outDir` (which must not hold them yet) and write MANIFEST.json. */
export async function makeHostileFixtures(outDir: string): Promise<Record<string, HostileCase>> {
  mkdirSync(outDir, { recursive: true });
  const manifest: Record<string, HostileCase> = {};
  for (const [name, make] of Object.entries(CASES)) {
    manifest[name] = await make(path.join(outDir, name));
  }
  writeFileSync(
    path.join(outDir, "MANIFEST.json"),
    `${JSON.stringify({ password: HOSTILE_PASSWORD, absoluteLinkTarget: ABSOLUTE_LINK_TARGET, planted: PLANTED_NAME, cases: manifest }, null, 2)}\n`,
  );
  return manifest;
}

// `node hostile-make.js OUT_DIR` (what make.sh runs)
if (process.argv[1]?.endsWith("hostile-make.js") && process.argv[2] !== undefined) {
  await makeHostileFixtures(path.resolve(process.argv[2]));
}
