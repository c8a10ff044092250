// restic IDs (restic design.rst "Terminology"; internal/restic/id.go): the SHA-256 of a file's
// or blob's content, 32 bytes, written as 64 lower-case hex characters in file names and JSON.
// Commands accept unique prefixes of IDs.

import { ResticTsError } from "../errors.js";

/** 64 lower-case hex characters. */
export type Id = string;

export const ID_SIZE = 32;
const ID_RE = /^[0-9a-f]{64}$/;
const HEX_RE = /^[0-9a-fA-F]*$/;

export function isId(s: unknown): s is Id {
  return typeof s === "string" && ID_RE.test(s);
}

/** Validate an ID given by a caller; upper-case hex is accepted and lower-cased (as Go's hex). */
export function parseId(s: string): Id {
  if (typeof s === "string" && s.length === 64 && HEX_RE.test(s)) return s.toLowerCase();
  throw new ResticTsError(
    "INVALID_ARGUMENT",
    `invalid ID ${JSON.stringify(String(s))}: want 64 hex characters`,
    {
      id: s,
    },
  );
}

export function idFromBytes(bytes: Uint8Array, offset = 0): Id {
  if (offset < 0 || bytes.length - offset < ID_SIZE) {
    throw new ResticTsError("INVALID_ARGUMENT", `an ID needs ${ID_SIZE} bytes`);
  }
  // one flat string from native code: 64 concatenations made a rope of 64 heap objects per ID,
  // which for a pack header of 450,000 entries meant ~30 million objects and seconds of GC;
  // a caller with many IDs in one Buffer spares a Buffer view per ID
  const b = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return b.toString("hex", offset, offset + ID_SIZE);
}

function nibble(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Write the 32 bytes of `id` into `out` at `offset` (no allocation). */
export function writeIdBytes(id: Id, out: Uint8Array, offset = 0): void {
  if (typeof id !== "string" || id.length !== 64)
    throw new ResticTsError("INVALID_ARGUMENT", "invalid ID");
  for (let i = 0; i < ID_SIZE; i++) {
    const hi = nibble(id.charCodeAt(2 * i));
    const lo = nibble(id.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0)
      throw new ResticTsError("INVALID_ARGUMENT", `invalid ID ${JSON.stringify(id)}`);
    out[offset + i] = (hi << 4) | lo;
  }
}

export function idToBytes(id: Id): Uint8Array {
  const out = new Uint8Array(ID_SIZE);
  writeIdBytes(id, out);
  return out;
}

/** The short form restic prints: the first 8 hex characters. */
export function shortId(id: Id): string {
  return id.slice(0, 8);
}

/**
 * Find the one candidate starting with `prefix` (case-insensitive hex, 1..64 characters).
 * NOT_FOUND when none does, AMBIGUOUS_ID when several distinct candidates do.
 */
export function resolvePrefix(prefix: string, candidates: Iterable<string>): Id {
  if (
    typeof prefix !== "string" ||
    prefix.length === 0 ||
    prefix.length > 64 ||
    !HEX_RE.test(prefix)
  ) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `invalid ID prefix ${JSON.stringify(String(prefix))}`,
      { prefix },
    );
  }
  const p = prefix.toLowerCase();
  let found: string | undefined;
  for (const c of candidates) {
    if (!c.startsWith(p)) continue;
    if (found !== undefined && found !== c) {
      throw new ResticTsError(
        "AMBIGUOUS_ID",
        `ID prefix ${p} is ambiguous: ${found.slice(0, p.length + 4)}… and ${c.slice(0, p.length + 4)}…`,
        {
          prefix: p,
        },
      );
    }
    found = c;
  }
  if (found === undefined)
    throw new ResticTsError("NOT_FOUND", `no ID starts with ${p}`, { prefix: p });
  return found;
}

/** Whether the 8 words of an ID at src[at, at + 8) equal `key`'s (IDs as uint32 words). */
export function idWordsEqual(src: Uint32Array, at: number, key: Uint32Array): boolean {
  return (
    src[at] === key[0] &&
    src[at + 1] === key[1] &&
    src[at + 2] === key[2] &&
    src[at + 3] === key[3] &&
    src[at + 4] === key[4] &&
    src[at + 5] === key[5] &&
    src[at + 6] === key[6] &&
    src[at + 7] === key[7]
  );
}
