import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  clampPoly1305R,
  encodeMasterKey,
  masterKeyFromJSON,
  masterKeyToJSON,
  newMasterKey,
  open,
  sha256,
  toHex,
} from "../../../src/crypto/index.js";
import { goJsonString } from "../../../src/repo/gostring.js";
import { formatGoTimeDate as formatGoTime } from "../../../src/repo/gotime.js";
import {
  createKeyFile,
  type KeyFile,
  openKeyFile,
  parseKeyFile,
  serializeKeyFile,
} from "../../../src/repo/key-file.js";
import { hasTool } from "../../helpers/tools.js";
import { asyncCodeOf, codeOf, loadVectors } from "../crypto/helpers.js";

const FAST = { N: 1024, r: 8, p: 1 };
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

interface ResticFixture {
  password: string;
  name: string;
  keyFile: string;
  masterKey: { mac: { k: string; r: string }; encrypt: string };
}
const fixture = loadVectors<ResticFixture>("restic-keyfile.json");

describe("Go-compatible JSON pieces", () => {
  it("goJsonString escapes as Go 1.19's encoding/json", () => {
    expect(goJsonString("root")).toBe('"root"');
    expect(goJsonString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goJsonString("<&>")).toBe('"\\u003c\\u0026\\u003e"');
    expect(goJsonString("\n\r\t\b\f\u0000\u001f\u007f")).toBe(
      '"\\n\\r\\t\\u0008\\u000c\\u0000\\u001f\u007f"',
    );
    expect(goJsonString("\u2028\u2029")).toBe('"\\u2028\\u2029"');
    expect(goJsonString("pässwörd 🐎")).toBe('"pässwörd 🐎"');
    // A lone surrogate is no byte string: U+FFFD. U+DC00 marks a byte Go already replaced by
    // the escape \ufffd (see gostring.ts and gostring.test.ts for the full rules).
    expect(goJsonString("a\ud800b\udc00")).toBe('"a\ufffdb\\ufffd"');
  });

  it("goJsonString output parses back to the string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        expect(JSON.parse(goJsonString(s))).toBe(s);
      }),
    );
  });

  it("formatGoTime writes RFC 3339 like Go: local offset, Z for UTC, trimmed fraction", () => {
    const saved = process.env.TZ;
    try {
      process.env.TZ = "UTC";
      const d = new Date(Date.UTC(2026, 10, 27, 12, 0, 0, 120));
      expect(formatGoTime(d)).toBe("2026-11-27T12:00:00.12Z");
      expect(formatGoTime(d, 123456789)).toBe("2026-11-27T12:00:00.123456789Z");
      expect(formatGoTime(d, 0)).toBe("2026-11-27T12:00:00Z");
      process.env.TZ = "Europe/Berlin";
      expect(formatGoTime(d, 435692422)).toBe("2026-11-27T13:00:00.435692422+01:00");
      expect(formatGoTime(new Date(Date.UTC(2026, 6, 1, 23, 30)))).toBe(
        "2026-07-02T01:30:00+02:00",
      );
      process.env.TZ = "America/St_Johns";
      expect(formatGoTime(new Date(Date.UTC(2026, 0, 1, 2, 0)))).toBe("2025-12-31T22:30:00-03:30");
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe("parseKeyFile / serializeKeyFile", () => {
  it("restic's own key file: parses and serialises back byte for byte", () => {
    const bytes = enc(fixture.keyFile);
    expect(toHex(sha256(bytes))).toBe(fixture.name);
    const kf = parseKeyFile(bytes);
    expect(kf).toMatchObject({ kdf: "scrypt", N: 32768, r: 8, username: "root" });
    expect(kf.salt.length).toBe(64);
    expect(dec(serializeKeyFile(kf))).toBe(fixture.keyFile);
  });

  it("round-trips any field values; output is compact JSON in Go field order", () => {
    fc.assert(
      fc.property(
        fc.record({
          username: fc.string({ unit: "grapheme" }),
          hostname: fc.string(),
          N: fc.integer({ min: 0, max: 2 ** 30 }),
          r: fc.integer({ min: -5, max: 100 }),
          p: fc.integer({ min: 1, max: 100 }),
          salt: fc.uint8Array({ maxLength: 80 }),
          data: fc.uint8Array({ maxLength: 200 }),
          nanos: fc.integer({ min: 0, max: 999_999_999 }),
        }),
        ({ nanos, ...f }) => {
          const kf: KeyFile = {
            ...f,
            created: formatGoTime(new Date(1_790_000_000_000), nanos),
            kdf: "scrypt",
          };
          const bytes = serializeKeyFile(kf);
          const text = dec(bytes);
          expect(Object.keys(JSON.parse(text))).toEqual([
            "created",
            "username",
            "hostname",
            "kdf",
            "N",
            "r",
            "p",
            "salt",
            "data",
          ]);
          expect(text).not.toMatch(/\n/);
          const back = parseKeyFile(bytes);
          expect(back).toEqual(kf);
          expect(dec(serializeKeyFile(back))).toBe(text);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("CORRUPT for bad JSON, missing or mistyped fields", () => {
    const good = JSON.parse(fixture.keyFile) as Record<string, unknown>;
    const without = (k: string) => {
      const o = { ...good };
      delete o[k];
      return JSON.stringify(o);
    };
    const cases = [
      "",
      "{",
      "[]",
      "null",
      '"x"',
      without("kdf"),
      without("N"),
      without("r"),
      without("p"),
      without("salt"),
      without("data"),
      JSON.stringify({ ...good, N: "32768" }),
      JSON.stringify({ ...good, p: 1.5 }),
      JSON.stringify({ ...good, salt: "%%%" }),
      JSON.stringify({ ...good, data: 5 }),
      JSON.stringify({ ...good, username: 5 }),
      JSON.stringify({ ...good, created: "yesterday" }),
      JSON.stringify({ ...good, kdf: 1 }),
    ];
    for (const c of cases) expect(codeOf(() => parseKeyFile(enc(c)))).toBe("CORRUPT");
  });

  it("defaults created/username/hostname the way Go reads a file without them", () => {
    const good = JSON.parse(fixture.keyFile) as Record<string, unknown>;
    const { created: _c, username: _u, hostname: _h, ...rest } = good;
    const kf = parseKeyFile(enc(JSON.stringify({ ...rest, hostname: null })));
    expect(kf.created).toBe("0001-01-01T00:00:00Z");
    expect([kf.username, kf.hostname]).toEqual(["", ""]);
  });

  it("UNSUPPORTED for a KDF other than scrypt", () => {
    const good = JSON.parse(fixture.keyFile) as Record<string, unknown>;
    for (const kdf of ["argon2id", "", "Scrypt"]) {
      expect(codeOf(() => parseKeyFile(enc(JSON.stringify({ ...good, kdf }))))).toBe("UNSUPPORTED");
    }
  });
});

describe("createKeyFile / openKeyFile", () => {
  it("round-trips the master key with the file's own parameters", async () => {
    const master = newMasterKey();
    const kf = await createKeyFile("secret", master, {
      params: FAST,
      username: "u",
      hostname: "h",
      created: "2026-11-27T12:00:00.123456789+01:00",
    });
    expect(kf).toMatchObject({ N: 1024, r: 8, p: 1, kdf: "scrypt", username: "u", hostname: "h" });
    expect(kf.created).toBe("2026-11-27T12:00:00.123456789+01:00");
    expect(kf.salt.length).toBe(64);
    expect(kf.data.length).toBe(encodeMasterKey(master).length + 32);
    const again = parseKeyFile(serializeKeyFile(kf));
    expect(await openKeyFile(again, "secret")).toEqual(master);
    // A different p on another file is honoured.
    const kf2 = await createKeyFile("secret", master, { params: { N: 512, r: 4, p: 3 } });
    expect(await openKeyFile(kf2, "secret")).toEqual(master);
    expect(kf2.salt).not.toEqual(kf.salt);
  });

  it("defaults: restic-style created time, current user and host", async () => {
    const kf = await createKeyFile("pw", newMasterKey(), { params: FAST });
    expect(kf.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/);
    expect(Math.abs(Date.parse(kf.created) - Date.now())).toBeLessThan(60_000);
    expect(typeof kf.username).toBe("string");
    expect(kf.hostname.length).toBeGreaterThan(0);
    const d = new Date();
    expect((await createKeyFile("pw", newMasterKey(), { params: FAST, created: d })).created).toBe(
      formatGoTime(d),
    );
  });

  it("EMPTY_PASSWORD for an empty password", async () => {
    expect(await asyncCodeOf(() => createKeyFile("", newMasterKey(), { params: FAST }))).toBe(
      "EMPTY_PASSWORD",
    );
  });

  it("WRONG_PASSWORD for a wrong password or tampered data", async () => {
    const kf = await createKeyFile("right", newMasterKey(), { params: FAST });
    expect(await asyncCodeOf(() => openKeyFile(kf, "wrong"))).toBe("WRONG_PASSWORD");
    expect(await asyncCodeOf(() => openKeyFile(kf, "Right"))).toBe("WRONG_PASSWORD");
    const data = new Uint8Array(kf.data);
    data[40] ^= 4;
    expect(await asyncCodeOf(() => openKeyFile({ ...kf, data }, "right"))).toBe("WRONG_PASSWORD");
    const salt = new Uint8Array(kf.salt);
    salt[0] ^= 1;
    expect(await asyncCodeOf(() => openKeyFile({ ...kf, salt }, "right"))).toBe("WRONG_PASSWORD");
    expect(await asyncCodeOf(() => openKeyFile({ ...kf, p: 2 }, "right"))).toBe("WRONG_PASSWORD");
  });

  it("CORRUPT for a short salt, short data, or a sealed payload that is not a master key", async () => {
    const kf = await createKeyFile("pw", newMasterKey(), { params: FAST });
    expect(await asyncCodeOf(() => openKeyFile({ ...kf, salt: kf.salt.subarray(1) }, "pw"))).toBe(
      "CORRUPT",
    );
    expect(
      await asyncCodeOf(() => openKeyFile({ ...kf, data: kf.data.subarray(0, 31) }, "pw")),
    ).toBe("CORRUPT");
    // Seal something else under the right user key: MAC verifies, JSON does not.
    const { deriveKey, seal } = await import("../../../src/crypto/index.js");
    const user = await deriveKey("pw", kf.salt, FAST);
    const data = seal(user, enc('{"mac":{"k":"","r":""},"encrypt":""}'));
    expect(await asyncCodeOf(() => openKeyFile({ ...kf, data }, "pw"))).toBe("CORRUPT");
  });

  it("refuses hostile parameters before deriving anything", async () => {
    const kf = await createKeyFile("pw", newMasterKey(), { params: FAST });
    const t = Date.now();
    expect(await asyncCodeOf(() => openKeyFile({ ...kf, N: 2 ** 24 }, "pw"))).toBe("UNSUPPORTED");
    expect(await asyncCodeOf(() => openKeyFile({ ...kf, p: 2 ** 20 }, "pw"))).toBe("UNSUPPORTED");
    expect(await asyncCodeOf(() => openKeyFile({ ...kf, N: 1000 }, "pw"))).toBe("CORRUPT");
    expect(await asyncCodeOf(() => openKeyFile({ ...kf, r: 0 }, "pw"))).toBe("CORRUPT");
    expect(Date.now() - t).toBeLessThan(500);
    expect(
      await asyncCodeOf(() =>
        createKeyFile("pw", newMasterKey(), { params: { N: 2 ** 22, r: 8, p: 1 } }),
      ),
    ).toBe("UNSUPPORTED");
  });

  it("opens restic's checked-in key file (restic's own N/r/p) to restic's master key", async () => {
    const kf = parseKeyFile(enc(fixture.keyFile));
    const master = await openKeyFile(kf, fixture.password);
    expect(masterKeyToJSON(master)).toEqual(fixture.masterKey);
    // restic 0.14 stores r clamped
    expect(clampPoly1305R(master.macR)).toEqual(master.macR);
    expect(await asyncCodeOf(() => openKeyFile(kf, "correct horse"))).toBe("WRONG_PASSWORD");
  });
});

// --- against the real restic ---------------------------------------------------------------

const haveRestic = hasTool("restic");
const describeRestic = describe.runIf(haveRestic);

describeRestic("with restic 0.14 (interop)", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function restic(args: string[], password: string) {
    const r = spawnSync("restic", ["--no-cache", ...args], {
      encoding: "utf8",
      env: { ...process.env, RESTIC_PASSWORD: password },
    });
    if (r.error) throw r.error;
    return r;
  }

  function initRepo(password: string): string {
    const dir = mkdtempSync(join(tmpdir(), "restic-ts-crypto-"));
    dirs.push(dir);
    const repo = join(dir, "repo");
    const r = restic(["init", "--repo", repo], password);
    expect(r.status, r.stderr).toBe(0);
    return repo;
  }

  it("restic is installed (required when CI=true)", () => {
    expect(haveRestic).toBe(true);
    expect(spawnSync("restic", ["version"], { encoding: "utf8" }).stdout).toMatch(/restic 0\.14\./);
  });

  it("opens the key file of a repository restic just made", async () => {
    const password = "Zürich <&> 🔑 secret";
    const repo = initRepo(password);
    const [name] = readdirSync(join(repo, "keys"));
    const bytes = new Uint8Array(readFileSync(join(repo, "keys", name)));
    expect(toHex(sha256(bytes))).toBe(name);
    const kf = parseKeyFile(bytes);
    expect(dec(serializeKeyFile(kf))).toBe(dec(bytes));
    const master = await openKeyFile(kf, password);
    // The sealed payload is exactly the master key's JSON form.
    const { deriveKey } = await import("../../../src/crypto/index.js");
    const user = await deriveKey(password, kf.salt, kf);
    expect(dec(open(user, kf.data))).toBe(dec(encodeMasterKey(master)));
    // ... and it is the key restic itself reports.
    const cat = restic(["-r", repo, "cat", "masterkey"], password);
    expect(cat.status, cat.stderr).toBe(0);
    expect(masterKeyToJSON(master)).toEqual(JSON.parse(cat.stdout));
    expect(masterKeyFromJSON(JSON.parse(cat.stdout))).toEqual(master);
    expect(await asyncCodeOf(() => openKeyFile(kf, `${password}!`))).toBe("WRONG_PASSWORD");
  });

  it("restic opens a key file we wrote for its master key", async () => {
    const repo = initRepo("first password");
    const cat = restic(["-r", repo, "cat", "masterkey"], "first password");
    expect(cat.status, cat.stderr).toBe(0);
    const master = masterKeyFromJSON(JSON.parse(cat.stdout));
    const kf = await createKeyFile("second pässword", master, {
      params: { N: 2048, r: 8, p: 2 },
      username: "tester <x>",
      hostname: "host",
    });
    const bytes = serializeKeyFile(kf);
    writeFileSync(join(repo, "keys", toHex(sha256(bytes))), bytes);
    const list = restic(["-r", repo, "key", "list", "--json"], "second pässword");
    expect(list.status, list.stderr).toBe(0);
    const keys = JSON.parse(list.stdout) as { current: boolean; userName: string }[];
    expect(keys.find((k) => k.current)?.userName).toBe("tester <x>");
    const cat2 = restic(["-r", repo, "cat", "masterkey"], "second pässword");
    expect(cat2.status, cat2.stderr).toBe(0);
    expect(JSON.parse(cat2.stdout)).toEqual(masterKeyToJSON(master));
    const wrong = restic(["-r", repo, "cat", "masterkey"], "third password");
    expect(wrong.status).not.toBe(0);
  });
});
