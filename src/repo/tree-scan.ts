// The fastest path for tree blobs: a byte scanner for exactly the JSON restic 0.14 writes (Go's
// encoding/json of its Node struct: fields in declaration order, empty optional fields left
// out, no white space). Nodes come straight from the bytes: no UTF-16 text of the whole blob,
// no JSON.parse objects to check and convert. Anything else — another field order or spacing,
// an escape in a string, newer restic's fields, a number that is not a plain safe integer —
// gives up (undefined), and the caller takes the next path (tree-fast.ts, then the exact
// reader), so the result is always what the exact reader gives.

import { isUtf8 } from "node:buffer";
import { goUnquote } from "./gostring.js";
import { normalizeGoTime } from "./gotime.js";
import { NODE_FIELDS, type Node, newNode } from "./node.js";
import type { Tree } from "./tree.js";

const QUOTE = 0x22;
const COMMA = 0x2c;
/** The node types restic writes, so that each node's type is one shared string. */
const TYPES = ["file", "dir", "symlink", "dev", "chardev", "fifo", "socket", "irregular"];
/** `,"key":` as bytes, for each node field. */
const KEY_BYTES = new Map([...NODE_FIELDS].map((k) => [k, Buffer.from(`,"${k}":`)]));

class GiveUp {}
const GIVE_UP = new GiveUp();

class Scanner {
  pos = 0;
  /** The last time string and its bytes' position, to share one string per repeated time. */
  private lastTime = "";
  private lastTimeStart = -1;
  private lastTimeEnd = -1;

  constructor(private readonly b: Buffer) {}

  fail(): never {
    throw GIVE_UP;
  }

  expect(byte: number): void {
    if (this.b[this.pos] !== byte) this.fail();
    this.pos++;
  }

  /** Consume `,"key":` (the node's first key: `"key":`) if it is next. */
  key(k: string, first = false): boolean {
    const want = KEY_BYTES.get(k) as Buffer;
    const from = first ? 1 : 0;
    const n = want.length - from;
    const b = this.b;
    if (this.pos + n > b.length) return false;
    for (let i = 0; i < n; i++) if (b[this.pos + i] !== want[from + i]) return false;
    this.pos += n;
    return true;
  }

  /** The bytes of a string without escapes or control characters: [start, end). */
  stringBytes(): [number, number] {
    const b = this.b;
    this.expect(QUOTE);
    const start = this.pos;
    let ascii = true;
    for (;;) {
      const c = b[this.pos];
      if (c === undefined || c === 0x5c || c < 0x20) this.fail();
      if (c === QUOTE) break;
      if (c >= 0x80) ascii = false;
      this.pos++;
    }
    const end = this.pos++;
    if (!ascii && !isUtf8(b.subarray(start, end))) this.fail();
    return [start, end];
  }

  string(): string {
    const [start, end] = this.stringBytes();
    return this.b.toString("utf8", start, end);
  }

  time(): string {
    const [start, end] = this.stringBytes();
    const b = this.b;
    const n = end - start;
    if (n === this.lastTimeEnd - this.lastTimeStart) {
      let same = true;
      for (let i = 0; i < n && same; i++) same = b[start + i] === b[this.lastTimeStart + i];
      if (same) return this.lastTime;
    }
    const s = b.toString("latin1", start, end);
    if (normalizeGoTime(s) === undefined) this.fail();
    this.lastTime = s;
    this.lastTimeStart = start;
    this.lastTimeEnd = end;
    return s;
  }

  id(): string {
    const [start, end] = this.stringBytes();
    if (end - start !== 64) this.fail();
    const b = this.b;
    for (let i = start; i < end; i++) {
      const c = b[i];
      if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) this.fail();
    }
    return b.toString("latin1", start, end);
  }

  /** A plain unsigned integer of at most 15 digits (a safe integer), no leading zero. */
  uint(): number {
    const b = this.b;
    const start = this.pos;
    let v = 0;
    for (;;) {
      const c = b[this.pos];
      if (c === undefined || c < 0x30 || c > 0x39) break;
      v = v * 10 + (c - 0x30);
      this.pos++;
    }
    const n = this.pos - start;
    if (n === 0 || n > 15 || (n > 1 && b[start] === 0x30)) this.fail();
    return v;
  }

  uint32(): number {
    const v = this.uint();
    if (v > 0xffff_ffff) this.fail();
    return v;
  }

  /** `[item,item,…]` (or `[]`). */
  array<T>(item: () => T): T[] {
    const b = this.b;
    this.expect(0x5b);
    const out: T[] = [];
    if (b[this.pos] !== 0x5d) {
      out.push(item());
      while (b[this.pos] === COMMA) {
        this.pos++;
        out.push(item());
      }
    }
    this.expect(0x5d);
    return out;
  }

  /** A node in restic's field order; the bytes must be at its "{". */
  node(): Node {
    this.expect(0x7b);
    if (!this.key("name", true)) this.fail();
    const quotedName = this.string();
    if (!this.key("type")) this.fail();
    const t = this.string();
    const type = TYPES.find((x) => x === t) ?? t;
    const n = newNode("", type);
    if (this.key("mode")) n.mode = this.uint32();
    if (!this.key("mtime")) this.fail();
    n.mtime = this.time();
    if (!this.key("atime")) this.fail();
    n.atime = this.time();
    if (!this.key("ctime")) this.fail();
    n.ctime = this.time();
    if (!this.key("uid")) this.fail();
    n.uid = this.uint32();
    if (!this.key("gid")) this.fail();
    n.gid = this.uint32();
    if (this.key("user")) n.user = this.string();
    if (this.key("group")) n.group = this.string();
    if (this.key("inode")) n.inode = BigInt(this.uint());
    if (this.key("device_id")) n.deviceId = BigInt(this.uint());
    if (this.key("size")) n.size = this.uint();
    if (this.key("links")) n.links = this.uint();
    if (this.key("linktarget")) n.linkTarget = this.string();
    if (this.key("device")) n.device = BigInt(this.uint());
    if (!this.key("content")) this.fail();
    if (this.b[this.pos] === 0x6e) {
      for (const c of [0x6e, 0x75, 0x6c, 0x6c]) this.expect(c); // null
    } else n.content = this.array(() => this.id());
    if (this.key("subtree")) n.subtree = this.id();
    if (this.key("error")) n.error = this.string();
    this.expect(0x7d);
    const name = goUnquote(`"${quotedName}"`);
    if (name === undefined) this.fail();
    n.name = name;
    return n;
  }
}

const PREFIX = Buffer.from('{"nodes":');

/**
 * The tree in `bytes` exactly as the exact reader would give it, or undefined where the bytes
 * are not in the form restic 0.14 writes (the caller then takes the slower paths).
 */
export function scanTree(bytes: Uint8Array): Tree | undefined {
  const b = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b.length < PREFIX.length + 3) return undefined;
  for (let i = 0; i < PREFIX.length; i++) if (b[i] !== PREFIX[i]) return undefined;
  const s = new Scanner(b);
  s.pos = PREFIX.length;
  try {
    const nodes = s.array(() => s.node());
    s.expect(0x7d);
    // restic ends the blob with a newline; nothing else may follow
    if (s.pos < b.length) s.expect(0x0a);
    if (s.pos !== b.length) return undefined;
    return { nodes };
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
}
