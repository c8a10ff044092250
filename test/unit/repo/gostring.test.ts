import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bytesToGoString,
  goJsonString,
  goQuote,
  goStringToBytes,
  goUnquote,
  isGoPrint,
  isValidUtf8GoString,
} from "../../../src/repo/gostring.js";
import { goVectors, hexBytes } from "./go-vectors.js";

describe("isGoPrint", () => {
  it("matches go1.19 strconv.IsPrint on every code point", () => {
    const ranges = goVectors.isPrintRanges;
    let k = 0;
    for (let cp = 0; cp <= 0x10ffff; cp++) {
      while (k < ranges.length && ranges[k][1] < cp) k++;
      const want = k < ranges.length && ranges[k][0] <= cp;
      if (isGoPrint(cp) !== want) expect.fail(`U+${cp.toString(16)}: want ${want}`);
    }
  });
});

describe("goQuote / goJsonString against Go", () => {
  it("reproduces strconv.Quote and json.Marshal for every vector", () => {
    for (const v of goVectors.quote) {
      const s = bytesToGoString(hexBytes(v.in));
      expect(goQuote(s), v.in).toBe(v.quoted);
      expect(goJsonString(s), v.in).toBe(v.json);
      expect(Buffer.from(goStringToBytes(s)).toString("hex")).toBe(v.in);
    }
  });

  it("unquotes what Go unquotes and refuses what Go refuses", () => {
    for (const v of goVectors.unquote) {
      // the vectors are Go strings; a raw 0xff byte in them arrives here as U+FFFD via JSON
      const got = goUnquote(v.in);
      expect(got !== undefined, v.in).toBe(v.ok);
      if (got !== undefined)
        expect(Buffer.from(goStringToBytes(got)).toString("hex"), v.in).toBe(v.out);
    }
  });
});

describe("Go string properties", () => {
  it("bytes -> Go string -> bytes is the identity", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        expect(Buffer.from(goStringToBytes(bytesToGoString(b)))).toEqual(Buffer.from(b));
      }),
      { numRuns: 2000 },
    );
  });

  it("unquote(quote(s)) gives back the same bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        const s = bytesToGoString(b);
        const back = goUnquote(goQuote(s));
        expect(back).toBeDefined();
        expect(Buffer.from(goStringToBytes(back as string))).toEqual(Buffer.from(b));
      }),
      { numRuns: 2000 },
    );
  });

  it("quoted strings are printable and JSON-parse back for unicode text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        expect(JSON.parse(goJsonString(s))).toBe(s);
        expect(goUnquote(goQuote(s))).toBe(s);
        expect(isValidUtf8GoString(s)).toBe(true);
      }),
    );
  });

  it("a lone surrogate is written as \\ufffd", () => {
    expect(goJsonString("a\udc80b")).toBe('"a\\ufffdb"');
    // other lone surrogates are not byte escapes: they become U+FFFD itself
    expect(goJsonString("\ud800")).toBe('"\ufffd"');
    expect(goQuote("a\udcffb")).toBe('"a\\xffb"');
    expect(isValidUtf8GoString("a\udcffb")).toBe(false);
  });
});
