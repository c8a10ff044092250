import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Handle } from "../../../src/backends/backend.js";
import {
  checkHandle,
  checkRange,
  DATA_SUBDIRS,
  DEFAULT_MODES,
  deriveModes,
  handleDir,
  handlePath,
  isValidName,
  REPO_DIRS,
  readOnlyMode,
  resolveRange,
} from "../../../src/backends/layout.js";
import { isResticTsError } from "../../../src/errors.js";

const ID = "ab".repeat(32);
const hexId = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("hex"));

function code(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    return isResticTsError(err) ? err.code : "not a ResticTsError";
  }
}

describe("default layout", () => {
  it("maps handles to restic's paths", () => {
    expect(handlePath({ type: "config", name: "" })).toBe("config");
    expect(handlePath({ type: "config", name: "ignored" })).toBe("config");
    expect(handlePath({ type: "key", name: ID })).toBe(`keys/${ID}`);
    expect(handlePath({ type: "lock", name: ID })).toBe(`locks/${ID}`);
    expect(handlePath({ type: "snapshot", name: ID })).toBe(`snapshots/${ID}`);
    expect(handlePath({ type: "index", name: ID })).toBe(`index/${ID}`);
    expect(handlePath({ type: "data", name: ID })).toBe(`data/ab/${ID}`);
    expect(handleDir({ type: "data", name: `0f${ID.slice(2)}` })).toBe("data/0f");
    expect(handleDir({ type: "config", name: "" })).toBe("");
  });

  it("puts every pack under data/<its first two hex chars>/ (property)", () => {
    fc.assert(
      fc.property(hexId, (name) => {
        expect(handlePath({ type: "data", name })).toBe(`data/${name.slice(0, 2)}/${name}`);
      }),
    );
  });

  it("lists the 261 directories restic init creates, parents first", () => {
    expect(REPO_DIRS.slice(0, 5).sort()).toEqual(["data", "index", "keys", "locks", "snapshots"]);
    expect(REPO_DIRS.slice(5)).toEqual(DATA_SUBDIRS.map((d) => `data/${d}`));
    expect(DATA_SUBDIRS.length).toBe(256);
    expect(DATA_SUBDIRS[0]).toBe("00");
    expect(DATA_SUBDIRS[10]).toBe("0a");
    expect(DATA_SUBDIRS[255]).toBe("ff");
    expect(new Set(DATA_SUBDIRS).size).toBe(256);
  });

  it("accepts only 64 lower-case hex characters as names", () => {
    expect(isValidName(ID)).toBe(true);
    for (const bad of [
      "",
      ID.slice(1),
      `${ID}a`,
      ID.toUpperCase(),
      `../${ID.slice(3)}`,
      `${ID}\n`,
    ]) {
      expect(isValidName(bad)).toBe(false);
      expect(code(() => handlePath({ type: "key", name: bad }))).toBe("INVALID_ARGUMENT");
    }
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        expect(isValidName(s)).toBe(/^[0-9a-f]{64}$/.test(s));
      }),
    );
  });

  it("never yields a path that leaves the repository (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom("data", "key", "lock", "snapshot", "index", "config", "tmp", ".."),
        fc.oneof(fc.string({ maxLength: 70 }), hexId),
        (type, name) => {
          let p: string;
          try {
            p = handlePath({ type, name } as Handle);
          } catch (err) {
            expect(isResticTsError(err, "INVALID_ARGUMENT")).toBe(true);
            return;
          }
          expect(p).toMatch(
            /^(config|(keys|locks|snapshots|index|data\/[0-9a-f]{2})\/[0-9a-f]{64})$/,
          );
        },
      ),
    );
  });

  it("refuses unknown types", () => {
    expect(code(() => checkHandle({ type: "tmp", name: ID } as unknown as Handle))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(code(() => checkHandle(null as unknown as Handle))).toBe("INVALID_ARGUMENT");
  });
});

describe("ranges", () => {
  const h: Handle = { type: "data", name: ID };
  it("resolves ranges and rejects reads past the end", () => {
    expect(resolveRange(h, 10, undefined)).toEqual({ start: 0, end: 10 });
    expect(resolveRange(h, 10, { offset: 3 })).toEqual({ start: 3, end: 10 });
    expect(resolveRange(h, 10, { offset: 10 })).toEqual({ start: 10, end: 10 });
    expect(resolveRange(h, 10, { offset: 2, length: 8 })).toEqual({ start: 2, end: 10 });
    expect(code(() => resolveRange(h, 10, { offset: 2, length: 9 }))).toBe("CORRUPT");
    expect(code(() => resolveRange(h, 10, { offset: 11 }))).toBe("CORRUPT");
  });
  it("rejects negative and fractional numbers", () => {
    expect(code(() => checkRange({ offset: -1 }))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkRange({ offset: 0.5 }))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkRange({ offset: 0, length: -2 }))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkRange({ offset: 0, length: Number.POSITIVE_INFINITY }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(code(() => checkRange({ offset: 0, length: 0 }))).toBeUndefined();
  });
});

describe("modes", () => {
  it("follows restic: 0700/0600, group-shared when the config is group-readable", () => {
    expect(DEFAULT_MODES).toEqual({ dir: 0o700, file: 0o600 });
    expect(deriveModes(undefined)).toEqual({ dir: 0o700, file: 0o600 });
    expect(deriveModes(0o100400)).toEqual({ dir: 0o700, file: 0o600 });
    expect(deriveModes(0o100440)).toEqual({ dir: 0o770, file: 0o660 });
    expect(readOnlyMode(0o600)).toBe(0o400);
    expect(readOnlyMode(0o660)).toBe(0o440);
  });
});
