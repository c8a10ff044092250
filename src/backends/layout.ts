// restic's "default" repository layout (doc/design.rst, internal/backend/layout/layout_default.go)
// as used by the local and sftp backends: `config` at the top, `keys/`, `locks/`,
// `snapshots/`, `index/` holding files named by their ID, and `data/<first two hex chars>/<id>`
// for pack files. Also the permission modes restic gives to new files and directories and
// the validation that keeps a hostile name from escaping the repository directory.

import { ResticTsError } from "../errors.js";
import { type ByteRange, FILE_TYPES, type FileType, type Handle } from "./backend.js";

/** The directory holding each type's files, relative to the repository root. */
export const TYPE_DIRS: Readonly<Record<Exclude<FileType, "config">, string>> = {
  data: "data",
  snapshot: "snapshots",
  index: "index",
  lock: "locks",
  key: "keys",
};

/** The name of the config file, relative to the repository root. */
export const CONFIG_PATH = "config";

/** The 256 subdirectories of `data/`: "00" … "ff". */
export const DATA_SUBDIRS: readonly string[] = Array.from({ length: 256 }, (_, i) =>
  i.toString(16).padStart(2, "0"),
);

/**
 * Every directory `restic init` creates, relative to the repository root, parents before
 * children: the five type directories, then `data/00` … `data/ff`.
 */
export const REPO_DIRS: readonly string[] = [
  TYPE_DIRS.data,
  TYPE_DIRS.snapshot,
  TYPE_DIRS.index,
  TYPE_DIRS.lock,
  TYPE_DIRS.key,
  ...DATA_SUBDIRS.map((d) => `${TYPE_DIRS.data}/${d}`),
];

const ID_RE = /^[0-9a-f]{64}$/;
const SUBDIR_RE = /^[0-9a-f]{2}$/;

/** Whether `name` is a valid file name for a non-config handle: 64 lower-case hex characters. */
export function isValidName(name: string): boolean {
  return ID_RE.test(name);
}

/** Whether `name` is one of `data/`'s subdirectories ("00" … "ff"). */
export function isDataSubdir(name: string): boolean {
  return SUBDIR_RE.test(name);
}

function isFileType(t: unknown): t is FileType {
  return typeof t === "string" && (FILE_TYPES as readonly string[]).includes(t);
}

/** Reject a handle whose type is unknown or whose name is not a valid ID (INVALID_ARGUMENT). */
export function checkHandle(h: Handle): void {
  if (h === null || typeof h !== "object" || !isFileType(h.type)) {
    throw new ResticTsError("INVALID_ARGUMENT", `invalid file type ${JSON.stringify(h?.type)}`, {
      type: h?.type,
    });
  }
  if (h.type === "config") return;
  if (typeof h.name !== "string" || !isValidName(h.name)) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `invalid ${h.type} file name ${JSON.stringify(h.name)}: want 64 lower-case hex characters`,
      { type: h.type, name: h.name },
    );
  }
}

/** Reject a list type that is not one of FILE_TYPES (INVALID_ARGUMENT). */
export function checkType(type: FileType): void {
  if (!isFileType(type)) {
    throw new ResticTsError("INVALID_ARGUMENT", `invalid file type ${JSON.stringify(type)}`, {
      type,
    });
  }
}

/** Reject a byte range with a negative or non-integer offset or length (INVALID_ARGUMENT). */
export function checkRange(range: ByteRange | undefined): void {
  if (range === undefined) return;
  const { offset, length } = range;
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new ResticTsError("INVALID_ARGUMENT", `invalid offset ${offset}`, { offset });
  }
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 0)) {
    throw new ResticTsError("INVALID_ARGUMENT", `invalid length ${length}`, { length });
  }
}

/**
 * The slice `[start, end)` of a file of `size` bytes that `range` asks for, or CORRUPT
 * ("short read") when it reaches past the end. Call `checkRange` first.
 */
export function resolveRange(
  h: Handle,
  size: number,
  range: ByteRange | undefined,
): { start: number; end: number } {
  const start = range?.offset ?? 0;
  const end = range?.length === undefined ? Math.max(start, size) : start + range.length;
  if (end > size) {
    throw new ResticTsError(
      "CORRUPT",
      `${describeHandle(h)}: short read: want bytes ${start}..${end}, file has ${size}`,
      { type: h.type, name: h.name, offset: start, end, size },
    );
  }
  return { start, end };
}

/** The directory holding `h`, relative to the repository root ("" for config). */
export function handleDir(h: Handle): string {
  checkHandle(h);
  if (h.type === "config") return "";
  if (h.type === "data") return `${TYPE_DIRS.data}/${h.name.slice(0, 2)}`;
  return TYPE_DIRS[h.type];
}

/** The path of `h` relative to the repository root, with `/` separators. Validates `h`. */
export function handlePath(h: Handle): string {
  const dir = handleDir(h);
  return dir === "" ? CONFIG_PATH : `${dir}/${h.name}`;
}

/** A short printable form of a handle for messages: `<data/0123456789>`. */
export function describeHandle(h: Handle): string {
  if (h.type === "config") return "<config>";
  return `<${h.type}/${String(h.name).slice(0, 10)}>`;
}

/** Permission bits for new repository files and directories. */
export interface Modes {
  readonly dir: number;
  readonly file: number;
}

/** restic's defaults: directories 0700, files 0600 (made read-only, 0400, once saved). */
export const DEFAULT_MODES: Modes = { dir: 0o700, file: 0o600 };

/**
 * restic's rule for an existing repository: when the config file is group-readable, new
 * directories get 0770 and new files 0660 (0440 once saved) so a group can share it.
 * `configMode` is the config file's mode, or undefined when it cannot be read.
 */
export function deriveModes(configMode: number | undefined): Modes {
  if (configMode !== undefined && (configMode & 0o040) !== 0) {
    return { dir: DEFAULT_MODES.dir | 0o070, file: DEFAULT_MODES.file | 0o060 };
  }
  return DEFAULT_MODES;
}

/** The mode of a saved file: `mode` with the write bits cleared. */
export function readOnlyMode(mode: number): number {
  return mode & ~0o222;
}

/** The prefix of a temp file restic's local backend writes before renaming to `base`. */
export function tempPrefix(base: string): string {
  return `${base}-tmp-`;
}
