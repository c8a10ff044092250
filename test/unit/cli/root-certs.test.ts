// Which certificate authorities an https repository is checked against (root-certs.ts):
// --cacert / $RESTIC_CACERT alone, or Node's roots plus a deferred NODE_EXTRA_CA_CERTS.

import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { rootCertificates } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFERRED_EXTRA_CA_CERTS } from "../../../src/cli/launcher.js";
import { httpsTrustedRoots } from "../../../src/cli/root-certs.js";
import { isResticTsError } from "../../../src/errors.js";
import { makeTestCa, type TestCa } from "../../helpers/tls.js";
import { tempDir } from "../../helpers/tmp.js";
import { hasTool } from "../../helpers/tools.js";

describe.runIf(hasTool("openssl"))("https trusted roots", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let ca: TestCa;
  let caPem: string;
  const noWarn = (m: string) => {
    throw new Error(`unexpected warning: ${m}`);
  };
  beforeAll(async () => {
    tmp = await tempDir();
    ca = makeTestCa(tmp.dir);
    caPem = readFileSync(ca.caFile, "latin1").trim();
  });
  afterAll(async () => {
    await tmp?.cleanup();
  });

  it("uses Node's defaults when nothing is configured", async () => {
    expect(await httpsTrustedRoots(undefined, {}, noWarn)).toBeUndefined();
    expect(await httpsTrustedRoots([], { [DEFERRED_EXTRA_CA_CERTS]: "" }, noWarn)).toBeUndefined();
  });

  it("trusts only the --cacert files, like restic", async () => {
    const roots = await httpsTrustedRoots([ca.caFile], {}, noWarn);
    expect(roots).toEqual([caPem]);
    // two files, and the server chain file holding two certificates
    const both = await httpsTrustedRoots([ca.caFile, ca.serverCertFile], {}, noWarn);
    expect(both).toHaveLength(3);
    // --cacert wins over $RESTIC_CACERT and over the deferred bundle
    const env = { RESTIC_CACERT: "/nonexistent", [DEFERRED_EXTRA_CA_CERTS]: ca.serverCertFile };
    expect(await httpsTrustedRoots([ca.caFile], env, noWarn)).toEqual([caPem]);
  });

  it("reads $RESTIC_CACERT as a comma-separated list", async () => {
    const roots = await httpsTrustedRoots(
      undefined,
      { RESTIC_CACERT: `${ca.caFile},${ca.caFile}` },
      noWarn,
    );
    expect(roots).toEqual([caPem, caPem]);
  });

  it("refuses a --cacert file that is missing, empty or not a certificate, naming it", async () => {
    const junk = path.join(tmp.dir, "junk.pem");
    await writeFile(junk, "not a certificate\n");
    const broken = path.join(tmp.dir, "broken.pem");
    await writeFile(broken, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    for (const [files, text] of [
      [[path.join(tmp.dir, "missing.pem")], "missing.pem: cannot read it"],
      [[junk], "junk.pem: no PEM certificate in it"],
      [[broken], "broken.pem: cannot parse a certificate"],
      [[""], "--cacert: empty file name"],
    ] as const) {
      const err = await httpsTrustedRoots(files, {}, noWarn).catch((e: unknown) => e);
      expect(isResticTsError(err) && err.code).toBe("INVALID_ARGUMENT");
      expect((err as Error).message).toContain(text);
    }
  });

  it("adds a deferred NODE_EXTRA_CA_CERTS to Node's roots", async () => {
    const roots = await httpsTrustedRoots(
      undefined,
      { [DEFERRED_EXTRA_CA_CERTS]: ca.caFile },
      noWarn,
    );
    expect(roots).toEqual([...rootCertificates, caPem]);
  });

  it("skips an unreadable deferred bundle with a warning, as Node does", async () => {
    const warnings: string[] = [];
    const roots = await httpsTrustedRoots(
      undefined,
      { [DEFERRED_EXTRA_CA_CERTS]: path.join(tmp.dir, "gone.pem") },
      (m) => warnings.push(m),
    );
    expect(roots).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^Warning: ignoring extra certs: .*gone\.pem: cannot read it/);
  });
});
