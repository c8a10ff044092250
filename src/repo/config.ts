// The repository `config` file (restic design.rst "Repository layout"/"Keys, Encryption and
// MAC"): `{"version":1|2,"id":"<64 hex>","chunker_polynomial":"<hex>"}`, sealed with the master
// key and never compressed, stored at `config` with no ID.

import { irreducible } from "../chunker/polynomial.js";
import { ResticTsError } from "../errors.js";

export type RepositoryVersion = 1 | 2;

export const MIN_REPO_VERSION = 1;
export const MAX_REPO_VERSION = 2;
/** The version `init` writes unless asked otherwise (restic 0.14's stable version). */
export const DEFAULT_REPO_VERSION: RepositoryVersion = 2;

export interface Config {
  readonly version: RepositoryVersion;
  /** The repository's random ID, 64 lower-case hex characters. */
  readonly id: string;
  /** The chunker's irreducible polynomial of degree 53. */
  readonly chunkerPolynomial: bigint;
}

const HEX_ID = /^[0-9a-f]{64}$/;
const HEX_POL = /^[0-9a-fA-F]{1,16}$/;

export function checkRepositoryVersion(version: number): RepositoryVersion {
  if (version !== 1 && version !== 2) {
    throw new ResticTsError(
      "UNSUPPORTED",
      `unsupported repository version ${version}: only versions ${MIN_REPO_VERSION} to ${MAX_REPO_VERSION} are known`,
      { version },
    );
  }
  return version;
}

export function parseConfig(plaintext: Uint8Array): Config {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plaintext));
  } catch (err) {
    throw new ResticTsError("CORRUPT", "config is not valid JSON", {}, { cause: err });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ResticTsError("CORRUPT", "config is not a JSON object");
  }
  const obj = raw as Record<string, unknown>;
  if (typeof obj.version !== "number" || !Number.isInteger(obj.version)) {
    throw new ResticTsError("CORRUPT", "config has no integer `version`");
  }
  const version = checkRepositoryVersion(obj.version);
  if (typeof obj.id !== "string" || !HEX_ID.test(obj.id)) {
    throw new ResticTsError("CORRUPT", "config `id` is not a 64-character hex ID");
  }
  if (typeof obj.chunker_polynomial !== "string" || !HEX_POL.test(obj.chunker_polynomial)) {
    throw new ResticTsError("CORRUPT", "config `chunker_polynomial` is not a hex number");
  }
  const chunkerPolynomial = BigInt(`0x${obj.chunker_polynomial}`);
  if (!irreducible(chunkerPolynomial)) {
    throw new ResticTsError(
      "CORRUPT",
      "config `chunker_polynomial` is not an irreducible polynomial",
    );
  }
  return { version, id: obj.id, chunkerPolynomial };
}

/** Serialise as Go's encoding/json writes restic's Config struct. */
export function serializeConfig(config: Config): Uint8Array {
  const json = `{"version":${config.version},"id":"${config.id}","chunker_polynomial":"${config.chunkerPolynomial.toString(16)}"}`;
  return new TextEncoder().encode(json);
}

/** `restic cat config` output: Go's json.MarshalIndent with two spaces. */
export function formatConfig(config: Config): string {
  return JSON.stringify(
    {
      version: config.version,
      id: config.id,
      chunker_polynomial: config.chunkerPolynomial.toString(16),
    },
    null,
    2,
  );
}
