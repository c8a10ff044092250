// The fast path for parsing tree blobs: the native JSON.parse, then a check-and-convert into the
// same Node objects the exact reader (tree.ts, node.ts readNode) builds. It gives up (returns
// undefined, and the caller runs the exact reader) whenever JSON.parse could differ from Go's
// decoding as the exact reader mirrors it, so the result is identical for every input:
//
// - text JSON.parse refuses (the exact reader then gives the coded error);
// - a lone surrogate, or a \uD…/\uF… escape (U+FFFD and surrogates decode specially), or a
//   \u003a escape (an escaped colon would upset the colon count below);
// - a number literal with a sign, fraction or exponent, or one that is not a safe integer (or
//   has 16 digits or more);
// - a repeated key (Go keeps the first value when the last is null; the exact reader also
//   checks every repeated value): the colons in the text must be exactly the parsed keys plus
//   the colons inside the parsed strings (a dropped repeat loses its key and its strings);
// - any key that is not exactly a known field name (case-folded matches, unknown fields);
// - generic_attributes other than null (their raw JSON text is kept);
// - any value of the wrong type or out of range, a bad timestamp, ID, base64 or name.

import { bytesToGoString, goUnquote } from "./gostring.js";
import { normalizeGoTime } from "./gotime.js";
import type { ExtendedAttribute, Node } from "./node.js";
import { newNode } from "./node.js";
import type { Tree } from "./tree.js";

/** Thrown inside the fast path to give up; never escapes this module. */
const GIVE_UP: unique symbol = Symbol("give up");

const SPECIAL = /\\u(?:[dDfF]|003[aA])|[\ud800-\udfff]/;
/**
 * A number literal that is not a plain unsigned integer (sign, fraction, exponent), or one of 16
 * digits or more (maybe not a safe integer: checked before JSON.parse so that such trees go to the
 * exact reader at once), as a member value: the only place the fast path takes a number. Text in
 * a string may match too: that only costs the fast path.
 */
const NOT_UINT = /:[ \t\n\r]*(?:(?:-|[0-9]+[.eE])[0-9.eE+-]*[ \t\n\r]*[,}\]]|[0-9]{16})/;
const ID = /^[0-9a-f]{64}$/;
const ID_ANY_CASE = /^[0-9a-fA-F]{64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function giveUp(): never {
  throw GIVE_UP;
}

function colons(s: string): number {
  let k = 0;
  for (let i = s.indexOf(":"); i !== -1; i = s.indexOf(":", i + 1)) k++;
  return k;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function uint(v: unknown, max: number, current: number): number {
  if (v === null) return current;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > max) giveUp();
  return v;
}

function big(v: unknown, current: bigint): bigint {
  if (v === null) return current;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) giveUp();
  return BigInt(v);
}

function id(v: unknown): string {
  if (typeof v !== "string") giveUp();
  if (ID.test(v)) return v;
  if (!ID_ANY_CASE.test(v)) giveUp();
  return v.toLowerCase();
}

function bytes(v: unknown): Uint8Array | null {
  if (v === null) return null;
  if (typeof v !== "string") giveUp();
  const s = v.replace(/[\r\n]/g, "");
  if (!BASE64.test(s)) giveUp();
  const b = Buffer.from(s, "base64");
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** Per-parse state: keys seen (for the repeated-key check) and timestamps already validated. */
class Converter {
  /** Keys of the parsed objects plus colons inside the parsed strings. */
  colons = 0;
  private lastTimes: string[] = ["", "", ""];

  str(v: unknown, current: string): string {
    if (v === null) return current;
    if (typeof v !== "string") giveUp();
    this.colons += colons(v);
    return v;
  }

  time(v: unknown, current: string): string {
    if (v === null) return current;
    if (typeof v !== "string") giveUp();
    const t = this.lastTimes;
    if (v !== t[0] && v !== t[1] && v !== t[2]) {
      if (normalizeGoTime(v) === undefined) giveUp();
      t[2] = t[1];
      t[1] = t[0];
      t[0] = v;
    }
    this.colons += colons(v);
    return v;
  }

  xattrs(v: unknown): ExtendedAttribute[] | undefined {
    if (v === null) return undefined;
    if (!Array.isArray(v)) giveUp();
    const list: ExtendedAttribute[] = [];
    for (const e of v) {
      const a: ExtendedAttribute = { name: "", value: null };
      if (e !== null) {
        if (!isRecord(e)) giveUp();
        for (const key of Object.keys(e)) {
          this.colons++;
          if (key === "name") a.name = this.str(e[key], a.name);
          else if (key === "value") {
            if (e[key] !== null) a.value = bytes(e[key]);
          } else giveUp();
        }
      }
      list.push(a);
    }
    return list;
  }

  node(o: unknown): Node {
    if (!isRecord(o)) giveUp();
    const n = newNode("", "");
    let raw: Uint8Array | null | undefined;
    for (const key in o) {
      this.colons++;
      const v = o[key];
      switch (key) {
        case "name":
          n.name = this.str(v, n.name);
          break;
        case "type":
          n.type = this.str(v, n.type);
          break;
        case "mode":
          n.mode = uint(v, 0xffff_ffff, n.mode);
          break;
        case "mtime":
          n.mtime = this.time(v, n.mtime);
          break;
        case "atime":
          n.atime = this.time(v, n.atime);
          break;
        case "ctime":
          n.ctime = this.time(v, n.ctime);
          break;
        case "uid":
          n.uid = uint(v, 0xffff_ffff, n.uid);
          break;
        case "gid":
          n.gid = uint(v, 0xffff_ffff, n.gid);
          break;
        case "user":
          n.user = this.str(v, n.user);
          break;
        case "group":
          n.group = this.str(v, n.group);
          break;
        case "inode":
          n.inode = big(v, n.inode);
          break;
        case "device_id":
          n.deviceId = big(v, n.deviceId);
          break;
        case "size":
          n.size = uint(v, Number.MAX_SAFE_INTEGER, n.size);
          break;
        case "links":
          n.links = uint(v, Number.MAX_SAFE_INTEGER, n.links);
          break;
        case "linktarget":
          n.linkTarget = this.str(v, n.linkTarget);
          break;
        case "linktarget_raw":
          raw = bytes(v);
          break;
        case "extended_attributes":
          n.extendedAttributes = this.xattrs(v);
          break;
        case "generic_attributes":
          if (v !== null) giveUp();
          n.genericAttributes = undefined;
          break;
        case "device":
          n.device = big(v, n.device);
          break;
        case "content":
          if (v === null) n.content = null;
          else {
            if (!Array.isArray(v)) giveUp();
            const ids: string[] = new Array(v.length);
            for (let i = 0; i < v.length; i++) ids[i] = id(v[i]);
            n.content = ids;
          }
          break;
        case "subtree":
          n.subtree = v === null ? undefined : id(v);
          break;
        case "error":
          n.error = this.str(v, n.error);
          break;
        default:
          giveUp();
      }
    }
    const name = goUnquote(`"${n.name}"`);
    if (name === undefined) giveUp();
    n.name = name;
    if (raw !== undefined && raw !== null && raw.length > 0) {
      n.linkTargetRaw = raw;
      n.linkTarget = bytesToGoString(raw);
    }
    if (n.extendedAttributes !== undefined && n.extendedAttributes.length === 0)
      n.extendedAttributes = undefined;
    return n;
  }
}

/**
 * The tree in `text` exactly as the exact reader would give it, or undefined where this fast
 * path cannot be sure (then use the exact reader: it also gives the errors).
 */
export function fastParseTree(text: string): Tree | undefined {
  if (SPECIAL.test(text) || NOT_UINT.test(text)) return undefined;
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(doc)) return undefined;
  const c = new Converter();
  try {
    const tree: Tree = { nodes: [] };
    for (const key of Object.keys(doc)) {
      if (key !== "nodes") return undefined;
      c.colons++;
      const list = doc[key];
      if (list === null) continue;
      if (!Array.isArray(list)) return undefined;
      const nodes: Node[] = new Array(list.length);
      for (let i = 0; i < list.length; i++) nodes[i] = c.node(list[i]);
      tree.nodes = nodes;
    }
    // a colon is in a string or follows a key: fewer parsed than written means a repeated key
    if (colons(text) !== c.colons) return undefined;
    return tree;
  } catch (err) {
    if (err === GIVE_UP) return undefined;
    throw err;
  }
}
