// The tree parser's fast paths (tree-scan.ts on bytes, tree-fast.ts on text) against the exact
// reader (parseTreeExact): for every input each either gives up or gives a deep-equal tree, and
// parseTree (which takes them first) gives what the exact reader gives, value or error code.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isResticTsError } from "../../../src/errors.js";
import { decodeJsonText } from "../../../src/repo/gojson.js";
import { bytesToGoString, goJsonString, goQuote } from "../../../src/repo/gostring.js";
import { formatGoTime } from "../../../src/repo/gotime.js";
import { type Node, newNode } from "../../../src/repo/node.js";
import { parseTree, parseTreeExact, serialiseTree } from "../../../src/repo/tree.js";
import { fastParseTree } from "../../../src/repo/tree-fast.js";
import { scanTree } from "../../../src/repo/tree-scan.js";

type Outcome = { value: unknown } | { code: string };

function outcome(f: () => unknown): Outcome {
  try {
    return { value: f() };
  } catch (err) {
    if (!isResticTsError(err)) throw err;
    return { code: err.code };
  }
}

/**
 * A fast path's tree (undefined: it gave up) is the exact reader's `exact` value, and parseTree
 * of the same input gives `exact`, value or error code. True when the fast path took it.
 */
function agreeWith(exact: Outcome, fast: unknown, parsed: () => unknown): boolean {
  if (fast !== undefined) {
    expect(exact).toHaveProperty("value");
    expect(fast).toStrictEqual((exact as { value: unknown }).value);
  }
  expect(outcome(parsed)).toStrictEqual(exact);
  return fast !== undefined;
}

/** The byte scanner (tree-scan.ts) on bytes: against the exact reader of their text. */
function agreeBytes(bytes: Buffer): "scanned" | "not" {
  const exact = outcome(() => parseTreeExact(decodeJsonText(bytes)));
  return agreeWith(exact, scanTree(bytes), () => parseTree(bytes)) ? "scanned" : "not";
}

/** The JSON.parse path (tree-fast.ts) on text, and the byte scanner on its UTF-8. */
function agree(text: string): "fast" | "slow" {
  agreeBytes(Buffer.from(text));
  const exact = outcome(() => parseTreeExact(text));
  return agreeWith(exact, fastParseTree(text), () => parseTree(text)) ? "fast" : "slow";
}

// --- generated node JSON, canonical or not ---------------------------------------------------

const u64 = fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn }).map(String);
const number = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 0xffff }).map(String) },
  fc.integer({ min: 0, max: 0xffff_ffff }).map(String),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }).map(String),
  u64,
  fc.constantFrom(
    "0",
    "9007199254740991",
    "9007199254740992",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "4294967296",
    "1.0",
    "1e2",
    "10E0",
    "0.5",
    "-0",
    "-1",
    "1e400",
  ),
);
const goTime = fc
  .tuple(
    fc.bigInt({ min: -62_135_596_800n, max: 253_402_214_400n }),
    fc.integer({ min: 0, max: 999_999_999 }),
    fc.integer({ min: -1439, max: 1439 }),
  )
  .map(([s, n, o]) => JSON.stringify(formatGoTime(s, n, o)));
const time = fc.oneof(
  goTime,
  fc.constantFrom('"2024-02-30T00:00:00Z"', '"yesterday"', '"2024-01-01T00:00:00.5+00:00"'),
);
const text = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 8 }).map(goJsonString),
  fc.string({ unit: "binary", maxLength: 6 }).map((s) => JSON.stringify(s)),
  fc.uint8Array({ maxLength: 6 }).map((b) => goJsonString(bytesToGoString(b))),
  fc.constantFrom(
    '"a:b"',
    '"a\\u003ab"',
    '"\\ufffd"',
    '"\\uFFFD"',
    '"\\ud83d\\ude00"',
    '"\\ud800"',
    '"\\udc00x"',
    '"\\u0026<>"',
    '"\\/\\b\\f\\n\\r\\t\\"\\\\"',
    '"\u2028"',
    '"\ufffd"',
  ),
);
const name = fc.oneof(
  fc
    .oneof(
      fc.string({ unit: "grapheme", minLength: 1, maxLength: 8 }),
      fc.uint8Array({ minLength: 1, maxLength: 8 }).map(bytesToGoString),
      fc.constantFrom("a:b", "<&>", "a\nb", 'q"\\', "\u2028", "\x7f", "\ufeff", "\u00ad"),
    )
    .map((s) => goJsonString(goQuote(s).slice(1, -1))),
  fc.constantFrom('"a\\\\q"', '"a\\""', '"a\\\\"', '"\\\\xff"', '"\\\\u00e9"', '"\\\\ud800"'),
);
const hex = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("hex"));
const id = fc.oneof(
  hex.map((h) => `"${h}"`),
  hex.map((h) => `"${h.toUpperCase()}"`),
  fc.constantFrom('"abc"', "null", "5"),
);
const base64 = fc.oneof(
  fc.uint8Array({ maxLength: 8 }).map((b) => `"${Buffer.from(b).toString("base64")}"`),
  fc.constantFrom('"!!"', '"QQ"', '"QQ==\\r\\n"', '""', "null", "1"),
);
const scalar = fc.oneof(fc.constantFrom("null", "true", "false", "{}", "[]"), number, text);
const any: fc.Arbitrary<string> = fc.letrec<{ v: string }>((tie) => ({
  v: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("v"), { maxLength: 3 }).map((a) => `[${a.join(",")}]`),
    fc
      .array(fc.tuple(fc.constantFrom("x", "a:b", "__proto__", ""), tie("v")), { maxLength: 3 })
      .map((kv) => `{${kv.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`),
  ),
})).v;
const orNull = (a: fc.Arbitrary<string>) =>
  fc.oneof({ weight: 8, arbitrary: a }, { weight: 1, arbitrary: fc.constant("null") });

const xattr = fc.oneof(
  fc.tuple(text, base64).map(([n, v]) => `{"name":${n},"value":${v}}`),
  fc.constantFrom("null", "{}", '{"Name":"x"}', '{"value":"QQ==","value":null}', '{"x":1}', "5"),
);
const genericAttrs = fc.oneof(
  fc.constantFrom("null", "{}", '{"windows.a":"\\u0041","windows.m":null}', '{ "k" : [1, 2] }'),
);

const FIELDS: [string, fc.Arbitrary<string>][] = [
  ["name", orNull(name)],
  ["type", orNull(fc.oneof(fc.constantFrom('"file"', '"dir"', '"symlink"'), text))],
  ["mode", orNull(number)],
  ["mtime", orNull(time)],
  ["atime", orNull(time)],
  ["ctime", orNull(time)],
  ["uid", orNull(number)],
  ["gid", orNull(number)],
  ["user", orNull(text)],
  ["group", orNull(text)],
  ["inode", orNull(number)],
  ["device_id", orNull(number)],
  ["size", orNull(number)],
  ["links", orNull(number)],
  ["linktarget", orNull(text)],
  ["linktarget_raw", base64],
  ["extended_attributes", orNull(fc.array(xattr, { maxLength: 3 }).map((a) => `[${a}]`))],
  ["generic_attributes", genericAttrs],
  ["device", orNull(number)],
  ["content", orNull(fc.array(id, { maxLength: 3 }).map((a) => `[${a}]`))],
  ["subtree", orNull(id)],
  ["error", orNull(text)],
];
const ODD_KEYS = ["Name", "UID", "linkTarget", "lin\u212aS", "x", "__proto__", ""];

/** One node object's JSON: fields in Go's order or shuffled, some missing, some odd. */
const nodeJson = fc
  .tuple(
    fc.tuple(...FIELDS.map(([, a]) => fc.option(a, { freq: 3, nil: undefined }))),
    fc.oneof(
      { weight: 3, arbitrary: fc.constant([]) },
      fc.array(
        fc.tuple(
          fc.oneof(fc.constantFrom(...ODD_KEYS), fc.constantFrom(...FIELDS.map(([k]) => k))),
          any,
        ),
        { minLength: 1, maxLength: 2 },
      ),
    ),
    fc.boolean(),
    fc.constantFrom("", " ", "\n\t "),
  )
  .chain(([values, odd, shuffle, ws]) => {
    const pairs: string[] = [];
    FIELDS.forEach(([k], i) => {
      const v = values[i];
      if (v !== undefined) pairs.push(`${JSON.stringify(k)}${ws}:${ws}${v}`);
    });
    for (const [k, v] of odd) pairs.push(`${JSON.stringify(k)}:${v}`);
    const ordered = shuffle
      ? fc.shuffledSubarray(pairs, { minLength: pairs.length })
      : fc.constant(pairs);
    return ordered.map((p) => `{${p.join(`,${ws}`)}}`);
  });

const treeJson = fc
  .tuple(
    fc.array(nodeJson, { maxLength: 4 }),
    fc.oneof(
      { weight: 3, arbitrary: fc.constant("") },
      fc.constantFrom(',"other":1', ',"nodes":null', ',"Nodes":[]'),
    ),
    fc.constantFrom("\n", "", " \r\n"),
  )
  .map(([nodes, tail, end]) => `{"nodes":[${nodes.join(",")}]${tail}}${end}`);

describe("tree fast path", () => {
  it("agrees with the exact reader on generated node JSON, canonical or not", () => {
    const seen = { fast: 0, slow: 0, scanned: 0, not: 0 };
    fc.assert(
      fc.property(treeJson, (json) => {
        seen[agree(json)]++;
        seen[agreeBytes(Buffer.from(json))]++;
      }),
      { numRuns: 3000 },
    );
    expect(seen.scanned).toBeGreaterThan(20);
    // the generator reaches both paths
    expect(seen.fast).toBeGreaterThan(100);
    expect(seen.slow).toBeGreaterThan(100);
  });

  it("agrees on single-byte mutations of a restic-written tree", () => {
    const good = Buffer.from(
      serialiseTree([
        {
          ...newNode("a:b", "file"),
          content: ["ab".repeat(32)],
          size: 3,
          inode: 7n,
          mtime: "2024-03-05T10:11:12.5+01:00",
        },
        { ...newNode("d", "dir"), subtree: "cd".repeat(32), uid: 1000 },
      ]),
    ).toString("latin1");
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: good.length - 1 }),
        fc.constantFrom(...'0123456789.eE-+:,{}[]"\\ nulxXA\u00e9'),
        fc.boolean(),
        (i, c, insert) => {
          const mutated = good.slice(0, i) + c + good.slice(insert ? i : i + 1);
          agree(mutated);
          agreeBytes(Buffer.from(mutated, "latin1")); // bytes that may not be UTF-8
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("takes the fast path for what restic writes, and re-serialises to the same bytes", () => {
    const nodes: Node[] = [];
    for (let i = 0; i < 50; i++) {
      nodes.push({
        ...newNode(`f${i} é&<>:\u2028`, i % 2 ? "file" : "dir"),
        mode: 0o644,
        uid: 1000,
        gid: 100,
        user: "alice",
        group: "users",
        mtime: "2024-03-05T10:11:12.123456789+01:00",
        atime: "2024-03-05T10:11:12Z",
        ctime: "2024-03-05T10:11:13.9-07:30",
        inode: 0xffff_ffff_ffff_fff0n + BigInt(i % 10),
        deviceId: 2049n,
        size: Number.MAX_SAFE_INTEGER - i,
        links: 1,
        linkTarget: "../t:",
        extendedAttributes: [{ name: "user.x", value: Uint8Array.of(i) }],
        content: i % 2 ? ["ab".repeat(32)] : [],
        ...(i % 2 ? {} : { subtree: "cd".repeat(32) }),
      });
    }
    // inodes above 2^53 (and sizes of 16 digits) go to the exact reader; the fast path takes
    // the rest
    const big = serialiseTree(nodes);
    expect(fastParseTree(Buffer.from(big).toString())).toBeUndefined();
    expect(Buffer.compare(serialiseTree(parseTree(big)), big)).toBe(0);
    const small = serialiseTree(
      nodes.map((n, i) => ({ ...n, inode: BigInt(i + 1), size: 2 ** 40 + i })),
    );
    const fast = fastParseTree(Buffer.from(small).toString());
    expect(fast?.nodes).toHaveLength(50);
    // the byte scanner takes restic 0.14's own form where no string has an escape (Go writes
    // <, >, & and U+2028 escaped) and no newer field (attributes) is there
    const plain = serialiseTree(
      nodes.map((n, i) => ({
        ...n,
        name: `f${i} é:`,
        inode: BigInt(i + 1),
        size: 2 ** 40 + i,
        extendedAttributes: undefined,
      })),
    );
    expect(agreeBytes(Buffer.from(plain))).toBe("scanned");
    expect(scanTree(plain)?.nodes).toHaveLength(50);
    expect(agreeBytes(Buffer.from(small))).toBe("not");
    expect(fast).toStrictEqual(parseTreeExact(Buffer.from(small).toString()));
    expect(Buffer.compare(serialiseTree(parseTree(small)), small)).toBe(0);
  });

  it("gives up where JSON.parse would lose what Go's decoder sees", () => {
    const cases = [
      '{"nodes":[{"name":"a","uid":5,"uid":null}]}', // null keeps the earlier value
      '{"nodes":[{"name":"a","uid":"x","uid":5}]}', // the earlier value is still checked
      '{"nodes":[{"name":"a","n\\u0061me":"b"}]}', // a repeat spelled with an escape
      '{"nodes":[{"name":"a:b","user":"u","user":"v"}]}',
      '{"nodes":[{"name":"a","user":"\\u003a","user":"v"}]}',
      '{"nodes":[{"name":"a"}],"nodes":[{"name":"b"}]}',
      '{"nodes":[{"NAME":"a"}]}',
      '{"nodes":[{"name":"a","uid":1.0}]}',
      '{"nodes":[{"name":"a","uid":1e2}]}',
      '{"nodes":[{"name":"a","uid":-0}]}',
      '{"nodes":[{"name":"a","inode":9007199254740993}]}',
      '{"nodes":[{"name":"a","size":9007199254740991}]}', // 16 digits: not worth checking
      '{"nodes":[{"name":"a","size": 1.5e1 }]}',
      '{"nodes":[{"name":"a","user":"\\ufffd"}]}',
      '{"nodes":[{"name":"a","user":"\\udc80"}]}',
      '{"nodes":[{"name":"a","x":1}]}',
      '{"nodes":[{"name":"a","generic_attributes":{"k":1}}]}',
      '{"nodes":[]}\ufeff',
    ];
    for (const c of cases) {
      expect(fastParseTree(c), c).toBeUndefined();
      agree(c);
    }
  });
});
