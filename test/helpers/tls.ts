// A throwaway certificate authority for https tests, made with the openssl command: a CA
// (EC P-256, valid two days) and a server certificate it signed for IP 127.0.0.1.

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface TestCa {
  /** The CA certificate (PEM file). */
  readonly caFile: string;
  /** The server's certificate followed by the CA's (what `rclone serve --cert` wants). */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
}

/** Make the CA and server certificate as files in `dir`. */
export function makeTestCa(dir: string): TestCa {
  const file = (name: string) => path.join(dir, name);
  const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(
    ["req", "-x509", ...ec, "-keyout", file("ca.key"), "-out", file("ca.pem")].concat([
      "-days",
      "2",
      "-subj",
      "/CN=restic-ts test CA",
    ]),
  );
  openssl(
    ["req", ...ec, "-keyout", file("server.key"), "-out", file("server.csr")].concat([
      "-subj",
      "/CN=127.0.0.1",
    ]),
  );
  writeFileSync(file("server.ext"), "subjectAltName=IP:127.0.0.1\n");
  openssl([
    "x509",
    "-req",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.pem"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    file("server.ext"),
    "-out",
    file("server.pem"),
  ]);
  const chain = file("server-chain.pem");
  writeFileSync(chain, readFileSync(file("server.pem")) + readFileSync(file("ca.pem"), "latin1"));
  return { caFile: file("ca.pem"), serverCertFile: chain, serverKeyFile: file("server.key") };
}
