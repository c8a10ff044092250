import os from "node:os";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ByteRange, Handle } from "../../../src/backends/backend.js";
import { MemoryBackend } from "../../../src/backends/mem.js";
import { ResticTsError } from "../../../src/errors.js";
import {
  isStale,
  Lock,
  type LockFile,
  listLocks,
  parseLock,
  removeLocks,
  serializeLock,
  withLock,
} from "../../../src/repo/lock.js";
import { Repository } from "../../../src/repo/repository.js";

const FAST = { N: 1024, r: 8, p: 1 };

/** A memory backend whose loads of chosen lock files fail with a chosen code. */
class FlakyLocks extends MemoryBackend {
  readonly failing = new Map<string, "IO" | "CORRUPT" | "ACCESS_DENIED">();
  override async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    const code = h.type === "lock" ? this.failing.get(h.name) : undefined;
    if (code) throw new ResticTsError(code, `injected ${code}`);
    return super.load(h, range);
  }
}

async function repo(backend: MemoryBackend = new MemoryBackend()) {
  return Repository.init(backend, "pw", {
    kdf: FAST,
    chunkerPolynomial: 0x3da3358b4dc173n,
  });
}

const sample = (over: Partial<LockFile> = {}): LockFile => ({
  time: new Date().toISOString(),
  exclusive: false,
  hostname: os.hostname(),
  username: "u",
  pid: process.pid,
  uid: 0,
  gid: 0,
  ...over,
});

describe("lock files", () => {
  it("serialise in Go field order with uid/gid omitted when zero, and parse back", () => {
    const text = new TextDecoder().decode(
      serializeLock({
        time: "2026-11-27T12:00:00.5+01:00",
        exclusive: true,
        hostname: "h",
        username: "u<",
        pid: 7,
        uid: 0,
        gid: 5,
      }),
    );
    expect(text).toBe(
      '{"time":"2026-11-27T12:00:00.5+01:00","exclusive":true,"hostname":"h","username":"u\\u003c","pid":7,"gid":5}',
    );
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.string(),
        fc.string(),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        (exclusive, hostname, username, pid, uid, gid) => {
          const lock = {
            time: "2026-11-27T12:00:00Z",
            exclusive,
            hostname,
            username,
            pid,
            uid,
            gid,
          };
          expect(parseLock(serializeLock(lock))).toEqual(lock);
        },
      ),
    );
  });

  it("refuses garbage with CORRUPT", () => {
    for (const bad of ["", "[]", "{}", '{"time":"yesterday"}']) {
      expect(() => parseLock(new TextEncoder().encode(bad))).toThrow(
        expect.objectContaining({ code: "CORRUPT" }),
      );
    }
  });

  it("is stale after 30 minutes or when its process on this host is gone", () => {
    expect(isStale(sample())).toBe(false);
    expect(isStale(sample({ time: new Date(Date.now() - 31 * 60_000).toISOString() }))).toBe(true);
    expect(isStale(sample({ pid: 2 ** 22 + 12345 }))).toBe(true);
    expect(isStale(sample({ pid: 2 ** 22 + 12345, hostname: "elsewhere" }))).toBe(false);
  });
});

describe("Lock", () => {
  it("non-exclusive locks coexist; exclusive conflicts both ways with LOCKED naming the holder", async () => {
    const r = await repo();
    const a = await Lock.acquire(r, { exclusive: false });
    const b = await Lock.acquire(r, { exclusive: false });
    expect((await listLocks(r)).length).toBe(2);
    const err = await Lock.acquire(r, { exclusive: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "LOCKED" });
    expect((err as Error).message).toContain(`PID ${process.pid} on ${os.hostname()}`);
    await a.release();
    await b.release();
    expect(await r.listIds("lock")).toEqual([]);
    await withLock(r, true, async () => {
      await expect(Lock.acquire(r, { exclusive: false })).rejects.toMatchObject({ code: "LOCKED" });
      expect(await r.listIds("lock")).toHaveLength(1);
    });
    expect(await r.listIds("lock")).toEqual([]);
  });

  it("ignores stale locks, refreshes by replacing its file, and unlock removes stale ones", async () => {
    const r = await repo();
    await r.saveUnpacked("lock", serializeLock(sample({ exclusive: true, pid: 2 ** 22 + 999 })));
    const lock = await Lock.acquire(r, { exclusive: true });
    const before = lock.id;
    await lock.refresh();
    expect(lock.id).not.toBe(before);
    expect((await r.listIds("lock")).includes(before)).toBe(false);
    expect(await removeLocks(r)).toHaveLength(1);
    expect(await r.listIds("lock")).toEqual([lock.id]);
    await lock.release();
    await r.saveUnpacked("lock", serializeLock(sample()));
    expect(await removeLocks(r)).toHaveLength(0);
    expect(await removeLocks(r, { all: true })).toHaveLength(1);
  });

  it("a lock that cannot be read (IO, ACCESS_DENIED) blocks locking; a damaged one does not", async () => {
    const backend = new FlakyLocks();
    const r = await repo(backend);
    const held = await r.saveUnpacked("lock", serializeLock(sample({ exclusive: true })));
    for (const code of ["IO", "ACCESS_DENIED"] as const) {
      backend.failing.set(held, code);
      const err = await Lock.acquire(r, { exclusive: false }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code });
      expect((err as Error).message).toContain(`cannot read lock ${held.slice(0, 8)}`);
    }
    // garbage is ignored, as restic 0.14 does, and `unlock --remove-all` still removes it
    backend.failing.set(held, "CORRUPT");
    const lock = await Lock.acquire(r, { exclusive: true });
    await lock.release();
    backend.failing.set(held, "IO");
    expect(await removeLocks(r)).toEqual([]);
    expect(await removeLocks(r, { all: true })).toEqual([held]);
  });
});
