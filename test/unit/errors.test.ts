import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromSystemError, isResticTsError, ResticTsError, redact } from "../../src/errors.js";

function sysError(code: string, message = `${code}: something`): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

describe("redact", () => {
  it("hides ?password= values and URL user-info secrets, keeping the rest", () => {
    expect(redact("file:///srv/repo?password=pw#1a2b3c4d")).toBe(
      "file:///srv/repo?password=***#1a2b3c4d",
    );
    expect(redact("sftp:u@h:/b?x=1&password=s%20e&y=2")).toBe("sftp:u@h:/b?x=1&password=***&y=2");
    expect(redact("rest:https://user:hunter2@host:8000/repo")).toBe(
      "rest:https://user:***@host:8000/repo",
    );
    expect(redact("no secrets here")).toBe("no secrets here");
  });

  it("never lets a password through, whatever it is made of", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9%!$*+,;:._~-]{6,30}$/),
        fc.constantFrom("?", "&", ";"),
        (pw, sep) => {
          const message = `open file:///r${sep}password=${pw} failed`;
          expect(redact(message)).not.toContain(pw);
          expect(new ResticTsError("IO", message).message).not.toContain(pw);
        },
      ),
    );
  });
});

describe("fromSystemError", () => {
  it("maps errno codes to stable codes, keeping the cause", () => {
    const cases: [string, string][] = [
      ["ENOENT", "NOT_FOUND"],
      ["EEXIST", "ALREADY_EXISTS"],
      ["EACCES", "ACCESS_DENIED"],
      ["EPERM", "ACCESS_DENIED"],
      ["EIO", "IO"],
      ["ENOSPC", "IO"],
    ];
    for (const [errno, code] of cases) {
      const cause = sysError(errno);
      const err = fromSystemError(cause, "save data/ab12");
      expect(err.code).toBe(code);
      expect(err.cause).toBe(cause);
      expect(err.message.startsWith("save data/ab12: ")).toBe(true);
    }
    expect(fromSystemError(sysError("EACCES"), "x").data).toMatchObject({ permanent: true });
  });

  it("passes coded errors through and copes with non-errors", () => {
    const coded = new ResticTsError("LOCKED", "held");
    expect(fromSystemError(coded, "x")).toBe(coded);
    const odd = fromSystemError("a string", "read");
    expect(isResticTsError(odd, "IO")).toBe(true);
    expect(odd.message).toBe("read: a string");
  });
});
