// Shared helpers for the crypto unit tests.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isResticTsError } from "../../../src/errors.js";

export const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "hex"));
export const toHexStr = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

export function loadVectors<T>(name: string): T {
  const path = fileURLToPath(new URL(`../../../fixtures/vectors/${name}`, import.meta.url));
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** RFC 7914's scrypt test vectors (fixtures/vectors/scrypt.json); `skip`: too large to run. */
export interface ScryptVector {
  password: string;
  salt: string;
  N: number;
  r: number;
  p: number;
  dk: string;
  skip?: boolean;
}

export function scryptVectors(): ScryptVector[] {
  return loadVectors<{ vectors: ScryptVector[] }>("scrypt.json").vectors;
}

/** The ResticTsError code `f` throws, "none" if it returns, or "other" for other errors. */
export function codeOf(f: () => unknown): string {
  try {
    f();
    return "none";
  } catch (err) {
    return isResticTsError(err) ? err.code : `other: ${String(err)}`;
  }
}

export async function asyncCodeOf(f: () => Promise<unknown>): Promise<string> {
  try {
    await f();
    return "none";
  } catch (err) {
    return isResticTsError(err) ? err.code : `other: ${String(err)}`;
  }
}

/** Byte equality without vitest's slow deep comparison of large arrays. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}
