import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isResticRoot, parseRepoUrl, parseResticRoot } from "../../../src/backends/url.js";
import { isResticTsError } from "../../../src/errors.js";

describe("parseRepoUrl", () => {
  it.each([
    ["/srv/repo", { kind: "local", path: "/srv/repo" }],
    ["relative/repo", { kind: "local", path: "relative/repo" }],
    ["local:/srv/repo", { kind: "local", path: "/srv/repo" }],
    ["file:///srv/my%20repo", { kind: "local", path: "/srv/my repo" }],
    ["sftp:user@host:/backup", { kind: "sftp", user: "user", host: "host", path: "/backup" }],
    ["sftp:host:rel/dir", { kind: "sftp", user: undefined, host: "host", path: "rel/dir" }],
    [
      "sftp://user@host:2222//srv/repo",
      { kind: "sftp", user: "user", host: "host", port: 2222, path: "/srv/repo" },
    ],
    [
      "sftp://host/rel",
      { kind: "sftp", user: undefined, host: "host", port: undefined, path: "rel" },
    ],
    ["rest:http://127.0.0.1:8000/repo", { kind: "rest", url: "http://127.0.0.1:8000/repo" }],
  ])("%s", (input, location) => {
    expect(parseRepoUrl(input).location).toEqual(location);
  });

  it("takes the password and the snapshot out of the agent's form", () => {
    const u = parseRepoUrl("file:///srv/repo?password=p%40ss%26word#1a2b3c4d");
    expect(u.location).toEqual({ kind: "local", path: "/srv/repo" });
    expect(u.password).toBe("p@ss&word");
    expect(u.snapshot).toBe("1a2b3c4d");
    expect(u.display).toBe("/srv/repo");
    const s = parseRepoUrl("sftp:user@host:/backup?password=pw#latest");
    expect(s.password).toBe("pw");
    expect(s.snapshot).toBe("latest");
    expect(s.display).toBe("sftp:user@host:/backup");
  });

  it("redacts rest credentials in the display form", () => {
    const u = parseRepoUrl("rest:https://user:secret@host:8000/");
    expect(u.display).not.toContain("secret");
    expect(u.location).toEqual({ kind: "rest", url: "https://user:secret@host:8000/" });
  });

  it.each([
    ["", "INVALID_URL"],
    ["file://relative", "INVALID_URL"],
    ["file:///x?pasword=pw", "INVALID_URL"],
    ["file:///x#not-a-snapshot!", "INVALID_URL"],
    ["sftp:hostonly", "INVALID_URL"],
    ["rest:ftp://host/", "INVALID_URL"],
    ["s3:s3.amazonaws.com/bucket", "UNSUPPORTED"],
    ["foo://bar", "INVALID_URL"],
  ])("refuses %j with %s", (input, code) => {
    try {
      parseRepoUrl(input);
      expect.fail("should have thrown");
    } catch (err) {
      expect(isResticTsError(err)).toBe(true);
      expect((err as { code: string }).code).toBe(code);
    }
  });

  it("never puts the password into an error message", () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9]{4,20}$/), (pw) => {
        try {
          parseRepoUrl(`file:///x?password=${pw}&bogus=1`);
        } catch (err) {
          expect((err as Error).message).not.toContain(pw);
          expect(JSON.stringify(err)).not.toContain(pw);
          return;
        }
        expect.fail("should have thrown");
      }),
    );
  });

  it("round-trips any password through percent-encoding", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (pw) => {
        expect(parseRepoUrl(`file:///r?password=${encodeURIComponent(pw)}`).password).toBe(pw);
      }),
    );
  });
});

describe("restic: roots", () => {
  it("recognises and parses restic:<url>#snapshot", () => {
    expect(isResticRoot("restic:file:///r?password=x#abc")).toBe(true);
    expect(isResticRoot("/var/lib/rootfs")).toBe(false);
    const r = parseResticRoot("restic:file:///r?password=x#abcdef12");
    expect(r.snapshot).toBe("abcdef12");
    expect(r.password).toBe("x");
    expect(() => parseResticRoot("restic:file:///r?password=x")).toThrow(/needs a #snapshot/);
  });
});
