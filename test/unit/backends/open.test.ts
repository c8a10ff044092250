import { describe, expect, it } from "vitest";
import { LocalBackend } from "../../../src/backends/local.js";
import { backendOptionsFromExtended, openBackend } from "../../../src/backends/open.js";
import { RestBackend } from "../../../src/backends/rest.js";
import { RetryBackend } from "../../../src/backends/retry.js";
import { SftpBackend } from "../../../src/backends/sftp.js";
import { parseRepoUrl } from "../../../src/backends/url.js";

describe("openBackend", () => {
  it("opens local directories unwrapped", async () => {
    const b = await openBackend(parseRepoUrl("/tmp/x").location);
    expect(b).toBeInstanceOf(LocalBackend);
  });

  it("opens sftp with user, port and path from the URL, wrapped in retries", async () => {
    const b = await openBackend(parseRepoUrl("sftp://alice@example.org:2222//srv/repo").location, {
      env: {},
      sftp: { connections: 3 },
    });
    expect(b).toBeInstanceOf(RetryBackend);
    const inner = (b as RetryBackend).inner as SftpBackend;
    expect(inner).toBeInstanceOf(SftpBackend);
    expect([inner.host, inner.port, inner.user, inner.root, inner.connections]).toEqual([
      "example.org",
      2222,
      "alice",
      "/srv/repo",
      3,
    ]);
    expect(b.location).toBe("sftp://alice@example.org:2222//srv/repo");
    await b.close();
  });

  it("opens rest wrapped in retries, or bare with retry: false", async () => {
    const loc = parseRepoUrl("rest:http://u:pw-secret@127.0.0.1:1/r/").location;
    const b = await openBackend(loc);
    expect(b).toBeInstanceOf(RetryBackend);
    expect((b as RetryBackend).inner).toBeInstanceOf(RestBackend);
    expect(b.location).not.toContain("pw-secret");
    const bare = await openBackend(loc, { retry: false, rest: { connections: 2 } });
    expect(bare).toBeInstanceOf(RestBackend);
    expect((bare as RestBackend).connections).toBe(2);
    await b.close();
    await bare.close();
  });
});

describe("backendOptionsFromExtended", () => {
  it("reads restic-style -o options", () => {
    expect(
      backendOptionsFromExtended({
        "sftp.connections": "8",
        "sftp.identity": "/k",
        "sftp.known-hosts": "/kh",
        "sftp.insecure-ignore-host-key": "true",
        "sftp.fsync": "no",
        "rest.connections": "2",
        "s3.region": "ignored",
      }),
    ).toEqual({
      sftp: {
        connections: 8,
        identityFile: "/k",
        knownHostsFile: "/kh",
        insecureIgnoreHostKey: true,
        fsync: false,
      },
      rest: { connections: 2 },
    });
  });

  it("refuses bad values and unsupported keys", () => {
    expect(() => backendOptionsFromExtended({ "sftp.connections": "0" })).toThrow(
      /positive integer/,
    );
    expect(() => backendOptionsFromExtended({ "rest.connections": "x" })).toThrow(
      /positive integer/,
    );
    expect(() => backendOptionsFromExtended({ "sftp.fsync": "maybe" })).toThrow(/true or false/);
    expect(() => backendOptionsFromExtended({ "sftp.command": "ssh x" })).toThrow(/unsupported/);
  });
});
