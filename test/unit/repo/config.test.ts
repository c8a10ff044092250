import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { randomPolynomial } from "../../../src/chunker/polynomial.js";
import { parseConfig, serializeConfig } from "../../../src/repo/config.js";

const enc = (s: string) => new TextEncoder().encode(s);

describe("config", () => {
  it("serialises like Go's encoding/json and parses back", () => {
    const cfg = { version: 2 as const, id: "a".repeat(64), chunkerPolynomial: 0x3da3358b4dc173n };
    const bytes = serializeConfig(cfg);
    expect(new TextDecoder().decode(bytes)).toBe(
      `{"version":2,"id":"${"a".repeat(64)}","chunker_polynomial":"3da3358b4dc173"}`,
    );
    expect(parseConfig(bytes)).toEqual(cfg);
  });

  it("round-trips arbitrary configs", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(1 as const, 2 as const),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constant(null).map(() => randomPolynomial()),
        (version, idBytes, pol) => {
          const id = Buffer.from(idBytes).toString("hex");
          const cfg = { version, id, chunkerPolynomial: pol };
          expect(parseConfig(serializeConfig(cfg))).toEqual(cfg);
        },
      ),
    );
  });

  it.each([
    ["not json", "CORRUPT"],
    ["[]", "CORRUPT"],
    [`{"version":3,"id":"${"a".repeat(64)}","chunker_polynomial":"1"}`, "UNSUPPORTED"],
    [`{"version":0,"id":"${"a".repeat(64)}","chunker_polynomial":"1"}`, "UNSUPPORTED"],
    [`{"version":2,"id":"xyz","chunker_polynomial":"1"}`, "CORRUPT"],
    [`{"version":2,"id":"${"a".repeat(64)}","chunker_polynomial":"zz"}`, "CORRUPT"],
    [`{"version":2,"id":"${"a".repeat(64)}"}`, "CORRUPT"],
    [`{"version":2,"id":"${"a".repeat(64)}","chunker_polynomial":"3da3358b4dc172"}`, "CORRUPT"],
  ])("refuses %s with %s", (text, code) => {
    expect(() => parseConfig(enc(text))).toThrow(expect.objectContaining({ code }));
  });

  it("never throws anything but a coded error on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          parseConfig(bytes);
        } catch (err) {
          expect((err as { code?: string }).code).toMatch(/^(CORRUPT|UNSUPPORTED)$/);
        }
      }),
    );
  });
});
