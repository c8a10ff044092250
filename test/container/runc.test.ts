// Real containers: a busybox root filesystem run by runc. The reference runtime on its own
// (roots from a directory and a tar archive, the config translated, detached start, pause,
// stop, delete), then the manager over it with the directory-copying FakeSnapshotStore: backup
// of a container that is writing, full restore, data-only restore, failures, timeouts, cancel.

import { readFileSync } from "node:fs";
import { mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type ContainerConfig,
  configForRestore,
  validateConfig,
} from "../../src/container/config.js";
import type { JobProgress } from "../../src/container/jobs.js";
import { ContainerManager } from "../../src/container/manager.js";
import { RuncRuntime, resolveInRoot, toOciSpec } from "../../src/container/runc.js";
import { isResticTsError } from "../../src/errors.js";
import {
  buildBusyboxRoot,
  containerTools,
  lineCount,
  tarDirectory,
  writerScript,
} from "../helpers/busybox.js";
import { tempDir } from "../helpers/tmp.js";
import { FakeSnapshotStore, sleep } from "./fake-store.js";

const PW = "Sup3r-Secret_pw";

async function waitFor(
  what: string,
  cond: () => Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
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

/** Keep the container alive after a setup command, exiting promptly on SIGTERM. */
const idle = (setup: string) => [
  "/bin/sh",
  "-c",
  `trap 'exit 0' TERM; ${setup}; while :; do sleep 0.05; done`,
];

const hostCapBnd = () => /^CapBnd:\s*(\S+)$/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1];

describe("toOciSpec and resolveInRoot (no runc needed)", () => {
  it("maps host_network, privileged, mounts, env and hostname", () => {
    const cfg = validateConfig({
      root: "/r",
      mount: { "/srv/a": "/a" },
      env: { PATH: "/bin", X: "1" },
      hostname: "h",
      entrypoint: ["/bin/true"],
    });
    const spec = toOciSpec("0123456789abcdef", cfg, ["CAP_SYS_ADMIN"]);
    expect(spec.process.args).toEqual(["/bin/true"]);
    expect(spec.process.env).toEqual(["PATH=/bin", "X=1"]);
    expect(spec.process.terminal).toBe(false);
    expect(spec.hostname).toBe("h");
    expect(spec.mounts.at(-1)).toEqual({
      destination: "/a",
      type: "bind",
      source: "/srv/a",
      options: ["rbind", "rw"],
    });
    expect(spec.linux.namespaces.map((n) => n.type)).toContain("network");
    expect(spec.process.capabilities.bounding).not.toContain("CAP_SYS_ADMIN");
    expect(spec.linux.maskedPaths?.length).toBeGreaterThan(0);

    const priv = toOciSpec(
      "0123456789abcdef",
      { root: "/r", host_network: true, privileged: true },
      ["CAP_SYS_ADMIN"],
    );
    expect(priv.linux.namespaces.map((n) => n.type)).not.toContain("network");
    expect(priv.process.capabilities.bounding).toEqual(["CAP_SYS_ADMIN"]);
    expect(priv.process.noNewPrivileges).toBe(false);
    expect(priv.linux.maskedPaths).toBeUndefined();
    expect(priv.linux.resources.devices).toEqual([{ allow: true, access: "rwm" }]);
    expect(priv.hostname).toBe("0123456789ab");
    expect(priv.process.args).toEqual(["/sbin/init"]);
  });

  it("resolves config file paths through symlinks without leaving the root", async () => {
    const tmp = await tempDir("restic-ts-resolve-");
    try {
      const root = path.join(tmp.dir, "root");
      await mkdir(path.join(root, "etc"), { recursive: true });
      await symlink("/../../../outside", path.join(root, "etc/abs"));
      await symlink("../../..", path.join(root, "etc/rel"));
      await symlink("loop", path.join(root, "etc/loop"));
      expect(await resolveInRoot(root, "/etc/abs/x")).toBe(path.join(root, "outside/x"));
      expect(await resolveInRoot(root, "/etc/rel/y")).toBe(path.join(root, "y"));
      expect(await resolveInRoot(root, "/a/../etc/z")).toBe(path.join(root, "etc/z"));
      await expect(resolveInRoot(root, "/etc/loop/x")).rejects.toThrow(/too many symbolic links/);
    } finally {
      await tmp.cleanup();
    }
  });
});

describe.skipIf(!containerTools())("real containers (runc + busybox)", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let busybox: string;
  let tarball: string;
  let runtime: RuncRuntime;
  let store: FakeSnapshotStore;
  let manager: ContainerManager;

  beforeAll(async () => {
    tmp = await tempDir("restic-ts-runc-");
    busybox = path.join(tmp.dir, "busybox");
    await buildBusyboxRoot(busybox);
    // a nested directory named like an excluded top-level one, to see it is kept
    await mkdir(path.join(busybox, "var/proc"), { recursive: true });
    await writeFile(path.join(busybox, "var/proc/keep.txt"), "nested proc is data\n");
    tarball = path.join(tmp.dir, "busybox.tar");
    tarDirectory(busybox, tarball);
    runtime = new RuncRuntime({ stateDir: path.join(tmp.dir, "state") });
  });

  afterEach(async () => {
    // every container of this runtime goes, whatever the test did
    for (const c of await runtime.list()) await runtime.delete(c.id, { force: true });
  });

  afterAll(async () => {
    if (runtime !== undefined)
      for (const c of await runtime.list()) await runtime.delete(c.id, { force: true });
    await tmp?.cleanup();
  });

  function freshManager(): { repo: string; url: string } {
    store = new FakeSnapshotStore();
    manager = new ContainerManager({ runtime, store });
    const repo = path.join(tmp.dir, `repo-${Math.random().toString(16).slice(2)}`);
    return { repo, url: `file://${repo}?password=${PW}` };
  }

  it("runs a container from a directory: config translated, detached, stopped and deleted", async () => {
    const hostDir = path.join(tmp.dir, "host-share");
    await mkdir(hostDir, { recursive: true });
    await writeFile(path.join(hostDir, "hello.txt"), "from the host\n");
    const id = await runtime.create({
      root: busybox,
      hostname: "box-1",
      env: { GREETING: "hi there" },
      mount: { [hostDir]: "/mnt/host" },
      config: { "/etc/app/app.conf": "x=1\n" },
      nics: [{ type: "default" }],
      port: { "8080": 80 },
      entrypoint: idle(
        "mkdir -p /result; hostname > /result/hostname; echo $GREETING > /result/env; " +
          "cat /mnt/host/hello.txt > /result/mount; cat /etc/app/app.conf > /result/conf; " +
          "readlink /proc/self/ns/net > /result/netns; grep CapBnd /proc/self/status > /result/caps; touch /result/done",
      ),
    });
    const before = await runtime.inspect(id);
    expect(before.state).toBe("created");
    expect(before.config.nics?.[0].hwaddr).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    expect(before.config.port).toEqual({ "8080": 80 });

    await runtime.start(id);
    const result = path.join(before.rootPath, "result");
    await waitFor("the container's setup", async () =>
      (await readdir(result).catch((): string[] => [])).includes("done"),
    );
    expect((await runtime.inspect(id)).state).toBe("running");
    const read = (f: string) => readFile(path.join(result, f), "utf8");
    expect(await read("hostname")).toBe("box-1\n");
    expect(await read("env")).toBe("hi there\n");
    expect(await read("mount")).toBe("from the host\n");
    expect(await read("conf")).toBe("x=1\n");
    expect((await read("netns")).trim()).not.toBe(await readlink("/proc/self/ns/net"));
    expect((await read("caps")).trim()).toBe("CapBnd:\t00000000a80425fb"); // Docker's default set
    expect(await codeOf(runtime.start(id))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(runtime.resume(id))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(runtime.delete(id))).toBe("INVALID_ARGUMENT");

    await runtime.stop(id, { timeoutMs: 2_000 });
    expect((await runtime.inspect(id)).state).toBe("stopped");
    await runtime.delete(id);
    expect(await codeOf(runtime.inspect(id))).toBe("NOT_FOUND");
    expect(await runtime.list()).toEqual([]);
  });

  it("runs a privileged container on the host network from a tar archive", async () => {
    const id = await runtime.create({
      root: `file://${tarball}`,
      host_network: true,
      privileged: true,
      entrypoint: idle(
        "readlink /proc/self/ns/net > /netns; grep CapBnd /proc/self/status > /caps; touch /done",
      ),
    });
    await runtime.start(id);
    const { rootPath } = await runtime.inspect(id);
    await waitFor(
      "setup",
      async () => (await stat(path.join(rootPath, "done")).catch(() => undefined)) !== undefined,
    );
    expect((await readFile(path.join(rootPath, "netns"), "utf8")).trim()).toBe(
      await readlink("/proc/self/ns/net"),
    );
    expect((await readFile(path.join(rootPath, "caps"), "utf8")).trim()).toBe(
      `CapBnd:\t${hostCapBnd()}`,
    );
    expect(await readFile(path.join(rootPath, "var/proc/keep.txt"), "utf8")).toBe(
      "nested proc is data\n",
    );
  });

  it("refuses roots it cannot fetch", async () => {
    expect(await codeOf(runtime.create({ root: "restic:/srv/repo#abc" }))).toBe("UNSUPPORTED");
    expect(await codeOf(runtime.create({ root: "https://hub.example/x.flist" }))).toBe(
      "UNSUPPORTED",
    );
    expect(await codeOf(runtime.create({ root: path.join(tmp.dir, "missing") }))).toBe("NOT_FOUND");
    expect(await readdir(path.join(runtime.stateDir, "containers"))).toEqual([]);
  });

  it("pause freezes the container (a writer makes no progress) and resume thaws it", async () => {
    const id = await runtime.create({
      root: busybox,
      entrypoint: ["/bin/sh", "-c", writerScript("/log.txt")],
    });
    await runtime.start(id);
    const log = path.join((await runtime.inspect(id)).rootPath, "log.txt");
    await waitFor("the writer", async () => (await lineCount(log)) >= 3);
    await runtime.pause(id);
    expect((await runtime.inspect(id)).state).toBe("paused");
    expect(await codeOf(runtime.pause(id))).toBe("INVALID_ARGUMENT");
    const frozen = await lineCount(log);
    await sleep(300);
    expect(await lineCount(log)).toBe(frozen);
    await runtime.resume(id);
    expect((await runtime.inspect(id)).state).toBe("running");
    await waitFor("the writer to go on", async () => (await lineCount(log)) > frozen + 2);
    // stop works on a paused container too
    await runtime.pause(id);
    await runtime.stop(id, { timeoutMs: 2_000 });
    expect((await runtime.inspect(id)).state).toBe("stopped");
  });

  it("backs up a writing container, then restores it in full and data-only", async () => {
    const { repo, url } = freshManager();
    const original: ContainerConfig = {
      root: busybox,
      name: "app",
      hostname: "app-1",
      nics: [
        { type: "default" },
        {
          type: "bridge",
          id: "br0",
          hwaddr: "02:42:ac:11:00:05",
          config: { cidr: "10.0.0.5/24", gateway: "10.0.0.1" },
        },
      ],
      port: { "8080": 80 },
      env: { APP: "1" },
      tags: ["web"],
      config: { "/etc/app.conf": "answer=42\n" },
      entrypoint: [
        "/bin/sh",
        "-c",
        `mkdir -p /var/lib/app; ${writerScript("/var/lib/app/log.txt")}`,
      ],
    };
    const id = await manager.create(original, { start: true }).get(10_000);
    const info = await runtime.inspect(id);
    expect(info.state).toBe("running");
    const log = path.join(info.rootPath, "var/lib/app/log.txt");
    await waitFor("the writer", async () => (await lineCount(log)) >= 5);

    // runc made mount points for proc, dev and sys in the root: the backup must leave them out.
    expect(await readdir(info.rootPath)).toEqual(expect.arrayContaining(["proc", "dev", "sys"]));

    // Back up while it writes; look at it while the store reads.
    const seen: { state?: string; before?: number; after?: number } = {};
    store.hooks.whileReading = async (rootDir) => {
      expect(rootDir).toBe(info.rootPath);
      seen.state = (await runtime.inspect(id)).state;
      seen.before = await lineCount(log);
      await sleep(250);
      seen.after = await lineCount(log);
    };
    const job = manager.backup(id, url, { tags: ["nightly"], init: true });
    const phases: JobProgress["phase"][] = [];
    job.on("progress", (p) => phases.push(p.phase));
    const snap = await job.get(20_000);
    expect(seen.state).toBe("paused");
    expect(seen.after).toBe(seen.before);
    expect(phases).toEqual(expect.arrayContaining(["pausing", "backup", "resuming"]));
    expect((await runtime.inspect(id)).state).toBe("running");
    const atBackup = await lineCount(log);
    await waitFor(
      "the writer to go on after the backup",
      async () => (await lineCount(log)) > atBackup + 2,
    );

    // The snapshot: the root filesystem, relative, minus top-level proc/dev/sys, plus the meta.
    const snapRoot = FakeSnapshotStore.snapshotRoot(repo, snap);
    const top = await readdir(snapRoot);
    expect(top).toEqual(expect.arrayContaining([".corex.meta", "bin", "etc", "var"]));
    for (const excluded of ["proc", "dev", "sys"]) expect(top).not.toContain(excluded);
    expect(await readFile(path.join(snapRoot, "var/proc/keep.txt"), "utf8")).toBe(
      "nested proc is data\n",
    );
    const snapLog = await readFile(path.join(snapRoot, "var/lib/app/log.txt"), "utf8");
    expect(snapLog.split("\n").filter(Boolean).length).toBe(seen.before);
    const meta = JSON.parse(await readFile(path.join(snapRoot, ".corex.meta"), "utf8"));
    expect(meta).toEqual(info.config);

    // Full restore: a new container, same config but for the default NIC's MAC, same data.
    const full = await manager.restore(`${url}#${snap.slice(0, 10)}`).get(20_000);
    expect(full).not.toBe(id);
    const fullInfo = await runtime.inspect(full);
    expect(fullInfo.state).toBe("created");
    const { nics: newNics, ...newRest } = fullInfo.config;
    const { nics: oldNics, ...oldRest } = info.config;
    expect(newRest).toEqual(oldRest);
    expect(newNics?.[1]).toEqual(oldNics?.[1]); // static: kept, MAC included
    expect(newNics?.[0].type).toBe("default");
    expect(newNics?.[0].hwaddr).toMatch(/^[0-9a-f:]{17}$/);
    expect(newNics?.[0].hwaddr).not.toBe(oldNics?.[0].hwaddr); // assigned afresh
    expect(configForRestore(fullInfo.config)).toEqual(configForRestore(info.config));
    expect(await readdir(fullInfo.rootPath)).not.toContain(".corex.meta");
    const fullLog = path.join(fullInfo.rootPath, "var/lib/app/log.txt");
    expect(await readFile(fullLog, "utf8")).toBe(snapLog);
    expect(await readFile(path.join(fullInfo.rootPath, "etc/app.conf"), "utf8")).toBe(
      "answer=42\n",
    );
    await runtime.start(full);
    await waitFor(
      "the restored writer",
      async () => (await lineCount(fullLog)) > (seen.before ?? 0) + 2,
    );
    expect((await readFile(fullLog, "utf8")).startsWith(snapLog)).toBe(true);
    expect((await runtime.inspect(full)).state).toBe("running");

    // Data-only restore: a new config over the backed-up root filesystem.
    const copyConfig = {
      root: `restic:${url}#${snap}`,
      hostname: "copy",
      env: { MODE: "copy" },
      entrypoint: idle("hostname > /hostname.txt; echo $MODE > /mode.txt"),
    };
    const dataOnly = await manager.create(copyConfig, { start: true }).get(20_000);
    const dataInfo = await runtime.inspect(dataOnly);
    expect(dataInfo.state).toBe("running");
    expect(dataInfo.config).toEqual({
      root: `restic:file://${repo}?password=***#${snap}`,
      hostname: "copy",
      env: { MODE: "copy" },
      entrypoint: copyConfig.entrypoint,
    });
    await waitFor(
      "the copy's setup",
      async () => (await lineCount(path.join(dataInfo.rootPath, "mode.txt"))) === 1,
    );
    expect(await readFile(path.join(dataInfo.rootPath, "hostname.txt"), "utf8")).toBe("copy\n");
    expect(await readFile(path.join(dataInfo.rootPath, "mode.txt"), "utf8")).toBe("copy\n");
    expect(await readFile(path.join(dataInfo.rootPath, "var/lib/app/log.txt"), "utf8")).toBe(
      snapLog,
    );
    expect(await readdir(dataInfo.rootPath)).not.toContain(".corex.meta");

    // No password anywhere a config is stored or listed.
    expect(JSON.stringify(await runtime.list())).not.toContain(PW);
    expect(JSON.stringify(await manager.list())).not.toContain(PW);
    for (const c of [id, full, dataOnly]) {
      const bundle = runtime.bundlePath(c);
      expect(await readFile(path.join(bundle, "container.json"), "utf8")).not.toContain(PW);
      expect(await readFile(path.join(bundle, "config.json"), "utf8")).not.toContain(PW);
    }
    expect(await readdir(path.join(runtime.stateDir, "tmp"))).toEqual([]);
  });

  it("resumes the container after a failing backup, and after a timed-out then cancelled one", async () => {
    const { repo, url } = freshManager();
    const id = await manager
      .create(
        { root: busybox, entrypoint: ["/bin/sh", "-c", writerScript("/log.txt")] },
        { start: true },
      )
      .get(10_000);
    const log = path.join((await runtime.inspect(id)).rootPath, "log.txt");
    await waitFor("the writer", async () => (await lineCount(log)) >= 2);

    store.hooks.failBackup = new Error("repository exploded");
    await expect(manager.backup(id, url, { init: true }).get(10_000)).rejects.toThrow(
      "repository exploded",
    );
    expect((await runtime.inspect(id)).state).toBe("running");
    let n = await lineCount(log);
    await waitFor("the writer after a failed backup", async () => (await lineCount(log)) > n + 2);

    let reading!: () => void;
    const readingStarted = new Promise<void>((resolve) => {
      reading = resolve;
    });
    store.hooks = {
      whileReading: (_dir, signal) => {
        reading();
        return sleep(30_000, signal);
      },
    };
    const job = manager.backup(id, url, { init: true });
    expect(await codeOf(job.get(0))).toBe("TIMEOUT");
    await readingStarted;
    expect(await codeOf(job.get(100))).toBe("TIMEOUT");
    expect(job.status).toBe("running");
    expect((await runtime.inspect(id)).state).toBe("paused");
    await job.cancel();
    expect(await codeOf(job.get())).toBe("CANCELLED");
    expect((await runtime.inspect(id)).state).toBe("running");
    n = await lineCount(log);
    await waitFor(
      "the writer after a cancelled backup",
      async () => (await lineCount(log)) > n + 2,
    );
    expect(await readdir(path.join(repo, "snapshots"))).toEqual([]);

    // the backup of a stopped container needs no pause and works
    await runtime.stop(id, { timeoutMs: 2_000 });
    store.hooks = {};
    const snap = await manager.backup(id, url).get(10_000);
    expect((await runtime.inspect(id)).state).toBe("stopped");
    expect(await lineCount(path.join(FakeSnapshotStore.snapshotRoot(repo, snap), "log.txt"))).toBe(
      await lineCount(log),
    );
  });
});
