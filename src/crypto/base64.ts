// Base64 as Go's encoding/json writes []byte fields in restic's JSON files (key files, the
// master key): standard alphabet, with padding. Decoding is strict: Node's decoder silently
// skips junk, which would let a damaged file through.

import { ResticTsError } from "../errors.js";

const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard, padded base64 of `b`. */
export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

/** Bytes of a standard, padded base64 string; CORRUPT (naming `what`) on anything else. */
export function fromBase64(s: unknown, what: string): Uint8Array {
  if (typeof s !== "string" || !STD_BASE64.test(s)) {
    throw new ResticTsError("CORRUPT", `${what}: not standard base64`, { field: what });
  }
  return new Uint8Array(Buffer.from(s, "base64"));
}
