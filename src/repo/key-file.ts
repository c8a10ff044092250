// restic key files (doc/design.rst "Keys, Encryption and MAC", internal/repository/key.go):
// plain JSON stored under keys/<sha256 of the file>, written by Go's json.Marshal in struct
// order {created, username, hostname, kdf, N, r, p, salt, data}. `salt` (64 bytes) and `data`
// are base64; `data` is the master key's JSON sealed (master-key.ts) with the user key that
// scrypt derives from the password with this file's own N/r/p (kdf.ts). Opening starts with the
// scrypt of the first key file to try, so callers can overlap it with other work.

import { hostname as osHostname, userInfo } from "node:os";
import type { Backend } from "../backends/backend.js";
import { fromBase64, toBase64 } from "../crypto/base64.js";
import {
  DEFAULT_KDF_PARAMS,
  deriveKey,
  type KdfParams,
  SALT_LENGTH,
  validateKdfParams,
} from "../crypto/kdf.js";
import type { MasterKey } from "../crypto/master-key.js";
import { randomBytes } from "../crypto/random.js";
import { SEAL_OVERHEAD } from "../crypto/sizes.js";
import { isResticTsError, ResticTsError } from "../errors.js";
import { goJsonString } from "./gostring.js";
import { formatGoTimeDate, goTimeNow } from "./gotime.js";
import { resolvePrefix } from "./id.js";

export interface KeyFile {
  /** RFC 3339 time, kept verbatim (Go writes up to 9 fractional digits and the local offset). */
  created: string;
  username: string;
  hostname: string;
  kdf: "scrypt";
  N: number;
  r: number;
  p: number;
  /** scrypt salt, 64 bytes in files restic can open. */
  salt: Uint8Array;
  /** IV || AES-256-CTR(master key JSON) || MAC under the user key. */
  data: Uint8Array;
}

export interface CreateKeyFileOptions {
  /** scrypt parameters; DEFAULT_KDF_PARAMS when absent. */
  params?: KdfParams;
  /** Defaults to the current OS user, as restic does. */
  username?: string;
  /** Defaults to os.hostname(), as restic does. */
  hostname?: string;
  /** A Date (written in the local offset) or an RFC 3339 string; defaults to now. */
  created?: Date | string;
}

/** Go's zero time.Time, what restic reads from a key file without `created`. */
const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

// --- parse / serialise ---------------------------------------------------------------------

function corrupt(message: string, data: Record<string, unknown> = {}): ResticTsError {
  return new ResticTsError("CORRUPT", `key file: ${message}`, data);
}

function optionalString(obj: Record<string, unknown>, field: string, dflt: string): string {
  const v = obj[field];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "string") throw corrupt(`${field} is not a string`, { field });
  return v;
}

function requiredInt(obj: Record<string, unknown>, field: string): number {
  const v = obj[field];
  if (v === undefined || v === null) throw corrupt(`missing ${field}`, { field });
  if (!Number.isSafeInteger(v)) throw corrupt(`${field} is not an integer`, { field });
  return v as number;
}

/**
 * Parse a key file. CORRUPT for bad JSON, a missing or mistyped field (kdf, N, r, p, salt,
 * data are required; created, username, hostname default as Go reads them), UNSUPPORTED for a
 * kdf other than "scrypt". N/r/p are only type-checked here; `openKeyFile` bounds them.
 */
export function parseKeyFile(bytes: Uint8Array): KeyFile {
  let obj: unknown;
  try {
    obj = JSON.parse(new TextDecoder("utf-8").decode(bytes));
  } catch (err) {
    throw new ResticTsError("CORRUPT", "key file: not JSON", {}, { cause: err });
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw corrupt("not a JSON object");
  }
  const o = obj as Record<string, unknown>;
  if (o.kdf === undefined || o.kdf === null) throw corrupt("missing kdf", { field: "kdf" });
  if (typeof o.kdf !== "string") throw corrupt("kdf is not a string", { field: "kdf" });
  if (o.kdf !== "scrypt") {
    throw new ResticTsError("UNSUPPORTED", `key file: unsupported KDF ${JSON.stringify(o.kdf)}`, {
      kdf: o.kdf,
    });
  }
  const created = optionalString(o, "created", GO_ZERO_TIME);
  if (!RFC3339.test(created)) throw corrupt("created is not an RFC 3339 time", { created });
  if (o.salt === undefined || o.salt === null) throw corrupt("missing salt", { field: "salt" });
  if (o.data === undefined || o.data === null) throw corrupt("missing data", { field: "data" });
  return {
    created,
    username: optionalString(o, "username", ""),
    hostname: optionalString(o, "hostname", ""),
    kdf: "scrypt",
    N: requiredInt(o, "N"),
    r: requiredInt(o, "r"),
    p: requiredInt(o, "p"),
    salt: fromBase64(o.salt, "key file salt"),
    data: fromBase64(o.data, "key file data"),
  };
}

/** The key file's bytes as restic's json.Marshal writes them (compact, Go field order). */
export function serializeKeyFile(kf: KeyFile): Uint8Array {
  if (!RFC3339.test(kf.created)) {
    throw new ResticTsError("INVALID_ARGUMENT", "key file created is not an RFC 3339 time");
  }
  for (const n of [kf.N, kf.r, kf.p]) {
    if (!Number.isSafeInteger(n)) {
      throw new ResticTsError("INVALID_ARGUMENT", "key file N, r, p must be integers");
    }
  }
  const json =
    `{"created":${goJsonString(kf.created)},"username":${goJsonString(kf.username)},` +
    `"hostname":${goJsonString(kf.hostname)},"kdf":${goJsonString(kf.kdf)},` +
    `"N":${kf.N},"r":${kf.r},"p":${kf.p},` +
    `"salt":"${toBase64(kf.salt)}","data":"${toBase64(kf.data)}"}`;
  return new TextEncoder().encode(json);
}

// --- create / open -------------------------------------------------------------------------

function defaultUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return ""; // restic leaves it empty when the user cannot be looked up
  }
}

/**
 * A new key file sealing `master` under `password` (fresh 64-byte salt, fresh IV).
 * EMPTY_PASSWORD for "", INVALID_ARGUMENT / CORRUPT / UNSUPPORTED for bad params.
 */
export async function createKeyFile(
  password: string,
  master: MasterKey,
  opts: CreateKeyFileOptions = {},
): Promise<KeyFile> {
  if (typeof password !== "string" || password.length === 0) {
    throw new ResticTsError("EMPTY_PASSWORD", "an empty password is not allowed");
  }
  const params = { ...(opts.params ?? DEFAULT_KDF_PARAMS) };
  validateKdfParams(params);
  let created: string;
  if (opts.created === undefined) {
    created = goTimeNow();
  } else if (typeof opts.created === "string") {
    if (!RFC3339.test(opts.created)) {
      throw new ResticTsError("INVALID_ARGUMENT", "created is not an RFC 3339 time");
    }
    created = opts.created;
  } else {
    created = formatGoTimeDate(opts.created);
  }
  const salt = randomBytes(SALT_LENGTH);
  const user = await deriveKey(password, salt, params);
  const { encodeMasterKey, seal } = await import("../crypto/master-key.js");
  return {
    created,
    username: opts.username ?? defaultUsername(),
    hostname: opts.hostname ?? osHostname(),
    kdf: "scrypt",
    N: params.N,
    r: params.r,
    p: params.p,
    salt,
    data: seal(user, encodeMasterKey(master)),
  };
}

/**
 * The master key sealed in `kf`, using the file's own N/r/p. WRONG_PASSWORD if the MAC does not
 * verify (wrong password or tampered data); CORRUPT for a malformed file or master key JSON;
 * UNSUPPORTED for parameters beyond our limits.
 */
export async function openKeyFile(kf: KeyFile, password: string): Promise<MasterKey> {
  return await unsealKeyFile(kf, await deriveKeyFileKey(kf, password));
}

/**
 * The user key of `kf` for `password`: the file's kdf, N/r/p, salt and data checked, then scrypt
 * (on libuv's thread pool, so the main thread is free meanwhile). Errors as `openKeyFile`.
 */
export async function deriveKeyFileKey(kf: KeyFile, password: string): Promise<MasterKey> {
  if (kf.kdf !== "scrypt") {
    throw new ResticTsError("UNSUPPORTED", `key file: unsupported KDF ${JSON.stringify(kf.kdf)}`);
  }
  const params = { N: kf.N, r: kf.r, p: kf.p };
  validateKdfParams(params);
  if (kf.salt.length !== SALT_LENGTH) {
    throw corrupt(`salt must be ${SALT_LENGTH} bytes, got ${kf.salt.length}`);
  }
  if (kf.data.length < SEAL_OVERHEAD) throw corrupt("data too short");
  return deriveKey(password, kf.salt, params);
}

/** The master key sealed in `kf` under the user key `user` (from `deriveKeyFileKey`). */
export async function unsealKeyFile(kf: KeyFile, user: MasterKey): Promise<MasterKey> {
  const { decodeMasterKey, open } = await import("../crypto/master-key.js");
  let plain: Uint8Array;
  try {
    plain = open(user, kf.data);
  } catch (err) {
    if (isResticTsError(err, "UNAUTHENTICATED")) {
      throw new ResticTsError(
        "WRONG_PASSWORD",
        "wrong password or damaged key file",
        {},
        {
          cause: err,
        },
      );
    }
    throw err;
  }
  return decodeMasterKey(plain);
}

// --- opening a repository's key files ------------------------------------------------------

/** A key file read from a repository and its user key derived. */
export interface DerivedKeyFile {
  readonly file: KeyFile;
  readonly userKey: MasterKey;
}

/** The key files of a repository in the order they are tried, the first one's scrypt running. */
export interface KeyFileOpening {
  /** Key file IDs, the hinted one first. */
  readonly ids: readonly string[];
  /**
   * The first ID's file read, parsed and its user key being derived; rejects as
   * `readAndDeriveKeyFile` does. Undefined when there are no key files.
   */
  readonly first: Promise<DerivedKeyFile> | undefined;
}

/** Read and parse key file `id`, then derive its user key for `password`. */
export async function readAndDeriveKeyFile(
  backend: Backend,
  id: string,
  password: string,
): Promise<DerivedKeyFile> {
  const file = parseKeyFile(await backend.load({ type: "key", name: id }));
  return { file, userKey: await deriveKeyFileKey(file, password) };
}

/**
 * List the key files of the repository in `backend` (the one `keyHint`, an ID or unique prefix,
 * names first) and start deriving the first one's user key. scrypt is most of the cost of
 * opening a repository (~0.5 s with restic's parameters) and runs off the main thread: starting
 * it early lets a program do other work meanwhile (Repository.open takes the result).
 */
export async function startKeyFileOpening(
  backend: Backend,
  password: string,
  keyHint?: string,
): Promise<KeyFileOpening> {
  const ids: string[] = [];
  for await (const fi of backend.list("key")) ids.push(fi.name);
  if (keyHint !== undefined) {
    const hinted = resolvePrefix(keyHint, ids);
    ids.splice(ids.indexOf(hinted), 1);
    ids.unshift(hinted);
  }
  const first = ids.length > 0 ? readAndDeriveKeyFile(backend, ids[0], password) : undefined;
  // Its error is reported when the opening is finished; never as an unhandled rejection.
  first?.catch(() => {});
  return { ids, first };
}
