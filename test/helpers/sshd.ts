// Throwaway SSH servers for tests. startSshd(): OpenSSH's /usr/sbin/sshd as a non-daemon child
// process on 127.0.0.1 and a free port, with its own host key, a user key pair (ed25519, no
// passphrase) in authorized_keys, a known_hosts file naming the host key, and `internal-sftp`.
// Everything lives in one temp directory that stop() removes; stop() also ends the server and
// every per-connection process it forked. startPasswordSftpServer(): an in-process SSH server
// (ssh2's Server) that accepts one user name and password — which sshd cannot do here without
// giving a system account a password — and runs OpenSSH's sftp-server for each session.
// Reusable by any test that needs an SFTP server.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { timingSafeEqual } from "node:crypto";
import { rmSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import ssh2 from "ssh2";

const run = promisify(execFile);

export const SSHD_PATH = "/usr/sbin/sshd";
export const SFTP_SERVER_PATH = "/usr/lib/openssh/sftp-server";

export interface SshdServer {
  readonly host: "127.0.0.1";
  readonly port: number;
  /** The login user: the user running the tests (root here, hence PermitRootLogin). */
  readonly user: string;
  /** The temp directory holding keys, config and logs; `stop()` removes it. */
  readonly dir: string;
  /** A directory under `dir` for repositories (absolute). */
  readonly dataDir: string;
  /** The user's private key (OpenSSH format, no passphrase) and its public half. */
  readonly keyFile: string;
  readonly publicKeyFile: string;
  /** A known_hosts file with one plain entry `[127.0.0.1]:PORT <host key>`. */
  readonly knownHostsFile: string;
  /** The host's public key line (`ssh-ed25519 AAAA…`). */
  readonly hostPublicKey: string;
  /** The `ssh` command restic's `-o sftp.command=` needs to reach this server. */
  readonly sshCommand: string;
  /** sshd's log (stderr) so far, for failure messages. */
  log(): string;
  /** Kill every established connection (the per-connection sshd processes); returns how many. */
  dropConnections(): Promise<number>;
  /** Send `signal` to every per-connection process (e.g. SIGSTOP / SIGCONT to stall them). */
  signalConnections(signal: NodeJS.Signals): Promise<number>;
  /** End the server and its connections and remove `dir`. Idempotent. */
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Extra sshd_config lines. */
  readonly extraConfig?: readonly string[];
}

/** Servers still running, killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
/** Temp directories of servers not yet stopped, removed if the process exits first. */
const liveDirs = new Set<string>();
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
});

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr !== null && typeof addr === "object") resolve(addr.port);
        else reject(new Error("no port"));
      });
    });
  });
}

async function keygen(file: string, type = "ed25519"): Promise<string> {
  await run("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "restic-ts-test", "-f", file]);
  return (await readFile(`${file}.pub`, "utf8")).trim();
}

/** Resolve once `port` answers with an SSH banner, or reject after `ms`. */
async function waitForBanner(port: number, child: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`sshd exited (${child.exitCode ?? child.signalCode})`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect(port, "127.0.0.1");
      const done = (v: boolean) => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(1000, () => done(false));
      sock.once("data", (d) => done(d.toString("latin1").startsWith("SSH-")));
      sock.once("error", () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`sshd did not answer on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The pids of the direct children of `pid`, from /proc (no `ps` needed). */
async function childPids(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // "pid (comm) state ppid …"; comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[1]) === pid) out.push(Number(entry));
  }
  return out;
}

/** All descendants of `pid`, children before grandchildren. */
async function descendants(pid: number): Promise<number[]> {
  const out: number[] = [];
  let level = await childPids(pid);
  while (level.length > 0) {
    out.push(...level);
    const next: number[] = [];
    for (const p of level) next.push(...(await childPids(p)));
    level = next;
  }
  return out;
}

function kill(pid: number, signal: NodeJS.Signals = "SIGTERM"): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Start sshd; retries with another port when the chosen one was taken meanwhile. */
export async function startSshd(opts: SshdOptions = {}): Promise<SshdServer> {
  // sshd refuses to start as root without its privilege separation directory, which the
  // Debian package only creates when systemd starts the service.
  if (process.getuid?.() === 0) await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = await mkdtemp(path.join(os.tmpdir(), "restic-ts-sshd-"));
  liveDirs.add(dir);
  try {
    const hostKey = path.join(dir, "host_ed25519");
    const keyFile = path.join(dir, "id_ed25519");
    const [hostPublicKey] = await Promise.all([keygen(hostKey), keygen(keyFile)]);
    const dataDir = path.join(dir, "data");
    await mkdir(dataDir);
    let lastError: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      try {
        return await launch(dir, port, hostKey, hostPublicKey, keyFile, dataDir, opts);
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    throw err;
  }
}

async function launch(
  dir: string,
  port: number,
  hostKey: string,
  hostPublicKey: string,
  keyFile: string,
  dataDir: string,
  opts: SshdOptions,
): Promise<SshdServer> {
  const config = path.join(dir, "sshd_config");
  await writeFile(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, "sshd.pid")}`,
      "UsePAM no",
      "StrictModes no",
      "PermitRootLogin yes",
      `AuthorizedKeysFile ${keyFile}.pub`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UseDNS no",
      "MaxStartups 100",
      "MaxSessions 100",
      "Subsystem sftp internal-sftp",
      "LogLevel ERROR",
      ...(opts.extraConfig ?? []),
      "",
    ].join("\n"),
  );
  const knownHostsFile = path.join(dir, "known_hosts");
  await writeFile(knownHostsFile, `[127.0.0.1]:${port} ${hostPublicKey}\n`);
  const child = spawn(SSHD_PATH, ["-D", "-e", "-f", config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    log += d;
    if (log.length > 100_000) log = log.slice(-50_000);
  });
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  exited.then(() => live.delete(child));
  child.once("error", () => {});
  try {
    await waitForBanner(port, child, 10_000);
  } catch (err) {
    kill(child.pid ?? -1, "SIGKILL");
    await exited;
    throw new Error(`${(err as Error).message}: ${log}`);
  }
  const user = os.userInfo().username;
  let stopped = false;
  const server: SshdServer = {
    host: "127.0.0.1",
    port,
    user,
    dir,
    dataDir,
    keyFile,
    publicKeyFile: `${keyFile}.pub`,
    knownHostsFile,
    hostPublicKey,
    sshCommand: `ssh -i ${keyFile} -p ${port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR ${user}@127.0.0.1 -s sftp`,
    log: () => log,
    async signalConnections(signal: NodeJS.Signals) {
      if (child.pid === undefined) return 0;
      return (await descendants(child.pid)).filter((p) => kill(p, signal)).length;
    },
    async dropConnections() {
      if (child.pid === undefined) return 0;
      const pids = await childPids(child.pid);
      // Killing the per-connection monitor also ends its unprivileged child.
      return pids.filter((p) => kill(p, "SIGKILL")).length;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child.pid !== undefined && child.exitCode === null) {
        const kids = await descendants(child.pid);
        kill(child.pid, "SIGTERM");
        for (const p of kids) kill(p, "SIGKILL");
        const timer = setTimeout(() => kill(child.pid ?? -1, "SIGKILL"), 3000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    },
  };
  return server;
}

export interface PasswordSftpServer {
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly dir: string;
  /** A directory under `dir` for repositories (absolute). */
  readonly dataDir: string;
  readonly knownHostsFile: string;
  /** Authentication attempts seen, as `method` names. */
  readonly attempts: string[];
  stop(): Promise<void>;
}

/** An SFTP server on 127.0.0.1 that accepts only `user` with `password`. */
export async function startPasswordSftpServer(
  user = "restic-ts",
  password = "correct horse battery staple",
): Promise<PasswordSftpServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "restic-ts-pwsftp-"));
  liveDirs.add(dir);
  const hostKey = path.join(dir, "host_ed25519");
  const hostPublicKey = await keygen(hostKey);
  const dataDir = path.join(dir, "data");
  await mkdir(dataDir);
  const attempts: string[] = [];
  const children = new Set<ChildProcess>();
  const clients = new Set<{ end(): unknown }>();
  const same = (a: string, b: string) =>
    a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
  const server = new ssh2.Server({ hostKeys: [await readFile(hostKey)] }, (client) => {
    clients.add(client);
    client.on("close", () => clients.delete(client));
    client.on("error", () => {});
    client.on("authentication", (ctx) => {
      attempts.push(ctx.method);
      if (ctx.method === "password" && ctx.username === user && same(ctx.password, password)) {
        ctx.accept();
      } else {
        ctx.reject(["password"]);
      }
    });
    client.on("ready", () => {
      client.on("session", (acceptSession) => {
        const session = acceptSession();
        session.on("subsystem", (accept, reject, info) => {
          if (info.name !== "sftp") {
            reject();
            return;
          }
          const stream = accept();
          const child = spawn(SFTP_SERVER_PATH, [], {
            cwd: dataDir,
            stdio: ["pipe", "pipe", "ignore"],
          });
          children.add(child);
          live.add(child);
          child.once("error", () => {});
          child.once("exit", (code) => {
            children.delete(child);
            live.delete(child);
            stream.exit(code ?? 0);
            stream.end();
          });
          stream.pipe(child.stdin!);
          child.stdout!.pipe(stream);
          stream.on("close", () => child.kill());
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  const knownHostsFile = path.join(dir, "known_hosts");
  await writeFile(knownHostsFile, `[127.0.0.1]:${port} ${hostPublicKey}\n`);
  let stopped = false;
  return {
    host: "127.0.0.1",
    port,
    user,
    password,
    dir,
    dataDir,
    knownHostsFile,
    attempts,
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of children) c.kill("SIGKILL");
      for (const c of clients) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    },
  };
}
