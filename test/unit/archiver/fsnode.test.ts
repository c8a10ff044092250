import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nodeTime } from "../../../src/repo/archiver/fsnode.js";
import { formatNodeTimeNs, localOffsetMinutes } from "../../../src/repo/gotime.js";

/** The reference: the zone offset at the second, then Go's formatting of a node time. */
function reference(ns: bigint): string {
  const secs = ns >= 0n ? ns / 1_000_000_000n : (ns - 999_999_999n) / 1_000_000_000n;
  return formatNodeTimeNs(ns, localOffsetMinutes(secs));
}

describe("nodeTime", () => {
  it("formats like formatNodeTimeNs with the local offset, whatever the instant", () => {
    const ns = fc.bigInt({ min: -(10n ** 21n), max: 10n ** 21n });
    const near = fc.bigInt({ min: 0n, max: 4_000_000_000n * 10n ** 9n });
    const round = fc
      .integer({ min: -10_000_000, max: 10_000_000 })
      .map((s) => BigInt(s) * 10n ** 9n);
    fc.assert(
      fc.property(fc.oneof(ns, near, round), (t) => {
        expect(nodeTime(t)).toBe(reference(t));
      }),
      { numRuns: 20_000 },
    );
  });

  it("handles the same day again, the next day, year clamping and trailing zeros", () => {
    for (const t of [
      0n,
      1n,
      -1n,
      1_700_000_000_123_000_000n,
      1_700_000_000_100_000_000n,
      1_700_086_400_000_000_001n,
      -62_167_219_200n * 10n ** 9n - 1n,
      253_402_300_800n * 10n ** 9n,
      951_782_400n * 10n ** 9n, // 2000-02-29
    ]) {
      expect(nodeTime(t)).toBe(reference(t));
      expect(nodeTime(t)).toBe(reference(t));
    }
  });
});
