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

describe("parseRepoUrl: remote forms and secrets", () => {
  it.each([
    ["file:/srv/repo", { kind: "local", path: "/srv/repo" }],
    ["file://localhost/srv/repo", { kind: "local", path: "/srv/repo" }],
    ["sftp:user@[::1]:/srv/repo", { kind: "sftp", user: "user", host: "::1", path: "/srv/repo" }],
    [
      "sftp://user@[::1]:2222//srv/repo",
      { kind: "sftp", user: "user", host: "::1", port: 2222, path: "/srv/repo" },
    ],
    [
      "sftp:me@example.com@host:/r",
      { kind: "sftp", user: "me@example.com", host: "host", path: "/r" },
    ],
    ["rest:https://user:pass@host/", { kind: "rest", url: "https://user:pass@host/" }],
    ["rest:http://host:8000", { kind: "rest", url: "http://host:8000/" }],
  ])("%s", (input, location) => {
    expect(parseRepoUrl(input).location).toEqual(location);
  });

  it("keeps ?password= (the repository password) apart from REST credentials", () => {
    const u = parseRepoUrl("rest:https://bob:b%40sic@host:8000/repo/?password=repo-pw#latest");
    expect(u.location).toEqual({ kind: "rest", url: "https://bob:b%40sic@host:8000/repo/" });
    expect(u.password).toBe("repo-pw");
    expect(u.snapshot).toBe("latest");
    expect(u.display).toBe("rest:https://bob:***@host:8000/repo/");
  });

  it("displays sftp locations as restic writes them", () => {
    expect(parseRepoUrl("sftp://u@h:2222//abs/r").display).toBe("sftp://u@h:2222//abs/r");
    expect(parseRepoUrl("sftp://u@h:2222/rel/r").display).toBe("sftp://u@h:2222/rel/r");
    expect(parseRepoUrl("sftp:u@h:/abs").display).toBe("sftp:u@h:/abs");
  });

  it.each([
    ["sftp://user:ssh-secret-1@host//srv", "ssh-secret-1"],
    ["sftp://user:ssh@secret-6@host:22//srv", "secret-6"],
    ["sftp:user:ssh-secret-2@host:/srv", "ssh-secret-2"],
    ["rest:http://u:pa ss-secret-3@host/?password=x&bogus=1", "ss-secret-3"],
    ["rest:ftp://u:secret-4@host/", "secret-4"],
    ["file:///x?password=secret-5#bad!", "secret-5"],
    ["rest:https://u:pw@x#secret-7@host/", "secret-7"],
  ])("refuses %j without showing the secret", (input, secret) => {
    let err: unknown;
    try {
      parseRepoUrl(input);
    } catch (e) {
      err = e;
    }
    expect(isResticTsError(err, "INVALID_URL"), String(err)).toBe(true);
    if (input.startsWith("sftp")) expect((err as Error).message).toMatch(/SSH password/);
    expect((err as Error).message).not.toContain(secret);
    expect(JSON.stringify(err)).not.toContain(secret);
  });

  it('refuses a "#" left in a rest URL once the snapshot is taken, naming %23', () => {
    for (const input of [
      "restic:rest:https://u:pw@x#secret-8@host/#deadbeef",
      "rest:https://u:pw@x#secret-8@host/#latest",
    ]) {
      let err: unknown;
      try {
        if (input.startsWith("restic:")) parseResticRoot(input);
        else parseRepoUrl(input);
      } catch (e) {
        err = e;
      }
      expect(isResticTsError(err, "INVALID_URL"), String(err)).toBe(true);
      expect((err as Error).message).toContain("%23");
      expect(JSON.stringify(err)).not.toContain("secret-8");
    }
    const ok = parseResticRoot("restic:rest:https://u:pw%23x@host/#deadbeef");
    expect(ok.location).toEqual({ kind: "rest", url: "https://u:pw%23x@host/" });
    expect(ok.display).not.toContain("pw");
  });

  it("refuses sftp paths starting with ~ and file URLs naming another host", () => {
    expect(() => parseRepoUrl("sftp:host:~/repo")).toThrow(/~/);
    expect(() => parseRepoUrl("sftp://host/~/repo")).toThrow(/~/);
    expect(() => parseRepoUrl("file://otherhost/srv")).toThrow(/absolute path on this host/);
  });

  it("parses restic: roots over sftp and rest", () => {
    const s = parseResticRoot("restic:sftp://u@h:2222//srv/r?password=pw#abc123");
    expect(s.location).toEqual({ kind: "sftp", user: "u", host: "h", port: 2222, path: "/srv/r" });
    expect(s.snapshot).toBe("abc123");
    const r = parseResticRoot("restic:rest:http://h:8000/r/?password=pw#latest");
    expect(r.location).toEqual({ kind: "rest", url: "http://h:8000/r/" });
    expect(r.password).toBe("pw");
  });
});
