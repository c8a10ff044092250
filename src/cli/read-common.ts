// Pieces the reading commands (snapshots, ls, find, diff, dump, restore, cat tree) share:
// restic's snapshot-selection flags (--host/--tag/--path), the repository lock they take,
// and Go's formatting of the values they print (restic 0.14 cmd/restic/format.go formatNode,
// Go's time.Time.String and %v of a string slice), with output that keeps the raw bytes of
// names that are not UTF-8, as restic's does.

import * as nodePath from "node:path";
import { goStringToBytes } from "../repo/gostring.js";
import { parseGoTime } from "../repo/gotime.js";
import type { Id } from "../repo/id.js";
import { withLock } from "../repo/lock.js";
import {
  fileModeString,
  MODE_CHAR_DEVICE,
  MODE_DEVICE,
  MODE_DIR,
  MODE_NAMED_PIPE,
  MODE_SOCKET,
  MODE_SYMLINK,
  type Node,
} from "../repo/node.js";
import type { Repository } from "../repo/repository.js";
import type { SnapshotFilter } from "../repo/snapshots.js";
import type { CommandContext, FlagValues, OptionSpec } from "./command.js";
import type { CliIo } from "./io.js";
import { formatLocalTime } from "./table.js";

/** restic's --host/-H, --tag and --path flags for choosing snapshots. */
export const SNAPSHOT_FILTER_OPTIONS = {
  host: { type: "string", short: "H", multiple: true },
  tag: { type: "string", multiple: true },
  path: { type: "string", multiple: true },
} as const satisfies OptionSpec;

function strings(v: FlagValues[string]): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === "string");
}

/** The snapshot filter of the --host/--tag/--path flags (paths made absolute with `absolute`). */
export function snapshotFilter(flags: FlagValues, absolute = false): SnapshotFilter {
  const tags = strings(flags.tag)
    .map((t) =>
      t
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "")
        .join(","),
    )
    .filter((t) => t !== "");
  const paths = strings(flags.path).map((p) => (absolute ? nodePath.resolve(p) : p));
  return { hosts: strings(flags.host), tags, paths };
}

/** The strings of a repeatable flag. */
export function flagList(flags: FlagValues, name: string): string[] {
  return strings(flags[name]);
}

/** Run `fn` holding a non-exclusive lock on the repository, unless --no-lock was given. */
export function withReadLock<T>(
  ctx: CommandContext,
  repo: Repository,
  fn: () => Promise<T>,
): Promise<T> {
  if (ctx.global["no-lock"] === true) return fn();
  return withLock(repo, false, fn);
}

/** Whether standard output is a terminal (a CliIo may say so; the process's own is checked). */
export function stdoutIsTerminal(io: CliIo): boolean {
  const declared = (io as CliIo & { stdoutIsTTY?: boolean }).stdoutIsTTY;
  if (typeof declared === "boolean") return declared;
  return io.stdin === process.stdin && process.stdout.isTTY === true;
}

/** Print one line holding a Go string: its raw bytes, so names that are not UTF-8 survive. */
export function printGo(io: CliIo, text: string): void {
  if (/[\ud800-\udfff]/.test(text)) io.writeBytes(goStringToBytes(`${text}\n`));
  else io.write(`${text}\n`);
}

/** Go's %v of a []string: "[a b c]". */
export function goSlice(list: readonly string[] | null | undefined): string {
  return `[${(list ?? []).join(" ")}]`;
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
  const local = t.seconds + BigInt(t.offsetMinutes * 60);
  const day = local >= 0n ? local / 86400n : -((-local + 86399n) / 86400n);
  const sod = Number(local - day * 86400n);
  const date = new Date(Number(day) * 86400000);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  let s = `${p(date.getUTCFullYear(), 4)}-${p(date.getUTCMonth() + 1)}-${p(date.getUTCDate())} ${p(Math.floor(sod / 3600))}:${p(Math.floor(sod / 60) % 60)}:${p(sod % 60)}`;
  if (t.nanos !== 0) s += `.${p(t.nanos, 9).replace(/0+$/, "")}`;
  const off = t.offsetMinutes;
  const abs = Math.abs(off);
  const numeric = `${off < 0 ? "-" : "+"}${p(Math.floor(abs / 60))}${p(abs % 60)}`;
  let zone: string;
  if (/[zZ]$/.test(text)) zone = "UTC";
  else {
    const instant = new Date(Number(t.seconds) * 1000);
    const localOff = -instant.getTimezoneOffset();
    zone = localOff === off ? (localAbbreviation(instant) ?? numeric) : numeric;
  }
  return `${s} ${numeric} ${zone}`;
}

/** restic's TimeFormat of a timestamp in local time ("2006-01-02 15:04:05"). */
export function localTime(text: string): string {
  const t = parseGoTime(text);
  return formatLocalTime(new Date(Number(t.seconds) * 1000));
}

/** The FileMode bits restic adds for a node's type when printing it. */
export function typeModeBits(type: string): number {
  switch (type) {
    case "dir":
      return MODE_DIR;
    case "symlink":
      return MODE_SYMLINK;
    case "dev":
      return MODE_DEVICE;
    case "chardev":
      return MODE_DEVICE | MODE_CHAR_DEVICE;
    case "fifo":
      return MODE_NAMED_PIPE;
    case "socket":
      return MODE_SOCKET;
    default:
      return 0;
  }
}

/** restic's formatNode: the path, or with `long` "mode uid gid size mtime path[ -> target]". */
export function formatNode(path: string, n: Node, long: boolean): string {
  if (!long) return path;
  const mode = (typeModeBits(n.type) | n.mode) >>> 0;
  const target = n.type === "symlink" ? ` -> ${n.linkTarget}` : "";
  return `${fileModeString(mode)} ${String(n.uid).padStart(5)} ${String(n.gid).padStart(5)} ${String(n.size).padStart(6)} ${localTime(n.mtime)} ${path}${target}`;
}

/** An error line restic prints for an unloadable tree while walking. */
export function shortTree(id: Id): string {
  return id.slice(0, 8);
}
