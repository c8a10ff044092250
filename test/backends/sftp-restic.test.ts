// The SFTP backend and the real restic 0.14 on one OpenSSH server on loopback
// (test/helpers/sshd.ts): restic (through the `ssh` program) reads a repository we made over
// SFTP, and we read one restic made and backed up to over SFTP.

import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withRetry } from "../../src/backends/retry.js";
import { SftpBackend, type SftpOptions } from "../../src/backends/sftp.js";
import { Repository } from "../../src/repo/repository.js";
import { restic } from "../helpers/restic.js";
import { type SshdServer, startSshd } from "../helpers/sshd.js";
import { hasTool } from "../helpers/tools.js";
import { collect, randomData } from "./suite.js";

const haveRestic = hasTool("/usr/sbin/sshd") && hasTool("ssh") && hasTool("restic");
const FAST_KDF = { N: 1024, r: 8, p: 1 };

let server: SshdServer | undefined;
let counter = 0;

afterAll(async () => {
  await server?.stop();
  server = undefined;
});

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

describe.runIf(haveRestic)("sftp and restic 0.14", () => {
  let srv: SshdServer;
  beforeAll(async () => {
    server = await startSshd();
    srv = server;
  });

  function resticUrl(dir: string): string {
    return `sftp:${srv.user}@127.0.0.1:${dir}`;
  }

  async function resticSftp(dir: string, args: string[]): Promise<string> {
    const { stdout } = await restic(resticUrl(dir), "pw", [
      "-o",
      `sftp.command=${srv.sshCommand}`,
      ...args,
    ]);
    return stdout;
  }

  it("restic reads a repository we initialised over sftp", async () => {
    const b = new SftpBackend(options(srv));
    try {
      const repo = await Repository.init(b, "pw", { kdf: FAST_KDF });
      const config = JSON.parse(await resticSftp(b.root, ["cat", "config"]));
      expect(config.id).toBe(repo.config.id);
      expect(config.version).toBe(2);
      const keys = JSON.parse(await resticSftp(b.root, ["key", "list", "--json"]));
      expect(keys.map((k: { id: string }) => k.id)).toEqual([repo.keyId.slice(0, 8)]);
      await resticSftp(b.root, ["check"]);
    } finally {
      await b.close();
    }
  });

  it("we read a repository restic made and backed up to over sftp", async () => {
    const dir = path.join(srv.dataDir, `restic-made-${++counter}`);
    const src = path.join(srv.dir, `src-${counter}`);
    await mkdir(src);
    for (let i = 0; i < 3; i++) await writeFile(path.join(src, `f${i}`), randomData(300_000));
    await resticSftp(dir, ["init"]);
    await resticSftp(dir, ["backup", "--quiet", src]);
    const b = withRetry(new SftpBackend(options(srv, { path: dir })));
    try {
      const repo = await Repository.open(b, "pw");
      const snapshots = await repo.listIds("snapshot");
      const theirs = JSON.parse(await resticSftp(dir, ["snapshots", "--json"]));
      expect(snapshots).toEqual(theirs.map((s: { id: string }) => s.id));
      const packs = (await collect(b.list("data"))).map((f) => f.name).sort();
      const theirPacks = (await resticSftp(dir, ["list", "packs"])).trim().split("\n").sort();
      expect(packs).toEqual(theirPacks);
      const snap = JSON.parse(
        new TextDecoder().decode(await repo.loadUnpacked("snapshot", snapshots[0])),
      );
      expect(snap.paths).toEqual([src]);
    } finally {
      await b.close();
    }
  });
});
