// ContainerManager over an in-memory runtime that records every call (the real-container flow is
// in runc.test.ts): pausing, resuming on every path, shared pauses, cancel, redaction, restore.

import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type ContainerConfig, redactConfig, validateConfig } from "../../src/container/config.js";
import { ContainerManager } from "../../src/container/manager.js";
import type {
  ContainerInfo,
  ContainerRuntime,
  ContainerState,
} from "../../src/container/runtime.js";
import { isResticTsError } from "../../src/errors.js";
import { tempDir } from "../helpers/tmp.js";
import { FakeSnapshotStore, sleep } from "./fake-store.js";

const PW = "pa55-w0rd";

class MemRuntime implements ContainerRuntime {
  readonly calls: string[] = [];
  readonly containers = new Map<
    string,
    { config: ContainerConfig; rootPath: string; state: ContainerState }
  >();
  failResume = false;
  #next = 0;

  constructor(readonly base: string) {}

  async add(state: ContainerState, config: ContainerConfig): Promise<string> {
    const id = `c${this.#next++}`;
    const rootPath = path.join(this.base, id);
    await mkdir(path.join(rootPath, "etc"), { recursive: true });
    await mkdir(path.join(rootPath, "proc"));
    await writeFile(path.join(rootPath, "etc/data"), `data of ${id}\n`);
    this.containers.set(id, { config: redactConfig(config), rootPath, state });
    return id;
  }

  #get(id: string) {
    const c = this.containers.get(id);
    if (c === undefined) throw new Error(`no container ${id}`);
    return c;
  }

  async inspect(id: string): Promise<ContainerInfo> {
    const c = this.#get(id);
    return { id, config: c.config, rootPath: c.rootPath, state: c.state };
  }

  async pause(id: string): Promise<void> {
    this.calls.push(`pause ${id}`);
    this.#get(id).state = "paused";
  }

  async resume(id: string): Promise<void> {
    this.calls.push(`resume ${id}`);
    if (this.failResume) throw new Error("freezer stuck");
    this.#get(id).state = "running";
  }

  async create(config: ContainerConfig, preparedRoot?: string): Promise<string> {
    const id = `c${this.#next++}`;
    this.calls.push(
      `create ${id} ${preparedRoot === undefined ? "fetch" : "prepared"} ${config.root}`,
    );
    const rootPath = path.join(this.base, id);
    if (preparedRoot !== undefined) await rename(preparedRoot, rootPath);
    else await mkdir(rootPath);
    this.containers.set(id, { config: redactConfig(config), rootPath, state: "created" });
    return id;
  }

  async scratchDir(): Promise<string> {
    const dir = path.join(this.base, `scratch-${this.#next++}`);
    await mkdir(dir);
    return dir;
  }

  async start(id: string): Promise<void> {
    this.calls.push(`start ${id}`);
    this.#get(id).state = "running";
  }

  async list(): Promise<ContainerInfo[]> {
    return Promise.all([...this.containers.keys()].map((id) => this.inspect(id)));
  }

  async delete(id: string): Promise<void> {
    this.calls.push(`delete ${id}`);
    this.containers.delete(id);
  }
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isResticTsError(err) ? err.code : String(err);
  }
  return undefined;
}

describe("ContainerManager (in-memory runtime)", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let runtime: MemRuntime;
  let store: FakeSnapshotStore;
  let manager: ContainerManager;
  let repo: string;
  let url: string;

  beforeEach(async () => {
    tmp = await tempDir("restic-ts-mgr-");
    await mkdir(path.join(tmp.dir, "containers"));
    runtime = new MemRuntime(path.join(tmp.dir, "containers"));
    store = new FakeSnapshotStore();
    manager = new ContainerManager({ runtime, store });
    repo = path.join(tmp.dir, "repo");
    url = `file://${repo}?password=${PW}`;
  });

  afterEach(async () => {
    await tmp.cleanup();
  });

  const CONFIG = validateConfig({
    root: `file:///images/base.tar?password=${PW}`,
    hostname: "app",
    nics: [{ type: "default", hwaddr: "02:00:00:00:00:aa" }],
    entrypoint: ["/bin/sh"],
  });

  it("backs up a running container paused, with the redacted config at /.corex.meta", async () => {
    const id = await runtime.add("running", CONFIG);
    let stateWhileReading: ContainerState | undefined;
    store.hooks.whileReading = async () => {
      stateWhileReading = runtime.containers.get(id)?.state;
    };
    const job = manager.backup(id, url, { tags: ["nightly", "app"], init: true, host: "node-1" });
    const snap = await job.get(10_000);
    expect(snap).toMatch(/^[0-9a-f]{64}$/);
    expect(stateWhileReading).toBe("paused");
    expect(runtime.calls).toEqual([`pause ${id}`, `resume ${id}`]);
    expect(runtime.containers.get(id)?.state).toBe("running");

    const root = FakeSnapshotStore.snapshotRoot(repo, snap);
    expect((await readdir(root)).sort()).toEqual([".corex.meta", "etc"]);
    const meta = await readFile(path.join(root, ".corex.meta"), "utf8");
    expect(meta).not.toContain(PW);
    expect(JSON.parse(meta)).toEqual(redactConfig(CONFIG));
    const call = store.calls[0];
    expect(call.opts.excludeTopLevel).toEqual(["proc", "dev", "sys"]);
    expect(call.opts.tags).toEqual(["nightly", "app"]);
    expect(call.opts.host).toBe("node-1");
    expect(call.url.password).toBe(PW);
    expect(await FakeSnapshotStore.snapshotInfo(repo, snap)).toMatchObject({
      tags: ["nightly", "app"],
      host: "node-1",
    });
  });

  it("does not pause or resume a container that is not running", async () => {
    const id = await runtime.add("stopped", CONFIG);
    await manager.backup(id, url, { init: true }).get();
    const paused = await runtime.add("paused", CONFIG);
    await manager.backup(paused, url).get();
    expect(runtime.calls).toEqual([]);
    expect(runtime.containers.get(paused)?.state).toBe("paused");
  });

  it("resumes the container when the backup fails, and reports the store's error", async () => {
    const id = await runtime.add("running", CONFIG);
    store.hooks.failBackup = new Error("disk on fire");
    await expect(manager.backup(id, url, { init: true }).get()).rejects.toThrow("disk on fire");
    expect(runtime.calls).toEqual([`pause ${id}`, `resume ${id}`]);
    expect(runtime.containers.get(id)?.state).toBe("running");
  });

  it("a repository that does not exist is a clear error (and the container runs on)", async () => {
    const id = await runtime.add("running", CONFIG);
    try {
      await manager.backup(id, url).get();
      expect.fail("should fail");
    } catch (err) {
      expect(isResticTsError(err, "NO_REPOSITORY")).toBe(true);
      expect((err as Error).message).toContain(repo);
      expect((err as Error).message).not.toContain(PW);
    }
    expect(runtime.containers.get(id)?.state).toBe("running");
    expect(await manager.backup(id, url, { init: true }).get()).toMatch(/^[0-9a-f]{64}$/);
    expect(await codeOf(manager.backup(id, `file://${repo}?password=wrong`).get())).toBe(
      "WRONG_PASSWORD",
    );
  });

  it("refuses bad URLs and tags before touching the container", async () => {
    const id = await runtime.add("running", CONFIG);
    expect(await codeOf(manager.backup(id, `${url}#abc`).get())).toBe("INVALID_URL");
    expect(await codeOf(manager.backup(id, "s3:bucket").get())).toBe("UNSUPPORTED");
    expect(await codeOf(manager.backup(id, url, { tags: ["a,b"] }).get())).toBe("INVALID_ARGUMENT");
    expect(runtime.calls).toEqual([]);
  });

  it("resumes early when the store says it has read everything", async () => {
    const id = await runtime.add("running", CONFIG);
    store.hooks.signalReadDone = true;
    const order: string[] = [];
    const origResume = runtime.resume.bind(runtime);
    runtime.resume = async (cid) => {
      order.push("resume");
      await origResume(cid);
    };
    const job = manager.backup(id, url, { init: true });
    job.on("progress", (p) => order.push(p.phase));
    await job.get();
    expect(order.indexOf("resume")).toBeLessThan(order.indexOf("resuming"));
    expect(runtime.calls).toEqual([`pause ${id}`, `resume ${id}`]);
  });

  it("concurrent backups of one container share one pause", async () => {
    const id = await runtime.add("running", CONFIG);
    let readers = 0;
    let maxReaders = 0;
    store.hooks.whileReading = async () => {
      readers++;
      maxReaders = Math.max(maxReaders, readers);
      expect(runtime.containers.get(id)?.state).toBe("paused");
      await sleep(50);
      readers--;
    };
    await manager.backup(id, url, { init: true }).get();
    runtime.calls.length = 0;
    const a = manager.backup(id, url);
    const b = manager.backup(id, url);
    await Promise.all([a.get(), b.get()]);
    expect(maxReaders).toBe(2);
    expect(runtime.calls).toEqual([`pause ${id}`, `resume ${id}`]);
    expect(runtime.containers.get(id)?.state).toBe("running");
  });

  it("a failed resume fails the job and names the snapshot", async () => {
    const id = await runtime.add("running", CONFIG);
    runtime.failResume = true;
    try {
      await manager.backup(id, url, { init: true }).get();
      expect.fail("should fail");
    } catch (err) {
      expect(isResticTsError(err, "IO")).toBe(true);
      expect((err as Error).message).toContain("could not be resumed");
      expect((err as { data: { snapshotId?: string } }).data.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it("cancel stops the backup, resumes the container and leaves no snapshot", async () => {
    const id = await runtime.add("running", CONFIG);
    let reading!: () => void;
    const started = new Promise<void>((r) => {
      reading = r;
    });
    store.hooks.whileReading = async (_dir, signal) => {
      reading();
      await sleep(10_000, signal);
    };
    const job = manager.backup(id, url, { init: true });
    await started;
    expect(await codeOf(job.get(20))).toBe("TIMEOUT");
    expect(runtime.containers.get(id)?.state).toBe("paused");
    await job.cancel();
    expect(job.status).toBe("cancelled");
    expect(await codeOf(job.get())).toBe("CANCELLED");
    expect(runtime.containers.get(id)?.state).toBe("running");
    expect((await readdir(path.join(repo, "snapshots"))).length).toBe(0);
  });

  it("full restore: same config but a fresh default-network identity, and the same data", async () => {
    const id = await runtime.add("running", CONFIG);
    const snap = await manager.backup(id, url, { init: true }).get();
    const newId = await manager.restore(`${url}#${snap.slice(0, 8)}`).get();
    expect(newId).not.toBe(id);
    const restored = await runtime.inspect(newId);
    expect(restored.config).toEqual({ ...redactConfig(CONFIG), nics: [{ type: "default" }] });
    expect(await readFile(path.join(restored.rootPath, "etc/data"), "utf8")).toBe(
      `data of ${id}\n`,
    );
    expect((await readdir(restored.rootPath)).sort()).toEqual(["etc"]);
    expect(runtime.calls.at(-1)).toMatch(
      /^create c\d+ prepared file:\/\/\/images\/base\.tar\?password=\*\*\*$/,
    );
    // scratch directories are gone
    expect((await readdir(runtime.base)).filter((n) => n.startsWith("scratch"))).toEqual([]);
  });

  it("full restore with start, and errors for a missing fragment, snapshot or meta", async () => {
    const id = await runtime.add("running", CONFIG);
    const snap = await manager.backup(id, url, { init: true }).get();
    const started = await manager.restore(`${url}#${snap}`, { start: true }).get();
    expect(runtime.containers.get(started)?.state).toBe("running");
    expect(await codeOf(manager.restore(url).get())).toBe("INVALID_URL");
    expect(await codeOf(manager.restore(`${url}#${"f".repeat(64)}`).get())).toBe("NOT_FOUND");
    // a snapshot without /.corex.meta: not a container backup
    const plain = path.join(repo, "snapshots", "e".repeat(64));
    await mkdir(path.join(plain, "root"), { recursive: true });
    await writeFile(
      path.join(plain, "snapshot.json"),
      JSON.stringify({ id: "e".repeat(64), tags: [], time: "" }),
    );
    try {
      await manager.restore(`${url}#eeee`).get();
      expect.fail("should fail");
    } catch (err) {
      expect(isResticTsError(err, "NOT_FOUND")).toBe(true);
      expect((err as Error).message).toContain("restic:");
    }
  });

  it("data-only restore: create with a restic: root takes the new config and the backed-up data", async () => {
    const id = await runtime.add("running", CONFIG);
    const snap = await manager.backup(id, url, { init: true }).get();
    const newConfig = { root: `restic:${url}#${snap}`, hostname: "other", env: { A: "1" } };
    const newId = await manager.create(newConfig).get();
    const info = await manager.inspect(newId);
    expect(info.config).toEqual(
      validateConfig({ ...newConfig, root: `restic:file://${repo}?password=***#${snap}` }),
    );
    expect(await readFile(path.join(info.rootPath, "etc/data"), "utf8")).toBe(`data of ${id}\n`);
    expect(await readdir(info.rootPath)).not.toContain(".corex.meta");
    expect(JSON.stringify(await manager.list())).not.toContain(PW);
    expect(runtime.calls.at(-1)).toContain("prepared restic:file://");
    expect(runtime.calls.at(-1)).not.toContain(PW);
  });

  it("create with another root goes straight to the runtime, unredacted", async () => {
    const newId = await manager.create({ root: "/images/base.tar" }).get();
    expect(runtime.calls).toEqual([`create ${newId} fetch /images/base.tar`]);
    expect(await codeOf(manager.create({ root: "" }).get())).toBe("INVALID_ARGUMENT");
    expect(await codeOf(manager.create({ root: `restic:${url}` }).get())).toBe("INVALID_URL");
  });

  it("a restore cancelled while restoring leaves no container and no scratch directory", async () => {
    const id = await runtime.add("running", CONFIG);
    const snap = await manager.backup(id, url, { init: true }).get();
    let restoring!: () => void;
    const started = new Promise<void>((r) => {
      restoring = r;
    });
    store.hooks.whileRestoring = async (_dir, signal) => {
      restoring();
      await sleep(10_000, signal);
    };
    const before = runtime.containers.size;
    const job = manager.restore(`${url}#${snap}`);
    await started;
    await job.cancel();
    expect(await codeOf(job.get())).toBe("CANCELLED");
    expect(runtime.containers.size).toBe(before);
    expect((await readdir(runtime.base)).filter((n) => n.startsWith("scratch"))).toEqual([]);
  });

  it("a create cancelled after the runtime made the container deletes it again", async () => {
    const origCreate = runtime.create.bind(runtime);
    let job: ReturnType<ContainerManager["create"]> | undefined;
    runtime.create = async (config, prepared) => {
      const cid = await origCreate(config, prepared);
      void job?.cancel();
      return cid;
    };
    job = manager.create({ root: "/images/base.tar" });
    expect(await codeOf(job.get())).toBe("CANCELLED");
    expect(runtime.calls).toEqual(["create c0 fetch /images/base.tar", "delete c0"]);
    expect(runtime.containers.size).toBe(0);
  });
});
