// The reference container runtime: every container is an OCI bundle under
// `<stateDir>/containers/<id>/` (`rootfs/`, runc's `config.json`, our `container.json` with the
// redacted creation config, `console.log` with the container's stdout and stderr) run by the
// `runc` binary with its state under `<stateDir>/runc`. Root sources: a local directory (copied
// with `cp -a`), a tar archive (extracted with the system `tar`, any compression it detects), a
// `file://` URL of either, or a directory prepared by the caller (restored `restic:` roots).
//
// The creation config maps onto the OCI spec where runc can express it: entrypoint and env →
// process, hostname, `mount` → bind mounts, `privileged` → every capability this process holds
// (its bounding set), all devices, writable /sys and no masked paths, `host_network` → no network
// namespace. NICs and port forwards need a network manager runc does not have: they are kept
// in container.json (NICs get a MAC assigned) and the container gets its own network namespace
// with loopback only. Start is `runc create` + `runc start` with stdio on console.log (no
// terminal, no console socket); pause/resume use the cgroup freezer through runc.

import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { isResticRoot } from "../backends/url.js";
import { fromSystemError, isResticTsError, ResticTsError, redact } from "../errors.js";
import { type ContainerConfig, type Nic, redactConfig, validateConfig } from "./config.js";
import type {
  ContainerInfo,
  ContainerRuntime,
  ContainerState,
  DeleteOptions,
  StopOptions,
} from "./runtime.js";

const execFileP = promisify(execFile);

export interface RuncRuntimeOptions {
  /** Bundles, runc state and scratch space live here; default `/var/lib/restic-ts`. */
  readonly stateDir?: string;
  /** The runc binary; default `runc` from PATH. */
  readonly runc?: string;
  /** The tar binary for archive roots; default `tar` from PATH. */
  readonly tar?: string;
}

/** What `container.json` in a bundle holds. */
interface ContainerRecord {
  readonly id: string;
  readonly created: string;
  readonly started?: string;
  /** Redacted, with assigned MACs. */
  readonly config: ContainerConfig;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const DEFAULT_ENTRYPOINT = ["/sbin/init"];

/** Linux capability names by bit number (capability.h). */
const CAPABILITIES = [
  "CHOWN",
  "DAC_OVERRIDE",
  "DAC_READ_SEARCH",
  "FOWNER",
  "FSETID",
  "KILL",
  "SETGID",
  "SETUID",
  "SETPCAP",
  "LINUX_IMMUTABLE",
  "NET_BIND_SERVICE",
  "NET_BROADCAST",
  "NET_ADMIN",
  "NET_RAW",
  "IPC_LOCK",
  "IPC_OWNER",
  "SYS_MODULE",
  "SYS_RAWIO",
  "SYS_CHROOT",
  "SYS_PTRACE",
  "SYS_PACCT",
  "SYS_ADMIN",
  "SYS_BOOT",
  "SYS_NICE",
  "SYS_RESOURCE",
  "SYS_TIME",
  "SYS_TTY_CONFIG",
  "MKNOD",
  "LEASE",
  "AUDIT_WRITE",
  "AUDIT_CONTROL",
  "SETFCAP",
  "MAC_OVERRIDE",
  "MAC_ADMIN",
  "SYSLOG",
  "WAKE_ALARM",
  "BLOCK_SUSPEND",
  "AUDIT_READ",
  "PERFMON",
  "BPF",
  "CHECKPOINT_RESTORE",
].map((c) => `CAP_${c}`);

/** Unprivileged containers get Docker's default set. */
const DEFAULT_CAPABILITIES = [
  "CHOWN",
  "DAC_OVERRIDE",
  "FSETID",
  "FOWNER",
  "MKNOD",
  "NET_RAW",
  "SETGID",
  "SETUID",
  "SETFCAP",
  "SETPCAP",
  "NET_BIND_SERVICE",
  "SYS_CHROOT",
  "KILL",
  "AUDIT_WRITE",
].map((c) => `CAP_${c}`);

export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options?: readonly string[];
}

/** The part of the OCI runtime spec (as `runc spec` writes it) that this runtime fills in. */
export interface OciSpec {
  readonly ociVersion: string;
  readonly process: {
    readonly terminal: boolean;
    readonly user: { readonly uid: number; readonly gid: number };
    readonly args: readonly string[];
    readonly env: readonly string[];
    readonly cwd: string;
    readonly capabilities: Readonly<
      Record<"bounding" | "effective" | "permitted", readonly string[]>
    >;
    readonly rlimits: readonly {
      readonly type: string;
      readonly hard: number;
      readonly soft: number;
    }[];
    readonly noNewPrivileges: boolean;
  };
  readonly root: { readonly path: string; readonly readonly: boolean };
  readonly hostname: string;
  readonly mounts: readonly OciMount[];
  readonly linux: {
    readonly resources: {
      readonly devices: readonly { readonly allow: boolean; readonly access: string }[];
    };
    readonly namespaces: readonly { readonly type: string }[];
    readonly maskedPaths?: readonly string[];
    readonly readonlyPaths?: readonly string[];
  };
}

/** The capabilities in this process's bounding set (what a privileged container may get). */
export async function hostCapabilities(): Promise<string[]> {
  const status = await readFile("/proc/self/status", "utf8");
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (hex === undefined) return [...DEFAULT_CAPABILITIES];
  const mask = BigInt(`0x${hex}`);
  return CAPABILITIES.filter((_, bit) => ((mask >> BigInt(bit)) & 1n) === 1n);
}

/** Translate a creation config into an OCI runtime spec for runc. */
export function toOciSpec(
  id: string,
  config: ContainerConfig,
  privilegedCaps: readonly string[],
): OciSpec {
  const privileged = config.privileged === true;
  const caps = privileged ? [...privilegedCaps] : DEFAULT_CAPABILITIES;
  const env = { PATH: DEFAULT_PATH, ...config.env };
  const ro = privileged ? [] : ["ro"];
  const binds: OciMount[] = Object.entries(config.mount ?? {}).map(([source, destination]) => ({
    destination,
    type: "bind",
    source,
    options: ["rbind", "rw"],
  }));
  return {
    ociVersion: "1.0.2-dev",
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: [...(config.entrypoint ?? DEFAULT_ENTRYPOINT)],
      env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      cwd: "/",
      capabilities: { bounding: caps, effective: caps, permitted: caps },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: !privileged,
    },
    root: { path: "rootfs", readonly: false },
    hostname: config.hostname ?? id.slice(0, 12),
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      {
        destination: "/dev/mqueue",
        type: "mqueue",
        source: "mqueue",
        options: ["nosuid", "noexec", "nodev"],
      },
      {
        destination: "/sys",
        type: "sysfs",
        source: "sysfs",
        options: ["nosuid", "noexec", "nodev", ...ro],
      },
      {
        destination: "/sys/fs/cgroup",
        type: "cgroup",
        source: "cgroup",
        options: ["nosuid", "noexec", "nodev", "relatime", ...ro],
      },
      ...binds,
    ],
    linux: {
      resources: { devices: [{ allow: privileged, access: "rwm" }] },
      namespaces: [
        "pid",
        ...(config.host_network === true ? [] : ["network"]),
        "ipc",
        "uts",
        "mount",
      ].map((type) => ({ type })),
      ...(privileged
        ? {}
        : {
            maskedPaths: [
              "/proc/acpi",
              "/proc/asound",
              "/proc/kcore",
              "/proc/keys",
              "/proc/latency_stats",
              "/proc/timer_list",
              "/proc/timer_stats",
              "/proc/sched_debug",
              "/sys/firmware",
              "/proc/scsi",
            ],
            readonlyPaths: [
              "/proc/bus",
              "/proc/fs",
              "/proc/irq",
              "/proc/sys",
              "/proc/sysrq-trigger",
            ],
          }),
    },
  };
}

/** A random locally administered unicast MAC address. */
function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0] & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");
}

function withMacs(config: ContainerConfig): ContainerConfig {
  if (config.nics === undefined) return config;
  return {
    ...config,
    nics: config.nics.map((n): Nic => (n.hwaddr ? n : { ...n, hwaddr: randomMac() })),
  };
}

/**
 * Resolve `p` inside `root` as if `root` were `/`: symbolic links are followed but never lead
 * out of it (absolute targets restart at root, `..` stops at root). Missing components are fine.
 */
export async function resolveInRoot(root: string, p: string): Promise<string> {
  const todo = p.split("/").filter((x) => x !== "" && x !== ".");
  let done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift() as string;
    if (part === "..") {
      done.pop();
      continue;
    }
    const here = path.join(root, ...done, part);
    const st = await lstat(here).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT" || err.code === "ENOTDIR") return undefined;
      throw fromSystemError(err, `resolving ${p} in the root filesystem`);
    });
    if (st?.isSymbolicLink()) {
      if (++links > 40) {
        throw new ResticTsError(
          "INVALID_ARGUMENT",
          `too many symbolic links resolving ${p} in the root filesystem`,
        );
      }
      const target = await readlink(here);
      if (target.startsWith("/")) done = [];
      todo.unshift(...target.split("/").filter((x) => x !== "" && x !== "."));
      continue;
    }
    done.push(part);
  }
  return path.join(root, ...done);
}

/** runc prints `time="…" level=error msg="…"`: keep the message. */
function runcMessage(text: string): string {
  const lines = text
    .trim()
    .split("\n")
    .filter((l) => l.trim() !== "");
  const last = lines.at(-1) ?? "";
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(last);
  if (m === null) return last;
  try {
    return JSON.parse(`"${m[1]}"`) as string;
  } catch {
    return m[1];
  }
}

async function run(
  cmd: string,
  args: readonly string[],
  what: string,
  timeoutMs = 120_000,
): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, [...args], {
      timeout: timeoutMs,
      maxBuffer: 16 << 20,
      encoding: "utf8",
    });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; killed?: boolean };
    if (e.code === "ENOENT") {
      throw new ResticTsError(
        "NOT_FOUND",
        `${what}: ${cmd} is not installed`,
        { command: cmd },
        { cause: err },
      );
    }
    if (e.killed)
      throw new ResticTsError("TIMEOUT", `${what}: ${cmd} took longer than ${timeoutMs} ms`, {
        command: cmd,
      });
    const detail = runcMessage(e.stderr ?? "") || e.message;
    throw new ResticTsError(
      "IO",
      `${what}: ${detail}`,
      { command: cmd, exitCode: e.code },
      { cause: err },
    );
  }
}

export class RuncRuntime implements ContainerRuntime {
  readonly stateDir: string;
  readonly #runc: string;
  readonly #tar: string;
  readonly #bundles: string;
  readonly #runcRoot: string;
  readonly #tmp: string;

  constructor(opts: RuncRuntimeOptions = {}) {
    this.stateDir = path.resolve(opts.stateDir ?? "/var/lib/restic-ts");
    this.#runc = opts.runc ?? "runc";
    this.#tar = opts.tar ?? "tar";
    this.#bundles = path.join(this.stateDir, "containers");
    this.#runcRoot = path.join(this.stateDir, "runc");
    this.#tmp = path.join(this.stateDir, "tmp");
  }

  /** The bundle directory of a container. */
  bundlePath(id: string): string {
    if (!ID.test(id))
      throw new ResticTsError("INVALID_ARGUMENT", `"${id}" is not a container ID`, { id });
    return path.join(this.#bundles, id);
  }

  async scratchDir(): Promise<string> {
    await mkdir(this.#tmp, { recursive: true, mode: 0o700 });
    return mkdtemp(path.join(this.#tmp, "root-"));
  }

  async create(config: ContainerConfig, preparedRoot?: string): Promise<string> {
    const valid = withMacs(validateConfig(config));
    if (preparedRoot === undefined && isResticRoot(valid.root)) {
      throw new ResticTsError(
        "UNSUPPORTED",
        `the runc runtime cannot fetch ${redact(valid.root)} itself: create it through ContainerManager`,
      );
    }
    for (const source of Object.keys(valid.mount ?? {})) {
      if (!source.startsWith("/")) {
        throw new ResticTsError(
          "UNSUPPORTED",
          `mount source ${redact(source)}: the runc runtime binds host paths only`,
        );
      }
    }
    await mkdir(this.#bundles, { recursive: true, mode: 0o711 });
    const { id, bundle } = await this.#newBundle();
    try {
      const rootfs = path.join(bundle, "rootfs");
      if (preparedRoot !== undefined) await this.#adopt(preparedRoot, rootfs);
      else await this.#fetchRoot(valid.root, rootfs);
      for (const [file, content] of Object.entries(valid.config ?? {})) {
        const target = await resolveInRoot(rootfs, file);
        await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
        await writeFile(target, content, { mode: 0o644 });
      }
      const spec = toOciSpec(id, valid, valid.privileged === true ? await hostCapabilities() : []);
      await writeFile(path.join(bundle, "config.json"), `${JSON.stringify(spec, null, 2)}\n`);
      await this.#writeRecord({
        id,
        created: new Date().toISOString(),
        config: redactConfig(valid),
      });
      return id;
    } catch (err) {
      await rm(bundle, { recursive: true, force: true });
      throw isResticTsError(err) ? err : fromSystemError(err, `creating container ${id}`);
    }
  }

  async inspect(id: string): Promise<ContainerInfo> {
    const rec = await this.#record(id);
    const status = await this.#runcStatus(id);
    return {
      id,
      config: rec.config,
      rootPath: path.join(this.bundlePath(id), "rootfs"),
      state: stateOf(status, rec),
    };
  }

  async list(): Promise<ContainerInfo[]> {
    const names = await readdir(this.#bundles).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return [] as string[];
      throw fromSystemError(err, "listing containers");
    });
    const out: ContainerInfo[] = [];
    for (const name of names.sort()) {
      if (!ID.test(name)) continue;
      try {
        out.push(await this.inspect(name));
      } catch (err) {
        if (!isResticTsError(err, "NOT_FOUND")) throw err;
      }
    }
    return out;
  }

  async start(id: string): Promise<void> {
    const rec = await this.#record(id);
    const bundle = this.bundlePath(id);
    const status = await this.#runcStatus(id);
    if (status === "running" || status === "paused") {
      throw new ResticTsError("INVALID_ARGUMENT", `container ${id} is already ${status}`, { id });
    }
    if (status !== undefined)
      await this.#runcCmd(["delete", "--force", id], `removing old state of ${id}`);
    const logPath = path.join(bundle, "console.log");
    const log = await open(logPath, "a", 0o640);
    let code: number | null;
    try {
      // The container's init inherits runc's stdout/stderr: files, so nothing waits on a pipe.
      code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(
          this.#runc,
          ["--root", this.#runcRoot, "create", "--bundle", bundle, id],
          {
            stdio: ["ignore", log.fd, log.fd],
          },
        );
        child.on("error", reject);
        child.on("exit", (c) => resolve(c));
      });
    } catch (err) {
      throw (err as NodeJS.ErrnoException).code === "ENOENT"
        ? new ResticTsError("NOT_FOUND", `starting container ${id}: ${this.#runc} is not installed`)
        : fromSystemError(err, `starting container ${id}`);
    } finally {
      await log.close();
    }
    if (code !== 0) {
      const tail = (await readFile(logPath, "utf8").catch(() => "")).slice(-4096);
      await this.#runcCmd(["delete", "--force", id], `cleaning up ${id}`).catch(() => {});
      throw new ResticTsError(
        "IO",
        `starting container ${id}: ${runcMessage(tail) || `runc exited with ${code}`}`,
        {
          id,
          exitCode: code,
        },
      );
    }
    try {
      await this.#runcCmd(["start", id], `starting container ${id}`);
    } catch (err) {
      await this.#runcCmd(["delete", "--force", id], `cleaning up ${id}`).catch(() => {});
      throw err;
    }
    await this.#writeRecord({ ...rec, started: new Date().toISOString() });
  }

  async pause(id: string): Promise<void> {
    await this.#expect(id, "running", "pause");
    await this.#runcCmd(["pause", id], `pausing container ${id}`);
  }

  async resume(id: string): Promise<void> {
    await this.#expect(id, "paused", "resume");
    await this.#runcCmd(["resume", id], `resuming container ${id}`);
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`; a paused container is resumed first to get the signal. */
  async stop(id: string, opts: StopOptions = {}): Promise<void> {
    await this.#record(id);
    const status = await this.#runcStatus(id);
    if (status === undefined) return;
    if (status === "paused") await this.#runcCmd(["resume", id], `resuming container ${id}`);
    if (status === "running" || status === "paused") {
      await this.#runcCmd(["kill", id, "TERM"], `stopping container ${id}`).catch(() => {});
      if (!(await this.#waitStopped(id, opts.timeoutMs ?? 10_000))) {
        await this.#runcCmd(["kill", id, "KILL"], `killing container ${id}`).catch(() => {});
        if (!(await this.#waitStopped(id, 10_000))) {
          throw new ResticTsError("TIMEOUT", `container ${id} did not stop after SIGKILL`, { id });
        }
      }
    }
    await this.#runcCmd(["delete", "--force", id], `removing runc state of ${id}`);
  }

  /** Remove the container and its bundle; a running or paused one only with `force`. */
  async delete(id: string, opts: DeleteOptions = {}): Promise<void> {
    await this.#record(id);
    const status = await this.#runcStatus(id);
    if ((status === "running" || status === "paused") && opts.force !== true) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `container ${id} is ${status}: stop it first or force`,
        { id },
      );
    }
    if (status !== undefined)
      await this.#runcCmd(["delete", "--force", id], `deleting container ${id}`);
    await rm(this.bundlePath(id), { recursive: true, force: true });
  }

  async #newBundle(): Promise<{ id: string; bundle: string }> {
    for (;;) {
      const id = randomBytes(8).toString("hex");
      const bundle = path.join(this.#bundles, id);
      try {
        await mkdir(bundle, { mode: 0o711 });
        return { id, bundle };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST")
          throw fromSystemError(err, "creating a bundle");
      }
    }
  }

  /** Take over a prepared root filesystem: rename it, or copy it across filesystems. */
  async #adopt(dir: string, rootfs: string): Promise<void> {
    try {
      await rename(dir, rootfs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EXDEV")
        throw fromSystemError(err, `taking over ${dir}`);
      await mkdir(rootfs);
      await run("cp", ["-a", "--", `${dir}/.`, rootfs], `copying ${dir}`);
      await rm(dir, { recursive: true, force: true });
    }
    await chmod(rootfs, 0o755);
  }

  async #fetchRoot(root: string, rootfs: string): Promise<void> {
    let source = root;
    if (root.startsWith("file://")) {
      try {
        source = fileURLToPath(root);
      } catch (err) {
        throw new ResticTsError(
          "INVALID_URL",
          `root ${redact(root)} is not a valid file URL`,
          {},
          { cause: err },
        );
      }
    }
    if (!source.startsWith("/")) {
      throw new ResticTsError(
        "UNSUPPORTED",
        `root ${redact(root)}: the runc runtime takes a directory, a tar archive or a restic: URL`,
      );
    }
    const st = await stat(source).catch((err: unknown) => {
      throw fromSystemError(err, `root ${redact(root)}`);
    });
    await mkdir(rootfs, { mode: 0o755 });
    if (st.isDirectory()) {
      await run("cp", ["-a", "--", `${source}/.`, rootfs], `copying root ${redact(root)}`);
    } else if (st.isFile()) {
      await run(
        this.#tar,
        ["-x", "-p", "--numeric-owner", "-f", source, "-C", rootfs],
        `extracting root ${redact(root)}`,
      );
      await chmod(rootfs, 0o755);
    } else {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `root ${redact(root)} is neither a directory nor a tar archive`,
      );
    }
  }

  async #record(id: string): Promise<ContainerRecord> {
    const file = path.join(this.bundlePath(id), "container.json");
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new ResticTsError("NOT_FOUND", `no container ${id}`, { id });
      }
      throw fromSystemError(err, `reading container ${id}`);
    }
    try {
      const rec = JSON.parse(text) as ContainerRecord;
      return { ...rec, config: validateConfig(rec.config) };
    } catch (err) {
      throw new ResticTsError(
        "CORRUPT",
        `${file} is damaged: ${(err as Error).message}`,
        { id },
        { cause: err },
      );
    }
  }

  async #writeRecord(rec: ContainerRecord): Promise<void> {
    const file = path.join(this.bundlePath(rec.id), "container.json");
    const tmp = `${file}.tmp`;
    await writeFile(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, file);
  }

  #runcCmd(args: readonly string[], what: string): Promise<string> {
    return run(this.#runc, ["--root", this.#runcRoot, ...args], what);
  }

  /** runc's status of the container, or undefined when runc has no such container. */
  async #runcStatus(id: string): Promise<string | undefined> {
    try {
      const out = await this.#runcCmd(["state", id], `state of container ${id}`);
      return (JSON.parse(out) as { status: string }).status;
    } catch (err) {
      if (isResticTsError(err, "IO") && /does not exist/.test(err.message)) return undefined;
      throw err;
    }
  }

  async #expect(id: string, want: ContainerState, verb: string): Promise<void> {
    const rec = await this.#record(id);
    const state = stateOf(await this.#runcStatus(id), rec);
    if (state !== want) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `cannot ${verb} container ${id}: it is ${state}`,
        { id, state },
      );
    }
  }

  async #waitStopped(id: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.#runcStatus(id);
      if (status === undefined || status === "stopped") return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

function stateOf(status: string | undefined, rec: ContainerRecord): ContainerState {
  switch (status) {
    case "running":
      return "running";
    case "paused":
      return "paused";
    case "stopped":
      return "stopped";
    case undefined:
      return rec.started === undefined ? "created" : "stopped";
    default: // "creating", "created": between runc create and runc start
      return "created";
  }
}
