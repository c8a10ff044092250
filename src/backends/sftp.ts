// A Backend over SFTP (restic's internal/backend/sftp), speaking SSH itself through the ssh2
// package instead of running the `ssh` program: restic's default layout (layout.ts) below a
// directory on the server, which restic reads and writes unchanged.
//
// - Authentication: an ssh-agent (`agent`, by default $SSH_AUTH_SOCK), private keys (`privateKey`
//   contents or `identityFile` paths; by default ~/.ssh/id_ed25519, id_ecdsa and id_rsa where
//   present), then a `password` — tried in that order, like ssh. A failure is a permanent IO
//   error naming user, host and the methods tried, never a secret.
// - Host keys are checked against a known_hosts file (default ~/.ssh/known_hosts; hashed
//   entries, `[host]:port`, wildcards, `@revoked`); an unknown host or a changed key refuses
//   the connection unless `insecureIgnoreHostKey` is set.
// - One SSH connection with one SFTP channel carries up to `connections` operations at once
//   (restic's default 5), each pipelining its own reads or writes. A dropped connection fails
//   the operations in flight with a transient IO error (RetryBackend retries them) and the
//   next operation reconnects; so does a server that answers nothing for `stallTimeoutMs`
//   (TIMEOUT). An idle connection does not keep the process alive.
// - `save` writes `<name>-restic-temp-<32 hex>` next to the target (created exclusively, mode
//   0600) and renames it into place with posix-rename@openssh.com, as restic does — so a
//   reader sees the whole file or none of it. Unlike restic it first fsyncs the temp file when
//   the server offers fsync@openssh.com (so "none or all" holds after a server crash too;
//   `fsync: false` skips it). Without posix-rename the target is removed first (not atomic;
//   such servers are rare).
// - `create` makes the repository directory and the layout's directories (0700, or
//   group-shared modes when the existing config is group-readable, as restic derives them).

import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Socket } from "node:net";
import os from "node:os";
import { posix } from "node:path";
import type {
  AgentAuthMethod,
  ConnectConfig,
  PasswordAuthMethod,
  PublicKeyAuthMethod,
  SFTPWrapper,
  Stats,
} from "ssh2";
import ssh2 from "ssh2";
import { isResticTsError, ResticTsError } from "../errors.js";
import type { Backend, ByteRange, FileInfo, FileType, Handle } from "./backend.js";
import {
  findKnownHostKeys,
  hostKeyAlgorithms,
  type KnownHostKey,
  verifyHostKey,
} from "./known-hosts.js";
import {
  CONFIG_PATH,
  checkRange,
  checkType,
  deriveModes,
  describeHandle,
  handlePath,
  isDataSubdir,
  isValidName,
  type Modes,
  REPO_DIRS,
  resolveRange,
  TYPE_DIRS,
} from "./layout.js";
import { mapLimit, Semaphore } from "./limit.js";

const { Client, utils } = ssh2;
type SshClient = InstanceType<typeof Client>;

export interface SftpOptions {
  readonly host: string;
  /** Default 22. */
  readonly port?: number;
  /** Default: the local user name, like ssh. */
  readonly user?: string;
  /** The repository directory: absolute, or relative to the login directory. */
  readonly path: string;
  /** A private key (OpenSSH or PEM text). Takes the place of the default identity files. */
  readonly privateKey?: string | Uint8Array;
  /** Private key files to try. Takes the place of the default identity files. */
  readonly identityFile?: string | readonly string[];
  /** Passphrase for encrypted private keys. */
  readonly passphrase?: string;
  /** Password authentication, tried after agent and keys. */
  readonly password?: string;
  /** An ssh-agent socket; `true` or undefined: $SSH_AUTH_SOCK when set; `false`: no agent. */
  readonly agent?: string | boolean;
  /** Default ~/.ssh/known_hosts. */
  readonly knownHostsFile?: string;
  /** Accept any host key (no protection against a man in the middle). */
  readonly insecureIgnoreHostKey?: boolean;
  /** Operations in flight at once (restic's `-o sftp.connections`, default 5). */
  readonly connections?: number;
  /** fsync each saved file before renaming it when the server can (default true). */
  readonly fsync?: boolean;
  /** How long to wait for the SSH handshake and authentication (default 20 s). */
  readonly connectTimeoutMs?: number;
  /**
   * Drop the connection (a transient error; the next operation reconnects) when requests are
   * outstanding and the server has answered none for this long (default 120 s).
   */
  readonly stallTimeoutMs?: number;
}

export const DEFAULT_SFTP_CONNECTIONS = 5;

/** The identity files ssh tries by default, in its order. */
export function defaultIdentityFiles(home = os.homedir()): string[] {
  return ["id_ed25519", "id_ecdsa", "id_rsa"].map((f) => posix.join(home, ".ssh", f));
}

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that matter here. */
const FX_EOF = 1;
const FX_NO_SUCH_FILE = 2;
const FX_PERMISSION_DENIED = 3;
const FX_FAILURE = 4;
const FX_OP_UNSUPPORTED = 8;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/** Bytes one operation keeps in flight in pipelined reads and writes. */
const PIPELINE_BYTES = 8 * 1024 * 1024;
/** SFTP requests `create` and `list` keep in flight (one operation's worth of directories). */
const DIR_PIPELINE = 32;

type SocketControl = Pick<Socket, "ref" | "unref" | "setKeepAlive">;
type AuthMethod = AgentAuthMethod | PublicKeyAuthMethod | PasswordAuthMethod;
type Cb<T> = (err: Error | null | undefined, value?: T) => void;

/**
 * One SSH connection and its SFTP channel. While no operation runs, its socket is unref'd so
 * an idle connection does not keep the process alive; a watchdog drops the connection when
 * requests are outstanding and nothing has been answered for `stallMs`.
 */
class Session {
  dead = false;
  deadError: ResticTsError | undefined;
  readonly #pending = new Set<(err: ResticTsError) => void>();
  #active = 0;
  #lastAnswer = Date.now();
  readonly #watchdog: NodeJS.Timeout;
  readonly posixRename: boolean;
  readonly fsync: boolean;
  readonly maxRead: number;
  readonly maxWrite: number;

  constructor(
    readonly client: SshClient,
    readonly sftp: SFTPWrapper,
    stallMs: number,
  ) {
    this.#socket()?.setKeepAlive(true, 15_000);
    this.#watchdog = setInterval(
      () => {
        if (this.#pending.size > 0 && Date.now() - this.#lastAnswer > stallMs) {
          this.kill(
            new ResticTsError("TIMEOUT", `sftp: the server answered nothing for ${stallMs} ms`, {
              stallMs,
            }),
          );
          client.destroy();
        }
      },
      Math.min(5000, Math.max(100, stallMs / 4)),
    );
    this.#watchdog.unref();
    const internals = sftp as unknown as {
      _extensions?: Record<string, string>;
      _maxReadLen?: number;
      _maxWriteLen?: number;
    };
    const ext = internals._extensions ?? {};
    this.posixRename = ext["posix-rename@openssh.com"] !== undefined;
    this.fsync = ext["fsync@openssh.com"] !== undefined;
    this.maxRead = internals._maxReadLen ?? 32 * 1024;
    this.maxWrite = internals._maxWriteLen ?? 32 * 1024;
  }

  /** ssh2's socket (not part of its public API; absent if that ever changes). */
  #socket(): SocketControl | undefined {
    const sock = (this.client as unknown as { _sock?: Partial<SocketControl> })._sock;
    return typeof sock?.ref === "function" &&
      typeof sock.unref === "function" &&
      typeof sock.setKeepAlive === "function"
      ? (sock as SocketControl)
      : undefined;
  }

  /** An operation starts using the connection: it must keep the process alive. */
  enter(): void {
    if (this.#active++ === 0) {
      this.#lastAnswer = Date.now();
      this.#socket()?.ref();
    }
  }

  /** An operation is done; once none is left, the idle connection stops holding the process. */
  leave(): void {
    if (--this.#active === 0) this.#socket()?.unref();
  }

  /** Mark dead and fail every request still waiting for an answer. */
  kill(err: ResticTsError): void {
    if (this.dead) return;
    this.dead = true;
    this.deadError = err;
    clearInterval(this.#watchdog);
    for (const reject of this.#pending) reject(err);
    this.#pending.clear();
  }

  /** Run one SFTP request; rejects at once when the connection is (or goes) down. */
  call<T>(fn: (cb: Cb<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.dead) {
        reject(this.deadError);
        return;
      }
      let settled = false;
      const onDead = (err: ResticTsError) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      this.#pending.add(onDead);
      try {
        fn((err, value) => {
          this.#lastAnswer = Date.now();
          if (settled) return;
          settled = true;
          this.#pending.delete(onDead);
          if (err) reject(err);
          else resolve(value as T);
        });
      } catch (err) {
        // ssh2 throws synchronously when the channel is gone.
        settled = true;
        this.#pending.delete(onDead);
        reject(err);
      }
    });
  }
}

export class SftpBackend implements Backend {
  readonly location: string;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The repository directory on the server, cleaned. */
  readonly root: string;
  readonly connections: number;
  readonly #opts: SftpOptions;
  readonly #sem: Semaphore;
  #session: Promise<Session> | undefined;
  #modes: Promise<Modes> | undefined;
  #closed = false;
  /** How many SSH connections have been established (for tests and diagnostics). */
  connectCount = 0;

  constructor(opts: SftpOptions) {
    if (typeof opts.host !== "string" || opts.host === "") {
      throw new ResticTsError("INVALID_ARGUMENT", "sftp backend: empty host name");
    }
    if (typeof opts.path !== "string" || opts.path === "") {
      throw new ResticTsError("INVALID_ARGUMENT", "sftp backend: empty repository path");
    }
    const port = opts.port ?? 22;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ResticTsError("INVALID_ARGUMENT", `sftp backend: invalid port ${port}`, { port });
    }
    this.#opts = opts;
    this.host = opts.host;
    this.port = port;
    this.user = opts.user ?? os.userInfo().username;
    this.root = posix.normalize(opts.path).replace(/(.)\/+$/, "$1");
    if (this.root.startsWith("~")) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `sftp path ${JSON.stringify(this.root)} starts with "~", which most servers do not expand: use a path relative to the home directory`,
      );
    }
    this.connections = opts.connections ?? DEFAULT_SFTP_CONNECTIONS;
    this.#sem = new Semaphore(this.connections);
    const hostPart = this.host.includes(":") ? `[${this.host}]` : this.host;
    this.location =
      port === 22
        ? `sftp:${this.user}@${hostPart}:${this.root}`
        : `sftp://${this.user}@${hostPart}:${port}/${this.root.startsWith("/") ? "/" : ""}${this.root.replace(/^\//, "")}`;
  }

  #path(rel: string): string {
    return posix.join(this.root, rel);
  }

  #who(): string {
    const hostPart = this.host.includes(":") ? `[${this.host}]` : this.host;
    return `${this.user}@${hostPart}:${this.port}`;
  }

  // --- connection ---------------------------------------------------------------------------

  #getSession(): Promise<Session> {
    if (this.#closed) {
      return Promise.reject(
        new ResticTsError("IO", `${this.location}: backend is closed`, { permanent: true }),
      );
    }
    const current = this.#session;
    if (current !== undefined) {
      return current.then((s) => {
        if (!s.dead) return s;
        if (this.#session === current) this.#session = undefined;
        return this.#getSession();
      });
    }
    const next = this.#connect();
    this.#session = next;
    next.catch(() => {
      if (this.#session === next) this.#session = undefined;
    });
    return next;
  }

  async #authMethods(): Promise<{ methods: AuthMethod[]; tried: string[] }> {
    const o = this.#opts;
    const username = this.user;
    const methods: AuthMethod[] = [];
    const tried: string[] = [];
    const agent =
      o.agent === false
        ? undefined
        : typeof o.agent === "string"
          ? o.agent
          : process.env.SSH_AUTH_SOCK;
    if (agent !== undefined && agent !== "") {
      methods.push({ type: "agent", username, agent });
      tried.push("agent");
    }
    const keys: { label: string; text: Buffer }[] = [];
    if (o.privateKey !== undefined) {
      keys.push({ label: "the given private key", text: Buffer.from(o.privateKey) });
    }
    const explicitFiles =
      o.identityFile === undefined
        ? []
        : typeof o.identityFile === "string"
          ? [o.identityFile]
          : [...o.identityFile];
    for (const file of explicitFiles) {
      let text: Buffer;
      try {
        text = await readFile(file);
      } catch (err) {
        throw new ResticTsError(
          "INVALID_ARGUMENT",
          `cannot read identity file ${file}: ${(err as Error).message}`,
          { file },
          { cause: err },
        );
      }
      keys.push({ label: `key ${file}`, text });
    }
    const useDefaults = o.privateKey === undefined && o.identityFile === undefined;
    if (useDefaults) {
      for (const file of defaultIdentityFiles()) {
        const text = await readFile(file).catch(() => undefined);
        if (text !== undefined) keys.push({ label: `key ${file}`, text });
      }
    }
    for (const k of keys) {
      const parsed = utils.parseKey(k.text, o.passphrase);
      const key = Array.isArray(parsed) ? parsed[0] : parsed;
      if (key instanceof Error || key === undefined || !key.isPrivateKey()) {
        // A default key we cannot use (say, encrypted without a passphrase) is skipped like
        // ssh skips it; one named explicitly is an error.
        if (useDefaults) continue;
        const encrypted = /encrypted|passphrase/i.test(key instanceof Error ? key.message : "");
        throw new ResticTsError(
          "INVALID_ARGUMENT",
          encrypted
            ? `${k.label} is encrypted: give its passphrase`
            : `${k.label} is not a usable private key${key instanceof Error ? `: ${key.message}` : ""}`,
        );
      }
      methods.push({ type: "publickey", username, key });
      tried.push(k.label);
    }
    if (o.password !== undefined) {
      methods.push({ type: "password", username, password: o.password });
      tried.push("password");
    }
    return { methods, tried };
  }

  async #knownHosts(): Promise<{ keys: KnownHostKey[]; file: string } | undefined> {
    if (this.#opts.insecureIgnoreHostKey === true) return undefined;
    const file = this.#opts.knownHostsFile ?? posix.join(os.homedir(), ".ssh", "known_hosts");
    let text = "";
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException)?.code !== "ENOENT") {
        throw new ResticTsError(
          "IO",
          `cannot read known_hosts file ${file}: ${(err as Error).message}`,
          { file, permanent: true },
          { cause: err },
        );
      }
    }
    return { keys: findKnownHostKeys(text, this.host, this.port), file };
  }

  async #connect(): Promise<Session> {
    const { methods, tried } = await this.#authMethods();
    if (tried.length === 0) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `sftp ${this.#who()}: no way to authenticate: no ssh-agent ($SSH_AUTH_SOCK), no identity file (~/.ssh/id_*) and no password`,
        { host: this.host, user: this.user },
      );
    }
    const known = await this.#knownHosts();
    let hostKeyProblem: ReturnType<typeof verifyHostKey> | undefined;
    const config: ConnectConfig = {
      host: this.host,
      port: this.port,
      username: this.user,
      authHandler: methods,
      readyTimeout: this.#opts.connectTimeoutMs ?? 20_000,
      // ssh2's keepalive timer would keep the process alive while the connection is idle;
      // a stall watchdog (Session) and TCP keepalive take its place.
      keepaliveInterval: 0,
    };
    if (known !== undefined) {
      config.hostVerifier = (key: Buffer) => {
        const verdict = verifyHostKey(known.keys, key);
        if (!verdict.ok) hostKeyProblem = verdict;
        return verdict.ok;
      };
      const algs = hostKeyAlgorithms(known.keys);
      if (algs.length > 0) config.algorithms = { serverHostKey: algs as never };
    }
    const client = new Client();
    const who = this.#who();
    const session = await new Promise<Session>((resolve, reject) => {
      let ready = false;
      const fail = (err: ResticTsError) => {
        if (ready) return;
        ready = true;
        client.end();
        reject(err);
      };
      client.on("error", (err: Error & { level?: string; code?: string }) => {
        if (ready) return;
        if (hostKeyProblem !== undefined && !hostKeyProblem.ok && known !== undefined) {
          const why =
            hostKeyProblem.reason === "unknown"
              ? `the host is not in ${known.file}`
              : hostKeyProblem.reason === "revoked"
                ? `its host key is marked @revoked in ${known.file}`
                : `ITS HOST KEY DOES NOT MATCH the one in ${known.file} (a man in the middle, or a reinstalled server)`;
          fail(
            new ResticTsError(
              "ACCESS_DENIED",
              `sftp ${who}: host key verification failed: ${why}`,
              {
                host: this.host,
                port: this.port,
                reason: `host-key-${hostKeyProblem.reason}`,
                permanent: true,
              },
              { cause: err },
            ),
          );
          return;
        }
        if (err.level === "client-authentication") {
          fail(
            new ResticTsError(
              "ACCESS_DENIED",
              `sftp ${who}: authentication failed (tried ${tried.join(", ")})`,
              {
                host: this.host,
                port: this.port,
                user: this.user,
                reason: "auth",
                permanent: true,
              },
              { cause: err },
            ),
          );
          return;
        }
        if (err.level === "client-timeout") {
          fail(
            new ResticTsError(
              "TIMEOUT",
              `sftp ${who}: timed out connecting`,
              { host: this.host, port: this.port },
              { cause: err },
            ),
          );
          return;
        }
        if (err.level === "handshake" || err.level === "protocol") {
          // No algorithms in common, or a broken peer: retrying will not help.
          fail(
            new ResticTsError(
              "IO",
              `sftp ${who}: SSH handshake failed: ${err.message}`,
              { host: this.host, port: this.port, reason: "handshake", permanent: true },
              { cause: err },
            ),
          );
          return;
        }
        fail(connectionError(err, `sftp ${who}: connect`, this.host, this.port));
      });
      client.on("close", () => {
        fail(
          new ResticTsError("IO", `sftp ${who}: connection closed during setup`, {
            host: this.host,
          }),
        );
      });
      client.on("ready", () => {
        client.sftp((err, sftp) => {
          if (err) {
            fail(
              new ResticTsError(
                "IO",
                `sftp ${who}: the server refused the sftp subsystem: ${err.message}`,
                { host: this.host, permanent: true },
                { cause: err },
              ),
            );
            return;
          }
          if (ready) return;
          ready = true;
          // SFTP is request/response: do not let Nagle hold back small requests.
          client.setNoDelay(true);
          resolve(new Session(client, sftp, this.#opts.stallTimeoutMs ?? 120_000));
        });
      });
      client.connect(config);
    });
    this.connectCount += 1;
    const drop = (why: string) => () =>
      session.kill(
        new ResticTsError("IO", `sftp ${who}: connection lost (${why})`, {
          host: this.host,
          reason: "connection",
        }),
      );
    client.on("close", drop("closed"));
    client.on("end", drop("ended"));
    client.on("error", (err: Error) => drop(err.message)());
    session.sftp.on("close", drop("sftp channel closed"));
    session.sftp.on("error", () => {});
    return session;
  }

  /** Run `fn` with a session, holding one of the `connections` tokens; map errors. */
  async #op<T>(what: string, fn: (s: Session) => Promise<T>): Promise<T> {
    return this.#sem.run(async () => {
      let s: Session;
      try {
        s = await this.#getSession();
      } catch (err) {
        throw toError(err, what);
      }
      s.enter();
      try {
        return await fn(s);
      } catch (err) {
        throw toError(err, what);
      } finally {
        s.leave();
      }
    });
  }

  #getModes(): Promise<Modes> {
    this.#modes ??= this.#op("stat config", (s) => stat(s, this.#path(CONFIG_PATH))).then(
      (st) => deriveModes(st.mode),
      (err) => {
        if (isResticTsError(err, "NOT_FOUND")) return deriveModes(undefined);
        this.#modes = undefined; // a connection problem: ask again next time
        throw err;
      },
    );
    return this.#modes;
  }

  // --- Backend ------------------------------------------------------------------------------

  async create(): Promise<void> {
    const modes = await this.#getModes();
    await this.#op(`create repository at ${this.location}`, async (s) => {
      await mkdirAll(s, this.root, modes.dir);
      const top = REPO_DIRS.filter((d) => !d.includes("/"));
      const subs = REPO_DIRS.filter((d) => d.includes("/"));
      await mapLimit(top, DIR_PIPELINE, (d) => mkdirIfMissing(s, this.#path(d), modes.dir));
      await mapLimit(subs, DIR_PIPELINE, (d) => mkdirIfMissing(s, this.#path(d), modes.dir));
    });
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    const final = this.#path(handlePath(h));
    const modes = await this.#getModes();
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await this.#op(`save ${describeHandle(h)}`, async (s) => {
      const tmp = `${final}-restic-temp-${randomBytes(16).toString("hex")}`;
      let handle: Buffer;
      try {
        handle = await open(s, tmp, "wx", modes.file);
      } catch (err) {
        if (statusCode(err) !== FX_NO_SUCH_FILE) throw err;
        // The directory is missing (e.g. data/ab of a repository made elsewhere).
        await mkdirAll(s, posix.dirname(final), modes.dir);
        handle = await open(s, tmp, "wx", modes.file);
      }
      let open_ = true;
      try {
        await writeAll(s, handle, buf);
        if (s.fsync && this.#opts.fsync !== false) {
          await s.call<void>((cb) => s.sftp.ext_openssh_fsync(handle, (err) => cb(err)));
        }
        open_ = false;
        await s.call<void>((cb) => s.sftp.close(handle, cb));
        if (s.posixRename) {
          await s.call<void>((cb) => s.sftp.ext_openssh_rename(tmp, final, cb));
        } else {
          await s
            .call<void>((cb) => s.sftp.unlink(final, cb))
            .catch((err) => {
              if (statusCode(err) !== FX_NO_SUCH_FILE) throw err;
            });
          await s.call<void>((cb) => s.sftp.rename(tmp, final, cb));
        }
      } catch (err) {
        if (!s.dead) {
          if (open_) await s.call<void>((cb) => s.sftp.close(handle, cb)).catch(() => {});
          await s.call<void>((cb) => s.sftp.unlink(tmp, cb)).catch(() => {});
        }
        throw err;
      }
    });
  }

  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    const file = this.#path(handlePath(h));
    checkRange(range);
    return this.#op(`load ${describeHandle(h)}`, async (s) => {
      const handle = await open(s, file, "r");
      try {
        const st = await s.call<Stats>((cb) => s.sftp.fstat(handle, cb));
        if ((st.mode & S_IFMT) !== S_IFREG) throw notRegular(h);
        const { start, end } = resolveRange(h, st.size, range);
        const out = Buffer.allocUnsafe(end - start);
        const got = await readAll(s, handle, out, start);
        if (got < out.length) {
          throw new ResticTsError("CORRUPT", `${describeHandle(h)}: short read`, {
            type: h.type,
            name: h.name,
            offset: start,
            want: out.length,
            got,
          });
        }
        return new Uint8Array(out.buffer, out.byteOffset, out.length);
      } finally {
        if (!s.dead) await s.call<void>((cb) => s.sftp.close(handle, cb)).catch(() => {});
      }
    });
  }

  async stat(h: Handle): Promise<FileInfo> {
    const file = this.#path(handlePath(h));
    return this.#op(`stat ${describeHandle(h)}`, async (s) => {
      const st = await stat(s, file);
      if ((st.mode & S_IFMT) !== S_IFREG) throw notRegular(h);
      return { name: h.type === "config" ? "" : h.name, size: st.size };
    });
  }

  async *list(type: FileType): AsyncGenerator<FileInfo> {
    checkType(type);
    if (type === "config") {
      const size = await this.#op("list config", async (s) => {
        try {
          const st = await stat(s, this.#path(CONFIG_PATH));
          return (st.mode & S_IFMT) === S_IFREG ? st.size : undefined;
        } catch (err) {
          if (statusCode(err) === FX_NO_SUCH_FILE) return undefined;
          throw err;
        }
      });
      if (size !== undefined) yield { name: "", size };
      return;
    }
    const base = this.#path(TYPE_DIRS[type]);
    if (type !== "data") {
      yield* await this.#op(`list ${TYPE_DIRS[type]}`, (s) => listFiles(s, base, () => true));
      return;
    }
    const subdirs = await this.#op("list data", async (s) =>
      (await readDir(s, base)).filter((e) => isDataSubdir(e.filename)).map((e) => e.filename),
    );
    // Several subdirectories in flight, yielded in order.
    const window = Math.max(1, this.connections);
    const pending: Promise<FileInfo[]>[] = [];
    let next = 0;
    const start = () => {
      const sub = subdirs[next++];
      pending.push(
        this.#op(`list data/${sub}`, (s) =>
          listFiles(s, posix.join(base, sub), (name) => name.startsWith(sub)),
        ),
      );
    };
    while (next < subdirs.length && pending.length < window) start();
    try {
      while (pending.length > 0) {
        const files = await pending.shift()!;
        if (next < subdirs.length) start();
        yield* files;
      }
    } finally {
      // Leave no rejection unhandled when the caller stops early or one listing failed.
      for (const p of pending) p.catch(() => {});
    }
  }

  async remove(h: Handle): Promise<void> {
    const file = this.#path(handlePath(h));
    await this.#op(`remove ${describeHandle(h)}`, async (s) => {
      try {
        await s.call<void>((cb) => s.sftp.unlink(file, cb));
      } catch (err) {
        // OpenSSH reports unlink of a directory as a plain failure.
        if (statusCode(err) === FX_FAILURE) {
          const st = await stat(s, file).catch(() => undefined);
          if (st !== undefined && (st.mode & S_IFMT) === S_IFDIR) throw notRegular(h);
        }
        throw err;
      }
    });
  }

  async isEmpty(): Promise<boolean> {
    return this.#op(`read ${this.location}`, async (s) => {
      try {
        const st = await stat(s, this.root);
        if ((st.mode & S_IFMT) !== S_IFDIR) return false;
        return (await readDir(s, this.root)).length === 0;
      } catch (err) {
        if (statusCode(err) === FX_NO_SUCH_FILE) return true;
        throw err;
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const current = this.#session;
    this.#session = undefined;
    if (current === undefined) return;
    let s: Session;
    try {
      s = await current;
    } catch {
      return;
    }
    if (s.dead) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        s.client.destroy();
        resolve();
      }, 2000);
      s.client.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      s.client.end();
    });
    s.kill(new ResticTsError("IO", `${this.location}: backend is closed`, { permanent: true }));
  }

  /**
   * What the server offers, as negotiated on the current connection (connecting if needed):
   * atomic rename (posix-rename@openssh.com), fsync@openssh.com, and the largest read and
   * write per request.
   */
  async features(): Promise<{
    posixRename: boolean;
    fsync: boolean;
    maxRead: number;
    maxWrite: number;
  }> {
    return this.#op("connect", async (s) => ({
      posixRename: s.posixRename,
      fsync: s.fsync,
      maxRead: s.maxRead,
      maxWrite: s.maxWrite,
    }));
  }

  /** Drop the current connection as if the network failed (for tests of reconnection). */
  async dropConnectionForTesting(): Promise<void> {
    const s = await this.#session?.catch(() => undefined);
    if (s === undefined || s.dead) return;
    const closed = new Promise<void>((resolve) => s.client.once("close", () => resolve()));
    s.client.destroy();
    await closed;
  }
}

// --- SFTP helpers ----------------------------------------------------------------------------

function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "number" ? code : undefined;
}

function open(s: Session, file: string, flags: "r" | "wx", mode?: number): Promise<Buffer> {
  return s.call<Buffer>((cb) =>
    mode === undefined ? s.sftp.open(file, flags, cb) : s.sftp.open(file, flags, { mode }, cb),
  );
}

function stat(s: Session, file: string): Promise<Stats> {
  return s.call<Stats>((cb) => s.sftp.stat(file, cb));
}

interface DirEntry {
  readonly filename: string;
  readonly attrs: { readonly mode: number; readonly size: number };
}

function readDir(s: Session, dir: string): Promise<DirEntry[]> {
  return s
    .call<DirEntry[]>((cb) => s.sftp.readdir(dir, cb as Cb<unknown>))
    .then((entries) => entries.filter((e) => e.filename !== "." && e.filename !== ".."))
    .catch((err) => {
      if (statusCode(err) === FX_NO_SUCH_FILE) return [];
      throw err;
    });
}

/** Valid-named regular files in `dir` accepted by `keep` (symlinks followed), with sizes. */
async function listFiles(
  s: Session,
  dir: string,
  keep: (name: string) => boolean,
): Promise<FileInfo[]> {
  const entries = (await readDir(s, dir)).filter(
    (e) => isValidName(e.filename) && keep(e.filename),
  );
  const out: FileInfo[] = [];
  const links: string[] = [];
  for (const e of entries) {
    const type = e.attrs.mode & S_IFMT;
    if (type === S_IFREG) out.push({ name: e.filename, size: e.attrs.size });
    else if (type === S_IFLNK) links.push(e.filename);
  }
  const targets = await mapLimit(links, DIR_PIPELINE, (name) =>
    stat(s, posix.join(dir, name)).catch(() => undefined),
  );
  links.forEach((name, i) => {
    const st = targets[i];
    if (st !== undefined && (st.mode & S_IFMT) === S_IFREG) out.push({ name, size: st.size });
  });
  return out;
}

async function mkdirIfMissing(s: Session, dir: string, mode: number): Promise<void> {
  try {
    await s.call<void>((cb) => s.sftp.mkdir(dir, { mode }, cb));
  } catch (err) {
    // OpenSSH answers "already exists" with a plain failure: look at what is there.
    const st = await stat(s, dir).catch(() => undefined);
    if (st === undefined || (st.mode & S_IFMT) !== S_IFDIR) throw err;
  }
}

async function mkdirAll(s: Session, dir: string, mode: number): Promise<void> {
  try {
    await mkdirIfMissing(s, dir, mode);
  } catch (err) {
    const parent = posix.dirname(dir);
    if (statusCode(err) !== FX_NO_SUCH_FILE || parent === dir) throw err;
    await mkdirAll(s, parent, mode);
    await mkdirIfMissing(s, dir, mode);
  }
}

/** Write `buf` at offset 0 with many WRITE requests in flight. */
async function writeAll(s: Session, handle: Buffer, buf: Buffer): Promise<void> {
  const chunk = s.maxWrite;
  const depth = Math.max(1, Math.floor(PIPELINE_BYTES / chunk));
  const offsets: number[] = [];
  for (let off = 0; off < buf.length; off += chunk) offsets.push(off);
  await mapLimit(offsets, depth, (off) => {
    const len = Math.min(chunk, buf.length - off);
    return s.call<void>((cb) => s.sftp.write(handle, buf, off, len, off, (err) => cb(err)));
  });
}

/**
 * Read `out.length` bytes from `position` with many READ requests in flight; a short answer
 * is continued. Returns the bytes read: fewer only when the file ended early.
 */
async function readAll(s: Session, handle: Buffer, out: Buffer, position: number): Promise<number> {
  const chunk = s.maxRead;
  const depth = Math.max(1, Math.floor(PIPELINE_BYTES / chunk));
  const offsets: number[] = [];
  for (let off = 0; off < out.length; off += chunk) offsets.push(off);
  let eofAt = out.length;
  await mapLimit(offsets, depth, async (off) => {
    let done = off;
    const end = Math.min(off + chunk, out.length);
    while (done < end && done < eofAt) {
      const n = await s.call<number>((cb) =>
        s.sftp.read(handle, out, done, end - done, position + done, (err, bytesRead) => {
          if (err && statusCode(err) === FX_EOF) cb(undefined, 0);
          else cb(err, bytesRead);
        }),
      );
      if (n === 0) {
        eofAt = Math.min(eofAt, done);
        break;
      }
      done += n;
    }
  });
  return eofAt;
}

function notRegular(h: Handle): ResticTsError {
  return new ResticTsError("CORRUPT", `${describeHandle(h)}: not a regular file`, {
    type: h.type,
    name: h.name,
  });
}

const TRANSIENT_SOCKET_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
]);

function connectionError(
  err: Error & { code?: unknown },
  what: string,
  host: string,
  port: number,
): ResticTsError {
  const code = typeof err.code === "string" ? err.code : undefined;
  const permanent = code !== undefined && !TRANSIENT_SOCKET_CODES.has(code);
  return new ResticTsError(
    "IO",
    `${what}: ${err.message}`,
    { host, port, errno: code, permanent },
    { cause: err },
  );
}

/** Map an SFTP or connection error to a coded one. */
function toError(err: unknown, what: string): ResticTsError {
  if (isResticTsError(err)) return err;
  const e = err as Error & { code?: unknown };
  const status = statusCode(err);
  const message = e?.message ?? String(err);
  switch (status) {
    case FX_NO_SUCH_FILE:
      return new ResticTsError("NOT_FOUND", `${what}: not found`, {}, { cause: err });
    case FX_PERMISSION_DENIED:
      return new ResticTsError(
        "ACCESS_DENIED",
        `${what}: permission denied`,
        { permanent: true, reason: "permission" },
        { cause: err },
      );
    case FX_OP_UNSUPPORTED:
      return new ResticTsError(
        "UNSUPPORTED",
        `${what}: the server does not support this: ${message}`,
        {},
        { cause: err },
      );
    case undefined:
      break;
    default:
      return new ResticTsError("IO", `${what}: ${message}`, { sftpStatus: status }, { cause: err });
  }
  const code = typeof e?.code === "string" ? e.code : undefined;
  return new ResticTsError(
    "IO",
    `${what}: ${message}`,
    { errno: code, reason: "connection" },
    { cause: err },
  );
}
