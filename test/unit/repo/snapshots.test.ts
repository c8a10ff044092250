// Finding snapshots by ID prefix as restic's Find does, and ordering snapshot times by the
// instant, as Go's Time.Before and Time.Equal, whatever the zone offset and fractional digits.

import { describe, expect, it } from "vitest";
import { isResticTsError } from "../../../src/errors.js";
import { compareTime, findSnapshotId } from "../../../src/repo/snapshots.js";

describe("findSnapshotId", () => {
  const ids = ["a0262cef".padEnd(64, "1"), "a2359029".padEnd(64, "2"), "4bde017d".padEnd(64, "3")];
  const failure = (prefix: string, list = ids) => {
    try {
      findSnapshotId(prefix, list);
    } catch (err) {
      return isResticTsError(err) ? `${err.code}: ${err.message}` : String(err);
    }
    return "found";
  };

  it("takes the one ID a prefix (or the whole ID) starts, compared as text", () => {
    expect(findSnapshotId("4", ids)).toBe(ids[2]);
    expect(findSnapshotId("a2", ids)).toBe(ids[1]);
    expect(findSnapshotId(ids[0], ids)).toBe(ids[0]);
    expect(findSnapshotId("", [ids[0]])).toBe(ids[0]);
  });

  it("fails with restic's messages: none, or several", () => {
    expect(failure("zz")).toBe('NOT_FOUND: no matching ID found for prefix "zz"');
    expect(failure("4BDE")).toBe('NOT_FOUND: no matching ID found for prefix "4BDE"');
    expect(failure("a")).toBe('AMBIGUOUS_ID: multiple IDs with prefix "a" found');
    expect(failure("")).toBe('AMBIGUOUS_ID: multiple IDs with prefix "" found');
    expect(failure("a", [])).toBe('NOT_FOUND: no matching ID found for prefix "a"');
  });
});

describe("compareTime", () => {
  it("orders by instant: offsets, nanoseconds, trailing zeros", () => {
    const asc = [
      "0001-01-01T00:00:00Z",
      "2022-01-01T10:00:00+01:00",
      "2022-01-01T09:30:00Z",
      "2022-01-01T09:30:00.000000001Z",
      "2022-01-01T09:30:00.0000005Z",
      "2022-01-01T09:30:00.0009Z",
      "2022-01-01T04:30:01-05:00",
      "9999-12-31T23:59:59.999999999Z",
    ];
    for (let i = 0; i < asc.length; i++) {
      for (let j = 0; j < asc.length; j++) {
        expect(compareTime(asc[i], asc[j]), `${asc[i]} vs ${asc[j]}`).toBe(Math.sign(i - j));
      }
    }
    expect(compareTime("2022-01-01T09:30:00.5Z", "2022-01-01T10:30:00.500000000+01:00")).toBe(0);
  });
});
