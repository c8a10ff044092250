// The opened repository (restic design.rst "Repository format", "Keys, Encryption and MAC"):
// `init` writes a master key file and the config; `open` finds the key file the password opens,
// then loads the config. Unpacked files are loaded and saved through here, so every file is
// sealed with the master key and named by the SHA-256 of its stored bytes.

import os from "node:os";
import type { Backend, FileType } from "../backends/backend.js";
import { randomPolynomial } from "../chunker/polynomial.js";
import { sha256Hex, toHex } from "../crypto/hash.js";
import type { KdfParams } from "../crypto/kdf.js";
import { type MasterKey, newMasterKey, open as openSealed, seal } from "../crypto/master-key.js";
import { randomBytes } from "../crypto/random.js";
import { isResticTsError, ResticTsError } from "../errors.js";
import {
  type Config,
  checkRepositoryVersion,
  DEFAULT_REPO_VERSION,
  parseConfig,
  type RepositoryVersion,
  serializeConfig,
} from "./config.js";
import { resolvePrefix } from "./id.js";
import { IndexedRepository, loadMasterIndex } from "./indexed.js";
import {
  createKeyFile,
  type KeyFileOpening,
  openKeyFile,
  parseKeyFile,
  readAndDeriveKeyFile,
  serializeKeyFile,
  startKeyFileOpening,
  unsealKeyFile,
} from "./key-file.js";
import { decodeUnpacked, encodeUnpacked } from "./unpacked.js";

const CONFIG = { type: "config", name: "" } as const;

export interface InitOptions {
  /** Repository version, 2 (compressed) by default like restic 0.14. */
  readonly version?: number;
  /** Chunker polynomial; a random irreducible one of degree 53 by default. */
  readonly chunkerPolynomial?: bigint;
  /** scrypt parameters for the first key file. */
  readonly kdf?: KdfParams;
  readonly username?: string;
  readonly hostname?: string;
}

export interface OpenOptions {
  /** Try this key file (ID or unique prefix) first. */
  readonly keyHint?: string;
  /**
   * The key files' opening, started earlier by `startKeyFileOpening` on the same backend,
   * password and key hint (so its scrypt overlapped other work); `keyHint` is then not used.
   */
  readonly opening?: Promise<KeyFileOpening>;
}

export interface AddKeyOptions {
  readonly kdf?: KdfParams;
  readonly username?: string;
  readonly hostname?: string;
}

export interface KeyInfo {
  readonly id: string;
  /** True for the key file this repository was opened with. */
  readonly current: boolean;
  readonly username: string;
  readonly hostname: string;
  readonly created: string;
}

function requirePassword(password: string): void {
  if (password.length === 0) {
    throw new ResticTsError("EMPTY_PASSWORD", "an empty password is not allowed");
  }
}

function defaultUsername(): string {
  try {
    return os.userInfo().username;
  } catch {
    return "";
  }
}

export class Repository {
  private constructor(
    readonly backend: Backend,
    readonly config: Config,
    readonly masterKey: MasterKey,
    private currentKeyId: string,
  ) {}

  get version(): RepositoryVersion {
    return this.config.version;
  }

  /** The ID of the key file this repository was opened with. */
  get keyId(): string {
    return this.currentKeyId;
  }

  /** Create a new repository: a master key sealed by `password`, then the config. */
  static async init(
    backend: Backend,
    password: string,
    opts: InitOptions = {},
  ): Promise<Repository> {
    requirePassword(password);
    const version = checkRepositoryVersion(opts.version ?? DEFAULT_REPO_VERSION);
    if (await exists(backend, CONFIG)) {
      throw new ResticTsError(
        "ALREADY_EXISTS",
        `a repository already exists at ${backend.location}`,
      );
    }
    if (backend.isEmpty && !(await backend.isEmpty())) {
      throw new ResticTsError(
        "ALREADY_EXISTS",
        `refusing to create a repository at ${backend.location}: the location exists and is not empty`,
      );
    }
    const config: Config = {
      version,
      id: toHex(randomBytes(32)),
      chunkerPolynomial: opts.chunkerPolynomial ?? randomPolynomial(),
    };
    const masterKey = newMasterKey();
    await backend.create();
    const keyId = await saveKeyFile(backend, password, masterKey, opts);
    const repo = new Repository(backend, config, masterKey, keyId);
    await backend.save(CONFIG, seal(masterKey, serializeConfig(config)));
    return repo;
  }

  /**
   * Open an existing repository with the first key file `password` opens (the config is read
   * while the first key file's scrypt runs off the main thread).
   */
  static async open(
    backend: Backend,
    password: string,
    opts: OpenOptions = {},
  ): Promise<Repository> {
    opts.opening?.catch(() => {}); // its error is reported below, unless an earlier one is
    requirePassword(password);
    if (!(await exists(backend, CONFIG))) {
      throw new ResticTsError(
        "NO_REPOSITORY",
        `there is no repository at ${backend.location} (no config file)`,
      );
    }
    const { ids, first } = await (opts.opening ??
      startKeyFileOpening(backend, password, opts.keyHint));
    const configBytes = backend.load(CONFIG);
    configBytes.catch(() => {}); // reported below, once a key opened
    let damaged = 0;
    for (const [i, id] of ids.entries()) {
      let masterKey: MasterKey;
      try {
        const derived = await (i === 0 && first !== undefined
          ? first
          : readAndDeriveKeyFile(backend, id, password));
        masterKey = await unsealKeyFile(derived.file, derived.userKey);
      } catch (err) {
        if (isResticTsError(err, "WRONG_PASSWORD")) continue;
        if (isResticTsError(err) && ["CORRUPT", "UNSUPPORTED", "NOT_FOUND"].includes(err.code)) {
          damaged++;
          continue;
        }
        throw err;
      }
      const config = openConfig(await configBytes, masterKey, id);
      return new Repository(backend, config, masterKey, id);
    }
    const detail = damaged > 0 ? ` (${damaged} key file(s) could not be read)` : "";
    throw new ResticTsError(
      "WRONG_PASSWORD",
      `wrong password or no key found for the repository at ${backend.location}${detail}`,
      { keys: ids.length, damaged },
    );
  }

  /** Load, verify (name = SHA-256 of the stored bytes), unseal and decompress an unpacked file. */
  async loadUnpacked(
    type: Exclude<FileType, "config" | "key" | "data">,
    id: string,
  ): Promise<Uint8Array> {
    const stored = await this.backend.load({ type, name: id });
    if (sha256Hex(stored) !== id) {
      throw new ResticTsError(
        "CORRUPT",
        `${type} file ${id}: content does not match its name (SHA-256)`,
        {
          type,
          id,
        },
      );
    }
    let plaintext: Uint8Array;
    try {
      plaintext = openSealed(this.masterKey, stored);
    } catch (err) {
      if (isResticTsError(err, "UNAUTHENTICATED")) {
        throw new ResticTsError(
          "UNAUTHENTICATED",
          `${type} file ${id} failed authentication (damaged or forged)`,
          {
            type,
            id,
          },
        );
      }
      throw err;
    }
    return decodeUnpacked(plaintext, this.version);
  }

  /** Compress (v2), seal and store an unpacked file; returns its ID. */
  async saveUnpacked(
    type: Exclude<FileType, "config" | "key" | "data">,
    plaintext: Uint8Array,
  ): Promise<string> {
    const stored = seal(this.masterKey, await encodeUnpacked(plaintext, this.version));
    const id = sha256Hex(stored);
    await this.backend.save({ type, name: id }, stored);
    return id;
  }

  /** Load every index file: the repository can then load blobs. */
  async loadIndex(): Promise<IndexedRepository> {
    return new IndexedRepository(this, await loadMasterIndex(this));
  }

  /** All file IDs of a type. */
  async listIds(type: FileType): Promise<string[]> {
    const ids: string[] = [];
    for await (const fi of this.backend.list(type)) ids.push(fi.name);
    return ids;
  }

  /** Resolve a full ID or a unique prefix of a file of `type`. */
  async resolveId(type: FileType, prefix: string): Promise<string> {
    return resolvePrefix(prefix, await this.listIds(type));
  }

  async listKeys(): Promise<KeyInfo[]> {
    const keys: KeyInfo[] = [];
    for (const id of await this.listIds("key")) {
      const kf = parseKeyFile(await this.backend.load({ type: "key", name: id }));
      keys.push({
        id,
        current: id === this.currentKeyId,
        username: kf.username,
        hostname: kf.hostname,
        created: kf.created,
      });
    }
    return keys;
  }

  /** Add a key file that opens this repository's master key with `password`; returns its ID. */
  async addKey(password: string, opts: AddKeyOptions = {}): Promise<string> {
    requirePassword(password);
    const id = await saveKeyFile(this.backend, password, this.masterKey, opts);
    // Prove the new key opens the repository before reporting success, as restic does.
    const kf = parseKeyFile(await this.backend.load({ type: "key", name: id }));
    await openKeyFile(kf, password);
    return id;
  }

  /** Remove a key file (ID or unique prefix); the key in use is refused. */
  async removeKey(idOrPrefix: string): Promise<string> {
    const id = await this.resolveId("key", idOrPrefix);
    if (id === this.currentKeyId) {
      throw new ResticTsError(
        "KEY_IN_USE",
        "refusing to remove the key currently used to access the repository",
        {
          id,
        },
      );
    }
    await this.backend.remove({ type: "key", name: id });
    return id;
  }

  /** Replace the current key with one for `password`; returns the new key's ID. */
  async changePassword(password: string, opts: AddKeyOptions = {}): Promise<string> {
    const old = this.currentKeyId;
    const id = await this.addKey(password, opts);
    this.currentKeyId = id;
    await this.backend.remove({ type: "key", name: old });
    return id;
  }
}

async function exists(backend: Backend, h: { type: FileType; name: string }): Promise<boolean> {
  try {
    await backend.stat(h);
    return true;
  } catch (err) {
    if (isResticTsError(err, "NOT_FOUND")) return false;
    throw err;
  }
}

async function saveKeyFile(
  backend: Backend,
  password: string,
  masterKey: MasterKey,
  opts: AddKeyOptions,
): Promise<string> {
  const kf = await createKeyFile(password, masterKey, {
    params: opts.kdf,
    username: opts.username ?? defaultUsername(),
    hostname: opts.hostname ?? os.hostname(),
  });
  const bytes = serializeKeyFile(kf);
  const id = sha256Hex(bytes);
  await backend.save({ type: "key", name: id }, bytes);
  return id;
}

function openConfig(stored: Uint8Array, masterKey: MasterKey, keyId: string): Config {
  let plaintext: Uint8Array;
  try {
    plaintext = openSealed(masterKey, stored);
  } catch (err) {
    if (isResticTsError(err, "UNAUTHENTICATED")) {
      throw new ResticTsError(
        "CORRUPT",
        `the config or key ${keyId} is damaged: authentication failed`,
        {
          keyId,
        },
      );
    }
    throw err;
  }
  return parseConfig(plaintext);
}
