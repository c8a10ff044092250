// A JSON reader that decodes the way Go's encoding/json (go1.19) does what restic relies on:
// exact number literals (uint64 inodes do not fit a JS number), strings with invalid UTF-8 or
// lone surrogate escapes decoded to U+FFFD, object keys matched to struct fields exactly or
// case-insensitively, the last duplicate winning, nesting limited (to 1000 levels; Go: 10000). Plus
// `compactJson`, Go's compaction of json.RawMessage values when they are marshalled.
// Every syntax error is a ResticTsError with code CORRUPT naming what was being read.

import { ResticTsError } from "../errors.js";
import { bytesToGoString } from "./gostring.js";
import { normalizeGoTime } from "./gotime.js";

/** A decoded JSON value (numbers as JS numbers: only for fields we do not interpret). */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

const utf8Fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON strings may not hold raw control characters
const PLAIN_STRING = /[^"\\\x00-\x1f\ud800-\udfff]*/y;
/** Go allows 10000; our reader recurses, and no restic JSON nests deeper than a few levels. */
const MAX_DEPTH = 1000;

/** Decode JSON bytes to text; bytes that are not UTF-8 become lone surrogates (see gostring). */
export function decodeJsonText(bytes: Uint8Array): string {
  try {
    return utf8Fatal.decode(bytes);
  } catch {
    return bytesToGoString(bytes);
  }
}

export class JsonReader {
  pos = 0;
  private depth = 0;

  /** `what` names the document in error messages ("tree", "snapshot", …). */
  constructor(
    readonly text: string,
    readonly what: string,
  ) {}

  fail(message: string): never {
    throw new ResticTsError("CORRUPT", `${this.what}: ${message} at offset ${this.pos}`, {
      offset: this.pos,
    });
  }

  /** Skip whitespace and return the next character code (NaN at the end). */
  peek(): number {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    this.pos = p;
    return t.charCodeAt(p);
  }

  /** The kind of the next value, for type checks. */
  peekKind(): "object" | "array" | "string" | "number" | "bool" | "null" | "end" | "invalid" {
    const c = this.peek();
    if (c === 0x7b) return "object";
    if (c === 0x5b) return "array";
    if (c === 0x22) return "string";
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return "number";
    if (c === 0x74 || c === 0x66) return "bool";
    if (c === 0x6e) return "null";
    if (Number.isNaN(c)) return "end";
    return "invalid";
  }

  /** If the next value is `null`, consume it and return true. */
  readNull(): boolean {
    if (this.peek() !== 0x6e) return false;
    this.literal("null");
    return true;
  }

  private literal(word: string): void {
    if (!this.text.startsWith(word, this.pos)) this.fail("invalid literal");
    this.pos += word.length;
  }

  readBool(): boolean {
    const c = this.peek();
    if (c === 0x74) {
      this.literal("true");
      return true;
    }
    if (c === 0x66) {
      this.literal("false");
      return false;
    }
    return this.fail("expected a boolean");
  }

  /** The literal text of a number (validated against the JSON grammar). */
  readNumber(): string {
    this.peek();
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (m === null || m[0].length === 0) this.fail("expected a number");
    this.pos += m[0].length;
    return m[0];
  }

  readString(): string {
    if (this.peek() !== 0x22) this.fail("expected a string");
    const t = this.text;
    const start = this.pos + 1;
    PLAIN_STRING.lastIndex = start;
    PLAIN_STRING.exec(t);
    let p = PLAIN_STRING.lastIndex;
    if (t.charCodeAt(p) === 0x22) {
      this.pos = p + 1;
      return t.slice(start, p);
    }
    let out = t.slice(start, p);
    for (;;) {
      const c = t.charCodeAt(p);
      if (Number.isNaN(c)) {
        this.pos = p;
        this.fail("unterminated string");
      }
      if (c === 0x22) break;
      if (c < 0x20) {
        this.pos = p;
        this.fail("control character in string");
      }
      if (c === 0x5c) {
        const e = t.charCodeAt(p + 1);
        p += 2;
        switch (e) {
          case 0x22:
            out += '"';
            break;
          case 0x5c:
            out += "\\";
            break;
          case 0x2f:
            out += "/";
            break;
          case 0x62:
            out += "\b";
            break;
          case 0x66:
            out += "\f";
            break;
          case 0x6e:
            out += "\n";
            break;
          case 0x72:
            out += "\r";
            break;
          case 0x74:
            out += "\t";
            break;
          case 0x75: {
            const u = this.hex4(p);
            p += 4;
            if (u >= 0xd800 && u <= 0xdbff) {
              // a surrogate pair must be two \u escapes; anything else is U+FFFD
              if (t.charCodeAt(p) === 0x5c && t.charCodeAt(p + 1) === 0x75) {
                const v = this.hex4(p + 2);
                if (v >= 0xdc00 && v <= 0xdfff) {
                  out += String.fromCharCode(u, v);
                  p += 6;
                  break;
                }
              }
              out += "\ufffd";
            } else if (u === 0xfffd && t.startsWith("fffd", p - 4)) {
              // Go writes exactly this escape only for a byte that was not UTF-8: keep that
              // fact (as U+DC00, see gostring.ts) so the string is written back the same way
              out += "\udc00";
            } else if (u >= 0xdc00 && u <= 0xdfff) {
              out += "\ufffd";
            } else {
              out += String.fromCharCode(u);
            }
            break;
          }
          default:
            this.pos = p - 2;
            this.fail("invalid escape in string");
        }
        continue;
      }
      if (c >= 0xd800 && c <= 0xdfff) {
        // raw text: a valid pair stays, a lone surrogate stands for an invalid byte -> U+FFFD
        const d = t.charCodeAt(p + 1);
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          out += t.slice(p, p + 2);
          p += 2;
        } else {
          out += "\ufffd";
          p++;
        }
        continue;
      }
      PLAIN_STRING.lastIndex = p;
      PLAIN_STRING.exec(t);
      out += t.slice(p, PLAIN_STRING.lastIndex);
      p = PLAIN_STRING.lastIndex;
    }
    this.pos = p + 1;
    return out;
  }

  private hex4(p: number): number {
    const s = this.text.slice(p, p + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(s)) {
      this.pos = p;
      this.fail("invalid \\u escape in string");
    }
    return Number.parseInt(s, 16);
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) this.fail("nesting too deep");
  }

  /** Iterate an object: `onKey` is called for each key and must consume its value. */
  readObject(onKey: (key: string) => void): void {
    if (this.peek() !== 0x7b) this.fail("expected an object");
    this.enter();
    this.pos++;
    if (this.peek() === 0x7d) {
      this.pos++;
      this.depth--;
      return;
    }
    for (;;) {
      const key = this.readString();
      if (this.peek() !== 0x3a) this.fail("expected ':' after object key");
      this.pos++;
      onKey(key);
      const c = this.peek();
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x7d) break;
      this.pos--;
      this.fail("expected ',' or '}' in object");
    }
    this.depth--;
  }

  /** Iterate an array: `onItem` is called for each element and must consume it. */
  readArray(onItem: (index: number) => void): void {
    if (this.peek() !== 0x5b) this.fail("expected an array");
    this.enter();
    this.pos++;
    if (this.peek() === 0x5d) {
      this.pos++;
      this.depth--;
      return;
    }
    for (let i = 0; ; i++) {
      onItem(i);
      const c = this.peek();
      this.pos++;
      if (c === 0x2c) continue;
      if (c === 0x5d) break;
      this.pos--;
      this.fail("expected ',' or ']' in array");
    }
    this.depth--;
  }

  /** Read any value. */
  readValue(): JsonValue {
    switch (this.peekKind()) {
      case "object": {
        const obj: { [key: string]: JsonValue } = Object.create(null);
        this.readObject((k) => {
          obj[k] = this.readValue();
        });
        return obj;
      }
      case "array": {
        const arr: JsonValue[] = [];
        this.readArray(() => {
          arr.push(this.readValue());
        });
        return arr;
      }
      case "string":
        return this.readString();
      case "number":
        return Number(this.readNumber());
      case "bool":
        return this.readBool();
      case "null":
        this.readNull();
        return null;
      case "end":
        return this.fail("unexpected end of input");
      default:
        return this.fail("invalid character");
    }
  }

  /** Validate and skip the next value, returning its exact text. */
  readRaw(): string {
    this.peek();
    const start = this.pos;
    this.readValue();
    return this.text.slice(start, this.pos);
  }

  /** Require that only whitespace remains. */
  finish(): void {
    if (!Number.isNaN(this.peek())) this.fail("unexpected data after the JSON value");
  }
}

/**
 * Go's key-to-field matching: an exact match wins, else a case-insensitive one (where the
 * Kelvin sign folds to k and the long s to s). `fields` are the lower-case ASCII JSON names.
 */
export function matchField<F extends string>(key: string, fields: ReadonlySet<F>): F | undefined {
  if (fields.has(key as F)) return key as F;
  const folded = key
    .replace(/\u212a/g, "k")
    .replace(/\u017f/g, "s")
    .toLowerCase();
  if (/[\u0080-\uffff]/.test(folded)) return undefined;
  return fields.has(folded as F) ? (folded as F) : undefined;
}

/**
 * Go's json.Compact with HTML escaping, as applied when a json.RawMessage is marshalled:
 * whitespace outside strings dropped, `<` `>` `&` as \u003c \u003e \u0026 and U+2028/U+2029
 * as \u2028/\u2029; every other character, escapes included, kept as written. `raw` must be
 * valid JSON (as returned by `JsonReader.readRaw`).
 */
export function compactJson(raw: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (inString) {
      if (c === "\\") {
        out += c + raw[i + 1];
        i++;
        continue;
      }
      if (c === '"') inString = false;
    } else if (c === " " || c === "\n" || c === "\r" || c === "\t") {
      continue;
    } else if (c === '"') {
      inString = true;
    }
    if (c === "<") out += "\\u003c";
    else if (c === ">") out += "\\u003e";
    else if (c === "&") out += "\\u0026";
    else if (c === "\u2028") out += "\\u2028";
    else if (c === "\u2029") out += "\\u2029";
    else out += c;
  }
  return out;
}

/** Parse a non-negative integer literal (Go's ParseUint) no larger than `max`. */
export function parseUintLiteral(
  r: JsonReader,
  literal: string,
  max: bigint,
  field: string,
): bigint {
  if (!/^(?:0|[1-9][0-9]*)$/.test(literal))
    r.fail(`${field}: ${literal} is not an unsigned integer`);
  const v = BigInt(literal);
  if (v > max) r.fail(`${field}: ${literal} is out of range`);
  return v;
}

/** A time field as restic's Go structs read it: null keeps `current`, else an RFC 3339 string. */
export function readTime(r: JsonReader, field: string, current: string): string {
  if (r.readNull()) return current;
  if (r.peekKind() !== "string") r.fail(`${field} is not a timestamp string`);
  const s = r.readString();
  if (normalizeGoTime(s) === undefined)
    r.fail(`${field} ${JSON.stringify(s)} is not an RFC 3339 timestamp`);
  return s;
}
