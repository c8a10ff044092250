// The certificate authorities an https repository (rest:https://…) is checked against, from the
// command line: restic's --cacert / $RESTIC_CACERT (comma-separated), whose certificates are
// then the only ones trusted (restic's backend.Transport builds a fresh pool from them), and
// NODE_EXTRA_CA_CERTS, trusted beside Node's own roots.
//
// Node parses NODE_EXTRA_CA_CERTS at process start, so main.ts's launcher line moves it aside
// (launcher.ts), and `httpsTrustedRoots` loads it when a connection needs it.

import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { ResticTsError } from "../errors.js";
import { DEFERRED_EXTRA_CA_CERTS } from "./launcher.js";

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in `text`; INVALID_ARGUMENT naming `file` when there is none or one does not parse. */
function certificatesIn(text: string, file: string, what: string): string[] {
  const pems = text.match(PEM_CERTIFICATE) ?? [];
  if (pems.length === 0) {
    throw new ResticTsError("INVALID_ARGUMENT", `${what} ${file}: no PEM certificate in it`);
  }
  for (const pem of pems) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `${what} ${file}: cannot parse a certificate: ${(err as Error).message}`,
      );
    }
  }
  return pems;
}

async function readCertificates(file: string, what: string): Promise<string[]> {
  if (file === "") {
    throw new ResticTsError("INVALID_ARGUMENT", `${what}: empty file name`);
  }
  let text: string;
  try {
    text = await readFile(file, "latin1");
  } catch (err) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `${what} ${file}: cannot read it: ${(err as Error).message}`,
    );
  }
  return certificatesIn(text, file, what);
}

/**
 * The `ca` list for an https repository: the --cacert files' certificates when any are given
 * (`cacert`, else $RESTIC_CACERT), else Node's roots plus a deferred NODE_EXTRA_CA_CERTS,
 * else undefined (Node's defaults). A deferred bundle that cannot be read is skipped with
 * `warn`, as Node does with NODE_EXTRA_CA_CERTS; a bad --cacert file is an error.
 */
export async function httpsTrustedRoots(
  cacert: readonly string[] | undefined,
  env: Readonly<Record<string, string | undefined>>,
  warn: (message: string) => void,
): Promise<string[] | undefined> {
  const files =
    cacert !== undefined && cacert.length > 0
      ? cacert
      : env.RESTIC_CACERT !== undefined && env.RESTIC_CACERT !== ""
        ? env.RESTIC_CACERT.split(",")
        : undefined;
  if (files !== undefined) {
    const lists = await Promise.all(files.map((f) => readCertificates(f, "--cacert")));
    return lists.flat();
  }
  const deferred = env[DEFERRED_EXTRA_CA_CERTS];
  if (deferred === undefined || deferred === "") return undefined;
  try {
    const { rootCertificates } = await import("node:tls");
    return [...rootCertificates, ...(await readCertificates(deferred, "NODE_EXTRA_CA_CERTS"))];
  } catch (err) {
    warn(`Warning: ignoring extra certs: ${(err as Error).message}`);
    return undefined;
  }
}
