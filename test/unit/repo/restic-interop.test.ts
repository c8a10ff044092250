// Byte-identity against repositories written by the real restic 0.14.0: every pack header,
// blob, tree, index and snapshot restic wrote must parse, and re-serialise to the same bytes.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { open } from "../../../src/crypto/master-key.js";
import { parseIndex, serialiseIndex } from "../../../src/repo/index-file.js";
import { scanIndex } from "../../../src/repo/index-scan.js";
import { MasterIndex } from "../../../src/repo/master-index.js";
import {
  MODE_DIR,
  MODE_SETUID,
  MODE_STICKY,
  type Node,
  nodeTypeFromFileMode,
} from "../../../src/repo/node.js";
import {
  buildPackHeader,
  type PackBlob,
  readPackHeader,
  readPackHeaderWith,
} from "../../../src/repo/pack.js";
import { parseSnapshot, serialiseSnapshot } from "../../../src/repo/snapshot.js";
import { parseTree, serialiseTree } from "../../../src/repo/tree.js";
import { makeResticRepo, type ResticRepo, resticRaw, runResticTests, zstd } from "./restic-repo.js";

function sha256hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

describe.skipIf(!runResticTests).each([1, 2] as const)("restic 0.14 repository v%i", (version) => {
  let repo: ResticRepo;
  const trees = new Map<string, Node[]>();
  const packBlobs = new Map<string, PackBlob[]>();

  beforeAll(async () => {
    repo = await makeResticRepo(version);
  }, 120_000);
  afterAll(() => repo?.remove());

  it("reads every pack header and every blob decrypts and hashes to its ID", async () => {
    const unz = await zstd();
    const packs = repo.files("data");
    expect(packs.size).toBeGreaterThan(1);
    let compressed = 0;
    for (const [name, bytes] of packs) {
      expect(sha256hex(bytes)).toBe(name);
      const loads: [number, number][] = [];
      const loadRange = async (off: number, len: number) => {
        loads.push([off, len]);
        return bytes.subarray(off, off + len);
      };
      let plainHeader: Uint8Array | undefined;
      const info = await readPackHeaderWith(
        loadRange,
        bytes.length,
        (s) => {
          plainHeader = open(repo.key, s);
          return plainHeader;
        },
        true,
      );
      // headers of up to 15 entries come with the speculative read
      expect(loads.length).toBe(info.blobs.length <= 15 ? 1 : 2);
      expect(buildPackHeader(info.blobs)).toEqual(plainHeader);
      expect(await readPackHeader(loadRange, bytes.length, repo.key)).toEqual(info.blobs);
      packBlobs.set(name, info.blobs);
      for (const b of info.blobs) {
        let plain = open(repo.key, bytes.subarray(b.offset, b.offset + b.length));
        if (b.uncompressedLength !== undefined) {
          compressed++;
          plain = unz(plain, b.uncompressedLength);
          expect(plain.length).toBe(b.uncompressedLength);
        }
        expect(sha256hex(plain)).toBe(b.id);
        if (b.type === "tree") {
          const tree = parseTree(plain, { strict: false });
          const again = serialiseTree(tree);
          expect(Buffer.from(again).toString()).toBe(Buffer.from(plain).toString());
          expect(Buffer.compare(again, plain)).toBe(0);
          expect(sha256hex(again)).toBe(b.id);
          trees.set(b.id, tree.nodes);
        }
      }
    }
    if (version === 2) expect(compressed).toBeGreaterThan(0);
    else expect(compressed).toBe(0);
  });

  it("parses trees into the entries that were backed up", () => {
    const all = [...trees.values()].flat();
    const byName = new Map(all.map((n) => [n.name, n]));
    const must = [
      "plain.txt",
      "empty",
      "link",
      "badlink",
      "pipe",
      "new\nline",
      "<&>",
      'quote"back\\slash',
      "\x01ctl\x7f",
      "melting\u{1fae0}face",
      "ls\u2028sep",
      "inv\udcff\udcfe\udcc3",
      "sticky",
      "ü ñ 日本語.txt",
    ];
    for (const m of must) expect(byName.has(m), JSON.stringify(m)).toBe(true);
    expect(byName.get("empty")?.content).toEqual([]);
    expect(byName.get("link")?.content).toBeNull();
    expect(byName.get("link")?.linkTarget).toBe("plain.txt");
    // Go wrote each invalid byte as \ufffd: kept as U+DC00 so it is written back that way
    expect(byName.get("badlink")?.linkTarget).toBe("t\udc00/\udc00");
    expect(byName.get("pipe")?.type).toBe("fifo");
    expect(nodeTypeFromFileMode(byName.get("pipe")?.mode ?? 0)).toBe("fifo");
    expect(((byName.get("sticky")?.mode ?? 0) & (MODE_DIR | MODE_STICKY)) >>> 0).toBe(
      (MODE_DIR | MODE_STICKY) >>> 0,
    );
    expect((byName.get("plain.txt")?.mode ?? 0) & MODE_SETUID).toBe(MODE_SETUID);
    expect(byName.get("plain.txt")?.links).toBe(2);
    const text = byName.get("text.log");
    const xattrs = text?.extendedAttributes ?? [];
    if (xattrs.length > 0) {
      expect(xattrs.find((a) => a.name === "user.restic")?.value).toEqual(
        new TextEncoder().encode("value<&>"),
      );
    }
    const big = byName.get("random.bin");
    expect(big?.content?.length).toBeGreaterThanOrEqual(1);
  });

  it("re-serialises every index file byte for byte and indexes every blob", () => {
    const mi = new MasterIndex();
    const fast = new MasterIndex();
    for (const [name, raw] of repo.files("index")) {
      expect(sha256hex(raw)).toBe(name);
      const plain = repo.unpacked(raw);
      const { index, oldFormat } = parseIndex(plain);
      expect(oldFormat).toBe(false);
      expect(Buffer.from(serialiseIndex(index)).toString()).toBe(Buffer.from(plain).toString());
      mi.addIndex(index);
      // restic's own index files take the fast path, with the same entries
      const scanned = scanIndex(plain);
      expect(scanned, `scanIndex of ${name}`).toBeDefined();
      if (scanned !== undefined) fast.addScanned(scanned);
    }
    expect([...fast.entries()]).toEqual([...mi.entries()]);
    let n = 0;
    for (const [pack, blobs] of packBlobs) {
      for (const b of blobs) {
        n++;
        const loc = mi.lookup(b.type, b.id);
        expect(loc).toContainEqual(
          b.uncompressedLength === undefined
            ? { packId: pack, offset: b.offset, length: b.length }
            : {
                packId: pack,
                offset: b.offset,
                length: b.length,
                uncompressedLength: b.uncompressedLength,
              },
        );
      }
    }
    expect(mi.size).toBe(n);
    expect(mi.packs()).toEqual(new Set(packBlobs.keys()));
  });

  it("re-serialises every snapshot byte for byte", () => {
    const snaps = repo.files("snapshots");
    expect(snaps.size).toBe(2);
    let withParent = 0;
    for (const [name, raw] of snaps) {
      expect(sha256hex(raw)).toBe(name);
      const plain = repo.unpacked(raw);
      const sn = parseSnapshot(plain);
      expect(Buffer.from(serialiseSnapshot(sn)).toString()).toBe(Buffer.from(plain).toString());
      expect(sn.hostname).toBe("test<host>");
      expect(trees.has(sn.tree ?? "")).toBe(true);
      if (sn.parent !== undefined) withParent++;
      else {
        expect(sn.tags).toEqual(["t1", "t2"]);
        expect(sn.excludes).toEqual(["*.tmp"]);
      }
    }
    expect(withParent).toBe(1);
  });

  it("agrees with `restic cat` on a tree blob, an index and a snapshot", () => {
    const [snapName, snapRaw] = [...repo.files("snapshots")][0];
    const sn = parseSnapshot(repo.unpacked(snapRaw));
    const treeId = sn.tree ?? "";
    const catTree = resticRaw(repo.dir, ["cat", "blob", treeId]);
    expect(Buffer.compare(serialiseTree(trees.get(treeId) ?? []), catTree)).toBe(0);
    const [indexName, indexRaw] = [...repo.files("index")][0];
    const catIndex = resticRaw(repo.dir, ["cat", "index", indexName]).toString();
    expect(catIndex).toBe(
      `${Buffer.from(serialiseIndex(parseIndex(repo.unpacked(indexRaw)).index)).toString()}\n`,
    );
    // `cat snapshot` re-marshals with indentation: compare as JSON
    const catSnap = JSON.parse(resticRaw(repo.dir, ["cat", "snapshot", snapName]).toString());
    expect(catSnap).toEqual(JSON.parse(Buffer.from(serialiseSnapshot(sn)).toString()));
  });
});
