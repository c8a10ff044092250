// Hashing for the restic format: every file and blob ID is the SHA-256 of its bytes (stored
// form for files, plaintext for blobs), written as 64 lower-case hex digits.

import * as nodeCrypto from "node:crypto";
import { ResticTsError } from "../errors.js";

const { createHash } = nodeCrypto;

/** node:crypto's one-shot digest (Node >= 20.12): no Hash object per call. */
const oneShot = (nodeCrypto as { hash?: (alg: string, data: Uint8Array, enc: "hex") => string })
  .hash;

/** SHA-256 of `data` (32 bytes), computed by node:crypto. */
export function sha256(data: Uint8Array): Uint8Array {
  // Copy into a plain Uint8Array: Node may hand out a slice of a shared pool.
  return new Uint8Array(createHash("sha256").update(data).digest());
}

/** SHA-256 of `data` as restic writes IDs: 64 lower-case hex digits. */
export function sha256Hex(data: Uint8Array): string {
  return oneShot !== undefined
    ? oneShot("sha256", data, "hex")
    : createHash("sha256").update(data).digest("hex");
}

/** Lower-case hex of `b`, as restic writes IDs. */
export function toHex(b: Uint8Array): string {
  return (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)).toString(
    "hex",
  );
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Bytes of a hex string (either case, even length); INVALID_ARGUMENT on anything else. */
export function fromHex(s: string): Uint8Array {
  if (typeof s !== "string" || !HEX.test(s)) {
    const shown = typeof s === "string" ? s.slice(0, 80) : typeof s;
    throw new ResticTsError("INVALID_ARGUMENT", `not a hex string: ${JSON.stringify(shown)}`, {
      length: typeof s === "string" ? s.length : undefined,
    });
  }
  return new Uint8Array(Buffer.from(s, "hex"));
}
