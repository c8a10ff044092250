import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatGoTime,
  formatNodeTime,
  formatNodeTimeNs,
  normalizeGoTime,
  parseGoTime,
  tryParseGoTime,
  ZERO_TIME,
} from "../../../src/repo/gotime.js";
import { goVectors } from "./go-vectors.js";

describe("Go RFC3339Nano formatting", () => {
  it("matches Go's Time.MarshalJSON for every vector", () => {
    for (const v of goVectors.timeFormat) {
      expect(Math.abs(v.offset % 60)).toBe(0);
      expect(formatGoTime(BigInt(v.sec), v.nsec, v.offset / 60), JSON.stringify(v)).toBe(v.text);
    }
  });

  it("parses as Go's time.Parse(RFC3339) does", () => {
    for (const v of goVectors.timeParse) {
      const t = tryParseGoTime(v.in);
      expect(t !== undefined, v.in).toBe(v.ok);
      if (t === undefined) continue;
      expect(t.seconds, v.in).toBe(BigInt(v.sec));
      expect(t.nanos, v.in).toBe(v.nsec);
      expect(normalizeGoTime(v.in), v.in).toBe(v.norm);
    }
  });

  it("format then parse is the identity", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -62_167_219_200n + 86_400n, max: 253_402_300_799n - 86_400n }),
        fc.integer({ min: 0, max: 999_999_999 }),
        fc.integer({ min: -(24 * 60 - 1), max: 24 * 60 - 1 }),
        (sec, ns, off) => {
          const s = formatGoTime(sec, ns, off);
          const t = parseGoTime(s);
          expect(t).toEqual({ seconds: sec, nanos: ns, offsetMinutes: off });
          expect(normalizeGoTime(s)).toBe(s);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("normalises as Go writes back what it parsed (canonical text kept, the rest rebuilt)", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -62_135_596_800n + 86_400n, max: 253_402_300_799n - 86_400n }),
        fc.constantFrom("", ".", ","),
        fc.stringMatching(/^[0-9]{1,12}$/),
        fc.constantFrom("Z", "+00:00", "-00:00", "+05:30", "-01:00", "+23:59"),
        (sec, sep, digits, zone) => {
          const off =
            zone === "Z"
              ? 0
              : (zone[0] === "-" ? -1 : 1) *
                (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4)));
          const text =
            formatGoTime(sec, 0, off).slice(0, 19) + (sep === "" ? "" : sep + digits) + zone;
          const t = parseGoTime(text);
          expect(normalizeGoTime(text)).toBe(formatGoTime(t.seconds, t.nanos, t.offsetMinutes));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("formats the zero time and trims fractional zeros", () => {
    expect(formatGoTime(-62_135_596_800n, 0)).toBe(ZERO_TIME);
    expect(formatGoTime(0n, 500_000_000, 60)).toBe("1970-01-01T01:00:00.5+01:00");
    expect(formatGoTime(0n, 1, -90)).toBe("1969-12-31T22:30:00.000000001-01:30");
    expect(formatNodeTimeNs(-1n)).toBe("1969-12-31T23:59:59.999999999Z");
  });

  it("refuses years Go cannot marshal, and clamps them like restic's FixTime for nodes", () => {
    expect(() => formatGoTime(253_402_300_800n, 0)).toThrow(/outside/);
    expect(() => formatGoTime(-62_167_219_201n, 0)).toThrow(/outside/);
    // 10000-02-29 (a leap day) -> 9999-03-01 (9999 is not a leap year)
    const leap = BigInt(Date.UTC(10000, 1, 29, 12, 0, 0) / 1000);
    expect(formatNodeTime(leap, 5)).toBe("9999-03-01T12:00:00.000000005Z");
    const far = BigInt(Date.UTC(20000, 6, 4, 1, 2, 3) / 1000);
    expect(formatNodeTime(far, 0)).toBe("9999-07-04T01:02:03Z");
    const neg = BigInt(Date.UTC(-5, 6, 4, 1, 2, 3) / 1000);
    expect(formatNodeTime(neg, 0)).toBe("0000-07-04T01:02:03Z");
    expect(() => formatGoTime(0n, 1_000_000_000)).toThrow();
    expect(() => formatGoTime(0n, 0, 24 * 60)).toThrow();
  });

  it("never throws on arbitrary text", () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const t = tryParseGoTime(s);
        if (t !== undefined) expect(normalizeGoTime(s)).toBeDefined();
      }),
    );
    expect(() => parseGoTime("yesterday")).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});
