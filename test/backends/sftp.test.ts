// The SFTP backend against a real OpenSSH server on loopback (test/helpers/sshd.ts): the
// conformance suite, authentication and host key checking, and reconnection after a dropped
// connection. Interop with the real restic is in sftp-restic.test.ts.

import { execFile } from "node:child_process";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Handle } from "../../src/backends/backend.js";
import { REPO_DIRS } from "../../src/backends/layout.js";
import { openBackend } from "../../src/backends/open.js";
import { withRetry } from "../../src/backends/retry.js";
import { SftpBackend, type SftpOptions } from "../../src/backends/sftp.js";
import { parseRepoUrl } from "../../src/backends/url.js";
import { isResticTsError } from "../../src/errors.js";
import {
  type PasswordSftpServer,
  type SshdServer,
  startPasswordSftpServer,
  startSshd,
} from "../helpers/sshd.js";
import { hasTool } from "../helpers/tools.js";
import { collect, describeBackend, expectCode, randomData, randomId } from "./suite.js";

const run = promisify(execFile);
const haveSshd =
  hasTool("/usr/sbin/sshd") && hasTool("ssh-keygen") && hasTool("ssh-agent") && hasTool("ssh-add");

let server: SshdServer | undefined;
let counter = 0;

async function getServer(): Promise<SshdServer> {
  server ??= await startSshd();
  return server;
}

function options(srv: SshdServer, extra: Partial<SftpOptions> = {}): SftpOptions {
  return {
    host: srv.host,
    port: srv.port,
    user: srv.user,
    path: path.join(srv.dataDir, `repo-${++counter}`),
    identityFile: srv.keyFile,
    agent: false,
    knownHostsFile: srv.knownHostsFile,
    ...extra,
  };
}

afterAll(async () => {
  await server?.stop();
  server = undefined;
});

describe.runIf(haveSshd)("sftp", () => {
  describeBackend(
    "sftp",
    async () => {
      const srv = await getServer();
      // fsync off for speed on a busy disk; the tests below cover saving with fsync.
      return { backend: new SftpBackend(options(srv, { fsync: false })), cleanup: async () => {} };
    },
    { propertyRuns: 20 },
  );

  describe("SftpBackend against OpenSSH", () => {
    let srv: SshdServer;
    beforeAll(async () => {
      srv = await getServer();
    });

    it("creates restic's layout on the server and names its location without secrets", async () => {
      const b = new SftpBackend(options(srv, { password: "hunter2-secret" }));
      try {
        await b.create();
        const dirs: string[] = [];
        for (const top of await readdir(b.root)) {
          dirs.push(top);
          if (top === "data")
            for (const sub of await readdir(path.join(b.root, top))) dirs.push(`data/${sub}`);
        }
        expect(dirs.sort()).toEqual([...REPO_DIRS].sort());
        expect((await stat(b.root)).mode & 0o777).toBe(0o700);
        expect(b.location).toBe(`sftp://${srv.user}@127.0.0.1:${srv.port}/${b.root}`);
        expect(b.location).not.toContain("hunter2");
      } finally {
        await b.close();
      }
    });

    it("saves through a temp file renamed into place, leaving no temp files", async () => {
      const b = new SftpBackend(options(srv));
      try {
        await b.create();
        expect(await b.features()).toMatchObject({ posixRename: true, fsync: true });
        expect((await b.features()).maxWrite).toBeGreaterThan(32 * 1024);
        const h: Handle = { type: "data", name: randomId("ab") };
        await b.save(h, randomData(3_000_000));
        const files = await readdir(path.join(b.root, "data", "ab"));
        expect(files).toEqual([h.name]);
        expect((await stat(path.join(b.root, "data", "ab", h.name))).mode & 0o777).toBe(0o600);
        // A leftover temp file of an interrupted save is never listed.
        await writeFile(path.join(b.root, "data", "ab", `${randomId("ab")}-restic-temp-0011`), "x");
        expect((await collect(b.list("data"))).map((f) => f.name)).toEqual([h.name]);
      } finally {
        await b.close();
      }
    });

    it("reads a repository path relative to the login directory", async () => {
      // sftp-server starts in the user's home directory (from passwd).
      const rel = path.relative(os.userInfo().homedir, path.join(srv.dataDir, "relative-repo"));
      expect(path.isAbsolute(rel)).toBe(false);
      const b = new SftpBackend(options(srv, { path: rel }));
      try {
        await b.create();
        await b.save({ type: "config", name: "" }, new Uint8Array([1, 2, 3]));
        expect(await readFile(path.join(srv.dataDir, "relative-repo", "config"))).toEqual(
          Buffer.from([1, 2, 3]),
        );
        expect(b.location).toBe(`sftp://${srv.user}@127.0.0.1:${srv.port}/${rel}`);
      } finally {
        await b.close();
      }
    });

    it("refuses an unknown host and a changed host key, permanently", async () => {
      const empty = path.join(srv.dir, "known_hosts_empty");
      await writeFile(empty, "# nothing here\n");
      const wrong = path.join(srv.dir, "known_hosts_wrong");
      const otherKey = path.join(srv.dir, "not_the_host_key");
      await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherKey]);
      const other = (await readFile(`${otherKey}.pub`, "utf8")).trim();
      await writeFile(wrong, `[127.0.0.1]:${srv.port} ${other}\n`);
      for (const [file, reason, words] of [
        [empty, "host-key-unknown", /not in/],
        [wrong, "host-key-mismatch", /DOES NOT MATCH/],
      ] as const) {
        const b = new SftpBackend(options(srv, { knownHostsFile: file }));
        try {
          const err = await b.stat({ type: "config", name: "" }).catch((e: unknown) => e);
          expect(isResticTsError(err, "ACCESS_DENIED"), String(err)).toBe(true);
          expect((err as { data: { reason: string; permanent: boolean } }).data).toMatchObject({
            reason,
            permanent: true,
          });
          expect((err as Error).message).toMatch(words);
        } finally {
          await b.close();
        }
      }
      // The opt-out connects anyway.
      const b = new SftpBackend(
        options(srv, { knownHostsFile: empty, insecureIgnoreHostKey: true }),
      );
      try {
        await expectCode(b.stat({ type: "config", name: "" }), "NOT_FOUND");
      } finally {
        await b.close();
      }
    });

    it("accepts a hashed known_hosts entry (ssh-keygen -H)", async () => {
      const hashed = path.join(srv.dir, "known_hosts_hashed");
      await writeFile(hashed, await readFile(srv.knownHostsFile));
      await run("ssh-keygen", ["-q", "-H", "-f", hashed]);
      const text = await readFile(hashed, "utf8");
      expect(text).toMatch(/^\|1\|/);
      expect(text).not.toContain("127.0.0.1");
      const b = new SftpBackend(options(srv, { knownHostsFile: hashed }));
      try {
        await b.create();
        expect(await b.isEmpty()).toBe(false);
      } finally {
        await b.close();
      }
    });

    it("fails authentication permanently, naming user and host but no password", async () => {
      const other = path.join(srv.dir, "other_key");
      await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other]);
      const b = new SftpBackend(options(srv, { identityFile: other, password: "sekrit-pass-123" }));
      try {
        const err = await b.stat({ type: "config", name: "" }).catch((e: unknown) => e);
        expect(isResticTsError(err, "ACCESS_DENIED"), String(err)).toBe(true);
        const e = err as Error & { data: Record<string, unknown> };
        expect(e.data).toMatchObject({ reason: "auth", permanent: true });
        expect(e.message).toContain(`${srv.user}@127.0.0.1:${srv.port}`);
        expect(e.message).toContain("authentication failed");
        expect(e.message).toContain("password");
        expect(e.message).not.toContain("sekrit");
        expect(JSON.stringify(e)).not.toContain("sekrit");
        expect(b.connectCount).toBe(0);
      } finally {
        await b.close();
      }
    });

    it("refuses an encrypted identity file without a passphrase, and uses it with one", async () => {
      const enc = path.join(srv.dir, "enc_key");
      await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "pp-123", "-f", enc]);
      await writeFile(
        path.join(srv.dir, "id_ed25519.pub"),
        `${(await readFile(srv.publicKeyFile, "utf8")).trim()}\n${(await readFile(`${enc}.pub`, "utf8")).trim()}\n`,
      );
      const without = new SftpBackend(options(srv, { identityFile: enc }));
      await expectCode(without.stat({ type: "config", name: "" }), "INVALID_ARGUMENT");
      await without.close();
      const withPass = new SftpBackend(options(srv, { identityFile: enc, passphrase: "pp-123" }));
      try {
        await expectCode(withPass.stat({ type: "config", name: "" }), "NOT_FOUND");
      } finally {
        await withPass.close();
      }
    });

    it("authenticates through an ssh-agent", async () => {
      const sock = path.join(srv.dir, "agent.sock");
      const { stdout } = await run("ssh-agent", ["-a", sock, "-s"]);
      const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(stdout)?.[1]);
      try {
        await run("ssh-add", [srv.keyFile], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
        const b = new SftpBackend(options(srv, { identityFile: [], agent: sock }));
        try {
          await b.create();
          await b.save({ type: "key", name: randomId() }, randomData(10));
          expect((await collect(b.list("key"))).length).toBe(1);
        } finally {
          await b.close();
        }
      } finally {
        if (pid > 0) process.kill(pid);
      }
    });

    it("bounds the operations in flight by `connections`", async () => {
      const b = new SftpBackend(options(srv, { connections: 2 }));
      try {
        await b.create();
        const files = Array.from({ length: 12 }, () => ({
          h: { type: "data", name: randomId() } as Handle,
          data: randomData(200_000),
        }));
        await Promise.all(files.map((f) => b.save(f.h, f.data)));
        const loaded = await Promise.all(files.map((f) => b.load(f.h)));
        loaded.forEach((got, i) => {
          expect(Buffer.from(got).equals(Buffer.from(files[i].data))).toBe(true);
        });
        expect(b.connectCount).toBe(1);
      } finally {
        await b.close();
      }
    });

    it("reconnects after a dropped connection; RetryBackend retries the failed operations", async () => {
      const inner = new SftpBackend(options(srv));
      const reports: string[] = [];
      const b = withRetry(inner, {
        initialDelayMs: 20,
        report: (what, err) => reports.push(`${what}: ${(err as Error).message}`),
      });
      try {
        await b.create();
        const h: Handle = { type: "data", name: randomId() };
        const data = randomData(4_000_000);
        await b.save(h, data);
        expect(inner.connectCount).toBe(1);
        // Freeze the server side so the loads and saves are surely in flight, then kill it.
        expect(await srv.signalConnections("SIGSTOP")).toBeGreaterThan(0);
        const loads = Array.from({ length: 4 }, () => b.load(h));
        const saves = Array.from({ length: 4 }, () =>
          b.save({ type: "data", name: randomId() }, randomData(2_000_000)),
        );
        await new Promise((r) => setTimeout(r, 50));
        expect(await srv.signalConnections("SIGKILL")).toBeGreaterThan(0);
        for (const got of await Promise.all(loads)) {
          expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
        }
        await Promise.all(saves);
        expect(inner.connectCount).toBeGreaterThanOrEqual(2);
        expect(reports.some((r) => r.includes("connection lost"))).toBe(true);
        expect((await collect(b.list("data"))).length).toBe(5);
        // Without the retry wrapper, an operation after a drop simply reconnects.
        await inner.dropConnectionForTesting();
        expect((await inner.stat(h)).size).toBe(data.length);
      } finally {
        await b.close();
      }
    });

    it("does not keep the process alive while idle", async () => {
      const sockets = () =>
        process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;
      // Let sockets of earlier tests finish closing.
      await new Promise((r) => setTimeout(r, 100));
      const before = sockets();
      const b = new SftpBackend(options(srv));
      try {
        await b.create();
        // Connected, but idle: nothing of ours holds the event loop …
        expect(sockets()).toBe(before);
        // … while an operation in flight does.
        const saving = b.save({ type: "lock", name: randomId() }, randomData(2_000_000));
        await new Promise((r) => setTimeout(r, 1));
        expect(sockets()).toBe(before + 1);
        await saving;
        expect(sockets()).toBe(before);
        expect((await collect(b.list("lock"))).length).toBe(1);
        expect(sockets()).toBe(before);
      } finally {
        await b.close();
      }
    });

    it("drops a stalled connection (TIMEOUT) and reconnects", async () => {
      const b = new SftpBackend(options(srv, { stallTimeoutMs: 400 }));
      try {
        await b.create();
        expect(b.connectCount).toBe(1);
        await srv.signalConnections("SIGSTOP");
        let stopped = true;
        try {
          await expectCode(b.stat({ type: "config", name: "" }), "TIMEOUT");
        } finally {
          await srv.signalConnections("SIGCONT");
          stopped = false;
        }
        expect(stopped).toBe(false);
        await expectCode(b.stat({ type: "config", name: "" }), "NOT_FOUND");
        expect(b.connectCount).toBe(2);
      } finally {
        await b.close();
      }
    });

    it("gives a transient IO error for a refused connection", async () => {
      const b = new SftpBackend({ ...options(srv), port: 1 });
      try {
        const err = await b.stat({ type: "config", name: "" }).catch((e: unknown) => e);
        expect(isResticTsError(err, "IO"), String(err)).toBe(true);
        expect((err as { data: { permanent?: boolean } }).data.permanent).toBe(false);
      } finally {
        await b.close();
      }
    });
  });

  describe("password authentication (in-process SSH server running OpenSSH's sftp-server)", () => {
    let pw: PasswordSftpServer;
    beforeAll(async () => {
      pw = await startPasswordSftpServer("backup", "open sesame 42");
    });
    afterAll(async () => {
      await pw?.stop();
    });

    const pwOptions = (extra: Partial<SftpOptions>): SftpOptions => ({
      host: pw.host,
      port: pw.port,
      user: pw.user,
      path: path.join(pw.dataDir, `repo-${++counter}`),
      identityFile: [],
      agent: false,
      knownHostsFile: pw.knownHostsFile,
      ...extra,
    });

    it("logs in with the password and keeps the conformance basics", async () => {
      const b = new SftpBackend(pwOptions({ password: "open sesame 42" }));
      try {
        await b.create();
        const h: Handle = { type: "data", name: randomId() };
        const data = randomData(1_000_000);
        await b.save(h, data);
        expect(
          Buffer.from(await b.load(h, { offset: 5, length: 10 })).equals(
            Buffer.from(data.subarray(5, 15)),
          ),
        ).toBe(true);
        expect((await collect(b.list("data"))).map((f) => f.name)).toEqual([h.name]);
      } finally {
        await b.close();
      }
    });

    it("fails permanently with a wrong password, not showing it", async () => {
      const b = withRetry(new SftpBackend(pwOptions({ password: "wrong-guess-77" })), {
        initialDelayMs: 1,
      });
      try {
        const err = await b.stat({ type: "config", name: "" }).catch((e: unknown) => e);
        expect(isResticTsError(err, "ACCESS_DENIED"), String(err)).toBe(true);
        expect((err as { data: Record<string, unknown> }).data).toMatchObject({
          reason: "auth",
          permanent: true,
        });
        expect((err as Error).message).toContain(`backup@127.0.0.1:${pw.port}`);
        expect(JSON.stringify(err)).not.toContain("wrong-guess-77");
        expect((err as Error).message).not.toContain("wrong-guess-77");
      } finally {
        await b.close();
      }
    });

    it("openBackend takes the SSH password from RESTIC_TS_SSH_PASSWORD, never from the URL", async () => {
      const dir = path.join(pw.dataDir, `env-${++counter}`);
      const url = parseRepoUrl(`sftp://backup@127.0.0.1:${pw.port}/${dir}?password=repo-pw`);
      expect(url.password).toBe("repo-pw");
      const b = await openBackend(url.location, {
        env: {
          RESTIC_TS_SSH_PASSWORD: "open sesame 42",
          RESTIC_TS_SSH_KNOWN_HOSTS: pw.knownHostsFile,
          HOME: "/nonexistent",
        },
        sftp: { identityFile: [] },
      });
      try {
        await b.create();
        expect(await b.isEmpty!()).toBe(false);
      } finally {
        await b.close();
      }
    });
  });

  it("openBackend finds the key in RESTIC_TS_SSH_KEY and known hosts in RESTIC_TS_SSH_KNOWN_HOSTS", async () => {
    const srv = await getServer();
    const url = parseRepoUrl(
      `sftp://${srv.user}@127.0.0.1:${srv.port}/${srv.dataDir}/env-key-${++counter}`,
    );
    const b = await openBackend(url.location, {
      env: { RESTIC_TS_SSH_KEY: srv.keyFile, RESTIC_TS_SSH_KNOWN_HOSTS: srv.knownHostsFile },
    });
    try {
      await b.create();
      await b.save({ type: "config", name: "" }, randomData(10));
      expect((await b.stat({ type: "config", name: "" })).size).toBe(10);
    } finally {
      await b.close();
    }
  });
});
