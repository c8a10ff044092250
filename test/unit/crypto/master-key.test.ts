import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  clampPoly1305R,
  decodeMasterKey,
  encodeMasterKey,
  masterKeyFromJSON,
  masterKeyFromParts,
  masterKeyToJSON,
  newMasterKey,
} from "../../../src/crypto/index.js";
import { codeOf, hex, loadVectors } from "./helpers.js";

describe("master keys", () => {
  it("newMasterKey: 32/16/16 random bytes, r stored clamped as restic 0.14 does", () => {
    const a = newMasterKey();
    const b = newMasterKey();
    expect([a.encrypt.length, a.macK.length, a.macR.length]).toEqual([32, 16, 16]);
    expect(a.encrypt).not.toEqual(b.encrypt);
    expect(clampPoly1305R(a.macR)).toEqual(a.macR);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it("clampPoly1305R applies Bernstein's mask", () => {
    expect(clampPoly1305R(new Uint8Array(16).fill(0xff))).toEqual(
      hex("ffffff0ffcffff0ffcffff0ffcffff0f"),
    );
  });

  it("masterKeyFromParts copies, checks lengths and refuses zero parts", () => {
    const e = new Uint8Array(32).fill(1);
    const k = masterKeyFromParts(e, new Uint8Array(16).fill(2), new Uint8Array(16).fill(3));
    e[0] = 9;
    expect(k.encrypt[0]).toBe(1);
    const one = (n: number) => new Uint8Array(n).fill(1);
    expect(codeOf(() => masterKeyFromParts(one(31), one(16), one(16)))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => masterKeyFromParts(one(32), one(17), one(16)))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => masterKeyFromParts(one(32), one(16), new Uint8Array(16)))).toBe(
      "INVALID_ARGUMENT",
    );
  });
});

describe("master key JSON form", () => {
  it("is byte-identical to restic's, field order included", () => {
    const { masterKey } = loadVectors<{ masterKey: unknown }>("restic-keyfile.json");
    const k = masterKeyFromJSON(masterKey);
    expect(new TextDecoder().decode(encodeMasterKey(k))).toBe(JSON.stringify(masterKey));
    expect(masterKeyToJSON(k)).toEqual(masterKey);
  });

  it("round-trips", () => {
    fc.assert(
      fc.property(fc.constant(null), () => {
        const k = newMasterKey();
        const j = masterKeyToJSON(k);
        expect(Object.keys(j)).toEqual(["mac", "encrypt"]);
        expect(Object.keys(j.mac)).toEqual(["k", "r"]);
        expect(masterKeyFromJSON(JSON.parse(JSON.stringify(j)))).toEqual(k);
        expect(decodeMasterKey(encodeMasterKey(k))).toEqual(k);
      }),
      { numRuns: 20 },
    );
  });

  it("refuses bad input with CORRUPT", () => {
    const good = masterKeyToJSON(newMasterKey());
    const b64 = (n: number) => Buffer.alloc(n, 1).toString("base64");
    const bad: unknown[] = [
      null,
      "x",
      [],
      {},
      { encrypt: good.encrypt },
      { mac: good.mac },
      { ...good, encrypt: b64(31) },
      { ...good, encrypt: b64(33) },
      { ...good, mac: { ...good.mac, k: b64(15) } },
      { ...good, mac: { ...good.mac, r: b64(32) } },
      { ...good, mac: { k: good.mac.k } },
      { ...good, encrypt: "not base64!" },
      { ...good, encrypt: good.encrypt.replace(/=+$/, "") }, // Go requires padding
      { ...good, encrypt: 42 },
      { ...good, encrypt: Buffer.alloc(32).toString("base64") }, // zero key: invalid
    ];
    for (const obj of bad) expect(codeOf(() => masterKeyFromJSON(obj))).toBe("CORRUPT");
    for (const text of ["", "{", "null", '{"mac":1}', "\xff"]) {
      expect(codeOf(() => decodeMasterKey(new TextEncoder().encode(text)))).toBe("CORRUPT");
    }
    expect(codeOf(() => decodeMasterKey(Uint8Array.of(0xff, 0xfe)))).toBe("CORRUPT");
  });
});
