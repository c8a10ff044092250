// The container creation config, in the zero-os `container.create` style: root filesystem
// source, bind mounts, networking (host network or NICs), port forwards, privileges, hostname,
// name, tags, environment, config files and the command to run. One validator turns untrusted
// input (API calls, `/.corex.meta` from a snapshot) into a canonical config; `redactConfig` is
// the only form ever stored or listed; `configForRestore` is the full-restore network rule.

import { isIP } from "node:net";
import { ResticTsError, redact } from "../errors.js";

export const NIC_TYPES = [
  "default",
  "bridge",
  "vlan",
  "vxlan",
  "macvlan",
  "passthrough",
  "zerotier",
] as const;
export type NicType = (typeof NIC_TYPES)[number];

export interface NicConfig {
  /** Addresses come from DHCP: `cidr`/`gateway`, if present, are the last lease (dynamic). */
  readonly dhcp?: boolean;
  /** Static address with prefix length, e.g. `10.0.0.5/24` or `fd00::5/64`. */
  readonly cidr?: string;
  readonly gateway?: string;
  readonly dns?: readonly string[];
}

export interface Nic {
  readonly type: NicType;
  /** The network: bridge name, VLAN tag, VXLAN ID, ZeroTier network…; optional for `default`. */
  readonly id?: string;
  /** Interface name inside the container (at most 15 characters). */
  readonly name?: string;
  /** MAC address, lower-case `aa:bb:cc:dd:ee:ff`; runtimes assign one when it is missing. */
  readonly hwaddr?: string;
  readonly config?: NicConfig;
}

export interface ContainerConfig {
  /** Root filesystem source: a directory, a tar archive, `restic:<repo-url>#<snapshot>`, … */
  readonly root: string;
  /** Bind mounts `{hostPath: containerPath}`. */
  readonly mount?: Readonly<Record<string, string>>;
  /** Share the host's network namespace (no NICs then). */
  readonly host_network?: boolean;
  readonly nics?: readonly Nic[];
  /** Port forwards `{hostPort: containerPort}`. */
  readonly port?: Readonly<Record<string, number>>;
  readonly privileged?: boolean;
  readonly hostname?: string;
  readonly name?: string;
  readonly tags?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Files written into the root filesystem at creation, `{absolutePath: content}`. */
  readonly config?: Readonly<Record<string, string>>;
  /** The command to run (argv); runtimes choose a default (the reference one: `/sbin/init`). */
  readonly entrypoint?: readonly string[];
}

const CONFIG_KEYS = [
  "root",
  "mount",
  "host_network",
  "nics",
  "port",
  "privileged",
  "hostname",
  "name",
  "tags",
  "env",
  "config",
  "entrypoint",
] as const;
const NIC_KEYS = ["type", "id", "name", "hwaddr", "config"] as const;
const NIC_CONFIG_KEYS = ["dhcp", "cidr", "gateway", "dns"] as const;

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const HOSTNAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const ENV_NAME = /^[^=\0]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;

function bad(field: string, message: string): ResticTsError {
  return new ResticTsError("INVALID_ARGUMENT", `container config: ${field} ${message}`, { field });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, known: readonly string[], field: string): void {
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) {
      throw bad(
        field === "" ? `field "${k}"` : `${field}.${k}`,
        `is unknown (known: ${known.join(", ")})`,
      );
    }
  }
}

function str(v: unknown, field: string, opts: { empty?: boolean } = {}): string {
  if (typeof v !== "string") throw bad(field, "must be a string");
  if (!opts.empty && v === "") throw bad(field, "must not be empty");
  if (v.includes("\0")) throw bad(field, "must not contain NUL");
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== "boolean") throw bad(field, "must be true or false");
  return v;
}

function record(v: unknown, field: string): Record<string, unknown> {
  if (!isRecord(v)) throw bad(field, "must be an object");
  return v;
}

function absPath(v: unknown, field: string): string {
  const p = str(v, field);
  if (!p.startsWith("/")) throw bad(field, "must be an absolute path");
  return p;
}

function ip(v: unknown, field: string): string {
  const s = str(v, field);
  if (isIP(s) === 0) throw bad(field, "must be an IPv4 or IPv6 address");
  return s;
}

function cidr(v: unknown, field: string): string {
  const s = str(v, field);
  const slash = s.lastIndexOf("/");
  const family = slash < 0 ? 0 : isIP(s.slice(0, slash));
  const bits = slash < 0 ? Number.NaN : Number(s.slice(slash + 1));
  const max = family === 4 ? 32 : 128;
  if (family === 0 || !/^\d{1,3}$/.test(s.slice(slash + 1)) || bits > max) {
    throw bad(field, 'must be an address with prefix length, e.g. "10.0.0.5/24"');
  }
  return s;
}

function port(v: unknown, field: string): number {
  const n = typeof v === "string" && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 65535) {
    throw bad(field, "must be a port number 1-65535");
  }
  return n;
}

function nicConfig(v: unknown, field: string): NicConfig {
  const o = record(v, field);
  checkKeys(o, NIC_CONFIG_KEYS, field);
  const out: { -readonly [K in keyof NicConfig]: NicConfig[K] } = {};
  if (o.dhcp !== undefined) out.dhcp = bool(o.dhcp, `${field}.dhcp`);
  if (o.cidr !== undefined) out.cidr = cidr(o.cidr, `${field}.cidr`);
  if (o.gateway !== undefined) out.gateway = ip(o.gateway, `${field}.gateway`);
  if (o.dns !== undefined) {
    if (!Array.isArray(o.dns)) throw bad(`${field}.dns`, "must be a list of addresses");
    out.dns = o.dns.map((d, i) => ip(d, `${field}.dns[${i}]`));
  }
  return out;
}

function nic(v: unknown, field: string): Nic {
  const o = record(v, field);
  checkKeys(o, NIC_KEYS, field);
  const type = o.type;
  if (typeof type !== "string" || !(NIC_TYPES as readonly string[]).includes(type)) {
    throw bad(`${field}.type`, `must be one of ${NIC_TYPES.join(", ")}`);
  }
  const out: { -readonly [K in keyof Nic]: Nic[K] } = { type: type as NicType };
  if (o.id !== undefined) out.id = str(o.id, `${field}.id`, { empty: type === "default" });
  else if (type !== "default") throw bad(`${field}.id`, `is required for a ${type} NIC`);
  if (o.name !== undefined) {
    out.name = str(o.name, `${field}.name`);
    if (!IFNAME.test(out.name))
      throw bad(`${field}.name`, "must be an interface name (1-15 of A-Z a-z 0-9 _ . -)");
  }
  if (o.hwaddr !== undefined) {
    const mac = str(o.hwaddr, `${field}.hwaddr`);
    if (!MAC.test(mac)) throw bad(`${field}.hwaddr`, 'must be a MAC address "aa:bb:cc:dd:ee:ff"');
    out.hwaddr = mac.toLowerCase();
  }
  if (o.config !== undefined) out.config = nicConfig(o.config, `${field}.config`);
  return out;
}

/**
 * Validate a creation config from an untrusted source and return it in canonical form (fields in
 * a fixed order, absent ones omitted, MACs lower-case, port numbers as numbers). Unknown fields
 * are refused. Throws INVALID_ARGUMENT naming the offending field (never its value).
 */
export function validateConfig(input: unknown): ContainerConfig {
  const o = record(input, "the config");
  checkKeys(o, CONFIG_KEYS, "");
  const out: { -readonly [K in keyof ContainerConfig]: ContainerConfig[K] } = {
    root: str(o.root, "root"),
  };
  if (o.mount !== undefined) {
    const m = record(o.mount, "mount");
    const mounts: Record<string, string> = {};
    const seen = new Set<string>();
    for (const [src, dst] of Object.entries(m)) {
      str(src, "a mount source");
      const target = absPath(dst, `mount[${JSON.stringify(redact(src))}]`);
      if (seen.has(target)) throw bad("mount", `mounts two sources on ${target}`);
      seen.add(target);
      mounts[src] = target;
    }
    out.mount = mounts;
  }
  if (o.host_network !== undefined) out.host_network = bool(o.host_network, "host_network");
  if (o.nics !== undefined) {
    if (!Array.isArray(o.nics)) throw bad("nics", "must be a list");
    out.nics = o.nics.map((n, i) => nic(n, `nics[${i}]`));
    if (out.host_network === true && out.nics.length > 0) {
      throw bad("nics", "cannot be used with host_network");
    }
  }
  if (o.port !== undefined) {
    const p = record(o.port, "port");
    const ports: Record<string, number> = {};
    for (const [host, inner] of Object.entries(p)) {
      ports[String(port(host, `port key ${JSON.stringify(host)}`))] = port(inner, `port[${host}]`);
    }
    out.port = ports;
  }
  if (o.privileged !== undefined) out.privileged = bool(o.privileged, "privileged");
  if (o.hostname !== undefined) {
    out.hostname = str(o.hostname, "hostname");
    if (!HOSTNAME.test(out.hostname)) throw bad("hostname", "must be a valid host name");
  }
  if (o.name !== undefined) {
    out.name = str(o.name, "name");
    if (CONTROL.test(out.name) || out.name.length > 256) {
      throw bad("name", "must be at most 256 characters without control characters");
    }
  }
  if (o.tags !== undefined) {
    if (!Array.isArray(o.tags)) throw bad("tags", "must be a list of strings");
    out.tags = o.tags.map((t, i) => str(t, `tags[${i}]`));
  }
  if (o.env !== undefined) {
    const e = record(o.env, "env");
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(e)) {
      if (!ENV_NAME.test(k))
        throw bad(`env key ${JSON.stringify(k)}`, 'must not be empty or contain "="');
      env[k] = str(v, `env.${k}`, { empty: true });
    }
    out.env = env;
  }
  if (o.config !== undefined) {
    const c = record(o.config, "config");
    const files: Record<string, string> = {};
    for (const [p, content] of Object.entries(c)) {
      const at = `config[${JSON.stringify(p)}]`;
      absPath(p, at);
      if (p.split("/").some((part) => part === "..") || /^\/*$/.test(p)) {
        throw bad(at, 'must name a file (no "..")');
      }
      files[p] = str(content, at, { empty: true });
    }
    out.config = files;
  }
  if (o.entrypoint !== undefined) {
    if (!Array.isArray(o.entrypoint) || o.entrypoint.length === 0) {
      throw bad("entrypoint", "must be a non-empty list of strings");
    }
    out.entrypoint = o.entrypoint.map((a, i) => str(a, `entrypoint[${i}]`, { empty: i > 0 }));
  }
  // Canonical field order, whatever the input's order.
  const ordered: Record<string, unknown> = {};
  for (const k of CONFIG_KEYS) if (out[k] !== undefined) ordered[k] = out[k];
  return ordered as unknown as ContainerConfig;
}

/**
 * The form of a config that may be stored, listed, logged or put in a snapshot: passwords
 * removed from the URL-ish fields (`root`, mount sources). Environment values and config files
 * are the container's own data and stay verbatim (the files are in its root filesystem anyway).
 */
export function redactConfig(config: ContainerConfig): ContainerConfig {
  const out: Record<string, unknown> = { ...config, root: redact(config.root) };
  if (config.mount !== undefined) {
    out.mount = Object.fromEntries(Object.entries(config.mount).map(([s, d]) => [redact(s), d]));
  }
  return validateConfig(out);
}

/** A NIC whose address identity comes from the network: the default NAT network or DHCP. */
export function isDynamicNic(nic: Nic): boolean {
  return nic.type === "default" || nic.config?.dhcp === true;
}

/**
 * The config for a full restore: everything kept except the network identity that is assigned
 * afresh — on default and DHCP NICs the MAC address and the address/gateway (last lease) are
 * dropped. Static NICs keep their MAC, address, gateway and DNS.
 */
export function configForRestore(config: ContainerConfig): ContainerConfig {
  if (config.nics === undefined) return validateConfig(config);
  const nics = config.nics.map((n): Nic => {
    if (!isDynamicNic(n)) return n;
    const { hwaddr: _mac, config: nc, ...rest } = n;
    if (nc === undefined) return rest;
    const { cidr: _cidr, gateway: _gw, ...keep } = nc;
    return Object.keys(keep).length === 0 ? rest : { ...rest, config: keep };
  });
  return validateConfig({ ...config, nics });
}

/** The bytes of `/.corex.meta`: the redacted config as indented JSON. */
export function encodeMeta(config: ContainerConfig): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
}

/** Parse `/.corex.meta` from a snapshot; CORRUPT when it is not JSON, INVALID_ARGUMENT when invalid. */
export function decodeMeta(bytes: Uint8Array): ContainerConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new ResticTsError(
      "CORRUPT",
      "/.corex.meta in the snapshot is not valid JSON",
      {},
      { cause: err },
    );
  }
  return validateConfig(parsed);
}
