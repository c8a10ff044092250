// OpenSSH known_hosts files (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"), for the SFTP backend's
// host key check: plain host patterns (comma lists, `*`/`?` wildcards, `!` negation,
// `[host]:port` for a port other than 22), hashed entries (`|1|base64 salt|base64
// HMAC-SHA1(salt, name)`, as `ssh-keygen -H` writes them), `@revoked` keys, and comments.
// `@cert-authority` lines are skipped: certificates are not supported, so such a host is
// checked by its plain entries only.

import { createHmac, timingSafeEqual } from "node:crypto";

export interface KnownHostKey {
  /** The key type named in the entry: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, … */
  readonly type: string;
  /** The public key blob (the base64 field, decoded): what the server sends in key exchange. */
  readonly blob: Uint8Array;
  /** Listed under `@revoked`: never to be accepted. */
  readonly revoked: boolean;
  /** 1-based line number, for messages. */
  readonly line: number;
}

/** The name OpenSSH looks a host up by: `host` on port 22, `[host]:port` otherwise. */
export function hostLookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function wildcardMatch(pattern: string, text: string): boolean {
  // Host names are compared case-insensitively, like OpenSSH's match_pattern_list.
  const re = pattern
    .toLowerCase()
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`).test(text.toLowerCase());
}

function hashedMatch(entry: string, name: string): boolean {
  const parts = entry.split("|");
  // ["", "1", salt, hash]
  if (parts.length !== 4 || parts[1] !== "1") return false;
  const salt = Buffer.from(parts[2], "base64");
  const want = Buffer.from(parts[3], "base64");
  if (salt.length === 0 || want.length !== 20) return false;
  const got = createHmac("sha1", salt).update(name).digest();
  return timingSafeEqual(got, want);
}

/** Whether a known_hosts host field (`pat1,!pat2,…` or one hashed name) names `name`. */
export function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith("|")) return hashedMatch(field, name);
  let matched = false;
  for (const pat of field.split(",")) {
    if (pat === "") continue;
    if (pat.startsWith("!")) {
      if (wildcardMatch(pat.slice(1), name)) return false;
    } else if (wildcardMatch(pat, name)) {
      matched = true;
    }
  }
  return matched;
}

/**
 * The keys `text` (a known_hosts file's content) lists for `host` on `port`, in file order.
 * Malformed lines are ignored, as OpenSSH does.
 */
export function findKnownHostKeys(text: string, host: string, port: number): KnownHostKey[] {
  const name = hostLookupName(host, port);
  const out: KnownHostKey[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    let revoked = false;
    if (fields[0].startsWith("@")) {
      const marker = fields.shift();
      if (marker === "@revoked") revoked = true;
      else continue; // @cert-authority and unknown markers
    }
    if (fields.length < 3) continue;
    const [hosts, type, b64] = fields;
    if (!hostFieldMatches(hosts, name)) continue;
    const blob = Buffer.from(b64, "base64");
    if (blob.length === 0) continue;
    out.push({ type, blob: new Uint8Array(blob), revoked, line: i + 1 });
  }
  return out;
}

export type HostKeyVerdict =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: "unknown" | "mismatch" | "revoked" };

/** Check the key a server presented against the entries found for it. */
export function verifyHostKey(
  known: readonly KnownHostKey[],
  presented: Uint8Array,
): HostKeyVerdict {
  const same = (k: KnownHostKey) => Buffer.from(k.blob).equals(Buffer.from(presented));
  if (known.some((k) => k.revoked && same(k))) return { ok: false, reason: "revoked" };
  if (known.some((k) => !k.revoked && same(k))) return { ok: true };
  return { ok: false, reason: known.some((k) => !k.revoked) ? "mismatch" : "unknown" };
}

/** The host key signature algorithms that can prove a key of each known_hosts key type. */
const ALGORITHMS_FOR_TYPE: Readonly<Record<string, readonly string[]>> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
  "ssh-dss": ["ssh-dss"],
};

/**
 * Host key algorithms to offer so that the server proves a key we know (as OpenSSH prefers
 * known key types): those of the non-revoked entries, in file order; empty when none is known.
 */
export function hostKeyAlgorithms(known: readonly KnownHostKey[]): string[] {
  const out: string[] = [];
  for (const k of known) {
    if (k.revoked) continue;
    for (const alg of ALGORITHMS_FOR_TYPE[k.type] ?? []) if (!out.includes(alg)) out.push(alg);
  }
  return out;
}
