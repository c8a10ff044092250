// Go's time.Time in JSON, as restic writes it in trees and snapshots: RFC 3339 with nanoseconds
// (layout RFC3339Nano: fractional seconds with trailing zeros trimmed, omitted when zero; "Z"
// when the UTC offset is zero, else ±hh:mm), and the parsing Go's time.Parse(RFC3339) accepts
// (any number of fractional digits after '.' or ',', truncated to nanoseconds). restic's
// FixTime clamps node timestamps into years 0..9999 before writing them.

import { ResticTsError } from "../errors.js";

/** An instant with the UTC offset it was written in. */
export interface GoTime {
  /** Seconds since 1970-01-01T00:00:00Z. */
  readonly seconds: bigint;
  /** 0..999999999 */
  readonly nanos: number;
  /** Minutes east of UTC. */
  readonly offsetMinutes: number;
}

/** Go's zero time.Time, what restic writes for a timestamp it never set. */
export const ZERO_TIME = "0001-01-01T00:00:00Z";

/** The parts of an RFC 3339 timestamp as Go's time.Parse(RFC3339) reads it. */
interface Rfc3339Parts {
  /** Seconds since 1970-01-01T00:00:00Z (a safe integer for every four-digit year). */
  readonly seconds: number;
  readonly nanos: number;
  /** Minutes east of UTC. */
  readonly offsetMinutes: number;
  /** Where the fractional digits start and end in the text (equal when there are none). */
  readonly fracStart: number;
  readonly fracEnd: number;
}

/** The ASCII digits at s[i, i + n) as a number; NaN when any is not a digit. */
function digitsAt(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k) - 0x30;
    if (c < 0 || c > 9) return Number.NaN;
    v = v * 10 + c;
  }
  return v;
}

/**
 * Read "2006-01-02T15:04:05[.fraction](Z|±hh:mm)" (',' also separates the fraction; any
 * number of fractional digits, truncated to nanoseconds), checking the ranges Go checks;
 * undefined for anything else. Character by character, no regular expression and no bigints:
 * a restore parses the times of every node.
 */
function scanRfc3339(s: string): Rfc3339Parts | undefined {
  const n = s.length;
  if (n < 20 || s.charCodeAt(4) !== 0x2d || s.charCodeAt(7) !== 0x2d) return undefined;
  if (s.charCodeAt(10) !== 0x54 || s.charCodeAt(13) !== 0x3a || s.charCodeAt(16) !== 0x3a) {
    return undefined;
  }
  const y = digitsAt(s, 0, 4);
  const mo = digitsAt(s, 5, 2);
  const d = digitsAt(s, 8, 2);
  const h = digitsAt(s, 11, 2);
  const mi = digitsAt(s, 14, 2);
  const sec = digitsAt(s, 17, 2);
  // NaN fails every comparison: the first test catches a non-digit anywhere
  if (!(y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && h <= 23 && mi <= 59 && sec <= 59)) {
    return undefined;
  }
  if (d > daysIn(mo, y)) return undefined;
  let i = 19;
  let nanos = 0;
  let fracStart = i;
  const sep = s.charCodeAt(i);
  if (sep === 0x2e || sep === 0x2c) {
    fracStart = ++i;
    let scale = 100_000_000;
    for (; i < n; i++) {
      const c = s.charCodeAt(i) - 0x30;
      if (c < 0 || c > 9) break;
      nanos += c * scale;
      scale = scale >= 10 ? scale / 10 : 0;
    }
    if (i === fracStart) return undefined;
  }
  const fracEnd = i;
  let offsetMinutes = 0;
  const z = s.charCodeAt(i);
  if (z === 0x5a && i + 1 === n) {
    // "Z"
  } else if ((z === 0x2b || z === 0x2d) && i + 6 === n && s.charCodeAt(i + 3) === 0x3a) {
    const oh = digitsAt(s, i + 1, 2);
    const om = digitsAt(s, i + 4, 2);
    if (!(oh <= 23 && om <= 59)) return undefined;
    offsetMinutes = oh * 60 + om;
    if (z === 0x2d && offsetMinutes !== 0) offsetMinutes = -offsetMinutes; // no -0
  } else {
    return undefined;
  }
  const local = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
  return { seconds: local - offsetMinutes * 60, nanos, offsetMinutes, fracStart, fracEnd };
}

function isLeap(y: number): boolean {
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
}

function daysIn(month: number, year: number): number {
  if (month === 2) return isLeap(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The proleptic Gregorian [year, month, day] of a day number (inverse of daysFromCivil). */
export function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

function checkArgs(nanos: number, offsetMinutes: number): void {
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    throw new ResticTsError("INVALID_ARGUMENT", `nanoseconds out of range: ${nanos}`);
  }
  if (!Number.isInteger(offsetMinutes) || Math.abs(offsetMinutes) >= 24 * 60) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `UTC offset out of range: ${offsetMinutes} minutes`,
    );
  }
}

function split(seconds: bigint, offsetMinutes: number): [number, number, number, number] {
  const local = seconds + BigInt(offsetMinutes * 60);
  let days = local / 86400n;
  let sod = local % 86400n;
  if (sod < 0n) {
    sod += 86400n;
    days -= 1n;
  }
  const [y, m, d] = civilFromDays(Number(days));
  return [y, m, d, Number(sod)];
}

function formatParts(
  y: number,
  mo: number,
  d: number,
  sod: number,
  nanos: number,
  offsetMinutes: number,
): string {
  let s = `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(Math.floor(sod / 3600), 2)}:${pad(Math.floor(sod / 60) % 60, 2)}:${pad(sod % 60, 2)}`;
  if (nanos !== 0) s += `.${pad(nanos, 9).replace(/0+$/, "")}`;
  if (offsetMinutes === 0) return `${s}Z`;
  const a = Math.abs(offsetMinutes);
  return `${s}${offsetMinutes < 0 ? "-" : "+"}${pad(Math.floor(a / 60), 2)}:${pad(a % 60, 2)}`;
}

/**
 * Format like Go's Time.MarshalJSON (RFC3339Nano). Throws INVALID_ARGUMENT when the local
 * year falls outside 0..9999, as Go does.
 */
export function formatGoTime(seconds: bigint, nanos: number, offsetMinutes = 0): string {
  checkArgs(nanos, offsetMinutes);
  const [y, m, d, sod] = split(seconds, offsetMinutes);
  if (y < 0 || y > 9999) {
    throw new ResticTsError("INVALID_ARGUMENT", `year ${y} is outside the range 0..9999`);
  }
  return formatParts(y, m, d, sod, nanos, offsetMinutes);
}

/**
 * Format a node timestamp the way restic does: FixTime first moves a year below 0 to 0 and
 * above 9999 to 9999 (keeping month, day and clock, Go's AddDate normalising Feb 29).
 */
export function formatNodeTime(seconds: bigint, nanos: number, offsetMinutes = 0): string {
  checkArgs(nanos, offsetMinutes);
  let [y, m, d, sod] = split(seconds, offsetMinutes);
  if (y < 0 || y > 9999) {
    y = y < 0 ? 0 : 9999;
    if (m === 2 && d === 29 && !isLeap(y)) {
      m = 3;
      d = 1;
    }
  }
  return formatParts(y, m, d, sod, nanos, offsetMinutes);
}

/** Format nanoseconds since the epoch (as `fs.lstat(p, {bigint: true}).mtimeNs`) for a node. */
export function formatNodeTimeNs(ns: bigint, offsetMinutes = 0): string {
  let s = ns / 1_000_000_000n;
  let n = ns % 1_000_000_000n;
  if (n < 0n) {
    n += 1_000_000_000n;
    s -= 1n;
  }
  return formatNodeTime(s, Number(n), offsetMinutes);
}

/** The local time zone's offset from UTC at an instant, in minutes east (what Go's Local uses). */
export function localOffsetMinutes(seconds: bigint): number {
  const ms = Number(seconds) * 1000;
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return 0;
  const off = -new Date(ms).getTimezoneOffset();
  return off === 0 ? 0 : off;
}

function localAbbreviation(date: Date): string | undefined {
  try {
    const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" })
      .formatToParts(date)
      .find((p) => p.type === "timeZoneName")?.value;
    return part !== undefined && /^[A-Z]{2,5}$/.test(part) ? part : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Go's time.Time.String() of a timestamp as restic parsed it from JSON:
 * "2006-01-02 15:04:05.999999999 -0700 MST" in the offset it was written with; the zone is
 * "UTC" for "Z", the local zone's abbreviation when the offset is the local one, else the
 * numeric offset again (Go's FixedZone without a name).
 */
export function goTimeString(text: string): string {
  const t = parseGoTime(text);
  const off = t.offsetMinutes;
  const [y, m, d, sod] = split(t.seconds, off);
  let s = `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)} ${pad(Math.floor(sod / 3600), 2)}:${pad(Math.floor(sod / 60) % 60, 2)}:${pad(sod % 60, 2)}`;
  if (t.nanos !== 0) s += `.${pad(t.nanos, 9).replace(/0+$/, "")}`;
  const a = Math.abs(off);
  const numeric = `${off < 0 ? "-" : "+"}${pad(Math.floor(a / 60), 2)}${pad(a % 60, 2)}`;
  let zone = numeric;
  if (/[zZ]$/.test(text)) zone = "UTC";
  else if (localOffsetMinutes(t.seconds) === off) {
    zone = localAbbreviation(new Date(Number(t.seconds) * 1000)) ?? numeric;
  }
  return `${s} ${numeric} ${zone}`;
}

/** Parse what Go's time.Parse(time.RFC3339, s) accepts; undefined where Go reports an error. */
export function tryParseGoTime(s: string): GoTime | undefined {
  const t = scanRfc3339(s);
  if (t === undefined) return undefined;
  return { seconds: BigInt(t.seconds), nanos: t.nanos, offsetMinutes: t.offsetMinutes };
}

/**
 * tryParseGoTime's instant as plain numbers (whole seconds since the epoch and nanoseconds),
 * for callers that handle many timestamps; undefined where Go reports an error.
 */
export function goTimeSeconds(s: string): { sec: number; nsec: number } | undefined {
  const t = scanRfc3339(s);
  return t === undefined ? undefined : { sec: t.seconds, nsec: t.nanos };
}

/** Parse an RFC 3339 timestamp as Go does; INVALID_ARGUMENT where Go reports an error. */
export function parseGoTime(s: string): GoTime {
  const t = tryParseGoTime(s);
  if (t === undefined)
    throw new ResticTsError("INVALID_ARGUMENT", `not an RFC 3339 timestamp: ${JSON.stringify(s)}`);
  return t;
}

/**
 * What Go writes back after parsing `s`: the canonical RFC3339Nano form (trailing fractional
 * zeros trimmed, digits past nanoseconds dropped, "+00:00" as "Z"), or undefined if invalid.
 * The local date and clock never change, so this is done on the text.
 */
export function normalizeGoTime(s: string): string | undefined {
  const t = scanRfc3339(s);
  if (t === undefined) return undefined;
  const { fracStart, fracEnd } = t;
  const canonical =
    (fracStart === fracEnd ||
      (s.charCodeAt(19) === 0x2e &&
        fracEnd - fracStart <= 9 &&
        s.charCodeAt(fracEnd - 1) !== 0x30)) &&
    (t.offsetMinutes !== 0 || s.charCodeAt(fracEnd) === 0x5a);
  if (canonical) return s; // what nodes built from a stat carry: nothing to rebuild
  let out = s.slice(0, 19);
  const frac = s.slice(t.fracStart, Math.min(t.fracEnd, t.fracStart + 9)).replace(/0+$/, "");
  if (frac !== "") out += `.${frac}`;
  // the offset as written ("±hh:mm"), or "Z" for none or a zero one
  return t.offsetMinutes === 0 ? `${out}Z` : `${out}${s.slice(t.fracEnd)}`;
}

/** A Date (plus optional nanoseconds within its second) as Go marshals it in the local zone. */
export function formatGoTimeDate(date: Date, nanos?: number): string {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new ResticTsError("INVALID_ARGUMENT", "invalid Date");
  const seconds = BigInt(Math.floor(ms / 1000));
  const ns = nanos ?? (((ms % 1000) + 1000) % 1000) * 1_000_000;
  return formatGoTime(seconds, ns, localOffsetMinutes(seconds));
}

/** Now, with the microseconds the high-resolution clock gives, as Go's time.Now() marshals. */
export function goTimeNow(): string {
  const t = performance.timeOrigin + performance.now();
  const ms = Math.floor(t);
  const micros = Math.min(
    999_999,
    (((ms % 1000) + 1000) % 1000) * 1000 + Math.floor((t - ms) * 1000),
  );
  return formatGoTimeDate(new Date(ms), micros * 1000);
}
