import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatGoTime } from "../../../src/repo/gotime.js";
import { parseSnapshot, type Snapshot, serialiseSnapshot } from "../../../src/repo/snapshot.js";

const id = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("hex"));
const str = fc.string({ unit: "grapheme", maxLength: 8 });
const time = fc
  .tuple(
    fc.bigInt({ min: 0n, max: 253_402_214_400n }),
    fc.integer({ min: 0, max: 999_999_999 }),
    fc.integer({ min: -1439, max: 1439 }),
  )
  .map(([s, n, o]) => formatGoTime(s, n, o));
const u = fc.integer({ min: 0, max: 2 ** 40 });

const snapArb: fc.Arbitrary<Snapshot> = fc.record(
  {
    time,
    parent: id,
    tree: fc.option(id, { nil: null }),
    paths: fc.option(fc.array(str, { maxLength: 3 }), { nil: null }),
    hostname: str,
    username: str,
    uid: fc.integer({ min: 0, max: 0xffff_ffff }),
    gid: fc.integer({ min: 0, max: 0xffff_ffff }),
    excludes: fc.array(str, { minLength: 1, maxLength: 3 }),
    tags: fc.array(str, { minLength: 1, maxLength: 3 }),
    original: id,
    programVersion: str.filter((s) => s !== ""),
    summary: fc.record({
      backupStart: time,
      backupEnd: time,
      filesNew: u,
      filesChanged: u,
      filesUnmodified: u,
      dirsNew: u,
      dirsChanged: u,
      dirsUnmodified: u,
      dataBlobs: u,
      treeBlobs: u,
      dataAdded: u,
      dataAddedPacked: u,
      totalFilesProcessed: u,
      totalBytesProcessed: u,
    }),
  },
  { requiredKeys: ["time", "tree", "paths", "hostname", "username", "uid", "gid"] },
);

const text = (b: Uint8Array) => Buffer.from(b).toString();

describe("snapshots", () => {
  it("round-trip through serialise and parse", () => {
    fc.assert(
      fc.property(snapArb, (sn) => {
        const bytes = serialiseSnapshot(sn);
        expect(parseSnapshot(bytes)).toEqual(sn);
        expect(text(serialiseSnapshot(parseSnapshot(bytes)))).toBe(text(bytes));
      }),
    );
  });

  it("writes restic 0.14's field order and omitempty rules", () => {
    const t = "ab".repeat(32);
    const sn: Snapshot = {
      time: "2022-11-27T13:14:15.5+01:00",
      tree: t,
      paths: ["/a<b>"],
      hostname: "",
      username: "",
      uid: 0,
      gid: 0,
      tags: [],
      excludes: [],
    };
    expect(text(serialiseSnapshot(sn))).toBe(
      `{"time":"2022-11-27T13:14:15.5+01:00","tree":"${t}","paths":["/a\\u003cb\\u003e"]}`,
    );
    expect(text(serialiseSnapshot({ ...sn, paths: null, tree: null }))).toBe(
      '{"time":"2022-11-27T13:14:15.5+01:00","tree":null,"paths":null}',
    );
    expect(
      text(
        serialiseSnapshot({
          ...sn,
          parent: t,
          hostname: "h",
          username: "u",
          uid: 1,
          gid: 2,
          excludes: ["*.o"],
          tags: ["x"],
          original: t,
        }),
      ),
    ).toBe(
      `{"time":"2022-11-27T13:14:15.5+01:00","parent":"${t}","tree":"${t}","paths":["/a\\u003cb\\u003e"],"hostname":"h","username":"u","uid":1,"gid":2,"excludes":["*.o"],"tags":["x"],"original":"${t}"}`,
    );
  });

  it("keeps unknown fields without writing them, decodes null as zero", () => {
    const sn = parseSnapshot('{"time":null,"tree":null,"paths":[null,"a"],"future":[1],"UID":5}');
    expect(sn).toEqual({
      time: "0001-01-01T00:00:00Z",
      tree: null,
      paths: ["", "a"],
      hostname: "",
      username: "",
      uid: 5,
      gid: 0,
      extra: { future: [1] },
    });
  });

  it("refuses malformed snapshots with CORRUPT", () => {
    for (const json of [
      "",
      "[]",
      '{"time":5}',
      '{"time":"2022-13-01T00:00:00Z"}',
      '{"tree":"abc"}',
      '{"paths":"a"}',
      '{"paths":[1]}',
      '{"uid":-1}',
      '{"uid":4294967296}',
      '{"summary":5}',
      '{"summary":{"files_new":"x"}}',
      '{"time":"2022-11-27T00:00:00Z"} {}',
    ]) {
      expect(() => parseSnapshot(json), json).toThrow(expect.objectContaining({ code: "CORRUPT" }));
    }
  });
});
