import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  findKnownHostKeys,
  hostFieldMatches,
  hostKeyAlgorithms,
  hostLookupName,
  verifyHostKey,
} from "../../../src/backends/known-hosts.js";

/** A fake key blob of `type` (the real ones start with the type as an SSH string too). */
function blob(type: string): Buffer {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  return Buffer.concat([len, t, randomBytes(32)]);
}

function hashed(name: string): string {
  const salt = randomBytes(20);
  const mac = createHmac("sha1", salt).update(name).digest();
  return `|1|${salt.toString("base64")}|${mac.toString("base64")}`;
}

describe("known_hosts", () => {
  const ed = blob("ssh-ed25519");
  const ec = blob("ecdsa-sha2-nistp256");
  const rsa = blob("ssh-rsa");
  const other = blob("ssh-ed25519");

  it("names a host on port 22 plainly and on other ports as [host]:port", () => {
    expect(hostLookupName("example.org", 22)).toBe("example.org");
    expect(hostLookupName("example.org", 2222)).toBe("[example.org]:2222");
  });

  it("matches patterns: lists, wildcards, negation, case", () => {
    expect(hostFieldMatches("a.example.org,b.example.org", "b.example.org")).toBe(true);
    expect(hostFieldMatches("*.example.org", "x.example.org")).toBe(true);
    expect(hostFieldMatches("*.example.org,!bad.example.org", "bad.example.org")).toBe(false);
    expect(hostFieldMatches("host?", "host1")).toBe(true);
    expect(hostFieldMatches("host?", "host12")).toBe(false);
    expect(hostFieldMatches("EXAMPLE.org", "example.ORG")).toBe(true);
    expect(hostFieldMatches("[10.0.0.1]:2222", "[10.0.0.1]:2222")).toBe(true);
    expect(hostFieldMatches("10.0.0.1", "[10.0.0.1]:2222")).toBe(false);
    expect(hostFieldMatches("a.b", "aXb")).toBe(false); // "." is literal
  });

  it("matches hashed names (ssh-keygen -H)", () => {
    expect(hostFieldMatches(hashed("[127.0.0.1]:2222"), "[127.0.0.1]:2222")).toBe(true);
    expect(hostFieldMatches(hashed("[127.0.0.1]:2222"), "127.0.0.1")).toBe(false);
    expect(hostFieldMatches("|1|bogus", "x")).toBe(false);
    expect(hostFieldMatches("|2|a|b", "x")).toBe(false);
  });

  it("finds the entries of a host, skipping comments, other hosts, CAs and junk", () => {
    const text = [
      "# comment",
      "",
      `example.org ssh-ed25519 ${ed.toString("base64")} me@laptop`,
      `other.org ssh-ed25519 ${other.toString("base64")}`,
      `${hashed("example.org")} ecdsa-sha2-nistp256 ${ec.toString("base64")}`,
      `@cert-authority *.org ssh-ed25519 ${other.toString("base64")}`,
      `@revoked example.org ssh-rsa ${rsa.toString("base64")}`,
      "example.org ssh-ed25519",
      "garbage",
    ].join("\r\n");
    const keys = findKnownHostKeys(text, "example.org", 22);
    expect(keys.map((k) => [k.type, k.revoked, k.line])).toEqual([
      ["ssh-ed25519", false, 3],
      ["ecdsa-sha2-nistp256", false, 5],
      ["ssh-rsa", true, 7],
    ]);
    expect(findKnownHostKeys(text, "example.org", 2222)).toEqual([]);
    expect(Buffer.from(keys[0].blob).equals(ed)).toBe(true);
  });

  it("accepts a listed key, refuses unknown hosts, changed and revoked keys", () => {
    const text = [
      `example.org ssh-ed25519 ${ed.toString("base64")}`,
      `@revoked example.org ssh-rsa ${rsa.toString("base64")}`,
      `revoked-only.org ssh-rsa ${rsa.toString("base64")}`,
      `@revoked revoked-only.org ssh-rsa ${rsa.toString("base64")}`,
    ].join("\n");
    const known = findKnownHostKeys(text, "example.org", 22);
    expect(verifyHostKey(known, ed)).toEqual({ ok: true });
    expect(verifyHostKey(known, other)).toEqual({ ok: false, reason: "mismatch" });
    expect(verifyHostKey(known, rsa)).toEqual({ ok: false, reason: "revoked" });
    expect(verifyHostKey([], ed)).toEqual({ ok: false, reason: "unknown" });
    const revokedOnly = findKnownHostKeys(text, "revoked-only.org", 22);
    expect(verifyHostKey(revokedOnly, rsa)).toEqual({ ok: false, reason: "revoked" });
  });

  it("offers the host key algorithms of the known keys, in file order", () => {
    const text = [
      `h ssh-rsa ${rsa.toString("base64")}`,
      `h ssh-ed25519 ${ed.toString("base64")}`,
      `@revoked h ecdsa-sha2-nistp256 ${ec.toString("base64")}`,
      `h ssh-ed25519 ${other.toString("base64")}`,
    ].join("\n");
    expect(hostKeyAlgorithms(findKnownHostKeys(text, "h", 22))).toEqual([
      "rsa-sha2-512",
      "rsa-sha2-256",
      "ssh-rsa",
      "ssh-ed25519",
    ]);
    expect(hostKeyAlgorithms([])).toEqual([]);
  });
});
