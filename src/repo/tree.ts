// Tree blobs (restic design.rst "Trees and Data"; internal/restic/tree.go of restic 0.14):
// `{"nodes":[<node>,…]}` followed by "\n", the nodes sorted by name as byte strings with no
// name twice. The tree's ID is the SHA-256 of exactly these bytes, so a tree written here
// dedups with the same directory backed up by restic. See node.ts for the node JSON.

import { ResticTsError } from "../errors.js";
import { decodeJsonText, JsonReader, type JsonValue, matchField } from "./gojson.js";
import { goQuote, goStringToBytes } from "./gostring.js";
import type { Id } from "./id.js";
import { type Node, readNode, serialiseNode, validateNodeName } from "./node.js";
import { fastParseTree } from "./tree-fast.js";
import { scanTree } from "./tree-scan.js";

export interface Tree {
  nodes: Node[];
  /** Top-level fields other than "nodes": kept, never written. */
  extra?: Record<string, JsonValue>;
}

export interface ParseTreeOptions {
  /**
   * Also require what restic's writer guarantees: names sorted and unique, and every name
   * safe to restore (validateNodeName). CORRUPT (or HOSTILE_PATH) otherwise. Off by default,
   * as restic 0.14's reader checks neither.
   */
  readonly strict?: boolean;
}

const TREE_FIELDS: ReadonlySet<string> = new Set(["nodes"]);
const SURROGATE = /[\ud800-\udfff]/;

/**
 * Parse a tree blob's plaintext. CORRUPT where restic 0.14's decoder fails. Takes the fastest
 * path that is exact for the input: the byte scanner for restic's own form (tree-scan.ts),
 * else JSON.parse with checks (tree-fast.ts), else the exact reader.
 */
export function parseTree(plaintext: Uint8Array | string, options: ParseTreeOptions = {}): Tree {
  let tree = typeof plaintext === "string" ? undefined : scanTree(plaintext);
  if (tree === undefined) {
    const text = typeof plaintext === "string" ? plaintext : decodeJsonText(plaintext);
    tree = fastParseTree(text) ?? parseTreeExact(text);
  }
  if (options.strict) checkTree(tree);
  return tree;
}

/**
 * The exact reader behind parseTree (a JSON reader that decodes as Go's encoding/json does):
 * every input parseTree's fast path gives up on comes here; tests compare the two.
 */
export function parseTreeExact(text: string): Tree {
  const r = new JsonReader(text, "tree");
  const tree: Tree = { nodes: [] };
  if (r.peekKind() !== "object") r.fail("expected an object");
  r.readObject((key) => {
    if (matchField(key, TREE_FIELDS) === "nodes") {
      tree.nodes = [];
      if (r.readNull()) return;
      if (r.peekKind() !== "array") r.fail("nodes is not an array");
      r.readArray(() => {
        if (r.peekKind() !== "object") r.fail("a node is not an object");
        tree.nodes.push(readNode(r));
      });
    } else {
      tree.extra ??= Object.create(null) as Record<string, JsonValue>;
      tree.extra[key] = r.readValue();
    }
  });
  r.finish();
  return tree;
}

/** Compare two Go strings by their bytes (Go's `<` on strings). */
export function compareNames(a: string, b: string): number {
  // Without surrogates (pairs, or the lone ones that stand for bytes that are not UTF-8)
  // UTF-16 order is code point order, which is UTF-8's byte order: no encoding needed.
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(goStringToBytes(a), goStringToBytes(b));
}

/**
 * CORRUPT unless names are sorted by bytes and unique; HOSTILE_PATH for a name that could
 * escape the restore target.
 */
export function checkTree(tree: Tree): void {
  let prev: Uint8Array | undefined;
  for (const n of tree.nodes) {
    validateNodeName(n.name);
    const b = goStringToBytes(n.name);
    if (prev !== undefined && Buffer.compare(prev, b) >= 0) {
      throw new ResticTsError(
        "CORRUPT",
        `tree: node ${goQuote(n.name)} is out of order or repeated`,
        {
          name: n.name,
        },
      );
    }
    prev = b;
  }
}

/** A node already written as restic's JSON (by a blob worker): its name and its text. */
export interface EncodedNode {
  readonly name: string;
  readonly json: string;
}

/** What a tree blob is written from: nodes, or nodes already written. */
export type TreeEntry = Node | EncodedNode;

export function isEncodedNode(n: TreeEntry): n is EncodedNode {
  return "json" in n;
}

/** The JSON restic writes for `n`. */
export function entryJson(n: TreeEntry): string {
  return isEncodedNode(n) ? n.json : serialiseNode(n);
}

/**
 * The nodes of a tree blob as JSON, sorted by name bytes; INVALID_ARGUMENT on a repeated name.
 * `raw` is true when the text has code units that are raw bytes, not UTF-16 (a Go string may
 * carry non-UTF-8 bytes only inside generic attributes' raw JSON; see serialiseTree).
 */
function treeParts(nodes: readonly TreeEntry[]): { parts: string[]; raw: boolean } {
  let sorted: readonly TreeEntry[];
  let same: (a: TreeEntry, b: TreeEntry) => boolean;
  if (nodes.some((n) => SURROGATE.test(n.name))) {
    // UTF-16 order differs from UTF-8 byte order around surrogates: compare bytes
    const keyed = nodes.map((n) => ({ n, b: goStringToBytes(n.name) }));
    keyed.sort((x, y) => Buffer.compare(x.b, y.b));
    sorted = keyed.map((k) => k.n);
    const bytes = new Map(keyed.map((k) => [k.n, k.b]));
    same = (a, b) => Buffer.compare(bytes.get(a) as Uint8Array, bytes.get(b) as Uint8Array) === 0;
  } else {
    let ordered = true;
    for (let i = 1; i < nodes.length && ordered; i++) ordered = nodes[i - 1].name < nodes[i].name;
    sorted = ordered
      ? nodes
      : [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    same = (a, b) => a.name === b.name;
  }
  const parts: string[] = new Array(sorted.length);
  let raw = false;
  for (let i = 0; i < sorted.length; i++) {
    const n = sorted[i];
    if (i > 0 && same(sorted[i - 1], n)) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `tree: node name ${goQuote(n.name)} appears twice`,
        {
          name: n.name,
        },
      );
    }
    parts[i] = entryJson(n);
    if (!isEncodedNode(n) && n.genericAttributes !== undefined && SURROGATE.test(parts[i]))
      raw = true;
  }
  return { parts, raw };
}

const TREE_START = Buffer.from('{"nodes":[');
const TREE_END = Buffer.from("]}\n");

/** A tree blob's plaintext bytes, byte-identical to what restic 0.14 writes for these nodes. */
export function serialiseTree(tree: Tree | readonly TreeEntry[]): Uint8Array {
  const nodes = Array.isArray(tree) ? (tree as readonly TreeEntry[]) : (tree as Tree).nodes;
  const { parts, raw } = treeParts(nodes);
  if (raw) return goStringToBytes(`{"nodes":[${parts.join(",")}]}\n`);
  // Each node's UTF-8 straight into the blob: no string of the whole tree
  let size = TREE_START.length + TREE_END.length + Math.max(0, parts.length - 1);
  for (const p of parts) size += Buffer.byteLength(p);
  const out = Buffer.allocUnsafeSlow(size);
  let pos = TREE_START.copy(out, 0);
  for (let i = 0; i < parts.length; i++) {
    if (i > 0) out[pos++] = 0x2c; // ,
    pos += out.write(parts[i], pos);
  }
  TREE_END.copy(out, pos);
  return out;
}

/** The node called `name`, if any. */
export function findNode(tree: Tree, name: string): Node | undefined {
  return tree.nodes.find((n) => n.name === name);
}

/** Subtree IDs of the tree's directories, in node order. */
export function subtreeIds(tree: Tree): Id[] {
  const out: Id[] = [];
  for (const n of tree.nodes) if (n.type === "dir" && n.subtree !== undefined) out.push(n.subtree);
  return out;
}
