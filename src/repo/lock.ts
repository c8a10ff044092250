// Lock files (restic design.rst "Locks", internal/restic/lock.go): JSON
// `{time, exclusive, hostname, username, pid, uid?, gid?}` saved as an unpacked file under
// locks/. A lock is stale 30 minutes after its time (its holder refreshes it every 5 minutes by
// writing a new file and removing the old one) or when its holder is a dead process on this
// host. An exclusive lock conflicts with every other lock; a non-exclusive one only with
// exclusive locks. Stale locks never conflict.

import os from "node:os";
import { mapLimit } from "../backends/limit.js";
import { isResticTsError, ResticTsError } from "../errors.js";
import { goJsonString } from "./gostring.js";
import { goTimeNow, tryParseGoTime } from "./gotime.js";
import type { Id } from "./id.js";
import type { Repository } from "./repository.js";

export const STALE_AFTER_MS = 30 * 60 * 1000;
export const REFRESH_EVERY_MS = 5 * 60 * 1000;
/** How long an exclusive locker waits before checking again for racing lockers (restic: 200 ms). */
export const EXCLUSIVE_RECHECK_MS = 200;

export interface LockFile {
  readonly time: string;
  readonly exclusive: boolean;
  readonly hostname: string;
  readonly username: string;
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
}

export function parseLock(plaintext: Uint8Array): LockFile {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(plaintext));
  } catch (err) {
    throw new ResticTsError("CORRUPT", "lock file is not valid JSON", {}, { cause: err });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ResticTsError("CORRUPT", "lock file is not a JSON object");
  }
  const o = raw as Record<string, unknown>;
  const str = (k: string) => (typeof o[k] === "string" ? (o[k] as string) : "");
  const num = (k: string) => {
    const v = o[k];
    if (typeof v !== "number") return 0;
    // Go reads these into int fields: a fraction or a number JS cannot hold exactly is refused
    if (!Number.isSafeInteger(v)) {
      throw new ResticTsError("CORRUPT", `lock file \`${k}\` is not an integer`, { field: k });
    }
    return v;
  };
  if (typeof o.time !== "string" || tryParseGoTime(o.time) === undefined) {
    throw new ResticTsError("CORRUPT", "lock file has no valid `time`");
  }
  return {
    time: o.time,
    exclusive: o.exclusive === true,
    hostname: str("hostname"),
    username: str("username"),
    pid: num("pid"),
    uid: num("uid"),
    gid: num("gid"),
  };
}

/** Serialise as Go's json.Marshal writes restic's Lock struct. */
export function serializeLock(lock: LockFile): Uint8Array {
  let json =
    `{"time":${goJsonString(lock.time)},"exclusive":${lock.exclusive},"hostname":${goJsonString(lock.hostname)},` +
    `"username":${goJsonString(lock.username)},"pid":${lock.pid}`;
  if (lock.uid !== 0) json += `,"uid":${lock.uid}`;
  if (lock.gid !== 0) json += `,"gid":${lock.gid}`;
  return new TextEncoder().encode(`${json}}`);
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** restic's Stale(): too old, or held by a process of this host that no longer exists. */
export function isStale(lock: LockFile, now = Date.now()): boolean {
  const t = Date.parse(lock.time);
  if (!Number.isFinite(t) || now - t > STALE_AFTER_MS) return true;
  if (lock.hostname !== os.hostname()) return false;
  return lock.pid > 0 && !processExists(lock.pid);
}

export function describeLock(id: Id, lock: LockFile, now = Date.now()): string {
  const age = Math.max(0, Math.round((now - Date.parse(lock.time)) / 1000));
  return (
    `${lock.exclusive ? "exclusive " : ""}lock ${id.slice(0, 8)} held by PID ${lock.pid} on ${lock.hostname} ` +
    `by ${lock.username} (UID ${lock.uid}, GID ${lock.gid}), created at ${lock.time} (${age}s ago)`
  );
}

/** Lock-reading errors that say the lock is gone or garbage, not that it might be held. */
const IGNORED_LOCK_ERRORS: ReadonlySet<string> = new Set([
  "NOT_FOUND",
  "CORRUPT",
  "UNAUTHENTICATED",
]);

export interface LockEntry {
  readonly id: Id;
  readonly lock: LockFile;
}

/**
 * Every readable lock file. Lock files that vanished while listing, and damaged ones (CORRUPT,
 * UNAUTHENTICATED), are ignored as restic 0.14 does; `unlock --remove-all` removes the latter.
 * A lock that could not be read for another reason (IO, TIMEOUT, ACCESS_DENIED) might be a
 * live exclusive lock, so that error is thrown (as restic 0.16 does), unless `tolerant`.
 */
export async function listLocks(repo: Repository, tolerant = false): Promise<LockEntry[]> {
  const ids = await repo.listIds("lock");
  const entries = await mapLimit(ids, 8, async (id) => {
    try {
      return { id, lock: parseLock(await repo.loadUnpacked("lock", id)) };
    } catch (err) {
      if (!isResticTsError(err)) throw err;
      if (tolerant || IGNORED_LOCK_ERRORS.has(err.code)) return undefined;
      throw new ResticTsError(
        err.code,
        `cannot read lock ${id.slice(0, 8)}, which may be held: ${err.message}`,
        { ...err.data, id },
        { cause: err },
      );
    }
  });
  return entries.filter((e): e is LockEntry => e !== undefined);
}

function currentOwner(): Pick<LockFile, "hostname" | "username" | "uid" | "gid" | "pid"> {
  let username = "";
  try {
    username = os.userInfo().username;
  } catch {}
  return {
    hostname: os.hostname(),
    username,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    pid: process.pid,
  };
}

export class Lock {
  private timer: NodeJS.Timeout | undefined;
  private released = false;

  private constructor(
    private readonly repo: Repository,
    readonly exclusive: boolean,
    private currentId: Id,
  ) {}

  get id(): Id {
    return this.currentId;
  }

  /**
   * Take a lock, failing with LOCKED (naming the holder) when a live conflicting lock exists.
   * Exclusive lockers wait and check again, so two racing lockers cannot both succeed.
   */
  static async acquire(
    repo: Repository,
    opts: { exclusive: boolean; onCreated?: () => void },
  ): Promise<Lock> {
    await checkConflicts(repo, opts.exclusive, undefined);
    const id = await repo.saveUnpacked(
      "lock",
      serializeLock({ time: goTimeNow(), exclusive: opts.exclusive, ...currentOwner() }),
    );
    const lock = new Lock(repo, opts.exclusive, id);
    opts.onCreated?.();
    try {
      if (opts.exclusive) await new Promise((r) => setTimeout(r, EXCLUSIVE_RECHECK_MS));
      await checkConflicts(repo, opts.exclusive, id);
    } catch (err) {
      await lock.release();
      throw err;
    }
    lock.timer = setInterval(() => {
      lock.refresh().catch(() => {});
    }, REFRESH_EVERY_MS);
    lock.timer.unref();
    return lock;
  }

  /** Write a fresh lock file and remove the old one. */
  async refresh(): Promise<void> {
    if (this.released) return;
    const old = this.currentId;
    this.currentId = await this.repo.saveUnpacked(
      "lock",
      serializeLock({ time: goTimeNow(), exclusive: this.exclusive, ...currentOwner() }),
    );
    await removeQuietly(this.repo, old);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    await removeQuietly(this.repo, this.currentId);
  }
}

async function removeQuietly(repo: Repository, id: Id): Promise<void> {
  try {
    await repo.backend.remove({ type: "lock", name: id });
  } catch (err) {
    if (!isResticTsError(err, "NOT_FOUND")) throw err;
  }
}

async function checkConflicts(
  repo: Repository,
  exclusive: boolean,
  self: Id | undefined,
): Promise<void> {
  const now = Date.now();
  for (const { id, lock } of await listLocks(repo)) {
    if (id === self || isStale(lock, now)) continue;
    if (exclusive || lock.exclusive) {
      throw new ResticTsError(
        "LOCKED",
        `repository is already locked ${lock.exclusive ? "exclusively " : ""}by ${describeLock(id, lock, now)}; ` +
          "the `unlock` command can remove stale locks",
        { id, ...lock },
      );
    }
  }
}

/** Remove stale locks (or all with `all`), as `restic unlock [--remove-all]`; returns removed IDs. */
export async function removeLocks(repo: Repository, opts: { all?: boolean } = {}): Promise<Id[]> {
  const removed: Id[] = [];
  const now = Date.now();
  for (const { id, lock } of await listLocks(repo, true)) {
    if (opts.all || isStale(lock, now)) {
      await removeQuietly(repo, id);
      removed.push(id);
    }
  }
  if (opts.all) {
    // Unreadable lock files too.
    for (const id of await repo.listIds("lock")) {
      if (!removed.includes(id)) {
        await removeQuietly(repo, id);
        removed.push(id);
      }
    }
  }
  return removed;
}

/**
 * Convenience used by commands: run `fn` under a lock, always releasing it. `prepare`, when
 * given, is started as soon as the lock file is written, so that read-only work (loading the
 * index, planning) overlaps the wait before an exclusive lock's second check; `fn` gets its
 * result. When the lock is not obtained that result, error included, is discarded (once the
 * work has settled).
 */
export async function withLock<T, P = undefined>(
  repo: Repository,
  exclusive: boolean,
  fn: (lock: Lock, prepared: P) => Promise<T>,
  prepare?: () => Promise<P>,
): Promise<T> {
  let prepared: Promise<P> | undefined;
  let lock: Lock;
  try {
    lock = await Lock.acquire(repo, {
      exclusive,
      onCreated: () => {
        try {
          prepared = prepare?.();
        } catch (err) {
          prepared = Promise.reject(err);
        }
        prepared?.catch(() => {});
      },
    });
  } catch (err) {
    await prepared?.catch(() => {}); // no work left running behind the error
    throw err;
  }
  try {
    return await fn(lock, (await prepared) as P);
  } finally {
    // As restic: a lock that cannot be removed does not fail work that is done, nor replace
    // the error of work that failed; it goes stale once this process ends.
    await lock.release().catch(() => {});
  }
}

/** The signature the archiver uses. */
export function acquireLock(repo: Repository, opts: { exclusive: boolean }): Promise<Lock> {
  return Lock.acquire(repo, opts);
}
