import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  idFromBytes,
  idToBytes,
  isId,
  parseId,
  resolvePrefix,
  shortId,
} from "../../../src/repo/id.js";

const A = "a".repeat(64);
const AB = `ab${"0".repeat(62)}`;
const AC = `ac${"0".repeat(62)}`;

describe("ids", () => {
  it("converts between bytes and hex", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (b) => {
        const id = idFromBytes(b);
        expect(isId(id)).toBe(true);
        expect(id).toBe(Buffer.from(b).toString("hex"));
        expect(idToBytes(id)).toEqual(b);
      }),
    );
  });

  it("validates", () => {
    expect(parseId(A.toUpperCase())).toBe(A);
    for (const bad of ["", "a", A.slice(1), `${A}0`, `g${A.slice(1)}`]) {
      expect(() => parseId(bad)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
      expect(isId(bad)).toBe(false);
    }
    expect(isId(A.toUpperCase())).toBe(false);
    expect(() => idFromBytes(new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(shortId(AB)).toBe("ab000000");
  });

  it("resolves prefixes", () => {
    expect(resolvePrefix("AB", [AB, AC, A])).toBe(AB);
    expect(resolvePrefix("a", [AB, AB])).toBe(AB);
    expect(resolvePrefix(A, [A])).toBe(A);
    expect(() => resolvePrefix("a", [AB, AC])).toThrow(
      expect.objectContaining({ code: "AMBIGUOUS_ID" }),
    );
    expect(() => resolvePrefix("b", [AB, AC])).toThrow(
      expect.objectContaining({ code: "NOT_FOUND" }),
    );
    expect(() => resolvePrefix("", [AB])).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    expect(() => resolvePrefix("xy", [AB])).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});
