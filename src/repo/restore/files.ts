// Writing the content of restored files (restic 0.14 internal/restorer/filerestorer.go): the
// data blobs of every file are grouped by the pack that holds them (the first location the
// index gives, as restic does), packs are processed in the order files first need them, and
// each pack is read in few large ranges (adjacent blobs coalesced, small gaps read through),
// never more than once. Every blob is authenticated (Poly1305-AES), decrypted in place,
// decompressed (checked against its uncompressed length), verified against its ID (SHA-256)
// and written with positional writes to every file offset that needs it. A file of one blob
// is created, written and closed in one go: synchronously when small (most small files: no
// promise, no thread-pool round trip), else in one chain of callbacks.
//
// Memory is bounded: at most `concurrency` ranges of at most `maxSegment` bytes are in
// memory at once, in buffers that are reused (fresh memory is expensive here), whatever the
// size of the files. A blob that fails to decode is fetched again from any other pack that
// holds it before its files are reported as damaged.

import * as fs from "node:fs";
import { LocalBackend } from "../../backends/local.js";
import { sha256Hex } from "../../crypto/hash.js";
import { openInPlace } from "../../crypto/master-key.js";
import { offThreadSha256 } from "../../crypto/sha256-offthread.js";
import { ResticTsError } from "../../errors.js";
import type { Id } from "../id.js";
import { type IndexedRepository, MAX_BLOB_SIZE } from "../indexed.js";
import { DecodePool, MIN_OFFLOAD } from "./decode-pool.js";
import { BlobDecompressor, rawFrameInPlace } from "./zstd.js";

/** A regular file to fill. */
export interface FileTarget {
  /** Absolute path (bytes: names need not be UTF-8). */
  readonly path: Buffer;
  /** Path inside the snapshot, for messages. */
  readonly location: string;
  readonly content: readonly Id[];
}

export interface FileRestoreOptions {
  /** Leave holes for blocks of zeros (blobs that are all zero are not written). */
  readonly sparse?: boolean;
  /** Pack ranges read and processed at once (default 2 for a local backend, else 4). */
  readonly concurrency?: number;
  /**
   * Largest range read at once, in bytes (default 2 MiB for a local backend, else 4 MiB; one
   * larger blob is read alone).
   */
  readonly maxSegment?: number;
  /** Decompressed bytes held for writing at once (default 16 MiB; one larger blob alone). */
  readonly outputBudget?: number;
  /**
   * Worker threads decompressing large blobs: 0 for none, n > 0 for n. By default
   * RESTIC_TS_DECODE_WORKERS, else one per core beyond the second (at most 3), and only when
   * there are 64 MiB of such blobs or more.
   */
  readonly decodeWorkers?: number;
  /** Bytes of data written (or skipped as holes) so far. */
  readonly onBytes?: (n: number) => void;
  /** A file is complete (all its content written, closed). */
  readonly onFileDone?: (file: FileTarget) => void;
  /** A file could not be restored; throw to abort the whole restore. */
  readonly onError: (location: string, err: unknown) => void;
}

/** Gaps up to this size between needed blobs of a pack are read through, not skipped. */
const MAX_GAP = 256 * 1024;
const DEFAULT_SEGMENT = 4 * 1024 * 1024;
/**
 * The same for a local repository, where a read costs little: smaller pooled range buffers
 * (the text row of bench/RESULTS.md "## restore": ~5 MiB less peak RSS, no slower).
 */
const LOCAL_SEGMENT = 2 * 1024 * 1024;
/**
 * Ranges in flight for a remote backend: enough to hide the latency. A local one needs only
 * two (one read while one is decoded), which keeps the peak RSS lower.
 */
const DEFAULT_CONCURRENCY = 4;
/** Decompressed bytes waiting to be written, at most. */
const DEFAULT_OUTPUT_BUDGET = 16 * 1024 * 1024;
/** Bytes of large compressed blobs that make starting decode workers worthwhile. */
const OFFLOAD_THRESHOLD = 64 * 1024 * 1024;
/** Blobs being written at once. */
const MAX_WRITING = 64;
/** Files open for writing at once. */
const MAX_OPEN_FILES = 64;
const ZERO = new Uint8Array(64 * 1024);

interface FileState {
  readonly target: FileTarget;
  fd: number;
  opening: Promise<number> | undefined;
  /** Created (truncated) already: later opens must not create it again. */
  created: boolean;
  /** Writes using the descriptor now. */
  users: number;
  /** Blob writes still to do. */
  remaining: number;
  /** Size of the content (sum of the blobs' plaintext lengths). */
  size: number;
  failed: boolean;
}

interface BlobWork {
  readonly id: Id;
  readonly offset: number;
  readonly length: number;
  readonly uncompressedLength: number | undefined;
  /** Pairs of (file, offset in that file). */
  readonly files: FileState[];
  readonly offsets: number[];
}

interface Segment {
  readonly packId: Id;
  readonly start: number;
  readonly end: number;
  readonly blobs: BlobWork[];
}

/** Reads byte ranges of pack files, into a caller's buffer where the backend allows it. */
interface PackReader {
  read(packId: Id, offset: number, length: number, into: Uint8Array): Promise<Uint8Array>;
}

function readFull(fd: number, buf: Uint8Array, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = () => {
      fs.read(fd, buf, done, buf.length - done, pos + done, (err, n) => {
        if (err) return reject(err);
        if (n === 0) return resolve(done);
        done += n;
        if (done === buf.length) resolve(done);
        else step();
      });
    };
    step();
  });
}

function fsOpen(p: fs.PathLike, flags: number, mode?: number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.open(p, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
}

function fsClose(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

function fsFtruncate(fd: number, len: number): Promise<void> {
  return new Promise((resolve, reject) =>
    fs.ftruncate(fd, len, (err) => (err ? reject(err) : resolve())),
  );
}

function fsWrite(fd: number, buf: Uint8Array, pos: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = () => {
      fs.write(fd, buf, done, buf.length - done, pos + done, (err, n) => {
        if (err) return reject(err);
        done += n;
        if (done >= buf.length) resolve();
        else step();
      });
    };
    step();
  });
}

function packReader(repo: IndexedRepository): PackReader {
  const backend = repo.repo.backend;
  if (backend instanceof LocalBackend) {
    return {
      async read(packId, offset, length, into) {
        const file = backend.pathOf({ type: "data", name: packId });
        let fd: number;
        try {
          fd = await fsOpen(file, fs.constants.O_RDONLY);
        } catch (err) {
          throw new ResticTsError(
            (err as NodeJS.ErrnoException).code === "ENOENT" ? "NOT_FOUND" : "IO",
            `pack ${packId.slice(0, 10)}: ${(err as Error).message}`,
            { packId },
            { cause: err },
          );
        }
        try {
          const buf = into.length === length ? into : into.subarray(0, length);
          const n = await readFull(fd, buf, offset);
          if (n !== length) {
            throw new ResticTsError("CORRUPT", `pack ${packId.slice(0, 10)}: short read`, {
              packId,
              offset,
              length,
              got: n,
            });
          }
          return buf;
        } finally {
          await fsClose(fd).catch(() => {});
        }
      },
    };
  }
  return {
    read: (packId, offset, length) =>
      backend.load({ type: "data", name: packId }, { offset, length }),
  };
}

/** Memory of our own (not Node's shared pool); shared with worker threads when asked. */
function allocate(n: number, shared: boolean): Uint8Array {
  if (shared) return new Uint8Array(new SharedArrayBuffer(n));
  const raw = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(raw.buffer, raw.byteOffset, n);
}

/** Buffers of one standard size, reused. */
class BufferPool {
  private readonly free: Uint8Array[] = [];
  constructor(
    private readonly size: number,
    private readonly shared: boolean,
  ) {}
  acquire(n: number): Uint8Array {
    if (n > this.size) return allocate(n, this.shared);
    const b = this.free.pop();
    if (b !== undefined) return b;
    return allocate(this.size, this.shared);
  }
  release(b: Uint8Array): void {
    if (b.length === this.size) this.free.push(b);
  }
}

/** A region of an output arena holding one decompressed blob. */
interface Carved {
  readonly bytes: Uint8Array;
  readonly arena: Arena;
}

interface Arena {
  readonly buf: Uint8Array;
  used: number;
  refs: number;
}

/**
 * Output memory for decompressed blobs: a few equal arenas (each at least as large as the
 * largest blob), blobs carved from them one after another, an arena reused once every blob
 * carved from it has been written. `acquire` waits while all arenas are busy. Nothing is
 * allocated per blob, so nothing is page-faulted in or left for the GC per blob.
 */
class OutputArenas {
  private readonly free: Arena[] = [];
  private current: Arena | undefined;
  private created = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly size: number,
    private readonly max: number,
    private readonly shared: boolean,
  ) {}

  /** `n` bytes of output memory; waits while all arenas are busy. */
  async acquire(n: number): Promise<Carved> {
    for (;;) {
      const c = this.tryAcquire(n);
      if (c !== undefined) return c;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /** `n` bytes of output memory, or undefined when all arenas are busy. */
  tryAcquire(n: number): Carved | undefined {
    const aligned = (n + 63) & ~63;
    for (;;) {
      const cur = this.current;
      if (cur !== undefined && cur.used + n <= cur.buf.length) {
        const bytes = cur.buf.subarray(cur.used, cur.used + n);
        cur.used += aligned;
        cur.refs++;
        return { bytes, arena: cur };
      }
      // retire the current arena; take a free one, make one, or give up
      if (cur !== undefined) {
        this.current = undefined;
        if (cur.refs === 0) this.recycle(cur);
      }
      let next = this.free.pop();
      if (next === undefined && this.created < this.max) {
        this.created++;
        next = { buf: allocate(Math.max(this.size, n), this.shared), used: 0, refs: 0 };
      }
      if (next === undefined) return undefined;
      this.current = next;
    }
  }

  release(c: Carved): void {
    const a = c.arena;
    a.refs--;
    if (a.refs === 0 && a !== this.current) this.recycle(a);
  }

  private recycle(a: Arena): void {
    a.used = 0;
    this.free.push(a);
    this.waiting.shift()?.();
  }
}

function isAllZero(b: Uint8Array): boolean {
  for (let pos = 0; pos < b.length; pos += ZERO.length) {
    const n = Math.min(ZERO.length, b.length - pos);
    if (Buffer.compare(b.subarray(pos, pos + n), ZERO.subarray(0, n)) !== 0) return false;
  }
  return true;
}

const CREATE_FLAGS =
  fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

function isEexist(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "EEXIST";
}

/** Remove the non-directory in the way of a file to create (refuse a directory). */
function clearWay(p: Buffer): void {
  const st = fs.lstatSync(p);
  if (st.isDirectory()) {
    const err = new Error(`cannot restore a file over the directory ${p.toString()}`);
    (err as NodeJS.ErrnoException).code = "EISDIR";
    throw err;
  }
  fs.unlinkSync(p);
}

/**
 * Open a file to restore for writing without following a symlink or writing through an
 * existing hard link: whatever non-directory is in the way is removed first.
 */
export async function createRestoreFile(p: Buffer): Promise<number> {
  try {
    return await fsOpen(p, CREATE_FLAGS, 0o600);
  } catch (err) {
    if (!isEexist(err)) throw err;
  }
  clearWay(p);
  return await fsOpen(p, CREATE_FLAGS, 0o600);
}

/**
 * File descriptors of files being written, at most `max` open: a file is opened (created the
 * first time) for a write and closed when no write uses it and another file needs the slot,
 * or when it is complete — so any number of files can be in progress (restic's filesWriter).
 */
class FdCache {
  private open = 0;
  /** Open files no write uses, least recently used first. */
  private readonly idle = new Set<FileState>();
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly max: number) {}

  async acquire(st: FileState): Promise<number> {
    st.users++;
    if (st.fd >= 0) {
      this.idle.delete(st);
      return st.fd;
    }
    if (st.opening) return st.opening;
    st.opening = (async () => {
      while (this.open >= this.max) {
        const victim = this.idle.values().next().value as FileState | undefined;
        if (victim !== undefined) {
          this.idle.delete(victim);
          const fd = victim.fd;
          victim.fd = -1;
          this.open--;
          await fsClose(fd);
        } else {
          await new Promise<void>((resolve) => this.waiting.push(resolve));
        }
      }
      this.open++;
      try {
        st.fd = st.created
          ? await fsOpen(st.target.path, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW)
          : await createRestoreFile(st.target.path);
        st.created = true;
        return st.fd;
      } catch (err) {
        this.open--;
        st.users--;
        this.waiting.shift()?.();
        throw err;
      } finally {
        st.opening = undefined;
      }
    })();
    return st.opening;
  }

  /**
   * A descriptor slot for a file opened, written and closed outside the cache (a file of one
   * blob); false when none is free at once.
   */
  reserve(): boolean {
    if (this.open >= this.max || this.waiting.length > 0) return false;
    this.open++;
    return true;
  }

  /** Give back a slot taken with reserve(). */
  unreserve(): void {
    this.open--;
    this.waiting.shift()?.();
  }

  /** A write is done with the file; `last` when the file is complete (it is closed). */
  async release(st: FileState, last: boolean): Promise<void> {
    st.users--;
    if (st.users > 0 || st.fd < 0) return;
    if (last) await this.finish(st);
    else {
      this.idle.add(st);
      this.waiting.shift()?.();
    }
  }

  /** Close the file if it is open and no write uses it. */
  async finish(st: FileState): Promise<void> {
    if (st.users > 0 || st.fd < 0) return;
    this.idle.delete(st);
    const fd = st.fd;
    st.fd = -1;
    try {
      await fsClose(fd);
    } finally {
      this.open--;
      this.waiting.shift()?.();
    }
  }

  /** Close everything still open (after an abort). */
  async closeAll(states: Iterable<FileState>): Promise<void> {
    for (const st of states) {
      if (st.fd >= 0) {
        const fd = st.fd;
        st.fd = -1;
        await fsClose(fd).catch(() => {});
      }
    }
  }
}

/** Restore the content of `files` (each with at least one blob). */
export async function restoreFileContents(
  repo: IndexedRepository,
  files: readonly FileTarget[],
  opts: FileRestoreOptions,
): Promise<void> {
  const index = repo.index;
  const packs = new Map<Id, Map<Id, BlobWork>>();
  const states: FileState[] = [];

  for (const target of files) {
    const locs = [];
    let missing: Id | undefined;
    let oversized: ResticTsError | undefined;
    for (const id of target.content) {
      const loc = index.lookup("data", id)[0];
      if (loc === undefined) {
        missing = id;
        break;
      }
      // output areas are sized from the index: a (hostile) length no blob can have is refused
      // before it becomes an allocation of gigabytes
      if ((loc.uncompressedLength ?? 0) > MAX_BLOB_SIZE) {
        oversized = new ResticTsError(
          "CORRUPT",
          `data blob ${id}: the index gives it ${loc.uncompressedLength} bytes, more than a blob can have (${MAX_BLOB_SIZE})`,
          { id },
        );
        break;
      }
      locs.push(loc);
    }
    if (oversized !== undefined) {
      opts.onError(target.location, oversized);
      continue;
    }
    if (missing !== undefined) {
      opts.onError(
        target.location,
        new ResticTsError("NOT_FOUND", `data blob ${missing} is not in the index`, { id: missing }),
      );
      continue;
    }
    const st: FileState = {
      target,
      fd: -1,
      opening: undefined,
      created: false,
      users: 0,
      remaining: locs.length,
      size: 0,
      failed: false,
    };
    states.push(st);
    let off = 0;
    for (let i = 0; i < locs.length; i++) {
      const loc = locs[i];
      const id = target.content[i];
      let blobs = packs.get(loc.packId);
      if (blobs === undefined) {
        blobs = new Map();
        packs.set(loc.packId, blobs);
      }
      const bw = blobs.get(id);
      if (bw === undefined) {
        // arrays made with their first element: an empty array grown by push() reserves 17
        // slots (~300 bytes more per blob, ~6 MiB of heap for 20,000 small files)
        blobs.set(id, {
          id,
          offset: loc.offset,
          length: loc.length,
          uncompressedLength: loc.uncompressedLength,
          files: [st],
          offsets: [off],
        });
      } else {
        bw.files.push(st);
        bw.offsets.push(off);
      }
      off += loc.uncompressedLength ?? loc.length - 32;
    }
    st.size = off;
  }

  const local = repo.repo.backend instanceof LocalBackend;
  const maxSegment = opts.maxSegment ?? (local ? LOCAL_SEGMENT : DEFAULT_SEGMENT);
  const segments: Segment[] = [];
  for (const [packId, blobMap] of packs) {
    const blobs = [...blobMap.values()].sort((a, b) => a.offset - b.offset);
    let cur: Segment | undefined;
    for (const b of blobs) {
      const end = b.offset + b.length;
      if (cur !== undefined && b.offset - cur.end <= MAX_GAP && end - cur.start <= maxSegment) {
        cur.blobs.push(b);
        (cur as { end: number }).end = Math.max(cur.end, end);
      } else {
        cur = { packId, start: b.offset, end, blobs: [b] };
        segments.push(cur);
      }
    }
  }
  packs.clear();

  const reader = packReader(repo);
  // large compressed blobs are decoded on worker threads too when there are enough of them
  let offload = 0;
  for (const sg of segments) {
    for (const b of sg.blobs) {
      if ((b.uncompressedLength ?? 0) >= MIN_OFFLOAD) offload += b.uncompressedLength ?? 0;
    }
  }
  const asked = opts.decodeWorkers;
  const workers =
    (asked !== undefined && asked > 0) || (asked === undefined && offload >= OFFLOAD_THRESHOLD)
      ? await DecodePool.create(asked)
      : undefined;
  const shared = workers !== undefined;
  // one buffer size fits every range (a blob larger than maxSegment is read alone)
  const pool = new BufferPool(
    segments.reduce((m, sg) => Math.max(m, sg.end - sg.start), 0),
    shared,
  );
  let largest = 0;
  for (const sg of segments)
    for (const b of sg.blobs) largest = Math.max(largest, b.uncompressedLength ?? 0);
  const arenaSize = Math.max(largest, 1024 * 1024);
  const outputBudget = opts.outputBudget ?? DEFAULT_OUTPUT_BUDGET;
  const outputs = new OutputArenas(
    arenaSize,
    Math.min(4, Math.max(2, Math.floor(outputBudget / arenaSize))),
    shared,
  );
  const fds = new FdCache(MAX_OPEN_FILES);
  const decompressor = await BlobDecompressor.create();
  const key = repo.repo.masterKey;
  const sparse = opts.sparse === true;

  const fail = (st: FileState, err: unknown) => {
    if (st.failed) return;
    st.failed = true;
    opts.onError(st.target.location, err);
  };

  /** The file's last blob is done: size it (sparse), close it, report it. */
  const complete = async (st: FileState, fd: number | undefined) => {
    if (st.failed) {
      await fds.finish(st);
      return;
    }
    try {
      if (fd !== undefined) {
        if (sparse) await fsFtruncate(fd, st.size);
        await fds.release(st, true);
      } else if (sparse || !st.created) {
        // the last blob was a hole (or every blob was): create, size and close the file
        const f = await fds.acquire(st);
        try {
          if (sparse) await fsFtruncate(f, st.size);
        } finally {
          await fds.release(st, true);
        }
      } else {
        await fds.finish(st);
      }
      opts.onFileDone?.(st.target);
    } catch (err) {
      fail(st, err);
      await fds.finish(st);
    }
  };

  /** Write one blob to one file (or skip it: a hole, or a failed file). */
  const writeTo = async (st: FileState, plain: Uint8Array, offset: number, zero: boolean) => {
    let fd: number | undefined;
    if (!st.failed && !zero) {
      try {
        fd = await fds.acquire(st);
        await fsWrite(fd, plain, offset);
      } catch (err) {
        fail(st, err);
      }
    }
    st.remaining--;
    opts.onBytes?.(plain.length);
    const last = st.remaining === 0;
    if (last) {
      await complete(st, fd);
    } else if (fd !== undefined) {
      await fds.release(st, false);
    }
  };

  /**
   * A file written whole (one blob) is done, `err` when it failed: report it. Returns what
   * onError threw (to abort the restore), else undefined.
   */
  const wholeDone = (st: FileState, length: number, err: unknown): unknown => {
    st.remaining = 0;
    try {
      opts.onBytes?.(length);
      if (err !== null) fail(st, err);
      else opts.onFileDone?.(st.target);
    } catch (abort) {
      return abort ?? new Error("restore aborted");
    }
    return undefined;
  };

  /**
   * A file in one blob, not yet created (most small files): create, write and close it in one
   * chain of callbacks on libuv's threads (no promise, no async frame, no cache entry per
   * file). Synchronous calls here cost less CPU but more time: the main thread then waits for
   * each file system call itself (bench/RESULTS.md "## restore", session 4). Falls back to
   * writeTo when something is in the way (EEXIST). `done` runs at the end, whatever happened,
   * with what onError threw (to abort) if it did.
   */
  const writeWhole = (st: FileState, plain: Uint8Array, done: (abort?: unknown) => void) => {
    let written = 0;
    let fd = -1;
    const finish = (err: NodeJS.ErrnoException | null) => {
      fds.unreserve();
      const abort = wholeDone(st, plain.length, err);
      if (abort === undefined) done();
      else done(abort);
    };
    const closed = (err: NodeJS.ErrnoException | null) => finish(err);
    const wrote = (err: NodeJS.ErrnoException | null, n: number) => {
      if (err !== null) {
        fs.close(fd, () => finish(err));
        return;
      }
      written += n;
      if (written < plain.length)
        fs.write(fd, plain, written, plain.length - written, written, wrote);
      else fs.close(fd, closed);
    };
    fs.open(st.target.path, CREATE_FLAGS, 0o600, (err, opened) => {
      if (err === null) {
        st.created = true;
        fd = opened;
        fs.write(fd, plain, 0, plain.length, 0, wrote);
      } else if (isEexist(err)) {
        fds.unreserve();
        writeTo(st, plain, 0, false).then(() => done(), done);
      } else {
        finish(err);
      }
    });
  };

  /** A blob that could not be decoded: its files are damaged. */
  const skipBlob = async (st: FileState, length: number) => {
    st.remaining--;
    opts.onBytes?.(length);
    if (st.remaining === 0) await complete(st, undefined);
  };

  const checkId = (b: BlobWork, hash: string) => {
    if (hash !== b.id) {
      throw new ResticTsError("CORRUPT", `data blob ${b.id} does not match its ID (SHA-256)`, {
        id: b.id,
      });
    }
  };
  const verifyId = (b: BlobWork, plain: Uint8Array) => checkId(b, sha256Hex(plain));

  /** verifyId with the SHA-256 on libuv's thread pool (where OpenSSL can be reached). */
  const verifyIdOffThread = async (b: BlobWork, plain: Uint8Array) => {
    const h = offThreadSha256();
    await h.update(plain);
    checkId(b, await h.digest());
  };

  const failBlob = async (b: BlobWork, err: unknown) => {
    for (const st of b.files) {
      fail(st, err);
      await skipBlob(st, 0);
    }
  };

  // blobs whose writes are under way, at most MAX_WRITING: many small files must not turn
  // into thousands of pending operations (and objects that outlive the young generation)
  let writing = 0;
  const writeWaiters: (() => void)[] = [];
  const writeSlot = async () => {
    while (writing >= MAX_WRITING) await new Promise<void>((r) => writeWaiters.push(r));
  };

  /**
   * Write a decoded blob to every file that needs it; `release` (its output memory) runs once
   * all are done, before the promise resolves.
   */
  const writeAll = (b: BlobWork, plain: Uint8Array, release?: () => void): Promise<void> => {
    const st = b.files[0];
    const whole =
      b.files.length === 1 &&
      !sparse &&
      st.remaining === 1 &&
      !st.created &&
      !st.failed &&
      b.offsets[0] === 0;
    writing++;
    const settle = () => {
      writing--;
      release?.();
      writeWaiters.shift()?.();
    };
    if (whole && fds.reserve()) {
      return new Promise<void>((resolve, reject) =>
        writeWhole(st, plain, (abort) => {
          settle();
          if (abort === undefined) resolve();
          else reject(abort);
        }),
      );
    }
    const zero = sparse && isAllZero(plain);
    const p =
      b.files.length === 1
        ? writeTo(st, plain, b.offsets[0], zero)
        : Promise.all(b.files.map((f, i) => writeTo(f, plain, b.offsets[i], zero)));
    return p.then(settle, (err) => {
      settle();
      throw err;
    });
  };

  /**
   * Decode one blob from its plaintext (decrypted, maybe compressed) and start its writes:
   * their promise, or undefined when no output memory is free (nothing done; call again with
   * `out` once it is).
   */
  const processBlob = (
    b: BlobWork,
    raw: Uint8Array,
    out: Carved | undefined,
  ): Promise<unknown> | undefined => {
    if (b.uncompressedLength === undefined) {
      verifyId(b, raw);
      return writeAll(b, raw);
    }
    const len = b.uncompressedLength;
    if (out === undefined) {
      const stored = rawFrameInPlace(raw);
      if (stored !== undefined) {
        // incompressible data: the frame holds the bytes as they are
        if (stored.length !== len) {
          throw new ResticTsError(
            "CORRUPT",
            `data blob ${b.id}: ${stored.length} bytes stored but the index says ${len}`,
          );
        }
        verifyId(b, stored);
        return writeAll(b, stored);
      }
      out = outputs.tryAcquire(len);
      if (out === undefined) return undefined;
    }
    const carved = out;
    const release = () => outputs.release(carved);
    if (workers !== undefined && len >= MIN_OFFLOAD && !workers.busy) {
      return workers.decode(raw, carved.bytes, b.id).then(
        () => writeAll(b, carved.bytes, release),
        (err) => {
          release();
          return retryBlob(b, err);
        },
      );
    }
    // Large blobs are decompressed and hashed on libuv's thread pool (libzstd, OpenSSL), so
    // compressible data keeps both cores busy without a worker thread.
    const offThread =
      len >= MIN_OFFLOAD ? decompressor.decompressIntoOffThread(raw, len, carved.bytes) : undefined;
    if (offThread !== undefined) {
      return offThread
        .then(() => verifyIdOffThread(b, carved.bytes))
        .then(
          () => writeAll(b, carved.bytes, release),
          (err) => {
            release();
            return retryBlob(b, err);
          },
        );
    }
    try {
      if (!decompressor.decompressIntoSync(raw, len, carved.bytes)) {
        return decompressor.decompressInto(raw, len, carved.bytes).then(
          () => {
            verifyId(b, carved.bytes);
            return writeAll(b, carved.bytes, release);
          },
          (err) => {
            release();
            return retryBlob(b, err);
          },
        );
      }
      verifyId(b, carved.bytes);
    } catch (err) {
      release();
      throw err;
    }
    return writeAll(b, carved.bytes, release);
  };

  /** The blob again, from whichever pack holds a good copy (the index may name several). */
  const retryBlob = async (b: BlobWork, err: unknown): Promise<unknown> => {
    let plain: Uint8Array;
    try {
      plain = await repo.loadBlob("data", b.id);
    } catch {
      return failBlob(b, err);
    }
    return writeAll(b, plain);
  };

  const processSegment = async (seg: Segment) => {
    const span = seg.end - seg.start;
    const buf = pool.acquire(span);
    const writes: Promise<unknown>[] = [];
    try {
      let data: Uint8Array | undefined;
      try {
        data = await reader.read(seg.packId, seg.start, span, buf);
      } catch (err) {
        // the range is unreadable: try each blob on its own (maybe from other packs)
        for (const b of seg.blobs) writes.push(retryBlob(b, err));
      }
      if (data !== undefined) {
        for (const b of seg.blobs) {
          if (b.files.every((st) => st.failed)) {
            writes.push(failBlob(b, undefined));
            continue;
          }
          const at = b.offset - seg.start;
          if (writing >= MAX_WRITING) await writeSlot();
          try {
            const raw = openInPlace(key, data.subarray(at, at + b.length));
            let w = processBlob(b, raw, undefined);
            if (w === undefined) {
              const len = b.uncompressedLength ?? 0;
              w = processBlob(b, raw, await outputs.acquire(len));
            }
            if (w !== undefined) writes.push(w);
          } catch (err) {
            writes.push(retryBlob(b, err));
          }
        }
      }
      await Promise.all(writes);
    } finally {
      pool.release(buf);
    }
  };

  const concurrency = Math.max(1, opts.concurrency ?? (local ? 2 : DEFAULT_CONCURRENCY));
  let next = 0;
  let abort: unknown;
  const worker = async () => {
    while (next < segments.length && abort === undefined) {
      const seg = segments[next++];
      try {
        await processSegment(seg);
      } catch (err) {
        abort ??= err;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, segments.length) }, worker));
  } finally {
    decompressor.dispose();
    await workers?.close();
    await fds.closeAll(states);
  }
  if (abort !== undefined) throw abort;
}
