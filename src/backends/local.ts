// A Backend in a local directory, on disk exactly as restic 0.14's local backend
// (internal/backend/local/local.go) keeps it: the default layout (layout.ts), files saved
// through a temp file `<name>-tmp-<random>` in the target directory that is fsynced, renamed
// into place (the directory fsynced too) and then made read-only; directories 0700 and files
// 0400, or group-shared modes when the existing config is group-readable.

import { randomBytes } from "node:crypto";
import { constants as fsConstants } from "node:fs";
import * as fs from "node:fs/promises";
import * as path from "node:path";
import { fromSystemError, ResticTsError } from "../errors.js";
import type { Backend, ByteRange, FileInfo, FileType, Handle } from "./backend.js";
import {
  CONFIG_PATH,
  checkRange,
  checkType,
  DATA_SUBDIRS,
  deriveModes,
  describeHandle,
  handlePath,
  isDataSubdir,
  isValidName,
  type Modes,
  REPO_DIRS,
  readOnlyMode,
  resolveRange,
  TYPE_DIRS,
  tempPrefix,
} from "./layout.js";

/** How many `stat` calls `list` keeps in flight for one directory. */
const STAT_CONCURRENCY = 32;

const isWindows = process.platform === "win32";

export class LocalBackend implements Backend {
  /** The directory as given, for messages. */
  readonly location: string;
  /** The directory resolved against the working directory at construction. */
  readonly root: string;
  #modes: Promise<Modes> | undefined;

  constructor(dir: string) {
    if (typeof dir !== "string" || dir === "") {
      throw new ResticTsError("INVALID_ARGUMENT", "local backend: empty directory name");
    }
    this.location = dir;
    this.root = path.resolve(dir);
  }

  /** The absolute path of `h` (validated) on disk. */
  pathOf(h: Handle): string {
    return path.join(this.root, handlePath(h));
  }

  async create(): Promise<void> {
    const modes = await this.#getModes();
    const parent = path.dirname(this.root);
    try {
      await fs.mkdir(this.root, { recursive: true, mode: modes.dir });
      for (const dir of REPO_DIRS.filter((d) => !d.includes("/"))) {
        await mkdirIfMissing(path.join(this.root, dir), modes.dir);
      }
      const dataDir = path.join(this.root, TYPE_DIRS.data);
      await Promise.all(DATA_SUBDIRS.map((d) => mkdirIfMissing(path.join(dataDir, d), modes.dir)));
      await fsyncDir(dataDir);
      await fsyncDir(this.root);
      await fsyncDir(parent);
    } catch (err) {
      throw fromSystemError(err, `create repository at ${this.location}`);
    }
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    const finalName = this.pathOf(h);
    const dir = path.dirname(finalName);
    const what = `save ${describeHandle(h)}`;
    const modes = await this.#getModes();
    const tmpName = path.join(
      dir,
      `${tempPrefix(path.basename(finalName))}${randomBytes(8).toString("hex")}`,
    );
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(tmpName, "wx", modes.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException)?.code !== "ENOENT") throw fromSystemError(err, what);
      // The directory is missing (e.g. data/ab of a repository made elsewhere): create it.
      try {
        await fs.mkdir(dir, { recursive: true, mode: modes.dir });
        fh = await fs.open(tmpName, "wx", modes.file);
      } catch (err2) {
        throw fromSystemError(err2, what);
      }
    }
    let closed = false;
    try {
      await fh.writeFile(data);
      await syncFile(fh);
      closed = true;
      await fh.close();
      await fs.rename(tmpName, finalName);
    } catch (err) {
      if (!closed) await fh.close().catch(() => {});
      await fs.unlink(tmpName).catch(() => {});
      throw fromSystemError(err, what);
    }
    try {
      await fsyncDir(dir);
      // Read-only to avoid accidental changes; some filesystems refuse chmod, which is fine.
      await fs.chmod(finalName, readOnlyMode(modes.file)).catch((err) => {
        if (!isPermissionError(err)) throw err;
      });
    } catch (err) {
      throw fromSystemError(err, what);
    }
  }

  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    const file = this.pathOf(h);
    checkRange(range);
    const what = `load ${describeHandle(h)}`;
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(file, fsConstants.O_RDONLY);
    } catch (err) {
      throw fromSystemError(err, what);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notRegular(h);
      const { start, end } = resolveRange(h, st.size, range);
      const buf = new Uint8Array(end - start);
      let done = 0;
      while (done < buf.length) {
        const { bytesRead } = await fh.read(buf, done, buf.length - done, start + done);
        if (bytesRead === 0) {
          // The file shrank after fstat.
          throw new ResticTsError("CORRUPT", `${describeHandle(h)}: short read`, {
            type: h.type,
            name: h.name,
            offset: start,
            want: buf.length,
            got: done,
          });
        }
        done += bytesRead;
      }
      return buf;
    } catch (err) {
      throw fromSystemError(err, what);
    } finally {
      await fh.close().catch(() => {});
    }
  }

  async stat(h: Handle): Promise<FileInfo> {
    const file = this.pathOf(h);
    try {
      const st = await fs.stat(file);
      if (!st.isFile()) throw notRegular(h);
      return { name: h.type === "config" ? "" : h.name, size: st.size };
    } catch (err) {
      throw fromSystemError(err, `stat ${describeHandle(h)}`);
    }
  }

  async *list(type: FileType): AsyncGenerator<FileInfo> {
    checkType(type);
    if (type === "config") {
      const size = await fileSize(path.join(this.root, CONFIG_PATH), "list config");
      if (size !== undefined) yield { name: "", size };
      return;
    }
    const base = path.join(this.root, TYPE_DIRS[type]);
    if (type !== "data") {
      yield* await listFiles(base, () => true);
      return;
    }
    const subdirs = await readDir(base);
    for (const sub of subdirs) {
      if (!isDataSubdir(sub)) continue;
      // A pack file stored under the wrong subdirectory could not be loaded by its name.
      yield* await listFiles(path.join(base, sub), (name) => name.startsWith(sub));
    }
  }

  async remove(h: Handle): Promise<void> {
    const file = this.pathOf(h);
    const what = `remove ${describeHandle(h)}`;
    try {
      const st = await fs.lstat(file);
      if (st.isDirectory()) throw notRegular(h);
      // Windows refuses to delete read-only files; POSIX only needs a writable directory.
      if (isWindows) await fs.chmod(file, 0o666).catch(() => {});
      await fs.unlink(file);
    } catch (err) {
      throw fromSystemError(err, what);
    }
  }

  async close(): Promise<void> {}

  async isEmpty(): Promise<boolean> {
    try {
      const entries = await fs.readdir(this.root);
      return entries.length === 0;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException)?.code;
      if (code === "ENOENT") return true;
      if (code === "ENOTDIR") return false;
      throw fromSystemError(err, `read ${this.location}`);
    }
  }

  /** Modes for new files and directories, derived once from the config's mode like restic. */
  #getModes(): Promise<Modes> {
    this.#modes ??= fs.stat(path.join(this.root, CONFIG_PATH)).then(
      (st) => deriveModes(st.mode),
      () => deriveModes(undefined),
    );
    return this.#modes;
  }
}

function notRegular(h: Handle): ResticTsError {
  return new ResticTsError("CORRUPT", `${describeHandle(h)}: not a regular file`, {
    type: h.type,
    name: h.name,
  });
}

function isPermissionError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === "EPERM" || code === "EACCES";
}

async function mkdirIfMissing(dir: string, mode: number): Promise<void> {
  try {
    await fs.mkdir(dir, { mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException)?.code !== "EEXIST") throw err;
    const st = await fs.stat(dir);
    if (!st.isDirectory()) throw err;
  }
}

/** fsync a file, ignoring filesystems that cannot (like restic). */
async function syncFile(fh: fs.FileHandle): Promise<void> {
  try {
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code !== "ENOTSUP" && code !== "EINVAL" && code !== "ENOTTY") throw err;
  }
}

/** fsync a directory so a rename or mkdir in it is durable; a no-op where unsupported. */
async function fsyncDir(dir: string): Promise<void> {
  if (isWindows) return;
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(dir, fsConstants.O_RDONLY);
  } catch (err) {
    if (isPermissionError(err)) return; // e.g. the parent of a repository we may not read
    throw err;
  }
  try {
    await fh.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code !== "ENOTSUP" && code !== "EINVAL" && code !== "ENOENT") throw err;
  } finally {
    await fh.close().catch(() => {});
  }
}

/** Entry names of `dir`; none when it does not exist. */
async function readDir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException)?.code === "ENOENT") return [];
    throw fromSystemError(err, `list ${dir}`);
  }
}

/** The size of the regular file at `file` (following symlinks), or undefined when absent. */
async function fileSize(file: string, what: string): Promise<number | undefined> {
  try {
    const st = await fs.stat(file);
    return st.isFile() ? st.size : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException)?.code === "ENOENT") return undefined;
    throw fromSystemError(err, what);
  }
}

/** The valid-named regular files in `dir` accepted by `keep`, with their sizes. */
async function listFiles(dir: string, keep: (name: string) => boolean): Promise<FileInfo[]> {
  const names = (await readDir(dir)).filter((n) => isValidName(n) && keep(n));
  const out: FileInfo[] = [];
  for (let i = 0; i < names.length; i += STAT_CONCURRENCY) {
    const batch = names.slice(i, i + STAT_CONCURRENCY);
    const sizes = await Promise.all(batch.map((n) => fileSize(path.join(dir, n), `list ${dir}`)));
    batch.forEach((name, j) => {
      const size = sizes[j];
      // Gone (removed while listing) or not a regular file: not a stored file.
      if (size !== undefined) out.push({ name, size });
    });
  }
  return out;
}
