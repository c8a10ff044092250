// A Backend in a local directory, on disk exactly as restic 0.14's local backend
// (internal/backend/local/local.go) keeps it: the default layout (layout.ts), files saved
// through a temp file `<name>-tmp-<random>` in the target directory that is fsynced, renamed
// into place (the directory fsynced too) and then made read-only; directories 0700 and files
// 0400, or group-shared modes when the existing config is group-readable.
//
// A file whose name is known only once it is written (a pack: the SHA-256 of its bytes) can be
// streamed instead (createTemp, then saveTemp): written to `<type dir>/new-tmp-<random>` (for
// packs data/, which neither restic nor restic-ts lists: only its subdirectories hold packs),
// then saved like any file: fsynced, renamed into place, the directory fsynced, made read-only.

import { randomBytes } from "node:crypto";
import { closeSync, constants as fsConstants, fstatSync, openSync, read, readSync } from "node:fs";
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

/** Loads up to this size are read with a blocking read(2) (from the page cache: microseconds). */
const SYNC_READ_MAX = 1024 * 1024;

/** pread(2) on the thread pool. */
function readAsync(
  fd: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n)));
  });
}

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
    await settleSaved(finalName, modes, what);
  }

  /**
   * Start a file of `type` under a temporary name, for `saveTemp` to save once its name is
   * known (nothing lists it before). Opens lazily: errors surface from its first write.
   */
  createTemp(type: FileType): LocalTempFile {
    checkType(type);
    if (type === "config") {
      throw new ResticTsError("INVALID_ARGUMENT", "local backend: no temp file for the config");
    }
    const dir = path.join(this.root, TYPE_DIRS[type]);
    const name = path.join(dir, `${tempPrefix("new")}${randomBytes(8).toString("hex")}`);
    const open = this.#getModes().then(async (modes) => {
      try {
        return await fs.open(name, "wx", modes.file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException)?.code !== "ENOENT") throw err;
        await fs.mkdir(dir, { recursive: true, mode: modes.dir });
        return await fs.open(name, "wx", modes.file);
      }
    });
    return new LocalTempFile(name, open);
  }

  /**
   * Delete the temp files `createTemp` left in `type`'s directory (a process killed while
   * writing a pack leaves one). Only for a caller holding the exclusive lock: no one else may
   * be writing. Returns how many were removed.
   */
  async removeTemps(type: FileType): Promise<number> {
    checkType(type);
    if (type === "config") return 0;
    const dir = path.join(this.root, TYPE_DIRS[type]);
    const stale = new RegExp(`^${tempPrefix("new")}[0-9a-f]{16}$`);
    let removed = 0;
    for (const name of await readDir(dir)) {
      if (!stale.test(name)) continue;
      try {
        await fs.unlink(path.join(dir, name));
        removed++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException)?.code !== "ENOENT") {
          throw fromSystemError(err, `remove ${path.join(TYPE_DIRS[type], name)}`);
        }
      }
    }
    return removed;
  }

  /**
   * Save a temp file of this backend under `h`: fsync, close, rename into place (atomic), fsync
   * the directory, make it read-only. The temp file is gone afterwards, whatever the outcome.
   */
  async saveTemp(h: Handle, tmp: LocalTempFile): Promise<void> {
    const finalName = this.pathOf(h);
    const dir = path.dirname(finalName);
    const what = `save ${describeHandle(h)}`;
    const modes = await this.#getModes();
    try {
      const fh = await tmp.handle();
      await syncFile(fh);
      await tmp.close();
      try {
        await fs.rename(tmp.path, finalName);
      } catch (err) {
        // The directory is missing (e.g. data/ab of a repository made elsewhere): create it.
        if ((err as NodeJS.ErrnoException)?.code !== "ENOENT") throw err;
        await fs.mkdir(dir, { recursive: true, mode: modes.dir });
        await fs.rename(tmp.path, finalName);
      }
    } catch (err) {
      await tmp.discard();
      throw fromSystemError(err, what);
    }
    await settleSaved(finalName, modes, what);
  }

  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    const file = this.pathOf(h);
    checkRange(range);
    const what = `load ${describeHandle(h)}`;
    // open, fstat and close block: a few microseconds each from the page cache, against a
    // thread-pool round trip each (~0.1 ms here) that made a 20 KB tree blob cost 0.4 ms
    let fd: number;
    try {
      fd = openSync(file, fsConstants.O_RDONLY);
    } catch (err) {
      throw fromSystemError(err, what);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw notRegular(h);
      const { start, end } = resolveRange(h, st.size, range);
      const buf = new Uint8Array(end - start);
      let done = 0;
      while (done < buf.length) {
        const n = buf.length - done;
        // small reads block too; large ones go to the thread pool
        const bytesRead =
          buf.length <= SYNC_READ_MAX
            ? readSync(fd, buf, done, n, start + done)
            : await readAsync(fd, buf, done, n, start + done);
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
      closeSync(fd);
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

/** A file being written under a temporary name (LocalBackend.createTemp). */
export class LocalTempFile {
  #closed = false;

  constructor(
    readonly path: string,
    private readonly opened: Promise<fs.FileHandle>,
  ) {
    // a failed open is reported by the first write (or discard ignores it)
    opened.catch(() => {});
  }

  /** The open file. */
  handle(): Promise<fs.FileHandle> {
    return this.opened;
  }

  /**
   * Write all of `data` at `position`. Writes to different ranges may run at once; `data`
   * must stay untouched until the promise settles.
   */
  async write(data: Uint8Array, position: number): Promise<void> {
    let fh: fs.FileHandle;
    try {
      fh = await this.opened;
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
        done += bytesWritten;
      }
    } catch (err) {
      throw fromSystemError(err, `write ${this.path}`);
    }
  }

  /** Close the file (idempotent). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await (await this.opened).close();
  }

  /** Close and delete it, ignoring errors (a file never opened is simply not there). */
  async discard(): Promise<void> {
    await this.close().catch(() => {});
    await fs.unlink(this.path).catch(() => {});
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
/**
 * The end of a save, once the file is renamed into place: fsync its directory, then make the
 * file read-only to avoid accidental changes (some filesystems refuse chmod, which is fine).
 */
async function settleSaved(finalName: string, modes: Modes, what: string): Promise<void> {
  try {
    await fsyncDir(path.dirname(finalName));
    await fs.chmod(finalName, readOnlyMode(modes.file)).catch((err) => {
      if (!isPermissionError(err)) throw err;
    });
  } catch (err) {
    throw fromSystemError(err, what);
  }
}

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
