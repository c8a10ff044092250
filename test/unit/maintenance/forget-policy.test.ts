// The forget policy: restic's duration syntax, hand-checked cases, and a property test against
// a straightforward reference (set arithmetic over JavaScript Dates, all timestamps in UTC,
// where "newest snapshot of each of the n newest buckets" is what restic's counters compute).

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyPolicy,
  type Duration,
  describePolicy,
  type ExpirePolicy,
  formatDuration,
  groupSnapshots,
  makePolicy,
  parseDuration,
  parseGroupBy,
} from "../../../src/repo/forget.js";
import type { Snapshot } from "../../../src/repo/snapshot.js";
import type { SnapshotEntry } from "../../../src/repo/snapshots.js";

function entry(i: number, time: string, extra: Partial<Snapshot> = {}): SnapshotEntry {
  return {
    id: i.toString(16).padStart(64, "0"),
    snapshot: {
      time,
      tree: "f".repeat(64),
      paths: ["/data"],
      hostname: "h",
      username: "u",
      uid: 0,
      gid: 0,
      ...extra,
    },
  };
}

const ids = (l: readonly SnapshotEntry[]) => l.map((e) => e.id);

describe("durations", () => {
  it("parse like restic's ParseDuration", () => {
    expect(parseDuration("1y2m3d4h")).toEqual({ years: 1, months: 2, days: 3, hours: 4 });
    expect(parseDuration(" 5d ")).toEqual({ years: 0, months: 0, days: 5, hours: 0 });
    expect(parseDuration("2d1d")).toMatchObject({ days: 1 });
    expect(parseDuration("-3h")).toMatchObject({ hours: -3 });
    expect(parseDuration("")).toEqual({ years: 0, months: 0, days: 0, hours: 0 });
    expect(() => parseDuration("5")).toThrow("no unit found after number 5");
    expect(() => parseDuration("d")).toThrow("no number found");
    expect(() => parseDuration("3w")).toThrow('invalid unit "w" found after number 3');
    expect(formatDuration(parseDuration("0y2m0d12h"))).toBe("2m12h");
  });

  it("describe the policy as restic does", () => {
    expect(
      describePolicy(
        makePolicy({
          last: 2,
          daily: 1,
          withinWeekly: parseDuration("1m"),
          tags: [["a", "b"], ["c"]],
          within: parseDuration("3d"),
        }),
      ),
    ).toBe(
      "keep 2 latest, 1 daily snapshots, weekly snapshots within 1m and all snapshots with tags [[a, b] [c]] and all snapshots within 3d of the newest",
    );
  });
});

describe("applyPolicy", () => {
  it("keeps everything for an empty policy", () => {
    const list = [entry(1, "2022-01-01T00:00:00Z"), entry(2, "2022-01-02T00:00:00Z")];
    const r = applyPolicy(list, makePolicy());
    expect(ids(r.keep)).toEqual([list[1].id, list[0].id]);
    expect(r.reasons.map((x) => x.matches)).toEqual([["policy is empty"], ["policy is empty"]]);
  });

  it("uses each snapshot's own wall clock for calendar buckets", () => {
    // the same day in UTC, two different days on their own clocks
    const list = [
      entry(1, "2022-01-01T23:30:00+02:00"), // 21:30Z, Jan 1 local
      entry(2, "2022-01-02T00:30:00+02:00"), // 22:30Z, Jan 2 local
    ];
    const r = applyPolicy(list, makePolicy({ daily: 5 }));
    expect(ids(r.keep)).toEqual([list[1].id, list[0].id]);
    expect(r.reasons[1].counters).toEqual({ daily: 3 });
  });

  it("subtracts months as Go's AddDate does (Mar 31 - 1m = Mar 3)", () => {
    const list = [
      entry(1, "2022-03-02T12:00:00Z"),
      entry(2, "2022-03-03T12:00:00Z"),
      entry(3, "2022-03-31T12:00:00Z"),
    ];
    const r = applyPolicy(list, makePolicy({ within: parseDuration("1m") }));
    expect(ids(r.keep)).toEqual([list[2].id, list[1].id].slice(0, 1));
    // Mar 3 12:00 is not after Mar 3 12:00: only the newest is kept
    const r2 = applyPolicy(list, makePolicy({ within: parseDuration("1m1h") }));
    expect(ids(r2.keep)).toEqual([list[2].id, list[1].id]);
    expect(r2.reasons[1].matches).toEqual(["within 1m1h"]);
  });

  it("ignores snapshots in the future when finding the newest", () => {
    const list = [entry(1, "2022-01-01T00:00:00Z"), entry(2, "2030-01-01T00:00:00Z")];
    const r = applyPolicy(
      list,
      makePolicy({ within: parseDuration("1d") }),
      new Date("2023-01-01"),
    );
    expect(ids(r.keep).sort()).toEqual(ids(list).sort());
  });

  it("ISO weeks: Jan 1 2021 belongs to week 53 of 2020", () => {
    const list = [
      entry(1, "2020-12-28T10:00:00Z"),
      entry(2, "2021-01-01T10:00:00Z"),
      entry(3, "2021-01-04T10:00:00Z"),
    ];
    const r = applyPolicy(list, makePolicy({ weekly: 10 }));
    expect(ids(r.keep)).toEqual([list[2].id, list[1].id]);
  });

  it("--keep-tag '' keeps the untagged snapshots", () => {
    const list = [
      entry(1, "2022-01-01T00:00:00Z", { tags: ["a"] }),
      entry(2, "2022-01-02T00:00:00Z"),
    ];
    const r = applyPolicy(list, makePolicy({ tags: [[""]] }));
    expect(ids(r.keep)).toEqual([list[1].id]);
    expect(r.reasons[0].matches).toEqual(["has tags []"]);
  });
});

describe("groupSnapshots", () => {
  it("groups by host and sorted paths, as restic's JSON keys", () => {
    const a = entry(1, "2022-01-01T00:00:00Z", { paths: ["/b", "/a"] });
    const b = entry(2, "2022-01-01T00:00:00Z", { paths: ["/a", "/b"], tags: ["z", "y"] });
    const c = entry(3, "2022-01-01T00:00:00Z", { hostname: "other" });
    const groups = groupSnapshots([a, b, c], parseGroupBy("host,paths"));
    expect(groups.map((g) => g.keyJson)).toEqual([
      '{"hostname":"h","paths":["/a","/b"],"tags":null}',
      '{"hostname":"other","paths":["/data"],"tags":null}',
    ]);
    expect(groups[0].snapshots[0].snapshot.paths).toEqual(["/a", "/b"]);
    const byTags = groupSnapshots([a, b], parseGroupBy("tags"));
    expect(byTags.map((g) => g.keyJson)).toEqual([
      '{"hostname":"","paths":null,"tags":["y","z"]}',
      '{"hostname":"","paths":null,"tags":null}',
    ]);
    expect(() => parseGroupBy("host,color")).toThrow("unknown grouping option: 'color'");
  });
});

// --- property test against a reference ---------------------------------------------------

interface RefSnap {
  id: string;
  ms: number;
  tags: string[];
  nr: number;
}

/** Go's zero time, 0001-01-01T00:00:00Z. */
const GO_ZERO_MS = -62_135_596_800_000;

function subtract(latestMs: number, d: Duration): number {
  const t = new Date(latestMs);
  const r = new Date(latestMs);
  // setUTCFullYear, unlike Date.UTC, does not map years 0..99 to 1900..1999
  r.setUTCFullYear(
    t.getUTCFullYear() - d.years,
    t.getUTCMonth() - d.months,
    t.getUTCDate() - d.days,
  );
  return r.getTime() - d.hours * 3_600_000;
}

function isoWeek(ms: number): number {
  const d = new Date(ms);
  const day = (d.getUTCDay() + 6) % 7; // Monday = 0
  const thursday = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() - day + 3);
  const year = new Date(thursday).getUTCFullYear();
  return year * 100 + Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * 86_400_000)) + 1;
}

const BUCKETS: [keyof ExpirePolicy, string, (s: RefSnap) => number][] = [
  ["last", "last snapshot", (s) => s.nr],
  ["hourly", "hourly snapshot", (s) => Math.floor(s.ms / 3_600_000)],
  ["daily", "daily snapshot", (s) => Math.floor(s.ms / 86_400_000)],
  ["weekly", "weekly snapshot", (s) => isoWeek(s.ms)],
  [
    "monthly",
    "monthly snapshot",
    (s) => new Date(s.ms).getUTCFullYear() * 12 + new Date(s.ms).getUTCMonth(),
  ],
  ["yearly", "yearly snapshot", (s) => new Date(s.ms).getUTCFullYear()],
];

/** The reference: which snapshots each rule keeps, as plain set logic. */
function reference(snaps: RefSnap[], p: ExpirePolicy, nowMs: number): Map<string, string[]> {
  const sorted = [...snaps].sort((a, b) => b.ms - a.ms || a.nr - b.nr);
  sorted.forEach((s, i) => {
    s.nr = i;
  });
  const past = sorted.filter((s) => s.ms < nowMs);
  const latest = past.length > 0 ? Math.max(...past.map((s) => s.ms)) : GO_ZERO_MS;
  const reasons = new Map<string, string[]>(sorted.map((s) => [s.id, []]));
  const add = (s: RefSnap, r: string) => reasons.get(s.id)?.push(r);
  const isZero = (d: Duration) => !d.years && !d.months && !d.days && !d.hours;
  for (const s of sorted) {
    for (const l of p.tags)
      if (l.every((t) => s.tags.includes(t))) add(s, `has tags [${l.join(", ")}]`);
    if (!isZero(p.within) && s.ms > subtract(latest, p.within))
      add(s, `within ${formatDuration(p.within)}`);
  }
  for (const [key, reason, bucket] of BUCKETS) {
    const n = p[key] as number;
    if (n <= 0) continue;
    // the newest snapshot of each bucket, for the n newest buckets
    const seen: number[] = [];
    for (const s of sorted) {
      const b = bucket(s);
      if (seen.includes(b)) continue;
      seen.push(b);
      if (seen.length > n) break;
      add(s, reason);
    }
  }
  const withins: [keyof ExpirePolicy, string, (s: RefSnap) => number][] = [
    ["withinHourly", "hourly within", BUCKETS[1][2]],
    ["withinDaily", "daily within", BUCKETS[2][2]],
    ["withinWeekly", "weekly within", BUCKETS[3][2]],
    ["withinMonthly", "monthly within", BUCKETS[4][2]],
    ["withinYearly", "yearly within", BUCKETS[5][2]],
  ];
  for (const [key, reason, bucket] of withins) {
    const d = p[key] as Duration;
    if (isZero(d)) continue;
    const seen = new Set<number>();
    for (const s of sorted) {
      if (!(s.ms > subtract(latest, d))) continue;
      if (seen.has(bucket(s))) continue;
      seen.add(bucket(s));
      add(s, `${reason} ${formatDuration(d)}`);
    }
  }
  return reasons;
}

/** restic orders the reasons: tags, within, counted buckets, within-buckets. */
function canonical(matches: readonly string[]): string[] {
  return [...matches].sort();
}

const durationArb = fc.record({
  years: fc.constantFrom(0, 0, 0, 1),
  months: fc.constantFrom(0, 0, 1, 2, 13),
  days: fc.constantFrom(0, 0, 1, 3, 10, 31),
  hours: fc.constantFrom(0, 0, 1, 5, 30),
});

const policyArb = fc.record({
  last: fc.nat(4),
  hourly: fc.nat(4),
  daily: fc.nat(4),
  weekly: fc.nat(4),
  monthly: fc.nat(4),
  yearly: fc.nat(3),
  within: durationArb,
  withinHourly: durationArb,
  withinDaily: durationArb,
  withinWeekly: durationArb,
  withinMonthly: durationArb,
  withinYearly: durationArb,
  tags: fc.array(fc.array(fc.constantFrom("a", "b", "c"), { minLength: 1, maxLength: 2 }), {
    maxLength: 2,
  }),
});

const START = Date.UTC(2019, 11, 20);
const SPAN = 3 * 365 * 86_400_000;

describe("applyPolicy against the reference", () => {
  it("keeps exactly the snapshots the reference keeps, for the same reasons", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            // clustered times make equal buckets likely
            ms: fc.oneof(
              fc.integer({ min: 0, max: SPAN }),
              fc.integer({ min: 0, max: 40 }).map((h) => h * 3_600_000),
              fc.integer({ min: 0, max: 60 }).map((d) => d * 86_400_000 + 1000),
            ),
            tags: fc.subarray(["a", "b", "c"]),
          }),
          { maxLength: 30 },
        ),
        policyArb,
        fc.integer({ min: -30, max: SPAN / 86_400_000 + 30 }),
        (raw, policy, nowDays) => {
          const nowMs = START + nowDays * 86_400_000;
          const snaps: RefSnap[] = raw.map((r, i) => ({
            id: (i + 1).toString(16).padStart(64, "0"),
            ms: START + r.ms,
            tags: r.tags,
            nr: i,
          }));
          const entries = snaps.map((s, i) =>
            entry(i + 1, new Date(s.ms).toISOString(), s.tags.length > 0 ? { tags: s.tags } : {}),
          );
          const got = applyPolicy(entries, policy, new Date(nowMs));
          const want = reference(snaps, policy, nowMs);
          const empty =
            policy.tags.length === 0 &&
            BUCKETS.every(([k]) => policy[k] === 0) &&
            [
              policy.within,
              policy.withinHourly,
              policy.withinDaily,
              policy.withinWeekly,
              policy.withinMonthly,
              policy.withinYearly,
            ].every((d) => !d.years && !d.months && !d.days && !d.hours);
          if (empty) {
            expect(got.remove).toEqual([]);
            return;
          }
          const wantKeep = [...want].filter(([, r]) => r.length > 0).map(([id]) => id);
          expect(ids(got.keep).sort()).toEqual(wantKeep.sort());
          expect(got.keep.length + got.remove.length).toBe(entries.length);
          for (const r of got.reasons) {
            expect(canonical(r.matches)).toEqual(canonical(want.get(r.snapshot.id) ?? []));
          }
          // newest first
          const times = got.keep.map((e) => Date.parse(e.snapshot.time));
          expect([...times].sort((a, b) => b - a)).toEqual(times);
        },
      ),
      { numRuns: 400 },
    );
  });
});
