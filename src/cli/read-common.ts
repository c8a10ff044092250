// Pieces the reading commands (snapshots, ls, find, diff, dump, restore, cat tree) share:
// repeatable flags, the repository lock they take, and Go's formatting of the values they
// print (restic 0.14 cmd/restic/format.go formatNode, %v of a string slice), with output that
// keeps the raw bytes of names that are not UTF-8, as restic's does.

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
import type { CommandContext, FlagValues } from "./command.js";
import type { CliIo } from "./io.js";
import { formatLocalTime } from "./table.js";

/** The strings of a repeatable flag. */
export function flagList(flags: FlagValues, name: string): string[] {
  const v = flags[name];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === "string");
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
