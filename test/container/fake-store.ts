// A SnapshotStore for tests that copies directories instead of writing a restic repository.
// Layout at a `file://`/local repository path: `fake-repo.json` (marks the repository, holds the
// SHA-256 of its password) and `snapshots/<64-hex id>/{snapshot.json,root/}`. It keeps the seam's
// contract: NO_REPOSITORY without `init`, WRONG_PASSWORD, CANCELLED on abort, top-level
// excludes, extra files, /.corex.meta returned and not restored. Hooks let tests look at the
// container while the store is "reading" it, slow it down or make it fail.

import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { RepoUrl } from "../../src/backends/url.js";
import {
  META_PATH,
  type SnapshotStore,
  type StoreBackupOptions,
  type StoreRestoreOptions,
  type StoreRestoreResult,
} from "../../src/container/store.js";
import { ResticTsError } from "../../src/errors.js";

const run = promisify(execFile);

export interface FakeSnapshot {
  readonly id: string;
  readonly tags: readonly string[];
  readonly host?: string;
  readonly time: string;
}

export interface FakeStoreHooks {
  /** Called after the root filesystem has been copied (still "reading": container paused). */
  whileReading?(rootDir: string, signal: AbortSignal): Promise<void>;
  /** Thrown from backup after reading. */
  failBackup?: Error;
  /** Call onReadDone before writing the snapshot (like a real store that resumes early). */
  signalReadDone?: boolean;
  /** Called during restore, after the copy (for slow/cancel tests). */
  whileRestoring?(targetDir: string, signal: AbortSignal): Promise<void>;
}

/** Resolve after `ms`, or reject with CANCELLED when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ResticTsError("CANCELLED", "cancelled"));
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ResticTsError("CANCELLED", "cancelled"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw new ResticTsError("CANCELLED", "cancelled");
}

const hashPassword = (pw: string) => createHash("sha256").update(pw).digest("hex");

async function countTree(dir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    files++;
    if (e.isDirectory()) {
      const sub = await countTree(p);
      files += sub.files;
      bytes += sub.bytes;
    } else if (e.isFile()) {
      bytes += (await lstat(p)).size;
    }
  }
  return { files, bytes };
}

export class FakeSnapshotStore implements SnapshotStore {
  hooks: FakeStoreHooks = {};
  /** Every backup call, for assertions. */
  readonly calls: { url: RepoUrl; rootDir: string; opts: StoreBackupOptions }[] = [];

  /** The repository directory of a local URL. */
  static repoDir(url: RepoUrl): string {
    if (url.location.kind !== "local") {
      throw new ResticTsError(
        "UNSUPPORTED",
        `the fake store only does local repositories, not ${url.display}`,
      );
    }
    return path.resolve(url.location.path);
  }

  /** The directory holding snapshot `id`'s root filesystem. */
  static snapshotRoot(repoDir: string, id: string): string {
    return path.join(repoDir, "snapshots", id, "root");
  }

  static async snapshotInfo(repoDir: string, id: string): Promise<FakeSnapshot> {
    return JSON.parse(
      await readFile(path.join(repoDir, "snapshots", id, "snapshot.json"), "utf8"),
    ) as FakeSnapshot;
  }

  async #open(url: RepoUrl, init: boolean): Promise<string> {
    const dir = FakeSnapshotStore.repoDir(url);
    if (url.password === undefined || url.password === "") {
      throw new ResticTsError("EMPTY_PASSWORD", `no password given for ${url.display}`);
    }
    const marker = path.join(dir, "fake-repo.json");
    let text: string | undefined;
    try {
      text = await readFile(marker, "utf8");
    } catch {
      text = undefined;
    }
    if (text === undefined) {
      if (!init) {
        throw new ResticTsError(
          "NO_REPOSITORY",
          `there is no repository at ${url.display} (pass init to create one)`,
          { repository: url.display },
        );
      }
      await mkdir(path.join(dir, "snapshots"), { recursive: true });
      await writeFile(marker, JSON.stringify({ password: hashPassword(url.password) }));
      return dir;
    }
    if ((JSON.parse(text) as { password: string }).password !== hashPassword(url.password)) {
      throw new ResticTsError("WRONG_PASSWORD", `wrong password for ${url.display}`);
    }
    return dir;
  }

  async backup(url: RepoUrl, rootDir: string, opts: StoreBackupOptions): Promise<string> {
    this.calls.push({ url, rootDir, opts });
    const repo = await this.#open(url, opts.init);
    throwIfAborted(opts.signal);
    const id = randomBytes(32).toString("hex");
    const tmp = path.join(repo, "snapshots", `.tmp-${id}`);
    const root = path.join(tmp, "root");
    try {
      await mkdir(root, { recursive: true });
      for (const name of await readdir(rootDir)) {
        if (opts.excludeTopLevel.includes(name)) continue;
        await run("cp", ["-a", "--", path.join(rootDir, name), root]);
        throwIfAborted(opts.signal);
      }
      opts.onProgress(await countTree(root));
      await this.hooks.whileReading?.(rootDir, opts.signal);
      if (this.hooks.failBackup !== undefined) throw this.hooks.failBackup;
      if (this.hooks.signalReadDone === true) opts.onReadDone();
      for (const f of opts.extraFiles) {
        const target = path.join(root, f.path);
        await writeFile(target, f.data);
        await chmod(target, 0o600);
      }
      throwIfAborted(opts.signal);
      const info: FakeSnapshot = {
        id,
        tags: [...opts.tags],
        host: opts.host,
        time: new Date().toISOString(),
      };
      await writeFile(path.join(tmp, "snapshot.json"), JSON.stringify(info));
      await rename(tmp, path.join(repo, "snapshots", id));
      return id;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  async restore(
    url: RepoUrl & { readonly snapshot: string },
    targetDir: string,
    opts: StoreRestoreOptions,
  ): Promise<StoreRestoreResult> {
    const repo = await this.#open(url, false);
    const ids = (await readdir(path.join(repo, "snapshots"))).filter((n) =>
      /^[0-9a-f]{64}$/.test(n),
    );
    let id: string | undefined;
    if (url.snapshot === "latest") {
      const infos = await Promise.all(ids.map((i) => FakeSnapshotStore.snapshotInfo(repo, i)));
      id = infos.sort((a, b) => a.time.localeCompare(b.time)).at(-1)?.id;
    } else {
      const matches = ids.filter((i) => i.startsWith(url.snapshot));
      if (matches.length > 1)
        throw new ResticTsError("AMBIGUOUS_ID", `snapshot prefix ${url.snapshot} is ambiguous`);
      id = matches[0];
    }
    if (id === undefined)
      throw new ResticTsError("NOT_FOUND", `no snapshot ${url.snapshot} in ${url.display}`);
    if ((await readdir(targetDir)).length > 0) {
      throw new ResticTsError("ALREADY_EXISTS", `restore target ${targetDir} is not empty`);
    }
    throwIfAborted(opts.signal);
    await run("cp", ["-a", "--", `${FakeSnapshotStore.snapshotRoot(repo, id)}/.`, targetDir]);
    opts.onProgress(await countTree(targetDir));
    const metaFile = path.join(targetDir, META_PATH);
    let meta: Uint8Array | undefined;
    try {
      meta = new Uint8Array(await readFile(metaFile));
      await rm(metaFile);
    } catch {
      meta = undefined;
    }
    await this.hooks.whileRestoring?.(targetDir, opts.signal);
    throwIfAborted(opts.signal);
    return { snapshotId: id, meta };
  }
}
