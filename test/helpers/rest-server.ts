// A throwaway restic REST server for tests: `rclone serve restic` (Debian's rclone) as a child
// process on 127.0.0.1 and a free port, serving a temp directory; each repository is a
// subpath (`http://127.0.0.1:PORT/<name>/`). Optional basic auth (`--user/--pass`) and https
// (`--cert/--key`).
// stop() ends the process and removes the directory.

import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { freePort } from "./sshd.js";

export interface RestServer {
  readonly port: number;
  /** The directory served; repository `<name>` is `dir/<name>`. */
  readonly dir: string;
  /** `http://[user:pass@]127.0.0.1:PORT/` */
  readonly url: string;
  /** The URL of repository `name` (with the credentials when the server has them). */
  repoUrl(name: string): string;
  /** rclone's log so far. */
  log(): string;
  /** End the server and remove `dir`. Idempotent. */
  stop(): Promise<void>;
}

export interface RestServerOptions {
  /** Require HTTP basic auth with these credentials. */
  readonly user?: string;
  readonly pass?: string;
  /** rclone's --append-only. */
  readonly appendOnly?: boolean;
  /** Serve https with this certificate chain and key (PEM files; see tls.ts). */
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
}

const live = new Set<ChildProcess>();
/** Temp directories of servers not yet stopped, removed if the process exits first. */
const liveDirs = new Set<string>();
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
});

async function waitForHttp(
  port: number,
  child: ChildProcess,
  ms: number,
  secure: boolean,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`rclone exited (${child.exitCode ?? child.signalCode})`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const get = secure ? https.get : http.get;
      const where = { host: "127.0.0.1", port, path: "/", timeout: 1000 };
      // Readiness only: the certificate is checked by the tests themselves.
      const req = get({ ...where, rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on("error", () => resolve(false));
      req.on("timeout", () => {
        req.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`rclone did not answer on port ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startRestServer(opts: RestServerOptions = {}): Promise<RestServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "restic-ts-rest-"));
  liveDirs.add(dir);
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const args = ["serve", "restic", "--addr", `127.0.0.1:${port}`];
    if (opts.user !== undefined) args.push("--user", opts.user, "--pass", opts.pass ?? "");
    if (opts.appendOnly) args.push("--append-only");
    if (opts.tls) args.push("--cert", opts.tls.certFile, "--key", opts.tls.keyFile);
    args.push(dir);
    const child = spawn("rclone", args, {
      stdio: ["ignore", "ignore", "pipe"],
      // No rclone.conf is needed for a local directory; do not read or write the user's.
      env: { ...process.env, RCLONE_CONFIG: path.join(dir, "..", "restic-ts-no-rclone.conf") },
    });
    live.add(child);
    let log = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      log += d;
      if (log.length > 100_000) log = log.slice(-50_000);
    });
    child.once("error", () => {});
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    exited.then(() => live.delete(child));
    try {
      await waitForHttp(port, child, 15_000, opts.tls !== undefined);
    } catch (err) {
      child.kill("SIGKILL");
      await exited;
      lastError = new Error(`${(err as Error).message}: ${log}`);
      continue;
    }
    const auth =
      opts.user === undefined
        ? ""
        : `${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.pass ?? "")}@`;
    let stopped = false;
    const scheme = opts.tls ? "https" : "http";
    return {
      port,
      dir,
      url: `${scheme}://${auth}127.0.0.1:${port}/`,
      repoUrl: (name: string) => `${scheme}://${auth}127.0.0.1:${port}/${name}/`,
      log: () => log,
      async stop() {
        if (stopped) return;
        stopped = true;
        if (child.exitCode === null && child.signalCode === null) {
          child.kill("SIGTERM");
          const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
          await exited;
          clearTimeout(timer);
        }
        await rm(dir, { recursive: true, force: true });
        liveDirs.delete(dir);
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
  throw lastError;
}
