import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isResticTsError } from "../../../src/errors.js";
import { bytesToGoString, goStringToBytes } from "../../../src/repo/gostring.js";
import { formatGoTime, normalizeGoTime } from "../../../src/repo/gotime.js";
import {
  fileModeFromPosix,
  fileModeString,
  MODE_CHAR_DEVICE,
  MODE_DEVICE,
  MODE_DIR,
  MODE_NAMED_PIPE,
  MODE_SETGID,
  MODE_SETUID,
  MODE_SOCKET,
  MODE_STICKY,
  MODE_SYMLINK,
  type Node,
  newNode,
  nodeTypeFromFileMode,
  posixModeFromFileMode,
  posixPermissionsFromFileMode,
  serialiseNode,
  validateNodeName,
} from "../../../src/repo/node.js";
import {
  checkTree,
  compareNames,
  parseTree,
  serialiseTree,
  subtreeIds,
  type TreeEntry,
} from "../../../src/repo/tree.js";
import { goVectors } from "./go-vectors.js";

const text = (b: Uint8Array) => Buffer.from(b).toString("utf8");
const ID = "9f1f4b1ff1e5f2e2f2a6a0b9d0d3c5c6e9b0f8f1a2b3c4d5e6f708192a3b4c5d";
const T = "2022-11-27T13:14:15.123456789+01:00";

describe("node JSON against Go's encoding/json", () => {
  it("parses and re-serialises every Go-made node byte for byte", () => {
    for (const v of goVectors.nodes) {
      const blob = `{"nodes":[${v.json}]}\n`;
      const tree = parseTree(blob);
      expect(text(serialiseTree(tree))).toBe(blob);
    }
  });

  it("serialises nodes built in code exactly as Go marshals the same struct", () => {
    const plain: Node = {
      ...newNode("plain", "file"),
      mode: 0o644,
      mtime: T,
      atime: T,
      ctime: T,
      uid: 1000,
      gid: 100,
      user: "u<&>",
      group: "g",
      inode: 18446744073709551615n,
      deviceId: 9007199254740993n,
      size: 12,
      links: 1,
      content: [ID],
    };
    expect(serialiseNode(plain)).toBe(goVectors.nodes[0].json);
    const dir: Node = {
      ...newNode('d\n"ir\\', "dir"),
      mode: (MODE_DIR | MODE_SETGID | 0o755) >>> 0,
      mtime: T,
      atime: T,
      ctime: T,
      subtree: ID,
      error: "oops\u2028",
    };
    expect(serialiseNode(dir)).toBe(goVectors.nodes[1].json);
    const link: Node = {
      ...newNode(bytesToGoString(Uint8Array.of(0x6c, 0x69, 0x6e, 0x6b, 0xff)), "symlink"),
      mode: (MODE_SYMLINK | 0o777) >>> 0,
      mtime: T,
      atime: T,
      ctime: T,
      linkTarget: bytesToGoString(Uint8Array.of(0x74, 0xff, 0x61, 0xfe)),
      linkTargetRaw: Uint8Array.of(0x74, 0xff, 0x61, 0xfe),
      extendedAttributes: [
        { name: "user.a", value: null },
        { name: "user.b", value: new Uint8Array(0) },
        { name: "user.c", value: new TextEncoder().encode("xyz\0") },
      ],
    };
    expect(serialiseNode(link)).toBe(goVectors.nodes[2].json);
    const win: Node = {
      ...newNode("win", "file"),
      mtime: T,
      atime: T,
      ctime: T,
      content: [],
      genericAttributes: {
        "windows.z": ' { "a" : [1, 2.50e3, "<x>"] } ',
        "windows.a": '"\\u0041"',
        "windows.m": "null",
      },
    };
    expect(serialiseNode(win)).toBe(goVectors.nodes[3].json);
    const dev: Node = {
      ...newNode("dev", "chardev"),
      mode: (MODE_DEVICE | MODE_CHAR_DEVICE | 0o600) >>> 0,
      device: 1282n,
    };
    expect(serialiseNode(dev)).toBe(goVectors.nodes[4].json);
  });

  it("keeps unknown fields in extra without writing them", () => {
    const t = parseTree(
      '{"nodes":[{"name":"a","type":"file","future":{"x":[1]},"content":null}],"other":1}',
    );
    expect(t.nodes[0].extra).toEqual({ future: { x: [1] } });
    expect(t.extra).toEqual({ other: 1 });
    expect(text(serialiseTree(t))).toBe(
      '{"nodes":[{"name":"a","type":"file","mtime":"0001-01-01T00:00:00Z","atime":"0001-01-01T00:00:00Z","ctime":"0001-01-01T00:00:00Z","uid":0,"gid":0,"content":null}]}\n',
    );
  });

  it("decodes like Go: case-insensitive keys, last duplicate wins, null leaves the zero value", () => {
    const t = parseTree(
      '{"Nodes":[{"NAME":"x","name":"y","Type":"dir","uid":null,"SIZE":5,"lin\u212aS":7}]}',
    );
    expect(t.nodes[0]).toMatchObject({ name: "y", type: "dir", uid: 0, size: 5 });
    expect(t.nodes[0].extra).toBeUndefined();
    expect(t.nodes[0].links).toBe(7);
  });

  it("accepts Go-quoted names and refuses names Go cannot unquote", () => {
    const name = (json: string) => parseTree(`{"nodes":[{"name":${json}}]}`).nodes[0].name;
    expect(name('"a\\\\x41\\\\u00e9\\\\U0001f600\\\\101"')).toBe("aAé😀A");
    expect(goStringToBytes(name('"\\\\xff"'))).toEqual(Uint8Array.of(0xff));
    for (const bad of ['"a\\\\q"', '"a\\""', '"a\\\\"', '"a\\n"', '"\\\\ud800"']) {
      expect(() => name(bad), bad).toThrow(expect.objectContaining({ code: "CORRUPT" }));
    }
  });
});

// --- properties ------------------------------------------------------------------------------

const goName = fc.oneof(
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }),
  fc.uint8Array({ minLength: 1, maxLength: 12 }).map(bytesToGoString),
  fc.constantFrom("<&>", "a\nb", 'q"\\', "\u2028", "\x7f", "\u{1fae0}", "\ufeff", "\u00ad"),
);
const goTime = fc
  .tuple(
    fc.bigInt({ min: -62_135_596_800n, max: 253_402_214_400n }),
    fc.integer({ min: 0, max: 999_999_999 }),
    fc.integer({ min: -1439, max: 1439 }),
  )
  .map(([s, n, o]) => formatGoTime(s, n, o));
const u64 = fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const id = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("hex"));
const str = fc.string({ unit: "grapheme", maxLength: 10 });

const nodeArb: fc.Arbitrary<Node> = fc
  .record({
    name: goName,
    type: fc.constantFrom(
      "file",
      "dir",
      "symlink",
      "dev",
      "chardev",
      "fifo",
      "socket",
      "irregular",
      "x<y>",
    ),
    mode: u32,
    mtime: goTime,
    atime: goTime,
    ctime: goTime,
    uid: u32,
    gid: u32,
    user: str,
    group: str,
    inode: u64,
    deviceId: u64,
    size: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    links: fc.integer({ min: 0, max: 2 ** 40 }),
    linkTarget: fc.oneof(str, fc.uint8Array({ maxLength: 8 }).map(bytesToGoString)),
    extendedAttributes: fc.option(
      fc.array(
        fc.record({ name: str, value: fc.option(fc.uint8Array({ maxLength: 8 }), { nil: null }) }),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
      { nil: undefined },
    ),
    device: u64,
    content: fc.option(fc.array(id, { maxLength: 3 }), { nil: null }),
    subtree: fc.option(id, { nil: undefined }),
    error: str,
  })
  .map((r) => {
    const n: Node = { ...r };
    if (n.extendedAttributes === undefined) delete n.extendedAttributes;
    if (n.subtree === undefined) delete n.subtree;
    return n;
  });

function uniqueByName(nodes: Node[]): Node[] {
  const seen = new Set<string>();
  return nodes.filter((n) => {
    const k = Buffer.from(goStringToBytes(n.name)).toString("hex");
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

describe("tree properties", () => {
  it("parse(serialise(nodes)) gives the nodes back, sorted by name bytes", () => {
    fc.assert(
      fc.property(fc.array(nodeArb, { maxLength: 6 }).map(uniqueByName), (nodes) => {
        const bytes = serialiseTree(nodes);
        const parsed = parseTree(bytes);
        checkTree({ nodes: parsed.nodes.filter((n) => !/^\.\.?$|\/|\0/.test(n.name)) });
        const want = [...nodes]
          .sort((a, b) => compareNames(a.name, b.name))
          .map((n) => ({ ...n, name: bytesToGoString(goStringToBytes(n.name)) }));
        expect(parsed.nodes.map((n) => ({ ...n, linkTarget: n.linkTarget }))).toEqual(
          want.map((n) => ({
            ...n,
            linkTarget: parsed.nodes.find((p) => p.name === n.name)?.linkTarget,
          })),
        );
        // and the bytes are a fixed point
        expect(Buffer.compare(serialiseTree(parsed), bytes)).toBe(0);
        expect(subtreeIds(parsed)).toEqual(
          parsed.nodes.filter((n) => n.type === "dir" && n.subtree).map((n) => n.subtree),
        );
      }),
      { numRuns: 300 },
    );
  });

  it("orders names as Go compares strings: by their bytes", () => {
    fc.assert(
      fc.property(goName, goName, (a, b) => {
        const bytes = Math.sign(Buffer.compare(goStringToBytes(a), goStringToBytes(b)));
        expect(compareNames(a, b)).toBe(bytes);
      }),
      { numRuns: 2000 },
    );
    // U+FFFF sorts before a character outside the BMP in bytes, after its surrogates in UTF-16
    expect(compareNames("\uffff", "\u{10000}")).toBe(-1);
    expect(compareNames("a", "a")).toBe(0);
  });

  it("writes nodes given as their JSON (a blob worker's) exactly as the nodes themselves", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(nodeArb, fc.boolean()), { maxLength: 6 }), (pairs) => {
        const nodes = uniqueByName(pairs.map(([n]) => n));
        const mixed: TreeEntry[] = nodes.map((n, i) =>
          pairs[i][1] ? { name: n.name, json: serialiseNode(n) } : n,
        );
        expect(Buffer.compare(serialiseTree(mixed), serialiseTree(nodes))).toBe(0);
      }),
      { numRuns: 300 },
    );
    const a = newNode("a", "file");
    expect(() => serialiseTree([a, { name: "a", json: serialiseNode(a) }])).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });

  it("normalises timestamps the way Go re-marshals them", () => {
    const n = parseTree(
      '{"nodes":[{"name":"a","mtime":"2022-11-27T12:00:00.500000000+00:00","atime":"2022-11-27T12:00:00,1234567891Z"}]}',
    ).nodes[0];
    expect(n.mtime).toBe("2022-11-27T12:00:00.500000000+00:00");
    expect(serialiseNode(n)).toContain(
      '"mtime":"2022-11-27T12:00:00.5Z","atime":"2022-11-27T12:00:00.123456789Z"',
    );
    expect(normalizeGoTime(n.atime)).toBe("2022-11-27T12:00:00.123456789Z");
  });

  it("refuses to write two nodes of the same name", () => {
    expect(() => serialiseTree([newNode("a", "file"), newNode("a", "dir")])).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });

  it("hashes like restic: the tree ID is the SHA-256 of the serialised bytes", () => {
    const bytes = serialiseTree([]);
    expect(text(bytes)).toBe('{"nodes":[]}\n');
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(
      createHash("sha256").update('{"nodes":[]}\n').digest("hex"),
    );
  });
});

describe("corrupt trees", () => {
  const cases: [string, string][] = [
    ["not JSON", "{"],
    ["array", "[]"],
    ["trailing data", '{"nodes":[]} x'],
    ["nodes not array", '{"nodes":{}}'],
    ["null node", '{"nodes":[null]}'],
    ["uid string", '{"nodes":[{"name":"a","uid":"1"}]}'],
    ["uid negative", '{"nodes":[{"name":"a","uid":-1}]}'],
    ["uid fraction", '{"nodes":[{"name":"a","uid":1.5}]}'],
    ["uid too big", '{"nodes":[{"name":"a","uid":4294967296}]}'],
    ["inode too big", '{"nodes":[{"name":"a","inode":18446744073709551616}]}'],
    ["bad time", '{"nodes":[{"name":"a","mtime":"yesterday"}]}'],
    ["bad content id", '{"nodes":[{"name":"a","content":["abc"]}]}'],
    ["null content id", '{"nodes":[{"name":"a","content":[null]}]}'],
    ["bad subtree", '{"nodes":[{"name":"a","subtree":5}]}'],
    ["bad base64", '{"nodes":[{"name":"a","extended_attributes":[{"name":"x","value":"!!"}]}]}'],
    ["control char", '{"nodes":[{"name":"a\u0001"}]}'],
    ["bad escape", '{"nodes":[{"name":"a\\x41"}]}'],
    ["deep", `{"nodes":[{"name":"a","x":${"[".repeat(20000)}${"]".repeat(20000)}}]}`],
  ];
  for (const [what, json] of cases) {
    it(`refuses ${what} with CORRUPT`, () => {
      expect(() => parseTree(json)).toThrow(expect.objectContaining({ code: "CORRUPT" }));
    });
  }

  it("never crashes on mutated input", () => {
    const good = serialiseTree([
      { ...newNode("x<y>", "file"), content: ["ab".repeat(32)], size: 3, inode: 7n },
      { ...newNode("d", "dir"), subtree: "cd".repeat(32), mode: MODE_DIR >>> 0 },
    ]);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: good.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        (i, b) => {
          const m = Uint8Array.from(good);
          m[i] = b;
          try {
            const t = parseTree(m);
            serialiseTree(t.nodes.length === 2 && t.nodes[0].name === t.nodes[1].name ? [] : t);
          } catch (err) {
            if (!isResticTsError(err)) throw err;
            expect(["CORRUPT", "UNSUPPORTED", "INVALID_ARGUMENT"]).toContain(err.code);
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("names and modes", () => {
  it("refuses hostile names", () => {
    for (const n of ["", ".", "..", "a/b", "/", "a\0b"]) {
      expect(() => validateNodeName(n)).toThrow(expect.objectContaining({ code: "HOSTILE_PATH" }));
    }
    for (const n of ["...", ".a", "a\\b", "a\udcffb"]) validateNodeName(n);
    expect(() => checkTree({ nodes: [newNode("b", "file"), newNode("a", "file")] })).toThrow(
      expect.objectContaining({ code: "CORRUPT" }),
    );
    expect(() => parseTree('{"nodes":[{"name":".."}]}', { strict: true })).toThrow(
      expect.objectContaining({ code: "HOSTILE_PATH" }),
    );
  });

  it("converts POSIX st_mode to Go FileMode and back", () => {
    const cases: [number, number, string, string][] = [
      [0o100644, 0o644, "file", "-rw-r--r--"],
      [0o040755, (MODE_DIR | 0o755) >>> 0, "dir", "drwxr-xr-x"],
      [0o120777, (MODE_SYMLINK | 0o777) >>> 0, "symlink", "Lrwxrwxrwx"],
      [0o020666, (MODE_DEVICE | MODE_CHAR_DEVICE | 0o666) >>> 0, "chardev", "Dcrw-rw-rw-"],
      [0o060660, (MODE_DEVICE | 0o660) >>> 0, "dev", "Drw-rw----"],
      [0o010644, (MODE_NAMED_PIPE | 0o644) >>> 0, "fifo", "prw-r--r--"],
      [0o140755, (MODE_SOCKET | 0o755) >>> 0, "socket", "Srwxr-xr-x"],
      [0o104755, (MODE_SETUID | 0o755) >>> 0, "file", "urwxr-xr-x"],
      [0o042775, (MODE_DIR | MODE_SETGID | 0o775) >>> 0, "dir", "dgrwxrwxr-x"],
      [0o041777, (MODE_DIR | MODE_STICKY | 0o777) >>> 0, "dir", "dtrwxrwxrwx"],
    ];
    for (const [posix, go, type, str] of cases) {
      expect(fileModeFromPosix(posix)).toBe(go);
      expect(posixModeFromFileMode(go)).toBe(posix);
      expect(nodeTypeFromFileMode(go)).toBe(type);
      expect(fileModeString(go)).toBe(str);
    }
    fc.assert(
      fc.property(
        fc.constantFrom(0o140000, 0o120000, 0o100000, 0o060000, 0o040000, 0o020000, 0o010000),
        fc.integer({ min: 0, max: 0o7777 }),
        (t, p) => {
          const go = fileModeFromPosix(t | p);
          expect(posixModeFromFileMode(go)).toBe(t | p);
          expect(posixPermissionsFromFileMode(go)).toBe(p);
        },
      ),
    );
  });
});
