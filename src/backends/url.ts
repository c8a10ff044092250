// Repository location strings, parsed in one place: restic's forms (`/path`, `local:/path`,
// `sftp:user@host:/path`, `sftp://user@host:port//path`, `rest:http://host:port/path`,
// `rest:https://user:pass@host/`) and the agent's (`file:///path`, `file:/path`), any of them
// with `?password=PW` (percent-decoded) and `#SNAPSHOT`. A `restic:` prefix marks a repository
// where a root filesystem source is expected.
//
// `?password=` is always the repository password. An SSH password is never taken from a
// URL (restic takes none either): `sftp://user:pw@host/…` is refused; see open.ts for where
// SSH credentials come from. REST basic-auth credentials do live in the URL's userinfo, as
// in restic; `display` and every error message show them as `user:***@`.

import { ResticTsError, redact } from "../errors.js";

export type RepoLocation =
  | { readonly kind: "local"; readonly path: string }
  | {
      readonly kind: "sftp";
      readonly user?: string;
      readonly host: string;
      readonly port?: number;
      /** Absolute, or relative to the login directory. */
      readonly path: string;
    }
  | { readonly kind: "rest"; readonly url: string };

export interface RepoUrl {
  readonly location: RepoLocation;
  /** The `?password=` value, percent-decoded. */
  readonly password?: string;
  /** The `#fragment`: a snapshot ID, unique prefix or `latest`. */
  readonly snapshot?: string;
  /** The location as restic prints it, without password or fragment. */
  readonly display: string;
}

/** What a URL parameter name looks like; anything else may be part of a password. */
const PARAM_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,31}$/;
const SNAPSHOT_REF = /^(latest|[0-9a-fA-F]{1,64})$/;
const UNSUPPORTED_SCHEMES = ["s3", "b2", "azure", "gs", "swift", "rclone"];

/**
 * `input` fit for a message: `?password=` values and URL userinfo passwords (also ones
 * redact()'s pattern would miss, with spaces or `@` in them) replaced by `***`.
 */
function scrub(input: string): string {
  // greedy: a password may itself hold "&", "#", "@", "/" or spaces, so everything after
  // `password=`, and everything up to the last "@" after `user:`, is hidden
  return redact(
    input
      .replace(/([?&;]password=)[\s\S]*$/i, "$1***")
      .replace(/(\/\/[^/:@\s]*:)[\s\S]*@/, "$1***@")
      .replace(/^(\s*(?:restic:)?sftp:[^@:/[]+:)[\s\S]*@/, "$1***@"),
  );
}

/**
 * True when `before` (the input up to some point) may have started a password that is not
 * over yet, so the text after that point must not be shown: after `password=`, or after a
 * `user:` with no "@" yet.
 */
function insideSecret(before: string): boolean {
  return (
    /[?&;]password=/i.test(before) || /(?:\/\/|^\s*(?:restic:)?sftp:)[^/@]*:[^@]*$/.test(before)
  );
}

function invalid(message: string, input: string): ResticTsError {
  const shown = scrub(input);
  return new ResticTsError("INVALID_URL", `${message}: ${shown}`, { url: shown });
}

/** The part after the last `#` is a snapshot reference when it looks like one. */
function splitFragment(input: string): [string, string | undefined] {
  const at = input.lastIndexOf("#");
  if (at < 0) return [input, undefined];
  const frag = input.slice(at + 1);
  if (!SNAPSHOT_REF.test(frag)) {
    if (insideSecret(input.slice(0, at)) || frag.includes("@")) {
      throw invalid(
        'the "#fragment" is not a snapshot ID, ID prefix or "latest" (a "#" in a password must be written %23)',
        input,
      );
    }
    throw invalid(`"#${frag}" is not a snapshot ID, ID prefix or "latest"`, input);
  }
  return [input.slice(0, at), frag.toLowerCase() === "latest" ? "latest" : frag.toLowerCase()];
}

/** Take `password` out of a trailing `?query`; other parameters are refused. */
function splitQuery(input: string): [string, string | undefined] {
  // the query starts at the first "?password=" (the password may hold "?"), else at the last "?"
  const pw = input.search(/\?password=/i);
  const at = pw >= 0 ? pw : input.lastIndexOf("?");
  if (at < 0) return [input, undefined];
  const query = input.slice(at + 1);
  let password: string | undefined;
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = eq < 0 ? pair : pair.slice(0, eq);
    if (name !== "password") {
      if (password !== undefined || insideSecret(input.slice(0, at)) || !PARAM_NAME.test(name)) {
        // the "parameter" may be the rest of a password that holds "&": do not show it
        throw invalid(
          'unknown repository URL parameter (only "password" is known; a "&" or "?" in a password must be written %26 or %3F)',
          input,
        );
      }
      throw invalid(`unknown repository URL parameter "${name}" (only "password" is known)`, input);
    }
    try {
      password = decodeURIComponent(pair.slice(eq + 1));
    } catch {
      throw invalid("the password parameter is not valid percent-encoding", input);
    }
  }
  return [input.slice(0, at), password];
}

function decodePath(path: string, input: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    throw invalid("the path is not valid percent-encoding", input);
  }
}

function parseLocation(s: string, input: string): RepoLocation {
  if (s === "") throw invalid("the repository location is empty", input);
  if (s.startsWith("file://")) {
    let rest = s.slice("file://".length);
    if (rest.startsWith("localhost/")) rest = rest.slice("localhost".length);
    if (!rest.startsWith("/"))
      throw invalid('a file URL needs an absolute path on this host ("file:///path")', input);
    return { kind: "local", path: decodePath(rest, input) };
  }
  if (s.startsWith("file:/"))
    return { kind: "local", path: decodePath(s.slice("file:".length), input) };
  if (s.startsWith("local:")) {
    const path = s.slice("local:".length);
    if (path === "") throw invalid("local: needs a path", input);
    return { kind: "local", path };
  }
  if (s.startsWith("sftp://")) return parseSftpUrl(s, input);
  if (s.startsWith("sftp:")) return parseSftpShort(s.slice("sftp:".length), input);
  if (s.startsWith("rest:")) {
    const url = s.slice("rest:".length);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalid("rest: needs an http(s) URL", input);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw invalid("rest: needs an http or https URL", input);
    }
    // "@" in the path: most likely a password holding "/" that ended the authority early
    if (parsed.pathname.includes("@") || parsed.search.includes("@")) {
      throw invalid(
        'rest: the URL path holds "@" (a "/" in a password must be written %2F)',
        input,
      );
    }
    // a "#" left once the snapshot is taken: most likely one in a password, which ended the
    // authority there (what follows it would be shown as the URL's fragment)
    if (url.includes("#")) {
      throw invalid('rest: the URL holds "#" (a "#" in a password must be written %23)', input);
    }
    return { kind: "rest", url: parsed.toString() };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/.exec(s)?.[1];
  if (scheme !== undefined && UNSUPPORTED_SCHEMES.includes(scheme)) {
    throw new ResticTsError("UNSUPPORTED", `the ${scheme} backend is not supported`, { scheme });
  }
  if (scheme !== undefined && s.slice(scheme.length + 1).startsWith("//")) {
    throw invalid(`unknown repository URL scheme "${scheme}"`, input);
  }
  return { kind: "local", path: s };
}

/** `sftp://[user@]host[:port]/relative` or `sftp://[user@]host[:port]//absolute`. */
function parseSftpUrl(s: string, input: string): RepoLocation {
  const rest = s.slice("sftp://".length);
  const slash = rest.indexOf("/");
  if (slash < 0 || slash === rest.length - 1) throw invalid("sftp URL needs a path", input);
  const authority = rest.slice(0, slash);
  const path = decodePath(rest.slice(slash + 1), input);
  const at = authority.lastIndexOf("@");
  if (at >= 0 && authority.slice(0, at).includes(":")) throw sshPasswordInUrl(input);
  const user = at < 0 ? undefined : decodeUser(authority.slice(0, at));
  const hostPort = authority.slice(at + 1);
  checkSftpPath(path, input);
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort);
  if (!m) throw invalid("sftp URL has no valid host", input);
  const host = m[1].replace(/^\[|\]$/g, "");
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535))
    throw invalid("sftp port out of range", input);
  return { kind: "sftp", user, host, port, path };
}

/** `sftp:[user@]host:path`, as scp writes it. */
function parseSftpShort(s: string, input: string): RepoLocation {
  // `user:secret@host:path` would otherwise read as host "user" and path "secret@host:path".
  // The password may hold "/", ":" or "@" too (up to the last "@host:"); a path, which usually
  // starts with "/", is not taken for one.
  if (/^[^@:/[]+:(?!\/)[\s\S]*@[^:/@]+:/.test(s)) throw sshPasswordInUrl(input);
  const { user, hostPort } = splitUser(s);
  const colon = hostPort.startsWith("[") ? hostPort.indexOf("]:") + 1 : hostPort.indexOf(":");
  if (colon <= 0) throw invalid('sftp needs "host:path"', input);
  const host = hostPort.slice(0, colon).replace(/^\[|\]$/g, "");
  const path = hostPort.slice(colon + 1);
  if (host === "" || path === "") throw invalid('sftp needs "host:path"', input);
  checkSftpPath(path, input);
  return { kind: "sftp", user, host, path };
}

function sshPasswordInUrl(input: string): ResticTsError {
  return invalid(
    "an SSH password cannot be given in the URL (use an ssh-agent, a key file, or RESTIC_TS_SSH_PASSWORD; the password parameter is the repository's)",
    input,
  );
}

/** restic refuses `~`: most SFTP servers do not expand it. */
function checkSftpPath(path: string, input: string): void {
  if (path.startsWith("~")) {
    throw invalid(
      'the sftp path starts with "~", which most servers do not expand: use a path relative to the home directory instead',
      input,
    );
  }
}

function splitUser(s: string): { user?: string; hostPort: string } {
  const at = s.lastIndexOf("@", s.indexOf(":") < 0 ? undefined : s.indexOf(":"));
  if (at < 0) return { hostPort: s };
  return { user: decodeUser(s.slice(0, at)), hostPort: s.slice(at + 1) };
}

function decodeUser(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** A URL with its userinfo password (whatever characters it holds) shown as `***`. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return redact(u.toString());
  } catch {
    return redact(url);
  }
}

function displayOf(location: RepoLocation): string {
  switch (location.kind) {
    case "local":
      // a path may look like a URL with a password (`restic:rest:https://u:pw@h/` is a local
      // directory to parseRepoUrl): shown redacted
      return scrub(location.path);
    case "sftp": {
      const user = location.user === undefined ? "" : `${location.user}@`;
      if (location.port !== undefined) {
        const abs = location.path.startsWith("/") ? `/${location.path}` : location.path;
        return `sftp://${user}${location.host}:${location.port}/${abs.replace(/^\//, "")}`;
      }
      return `sftp:${user}${location.host}:${location.path}`;
    }
    case "rest":
      return `rest:${redactUrl(location.url)}`;
  }
}

/** Parse a repository location string (see the module comment for the grammar). */
export function parseRepoUrl(input: string): RepoUrl {
  const [noFragment, snapshot] = splitFragment(input.trim());
  const [base, password] = splitQuery(noFragment);
  const location = parseLocation(base, input);
  return { location, password, snapshot, display: displayOf(location) };
}

export const RESTIC_ROOT_PREFIX = "restic:";

/** True when a root filesystem source names a restic repository (`restic:<url>#snapshot`). */
export function isResticRoot(source: string): boolean {
  return source.startsWith(RESTIC_ROOT_PREFIX);
}

/** Parse `restic:<url>#snapshot`; the snapshot fragment is required. */
export function parseResticRoot(source: string): RepoUrl & { readonly snapshot: string } {
  if (!isResticRoot(source)) throw invalid('a restic root must start with "restic:"', source);
  const url = parseRepoUrl(source.slice(RESTIC_ROOT_PREFIX.length));
  if (url.snapshot === undefined) throw invalid("a restic root needs a #snapshot", source);
  return { ...url, snapshot: url.snapshot };
}
