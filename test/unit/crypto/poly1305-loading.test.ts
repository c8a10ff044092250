// When the native Poly1305 providers load (src/crypto/poly1305.ts): OpenSSL with the first long
// message, sodium-native only after SHORT_MESSAGES_BEFORE_NATIVE short ones, so a command that
// MACs a few small files loads neither. Each test imports a fresh copy of the module.

import { beforeEach, describe, expect, it, vi } from "vitest";

type Poly1305Module = typeof import("../../../src/crypto/poly1305.js");

async function freshModule(): Promise<Poly1305Module> {
  vi.resetModules();
  return import("../../../src/crypto/poly1305.js");
}

describe("Poly1305 provider loading", () => {
  let m: Poly1305Module;
  beforeEach(async () => {
    m = await freshModule();
  });

  it("serves short messages with noble until enough of them, then with sodium-native", () => {
    for (let i = 0; i < m.SHORT_MESSAGES_BEFORE_NATIVE; i++) {
      expect(m.poly1305For(100).name).toBe("noble");
    }
    expect(m.poly1305For(100).name).toBe("sodium-native");
    expect(m.poly1305For(0).name).toBe("sodium-native");
    expect(m.poly1305For(m.OPENSSL_MIN_BYTES).name).toBe("openssl");
  });

  it("serves short messages with OpenSSL once a long message loaded it", () => {
    expect(m.poly1305For(1).name).toBe("noble");
    expect(m.poly1305For(m.OPENSSL_MIN_BYTES).name).toBe("openssl");
    expect(m.poly1305For(1).name).toBe("openssl");
    for (let i = 2; i < m.SHORT_MESSAGES_BEFORE_NATIVE; i++) m.poly1305For(1);
    expect(m.poly1305For(1).name).toBe("sodium-native");
  });

  it("gives the same tags whichever provider a message goes to", () => {
    const key = new Uint8Array(32).map((_, i) => i * 5 + 3);
    const msg = new Uint8Array(1000).map((_, i) => i & 0xff);
    const early = m.poly1305For(msg.length);
    expect(early.name).toBe("noble");
    const want = Buffer.from(early.mac(msg, key)).toString("hex");
    for (const p of m.availablePoly1305Providers()) {
      expect(Buffer.from(p.mac(msg, key)).toString("hex")).toBe(want);
    }
    expect(m.poly1305For(msg.length).name).toBe("sodium-native"); // loaded by the listing
  });

  it("a chosen provider takes every message", () => {
    m.setPoly1305Provider("sodium-native");
    expect(m.poly1305For(1).name).toBe("sodium-native");
    expect(m.poly1305For(1 << 20).name).toBe("sodium-native");
  });
});
