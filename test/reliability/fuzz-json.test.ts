// Fuzzing the parsers of restic's JSON files with fast-check: key files (and the master key
// they seal), the config, index files, tree blobs, snapshots and lock files. Each gets random
// bytes, random JSON, byte-level mutations of a valid encoding, and field-level mutations
// (wrong types, huge numbers, deep nesting, deleted or repeated keys). Property: a value or a
// ResticTsError of the parser's documented codes, within a time budget — and a value that was
// accepted satisfies the parser's invariants and survives serialise → parse unchanged.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sha256, toHex } from "../../src/crypto/hash.js";
import { decodeMasterKey, encodeMasterKey, newMasterKey } from "../../src/crypto/master-key.js";
import type { ErrorCode } from "../../src/errors.js";
import { parseConfig, serializeConfig } from "../../src/repo/config.js";
import { parseIndex, serialiseIndex } from "../../src/repo/index-file.js";
import {
  createKeyFile,
  openKeyFile,
  parseKeyFile,
  serializeKeyFile,
} from "../../src/repo/key-file.js";
import { parseLock, serializeLock } from "../../src/repo/lock.js";
import { type Node, newNode } from "../../src/repo/node.js";
import { parseSnapshot, type Snapshot, serialiseSnapshotText } from "../../src/repo/snapshot.js";
import { checkTree, parseTree, serialiseTree } from "../../src/repo/tree.js";
import {
  applyEdits,
  attempt,
  byteEdits,
  hostileJsonLiterals,
  jsonMutations,
  mutateJson,
  runs,
} from "./fuzz-helpers.js";

const enc = new TextEncoder();
const id = (s: string) => toHex(sha256(enc.encode(s)));
const HEX64 = /^[0-9a-f]{64}$/;

/** Random bytes, random JSON text, and JSON-ish junk, as bytes. */
const junk: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 256 }),
  fc.json({ maxDepth: 4 }).map((t) => enc.encode(t)),
  fc
    .array(fc.constantFrom("{", "}", "[", "]", ",", ":", '"', "\\", "null", "1e9", " ", "\u00ff"), {
      maxLength: 64,
    })
    .map((a) => enc.encode(a.join(""))),
);

/**
 * The shared property set for one parser: junk, byte edits and JSON mutations of `valid`
 * (whose parsed JSON is `doc`) all give a value accepted by `check` or an allowed code.
 */
function fuzzJson<T>(
  name: string,
  valid: Uint8Array,
  parse: (b: Uint8Array) => T | Promise<T>,
  allowed: readonly ErrorCode[],
  check: (value: T) => void | Promise<void>,
  n = 300,
): void {
  const doc: unknown = JSON.parse(new TextDecoder().decode(valid));
  const run = async (bytes: Uint8Array) => {
    const out = await attempt(allowed, () => parse(bytes));
    if (out.ok) await check(out.value);
    return out;
  };

  describe(name, () => {
    it("parses the valid encoding", async () => {
      const out = await run(valid);
      expect(out.ok).toBe(true);
    });

    it("random bytes and random JSON: a value or a coded error", async () => {
      await fc.assert(
        fc.asyncProperty(junk, async (b) => {
          await run(b);
        }),
        { numRuns: runs(n) },
      );
    });

    it("byte mutations of the valid encoding: a value or a coded error", async () => {
      let failures = 0;
      await fc.assert(
        fc.asyncProperty(byteEdits, async (edits) => {
          if (!(await run(applyEdits(valid, edits))).ok) failures++;
        }),
        { numRuns: runs(n) },
      );
      expect(failures).toBeGreaterThan(0); // the mutations do reach the parser's checks
    });

    it("field mutations (wrong types, huge numbers, deep nesting, repeated keys)", async () => {
      let failures = 0;
      await fc.assert(
        fc.asyncProperty(jsonMutations, async (m) => {
          if (!(await run(enc.encode(mutateJson(doc, m)))).ok) failures++;
        }),
        { numRuns: runs(n) },
      );
      expect(failures).toBeGreaterThan(0);
    });

    it("each hostile literal as the whole document", async () => {
      for (const lit of hostileJsonLiterals) await run(enc.encode(lit));
    });
  });
}

// --- key files ------------------------------------------------------------------------------

const FAST = { N: 1024, r: 8, p: 1 };
const master = newMasterKey();
const keyFile = await createKeyFile("fuzz password", master, {
  params: FAST,
  username: "fuzz",
  hostname: "fuzz-host",
  created: "2024-01-02T03:04:05.123456789+01:00",
});

fuzzJson(
  "key file (parse, then open with the password when cheap)",
  serializeKeyFile(keyFile),
  async (b) => {
    const kf = parseKeyFile(b);
    // scrypt is run on what parsed, within a small work budget to keep the test fast
    if (kf.N * kf.r * kf.p <= 8 * 1024 && kf.N > 0) await openKeyFile(kf, "fuzz password");
    return kf;
  },
  ["CORRUPT", "UNSUPPORTED", "WRONG_PASSWORD"],
  (kf) => {
    expect(kf.kdf).toBe("scrypt");
    for (const v of [kf.N, kf.r, kf.p]) expect(Number.isSafeInteger(v)).toBe(true);
    expect(kf.salt).toBeInstanceOf(Uint8Array);
    expect(kf.data).toBeInstanceOf(Uint8Array);
    // written back, it reads back to the same bytes (lone surrogates become U+FFFD once)
    const once = serializeKeyFile(kf);
    expect(serializeKeyFile(parseKeyFile(once))).toEqual(once);
  },
  150,
);

fuzzJson(
  "master key JSON (the plaintext sealed in a key file)",
  encodeMasterKey(master),
  decodeMasterKey,
  ["CORRUPT"],
  (k) => {
    expect([k.encrypt.length, k.macK.length, k.macR.length]).toEqual([32, 16, 16]);
  },
);

// --- config ---------------------------------------------------------------------------------

fuzzJson(
  "config",
  serializeConfig({ version: 2, id: id("config"), chunkerPolynomial: 0x3da3358b4dc173n }),
  parseConfig,
  ["CORRUPT", "UNSUPPORTED"],
  (c) => {
    expect([1, 2]).toContain(c.version);
    expect(c.id).toMatch(HEX64);
    expect(parseConfig(serializeConfig(c))).toEqual(c);
  },
);

// --- index ----------------------------------------------------------------------------------

fuzzJson(
  "index",
  serialiseIndex({
    supersedes: [id("old")],
    packs: [
      {
        id: id("p1"),
        blobs: [
          { id: id("b1"), type: "data", offset: 0, length: 100 },
          { id: id("b2"), type: "tree", offset: 100, length: 60, uncompressedLength: 300 },
        ],
      },
      { id: id("p2"), blobs: [{ id: id("b3"), type: "data", offset: 0, length: 4294967295 }] },
    ],
  }),
  parseIndex,
  ["CORRUPT"],
  ({ index }) => {
    for (const s of index.supersedes) expect(s).toMatch(HEX64);
    for (const p of index.packs) {
      expect(p.id).toMatch(HEX64);
      for (const b of p.blobs) {
        expect(b.id).toMatch(HEX64);
        expect(["data", "tree"]).toContain(b.type);
        for (const v of [b.offset, b.length, b.uncompressedLength ?? 1]) {
          expect(Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff).toBe(true);
        }
      }
    }
    expect(parseIndex(serialiseIndex(index)).index).toEqual(index);
  },
);

// --- trees ----------------------------------------------------------------------------------

function sampleNodes(): Node[] {
  const file = newNode("file.txt", "file");
  Object.assign(file, {
    mode: 0o644,
    mtime: "2023-04-05T06:07:08.123456789Z",
    uid: 1000,
    gid: 1000,
    user: "u",
    inode: 18446744073709551615n,
    size: 12,
    links: 2,
    content: [id("c1"), id("c2")],
    extendedAttributes: [{ name: "user.k", value: enc.encode("v") }],
    genericAttributes: { "windows.flags": '{"a":[1,2]}' },
  });
  const dir = newNode("sub dir", "dir");
  Object.assign(dir, { mode: 0x8000_01ed, subtree: id("sub") });
  const link = newNode("link", "symlink");
  Object.assign(link, { mode: 0x0800_01ff, linkTarget: "../outside" });
  const dev = newNode("\u00e9t\u00e9", "chardev");
  Object.assign(dev, { device: 1025n });
  return [file, dir, link, dev].sort((a, b) => (a.name < b.name ? -1 : 1));
}

for (const strict of [false, true]) {
  fuzzJson(
    `tree (strict: ${strict})`,
    serialiseTree(sampleNodes()),
    (b) => parseTree(b, { strict }),
    strict ? ["CORRUPT", "UNSUPPORTED", "HOSTILE_PATH"] : ["CORRUPT", "UNSUPPORTED"],
    async (tree) => {
      expect(Array.isArray(tree.nodes)).toBe(true);
      for (const n of tree.nodes) {
        if (n.subtree !== undefined) expect(n.subtree).toMatch(HEX64);
        for (const c of n.content ?? []) expect(c).toMatch(HEX64);
      }
      if (strict) checkTree(tree); // what strict accepted passes the restore-time checks
      // what parsed can be written back and reads the same, unless it is unwritable
      // (as written: sorted by name, unknown fields dropped)
      const bytes = await attempt(["INVALID_ARGUMENT"], () => serialiseTree(tree));
      if (bytes.ok) expect(serialiseTree(parseTree(bytes.value))).toEqual(bytes.value);
    },
    200,
  );
}

// --- snapshots ------------------------------------------------------------------------------

fuzzJson(
  "snapshot",
  enc.encode(
    serialiseSnapshotText({
      time: "2024-01-02T03:04:05.123456789+02:00",
      parent: id("parent"),
      tree: id("tree"),
      paths: ["/src", "/other"],
      hostname: "host",
      username: "user",
      uid: 1000,
      gid: 100,
      excludes: ["*.tmp"],
      tags: ["a", "b"],
      programVersion: "restic 0.16.0",
      summary: {
        backupStart: "2024-01-02T03:04:05Z",
        backupEnd: "2024-01-02T03:05:05Z",
        filesNew: 1,
        filesChanged: 2,
        filesUnmodified: 3,
        dirsNew: 4,
        dirsChanged: 5,
        dirsUnmodified: 6,
        dataBlobs: 7,
        treeBlobs: 8,
        dataAdded: 9,
        dataAddedPacked: 10,
        totalFilesProcessed: 11,
        totalBytesProcessed: 12,
      },
    }),
  ),
  parseSnapshot,
  ["CORRUPT", "UNSUPPORTED"],
  async (sn) => {
    if (sn.tree !== null) expect(sn.tree).toMatch(HEX64);
    const again = await attempt(["INVALID_ARGUMENT"], () =>
      parseSnapshot(serialiseSnapshotText(sn)),
    );
    if (again.ok) {
      // empty excludes/tags/program_version are omitted when written (Go's omitempty)
      const norm = ({ extra: _, ...rest }: Snapshot) => ({
        ...rest,
        excludes: rest.excludes?.length ? rest.excludes : undefined,
        tags: rest.tags?.length ? rest.tags : undefined,
        programVersion: rest.programVersion || undefined,
      });
      expect(norm(again.value)).toEqual(norm(sn));
    }
  },
);

// --- locks ----------------------------------------------------------------------------------

fuzzJson(
  "lock",
  serializeLock({
    time: "2024-01-02T03:04:05.123456789Z",
    exclusive: true,
    hostname: "host",
    username: "user",
    pid: 1234,
    uid: 1000,
    gid: 1000,
  }),
  parseLock,
  ["CORRUPT"],
  (lock) => {
    expect(typeof lock.time).toBe("string");
    expect(typeof lock.exclusive).toBe("boolean");
    for (const v of [lock.pid, lock.uid, lock.gid]) expect(Number.isSafeInteger(v)).toBe(true);
  },
);

// --- what the properties found first (fixed), tried on every run ------------------------------

describe("regressions", () => {
  it("index: a deeply nested value where a number belongs is CORRUPT (was a RangeError)", async () => {
    const deep = `${"[".repeat(5000)}${"]".repeat(5000)}`;
    const text = `{"packs":[{"id":"${id("p")}","blobs":[{"id":"${id("b")}","type":"data","offset":${deep},"length":40}]}]}`;
    const out = await attempt(["CORRUPT"], () => parseIndex(text));
    expect(out).toEqual({ ok: false, code: "CORRUPT" });
  });

  it("index: -0 is not an unsigned integer (Go's ParseUint refuses it)", async () => {
    const text = `{"packs":[{"id":"${id("p")}","blobs":[{"id":"${id("b")}","type":"data","offset":-0,"length":40}]}]}`;
    expect(await attempt(["CORRUPT"], () => parseIndex(text))).toEqual({
      ok: false,
      code: "CORRUPT",
    });
  });

  it("lock: a pid, uid or gid JS cannot hold exactly, or a fraction, is CORRUPT", async () => {
    for (const v of ["9007199254740993", "1.5", "1e300"]) {
      for (const field of ["pid", "uid", "gid"]) {
        const text = `{"time":"2024-01-02T03:04:05Z","exclusive":false,"${field}":${v}}`;
        expect(await attempt(["CORRUPT"], () => parseLock(enc.encode(text)))).toEqual({
          ok: false,
          code: "CORRUPT",
        });
      }
    }
  });
});
