// Snapshot retention policies (restic 0.14 internal/restic/snapshot_policy.go, duration.go,
// snapshot_group.go): which snapshots `forget` keeps, and why.
//
// A policy keeps the newest n snapshots (last), the newest snapshot of each of the newest n
// hours/days/ISO weeks/months/years that have one, every snapshot carrying one of the tag
// lists, every snapshot made within a duration of the newest one (that is not in the future),
// and the newest snapshot of each hour/day/... within such a duration. Calendar buckets use the
// wall clock of each snapshot's own timestamp (its written UTC offset), as Go's time.Time does.
// Durations (`1y2m3d4h`) are subtracted with Go's AddDate normalisation (Mar 31 - 1m = Mar 3),
// in the newest snapshot's UTC offset.

import { ResticTsError } from "../errors.js";
import { goJsonString } from "./gostring.js";
import { civilFromDays, daysFromCivil, tryParseGoTime } from "./gotime.js";
import { hasTags, type SnapshotEntry } from "./snapshots.js";
import { compareNames } from "./tree.js";

/** restic's Duration: calendar units, each may be negative. */
export interface Duration {
  readonly years: number;
  readonly months: number;
  readonly days: number;
  readonly hours: number;
}

export const ZERO_DURATION: Duration = Object.freeze({ years: 0, months: 0, days: 0, hours: 0 });

export function isZeroDuration(d: Duration): boolean {
  return d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0;
}

/** restic's ParseDuration: `<n><unit>…` with units y, m, d, h (a unit again overrides). */
export function parseDuration(input: string): Duration {
  let s = input.trim();
  const d = { years: 0, months: 0, days: 0, hours: 0 };
  const bad = (m: string) => new ResticTsError("INVALID_ARGUMENT", m, { duration: input });
  while (s !== "") {
    const m = /^(-?)(\d*)(.*)$/s.exec(s) as RegExpExecArray;
    if (m[2] === "") throw bad("no number found");
    const num = (m[1] === "-" ? -1 : 1) * Number(m[2]);
    if (!Number.isSafeInteger(num)) throw bad(`number ${m[1]}${m[2]} is out of range`);
    s = m[3];
    if (s === "") throw bad(`no unit found after number ${num}`);
    switch (s[0]) {
      case "y":
        d.years = num;
        break;
      case "m":
        d.months = num;
        break;
      case "d":
        d.days = num;
        break;
      case "h":
        d.hours = num;
        break;
      default:
        throw bad(`invalid unit ${JSON.stringify(s[0])} found after number ${num}`);
    }
    s = s.slice(1);
  }
  return d;
}

/** restic's Duration.String: nonzero parts only, e.g. "1y2m3d4h"; "" for zero. */
export function formatDuration(d: Duration): string {
  let s = "";
  if (d.years !== 0) s += `${d.years}y`;
  if (d.months !== 0) s += `${d.months}m`;
  if (d.days !== 0) s += `${d.days}d`;
  if (d.hours !== 0) s += `${d.hours}h`;
  return s;
}

export interface ExpirePolicy {
  readonly last: number;
  readonly hourly: number;
  readonly daily: number;
  readonly weekly: number;
  readonly monthly: number;
  readonly yearly: number;
  readonly within: Duration;
  readonly withinHourly: Duration;
  readonly withinDaily: Duration;
  readonly withinWeekly: Duration;
  readonly withinMonthly: Duration;
  readonly withinYearly: Duration;
  /** Keep snapshots that carry all tags of at least one of these lists. */
  readonly tags: readonly (readonly string[])[];
}

export function makePolicy(p: Partial<ExpirePolicy> = {}): ExpirePolicy {
  return {
    last: 0,
    hourly: 0,
    daily: 0,
    weekly: 0,
    monthly: 0,
    yearly: 0,
    within: ZERO_DURATION,
    withinHourly: ZERO_DURATION,
    withinDaily: ZERO_DURATION,
    withinWeekly: ZERO_DURATION,
    withinMonthly: ZERO_DURATION,
    withinYearly: ZERO_DURATION,
    tags: [],
    ...p,
  };
}

const COUNTS = ["last", "hourly", "daily", "weekly", "monthly", "yearly"] as const;
const WITHINS = [
  "within",
  "withinHourly",
  "withinDaily",
  "withinWeekly",
  "withinMonthly",
  "withinYearly",
] as const;

export function isPolicyEmpty(p: ExpirePolicy): boolean {
  return (
    p.tags.length === 0 &&
    COUNTS.every((k) => p[k] === 0) &&
    WITHINS.every((k) => isZeroDuration(p[k]))
  );
}

/** restic's TagList.String: "[a, b]". */
export function formatTagList(l: readonly string[]): string {
  return `[${l.join(", ")}]`;
}

/** restic's ExpirePolicy.String ("keep 2 latest, 1 daily snapshots and …"). */
export function describePolicy(p: ExpirePolicy): string {
  const keeps: string[] = [];
  const names = ["latest", "hourly", "daily", "weekly", "monthly", "yearly"];
  COUNTS.forEach((k, i) => {
    if (p[k] > 0) keeps.push(`${p[k]} ${names[i]}`);
  });
  const keepw: string[] = [];
  const wnames = ["hourly", "daily", "weekly", "monthly", "yearly"];
  WITHINS.slice(1).forEach((k, i) => {
    if (!isZeroDuration(p[k])) keepw.push(`${wnames[i]} snapshots within ${formatDuration(p[k])}`);
  });
  let s = keeps.length > 0 ? `${keeps.join(", ")} snapshots` : "";
  if (keepw.length > 0) s += (s !== "" ? ", " : "") + keepw.join(", ");
  if (p.tags.length > 0) {
    s += `${s !== "" ? " and " : ""}all snapshots with tags [${p.tags.map(formatTagList).join(" ")}]`;
  }
  if (!isZeroDuration(p.within)) {
    s += `${s !== "" ? " and " : ""}all snapshots within ${formatDuration(p.within)} of the newest`;
  }
  return `keep ${s}`;
}

// --- calendar arithmetic on Go timestamps ------------------------------------------------

/** A snapshot time: the instant (ns since the epoch) and its wall clock in its own offset. */
interface WallTime {
  readonly ns: bigint;
  readonly offsetMinutes: number;
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  /** Seconds into the day and nanoseconds, for AddDate. */
  readonly sod: number;
  readonly nanos: number;
  /** Days since 1970-01-01 of the local date. */
  readonly days: number;
}

function wallTimeOf(ns: bigint, offsetMinutes: number): WallTime {
  const local = ns + BigInt(offsetMinutes) * 60_000_000_000n;
  let days = local / 86_400_000_000_000n;
  let rem = local % 86_400_000_000_000n;
  if (rem < 0n) {
    rem += 86_400_000_000_000n;
    days -= 1n;
  }
  const sod = Number(rem / 1_000_000_000n);
  const [year, month, day] = civilFromDays(Number(days));
  return {
    ns,
    offsetMinutes,
    year,
    month,
    day,
    hour: Math.floor(sod / 3600),
    sod,
    nanos: Number(rem % 1_000_000_000n),
    days: Number(days),
  };
}

/** The instant and wall clock of an RFC 3339 snapshot time. */
export function parseWallTime(time: string): WallTime {
  const t = tryParseGoTime(time);
  if (t === undefined) {
    throw new ResticTsError("INVALID_ARGUMENT", `invalid snapshot time ${JSON.stringify(time)}`);
  }
  return wallTimeOf(t.seconds * 1_000_000_000n + BigInt(t.nanos), t.offsetMinutes);
}

/** Go's t.AddDate(-y, -m, -d).Add(-h hours) for a duration d, in t's offset. */
function subtractDuration(t: WallTime, d: Duration): bigint {
  // Go's Date normalises month overflow into years, then day overflow through the calendar
  let y = t.year - d.years;
  let m = t.month - d.months - 1;
  y += Math.floor(m / 12);
  m = ((m % 12) + 12) % 12;
  const days = daysFromCivil(y, m + 1, 1) + (t.day - d.days - 1);
  const localNs = (BigInt(days) * 86_400n + BigInt(t.sod)) * 1_000_000_000n + BigInt(t.nanos);
  const utc = localNs - BigInt(t.offsetMinutes) * 60_000_000_000n;
  return utc - BigInt(d.hours) * 3_600_000_000_000n;
}

/** Go's ISOWeek as year*100 + week. */
function isoYearWeek(t: WallTime): number {
  const weekday = ((((t.days + 3) % 7) + 7) % 7) + 1; // 1970-01-01 was a Thursday (4); Mon = 1
  const thursday = t.days + (4 - weekday);
  const [ty] = civilFromDays(thursday);
  const week = Math.floor((thursday - daysFromCivil(ty, 1, 1)) / 7) + 1;
  return ty * 100 + week;
}

type Bucker = (t: WallTime, nr: number) => number;
const ymdh: Bucker = (t) => t.year * 1_000_000 + t.month * 10_000 + t.day * 100 + t.hour;
const ymd: Bucker = (t) => t.year * 10_000 + t.month * 100 + t.day;
const yw: Bucker = (t) => isoYearWeek(t);
const ym: Bucker = (t) => t.year * 100 + t.month;
const y: Bucker = (t) => t.year;
const always: Bucker = (_t, nr) => nr;

// --- applying a policy ----------------------------------------------------------------------

export interface KeepCounters {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

export interface KeepReason {
  readonly snapshot: SnapshotEntry;
  /** Which rules keep it, e.g. "last snapshot", "daily snapshot", "within 2d". */
  readonly matches: readonly string[];
  /** Counters left after this snapshot (zero counters left out, as restic's JSON omits them). */
  readonly counters: KeepCounters;
}

export interface PolicyResult {
  /** Newest first. */
  readonly keep: SnapshotEntry[];
  /** Newest first. */
  readonly remove: SnapshotEntry[];
  /** One per kept snapshot, in the order of `keep`. */
  readonly reasons: KeepReason[];
}

/**
 * restic's ApplyPolicy: sort newest first (stable for equal times), then decide for each
 * snapshot. `now` only bounds which snapshot counts as the newest for the within rules.
 */
export function applyPolicy(
  list: readonly SnapshotEntry[],
  p: ExpirePolicy,
  now: Date = new Date(),
): PolicyResult {
  const times = new Map(list.map((e) => [e, parseWallTime(e.snapshot.time)]));
  const sorted = [...list]
    .map((e, i) => ({ e, i }))
    .sort((a, b) => {
      const ta = (times.get(a.e) as WallTime).ns;
      const tb = (times.get(b.e) as WallTime).ns;
      return ta > tb ? -1 : ta < tb ? 1 : a.i - b.i;
    })
    .map((x) => x.e);
  if (isPolicyEmpty(p)) {
    return {
      keep: sorted,
      remove: [],
      reasons: sorted.map((snapshot) => ({ snapshot, matches: ["policy is empty"], counters: {} })),
    };
  }
  const keep: SnapshotEntry[] = [];
  const remove: SnapshotEntry[] = [];
  const reasons: KeepReason[] = [];
  if (sorted.length === 0) return { keep, remove, reasons };

  const buckets = [
    { count: p.last, bucker: always, last: -1, reason: "last snapshot" },
    { count: p.hourly, bucker: ymdh, last: -1, reason: "hourly snapshot" },
    { count: p.daily, bucker: ymd, last: -1, reason: "daily snapshot" },
    { count: p.weekly, bucker: yw, last: -1, reason: "weekly snapshot" },
    { count: p.monthly, bucker: ym, last: -1, reason: "monthly snapshot" },
    { count: p.yearly, bucker: y, last: -1, reason: "yearly snapshot" },
  ];
  const withinBuckets = [
    { within: p.withinHourly, bucker: ymdh, last: -1, reason: "hourly within" },
    { within: p.withinDaily, bucker: ymd, last: -1, reason: "daily within" },
    { within: p.withinWeekly, bucker: yw, last: -1, reason: "weekly within" },
    { within: p.withinMonthly, bucker: ym, last: -1, reason: "monthly within" },
    { within: p.withinYearly, bucker: y, last: -1, reason: "yearly within" },
  ];
  // the newest snapshot that is not in the future (Go's zero time if there is none)
  const nowNs = BigInt(now.getTime()) * 1_000_000n;
  let latest: WallTime | undefined;
  for (const e of sorted) {
    const t = times.get(e) as WallTime;
    if ((latest === undefined || t.ns > latest.ns) && t.ns < nowNs) latest = t;
  }
  latest ??= wallTimeOf(BigInt(daysFromCivil(1, 1, 1)) * 86_400_000_000_000n, 0);
  const after = (t: WallTime, d: Duration) => t.ns > subtractDuration(latest as WallTime, d);

  sorted.forEach((cur, nr) => {
    const t = times.get(cur) as WallTime;
    let keepSnap = false;
    const matches: string[] = [];
    for (const l of p.tags) {
      if (hasTags(cur.snapshot.tags, l)) {
        keepSnap = true;
        matches.push(`has tags ${formatTagList(l)}`);
      }
    }
    if (!isZeroDuration(p.within) && after(t, p.within)) {
      keepSnap = true;
      matches.push(`within ${formatDuration(p.within)}`);
    }
    for (const b of buckets) {
      if (b.count <= 0) continue;
      const val = b.bucker(t, nr);
      if (val !== b.last) {
        keepSnap = true;
        b.last = val;
        b.count--;
        matches.push(b.reason);
      }
    }
    for (const b of withinBuckets) {
      if (isZeroDuration(b.within) || !after(t, b.within)) continue;
      const val = b.bucker(t, nr);
      if (val !== b.last) {
        keepSnap = true;
        b.last = val;
        matches.push(`${b.reason} ${formatDuration(b.within)}`);
      }
    }
    if (!keepSnap) {
      remove.push(cur);
      return;
    }
    keep.push(cur);
    const counters: KeepCounters = {};
    COUNTS.forEach((k, i) => {
      if (buckets[i].count !== 0) counters[k] = buckets[i].count;
    });
    reasons.push({ snapshot: cur, matches, counters });
  });
  return { keep, remove, reasons };
}

// --- grouping ------------------------------------------------------------------------------

export interface GroupKey {
  readonly hostname: string;
  /** null when not grouping by paths. */
  readonly paths: readonly string[] | null;
  /** null when not grouping by tags. */
  readonly tags: readonly string[] | null;
}

export interface SnapshotGroup {
  readonly key: GroupKey;
  /** The key as restic marshals it (what groups are told apart by). */
  readonly keyJson: string;
  readonly snapshots: SnapshotEntry[];
}

export interface GroupBy {
  readonly host: boolean;
  readonly paths: boolean;
  readonly tags: boolean;
}

/** Parse restic's --group-by ("host,paths", "tags", "" for no grouping). */
export function parseGroupBy(s: string): GroupBy {
  const g = { host: false, paths: false, tags: false };
  for (const option of s.split(",")) {
    switch (option) {
      case "host":
      case "hosts":
        g.host = true;
        break;
      case "path":
      case "paths":
        g.paths = true;
        break;
      case "tag":
      case "tags":
        g.tags = true;
        break;
      case "":
        break;
      default:
        throw new ResticTsError("INVALID_ARGUMENT", `unknown grouping option: '${option}'`);
    }
  }
  return g;
}

const sortGo = (list: readonly string[]) => [...list].sort(compareNames);

function stringsJson(list: readonly string[] | null): string {
  return list === null ? "null" : `[${list.map(goJsonString).join(",")}]`;
}

/**
 * restic's GroupSnapshots. As restic does, every snapshot's paths come out sorted (and its
 * tags, when grouping by tags): the entries returned carry copies with sorted lists. Groups are
 * ordered by their key (restic's map order is random).
 */
export function groupSnapshots(list: readonly SnapshotEntry[], by: GroupBy): SnapshotGroup[] {
  const groups = new Map<string, SnapshotGroup>();
  for (const e of list) {
    const sn = { ...e.snapshot };
    if (sn.paths !== null) sn.paths = sortGo(sn.paths);
    if (by.tags && sn.tags !== undefined) sn.tags = sortGo(sn.tags);
    const key: GroupKey = {
      hostname: by.host ? sn.hostname : "",
      paths: by.paths ? (sn.paths ?? null) : null,
      tags: by.tags ? (sn.tags ?? null) : null,
    };
    const keyJson = `{"hostname":${goJsonString(key.hostname)},"paths":${stringsJson(key.paths)},"tags":${stringsJson(key.tags)}}`;
    let g = groups.get(keyJson);
    if (g === undefined) {
      g = { key, keyJson, snapshots: [] };
      groups.set(keyJson, g);
    }
    g.snapshots.push({ id: e.id, snapshot: sn });
  }
  return [...groups.values()].sort((a, b) =>
    a.keyJson < b.keyJson ? -1 : a.keyJson > b.keyJson ? 1 : 0,
  );
}
