// A REST repository over https (`rclone serve restic --cert --key`, a test CA made by openssl),
// through the built CLI started as `restic-ts` is, by its launcher line: the CA is trusted
// through NODE_EXTRA_CA_CERTS (deferred by the launcher, loaded by root-certs.ts), --cacert
// or $RESTIC_CACERT, and refused without them; restic reads what we wrote there.

import { spawnSync } from "node:child_process";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RestServer, startRestServer } from "../helpers/rest-server.js";
import { restic } from "../helpers/restic.js";
import { makeTestCa, type TestCa } from "../helpers/tls.js";
import { tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";

/** The built CLI (npm run build), run as an executable so its launcher line applies. */
const CLI = path.resolve(import.meta.dirname, "..", "..", "dist", "src", "cli", "main.js");

const haveTools = hasTool("rclone") && hasTool("restic") && hasTool("openssl");

function cli(args: string[], env: Record<string, string | undefined>) {
  const base: Record<string, string | undefined> = { ...process.env, RESTIC_PASSWORD: "pw" };
  delete base.NODE_EXTRA_CA_CERTS;
  delete base.RESTIC_CACERT;
  const r = spawnSync(CLI, args, { env: { ...base, ...env }, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, error: r.error };
}

describe.runIf(haveTools)("rest over https", () => {
  let srv: RestServer;
  let tmp: { dir: string; cleanup(): Promise<void> };
  let ca: TestCa;
  let repo: string;
  beforeAll(async () => {
    tmp = await tempDir();
    ca = makeTestCa(tmp.dir);
    srv = await startRestServer({
      tls: { certFile: ca.serverCertFile, keyFile: ca.serverKeyFile },
    });
    repo = `rest:${srv.repoUrl("tls")}`;
    expect(repo.startsWith("rest:https://127.0.0.1:")).toBe(true);
  });
  afterAll(async () => {
    await srv?.stop();
    await tmp?.cleanup();
  });

  it("trusts the CA of NODE_EXTRA_CA_CERTS, deferred by the launcher", () => {
    const init = cli(["-r", repo, "init"], { NODE_EXTRA_CA_CERTS: ca.caFile });
    expect(init.error).toBeUndefined();
    expect(init.stderr).toBe("");
    expect(init.code).toBe(0);
    const list = cli(["-r", repo, "snapshots", "--json"], { NODE_EXTRA_CA_CERTS: ca.caFile });
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it("restic reads the repository written over https", async () => {
    const out = await restic(repo, "pw", ["--cacert", ca.caFile, "cat", "config"]);
    expect(JSON.parse(out.stdout).version).toBe(2);
  });

  it("refuses the server's certificate without the CA", () => {
    const r = cli(["-r", repo, "snapshots"], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/certificate/i);
  });

  it("trusts --cacert and $RESTIC_CACERT, and only them", () => {
    expect(cli(["-r", repo, "--cacert", ca.caFile, "snapshots", "--json"], {}).code).toBe(0);
    expect(cli(["-r", repo, "snapshots", "--json"], { RESTIC_CACERT: ca.caFile }).code).toBe(0);
    // --cacert replaces the roots: a file without our CA fails even with NODE_EXTRA_CA_CERTS
    const other = cli(
      ["-r", repo, "--cacert", ca.serverCertFile.replace("-chain", ""), "cat", "config"],
      {
        NODE_EXTRA_CA_CERTS: ca.caFile,
      },
    );
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/certificate/i);
    const bad = cli(["-r", repo, "--cacert", path.join(tmp.dir, "none.pem"), "snapshots"], {});
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("none.pem: cannot read it");
  });

  it("the launcher keeps Node from loading NODE_EXTRA_CA_CERTS at start-up", () => {
    const missing = path.join(tmp.dir, "missing-bundle.pem");
    // through node itself, Node reads the variable at start and warns that it cannot
    const viaNode = spawnSync(process.execPath, [CLI, "version"], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: missing },
      encoding: "utf8",
    });
    expect(viaNode.stderr).toContain("Ignoring extra certs");
    // as an executable, nothing reads it until an https repository is opened
    const direct = cli(["version"], { NODE_EXTRA_CA_CERTS: missing });
    expect(direct.code).toBe(0);
    expect(direct.stderr).toBe("");
    const opened = cli(["-r", repo, "snapshots"], { NODE_EXTRA_CA_CERTS: missing });
    expect(opened.stderr).toMatch(/Warning: ignoring extra certs: .*missing-bundle\.pem/);
    expect(opened.code).toBe(1);
  });
});
