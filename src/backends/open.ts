// Turn a parsed repository location (url.ts) into a Backend: local directories as they are,
// sftp and rest wrapped in a RetryBackend (retry.ts), as restic wraps its backends.
//
// Where SSH credentials come from (restic runs `ssh`, which reads ~/.ssh/config; we speak SSH
// ourselves and read no ssh_config):
// - the user and port from the URL (default: the local user name, port 22);
// - keys: `sftp.identityFile` / `-o sftp.identity=FILE`, else $RESTIC_TS_SSH_KEY (one file,
//   or several separated by ":"), else ssh's defaults ~/.ssh/id_ed25519, id_ecdsa, id_rsa;
//   a passphrase from `sftp.passphrase` or $RESTIC_TS_SSH_KEY_PASSPHRASE;
// - an ssh-agent at $SSH_AUTH_SOCK (tried first, like ssh);
// - a password only from `sftp.password` or $RESTIC_TS_SSH_PASSWORD — never from the URL,
//   where `?password=` is the repository password (url.ts refuses `sftp://user:pw@host`);
// - host keys checked against ~/.ssh/known_hosts, or `sftp.knownHostsFile` /
//   `-o sftp.known-hosts=FILE` / $RESTIC_TS_SSH_KNOWN_HOSTS; the check is only turned off
//   by `sftp.insecureIgnoreHostKey` / `-o sftp.insecure-ignore-host-key=true`, never by the
//   environment.
// REST credentials are the URL's userinfo (`rest:https://user:pass@host/`), as in restic.
// The sftp and rest modules (ssh2; node:http/https) load only when such a repository is opened.

import os from "node:os";
import { posix } from "node:path";
import { ResticTsError } from "../errors.js";
import type { Backend } from "./backend.js";
import { LocalBackend } from "./local.js";
import type { RestOptions } from "./rest.js";
import { type RetryOptions, withRetry } from "./retry.js";
import type { SftpOptions } from "./sftp.js";
import type { RepoLocation } from "./url.js";

/** SFTP settings that do not come from the URL. */
export type SftpSettings = Partial<
  Pick<
    SftpOptions,
    | "privateKey"
    | "identityFile"
    | "passphrase"
    | "password"
    | "agent"
    | "knownHostsFile"
    | "insecureIgnoreHostKey"
    | "connections"
    | "fsync"
    | "connectTimeoutMs"
  >
>;

/** REST settings that do not come from the URL. */
export type RestSettings = Partial<Pick<RestOptions, "connections" | "timeoutMs" | "tls">>;

export interface OpenBackendOptions {
  readonly sftp?: SftpSettings;
  readonly rest?: RestSettings;
  /** Retry settings for remote backends, or `false` for none (default: restic's). */
  readonly retry?: RetryOptions | false;
  /** The environment to read RESTIC_TS_SSH_* and SSH_AUTH_SOCK from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export async function openBackend(
  location: RepoLocation,
  opts: OpenBackendOptions = {},
): Promise<Backend> {
  const env = opts.env ?? process.env;
  const wrap = (b: Backend) => (opts.retry === false ? b : withRetry(b, opts.retry));
  switch (location.kind) {
    case "local":
      return new LocalBackend(location.path);
    case "sftp": {
      const s = opts.sftp ?? {};
      const keyEnv = env.RESTIC_TS_SSH_KEY;
      const identityFile =
        s.identityFile ??
        (s.privateKey === undefined && keyEnv !== undefined && keyEnv !== ""
          ? keyEnv.split(":").filter((f) => f !== "")
          : undefined);
      const agent =
        s.agent ??
        (env.SSH_AUTH_SOCK === undefined || env.SSH_AUTH_SOCK === "" ? false : env.SSH_AUTH_SOCK);
      return wrap(
        new (await import("./sftp.js")).SftpBackend({
          ...s,
          host: location.host,
          port: location.port,
          user: location.user,
          path: location.path,
          identityFile,
          passphrase: s.passphrase ?? env.RESTIC_TS_SSH_KEY_PASSPHRASE,
          password: s.password ?? env.RESTIC_TS_SSH_PASSWORD,
          agent,
          knownHostsFile:
            s.knownHostsFile ??
            (env.RESTIC_TS_SSH_KNOWN_HOSTS || posix.join(os.homedir(), ".ssh", "known_hosts")),
        }),
      );
    }
    case "rest":
      return wrap(new (await import("./rest.js")).RestBackend({ ...opts.rest, url: location.url }));
  }
}

/**
 * Backend settings from restic-style extended options (`-o key=value`): `sftp.connections`,
 * `sftp.identity`, `sftp.known-hosts`, `sftp.insecure-ignore-host-key`, `sftp.fsync`,
 * `rest.connections`. Keys of other backends are ignored (restic ignores them too); an
 * unknown `sftp.`/`rest.` key or a bad value is INVALID_ARGUMENT.
 */
export function backendOptionsFromExtended(
  extended: Readonly<Record<string, string>>,
): Pick<OpenBackendOptions, "sftp" | "rest"> {
  const sftp: { -readonly [K in keyof SftpSettings]: SftpSettings[K] } = {};
  const rest: { -readonly [K in keyof RestSettings]: RestSettings[K] } = {};
  const count = (key: string, v: string) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `option ${key}: want a positive integer, got ${JSON.stringify(v)}`,
      );
    }
    return n;
  };
  const bool = (key: string, v: string) => {
    if (/^(true|1|yes)$/i.test(v)) return true;
    if (/^(false|0|no)$/i.test(v)) return false;
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `option ${key}: want true or false, got ${JSON.stringify(v)}`,
    );
  };
  for (const [key, value] of Object.entries(extended)) {
    switch (key) {
      case "sftp.connections":
        sftp.connections = count(key, value);
        break;
      case "sftp.identity":
        sftp.identityFile = value;
        break;
      case "sftp.known-hosts":
        sftp.knownHostsFile = value;
        break;
      case "sftp.insecure-ignore-host-key":
        sftp.insecureIgnoreHostKey = bool(key, value);
        break;
      case "sftp.fsync":
        sftp.fsync = bool(key, value);
        break;
      case "rest.connections":
        rest.connections = count(key, value);
        break;
      default:
        if (key.startsWith("sftp.") || key.startsWith("rest.")) {
          // restic's sftp.command and sftp.layout have no meaning here.
          throw new ResticTsError(
            "INVALID_ARGUMENT",
            `unknown or unsupported option ${JSON.stringify(key)}`,
            { key },
          );
        }
    }
  }
  return { sftp, rest };
}
