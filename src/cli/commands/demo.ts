// `restic-ts demo [--dir DIR]`: the main job on a built-in local default, end to end, with
// timings: a busybox container (runc) writing data is backed up into a local repository while
// it runs, restored in full (same config, new ID) and data-only (`restic:` root), both restored
// containers are started and their data verified, and the real restic (when installed) checks
// the repository.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { buildBusyboxRoot } from "../../container/busybox.js";
import { ContainerManager } from "../../container/manager.js";
import { ResticSnapshotStore } from "../../container/restic-store.js";
import { RuncRuntime } from "../../container/runc.js";
import { ResticTsError } from "../../errors.js";
import type { Command } from "../command.js";

const PASSWORD = "demo-password";

export const demoCommand: Command = {
  name: "demo",
  summary:
    "Back up and restore a demo container on a local repository (default /tmp/restic-ts-demo)",
  usage: "demo [--dir DIR]",
  options: { dir: { type: "string" } },
  async run(ctx, _args, flags) {
    const dir = path.resolve(
      (flags.dir as string | undefined) ?? path.join(os.tmpdir(), "restic-ts-demo"),
    );
    const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      const start = performance.now();
      const result = await fn();
      ctx.print(`${what.padEnd(58)} ${(performance.now() - start).toFixed(0).padStart(6)} ms`);
      return result;
    };
    const runtime = new RuncRuntime({ stateDir: path.join(dir, "state") });
    await cleanup(runtime, dir);
    const manager = new ContainerManager({ runtime, store: new ResticSnapshotStore() });
    const rootfs = path.join(dir, "rootfs");
    const repo = path.join(dir, "repo");
    const url = `file://${repo}?password=${PASSWORD}`;
    try {
      await step("build a busybox root filesystem with 20 MB of data", async () => {
        await buildBusyboxRoot(rootfs);
        await makeData(path.join(rootfs, "srv/data"));
      });
      const id = await step("create and start the container (writes a log)", () =>
        manager
          .create(
            {
              root: rootfs,
              name: "demo",
              hostname: "demo",
              nics: [{ type: "default" }],
              env: { GREETING: "hello" },
              config: { "/etc/demo.conf": "answer=42\n" },
              entrypoint: [
                "/bin/sh",
                "-c",
                "trap 'exit 0' TERM; i=0; while :; do i=$((i+1)); echo $i >> /srv/log.txt; sleep 0.05; done",
              ],
            },
            { start: true },
          )
          .get(30_000),
      );
      const live = (await runtime.inspect(id)).rootPath;
      await waitFor(async () => (await lines(path.join(live, "srv/log.txt"))) >= 5);
      const snapshot = await step("back it up while it runs (paused meanwhile)", () =>
        manager.backup(id, url, { init: true, tags: ["demo"] }).get(120_000),
      );
      ctx.print(`  snapshot ${snapshot}`);
      const full = await step("full restore: same config, new container, started", () =>
        manager.restore(`${url}#${snapshot.slice(0, 8)}`, { start: true }).get(120_000),
      );
      const copy = await step("data-only restore: new config over root restic:…#snapshot", () =>
        manager
          .create(
            {
              root: `restic:${url}#${snapshot}`,
              name: "demo-copy",
              hostname: "copy",
              entrypoint: [
                "/bin/sh",
                "-c",
                "trap 'exit 0' TERM; hostname > /srv/whoami; while :; do sleep 1; done",
              ],
            },
            { start: true },
          )
          .get(120_000),
      );
      await step("verify both restored containers", async () => {
        const want = await digestTree(path.join(rootfs, "srv/data"));
        for (const c of [full, copy]) {
          const info = await runtime.inspect(c);
          if (info.state !== "running") throw fail(`container ${c} is ${info.state}, not running`);
          if ((await digestTree(path.join(info.rootPath, "srv/data"))) !== want)
            throw fail(`data of ${c} differs`);
          if ((await readdir(info.rootPath)).includes(".corex.meta"))
            throw fail("/.corex.meta was left in the root");
        }
        const fullInfo = await runtime.inspect(full);
        if (fullInfo.config.hostname !== "demo" || full === id)
          throw fail("full restore lost the config");
        const log = path.join(fullInfo.rootPath, "srv/log.txt");
        const atRestore = await lines(log);
        await waitFor(async () => (await lines(log)) > atRestore + 2);
        const copyRoot = (await runtime.inspect(copy)).rootPath;
        await waitFor(
          async () =>
            (await readFile(path.join(copyRoot, "srv/whoami"), "utf8").catch(() => "")) ===
            "copy\n",
        );
      });
      if (hasRestic()) {
        await step("restic check --read-data (the real restic)", async () => {
          execFileSync("restic", ["--no-cache", "-r", repo, "check", "--read-data"], {
            env: { ...process.env, RESTIC_PASSWORD: PASSWORD },
            stdio: "ignore",
          });
        });
      } else {
        ctx.print("restic is not installed: skipped restic check");
      }
      ctx.print(
        `demo OK: containers ${id.slice(0, 12)} → ${full.slice(0, 12)} (full), ${copy.slice(0, 12)} (data-only); repository ${repo}`,
      );
      return 0;
    } finally {
      for (const c of await runtime.list()) await runtime.delete(c.id, { force: true });
    }
  },
};

function fail(message: string): ResticTsError {
  return new ResticTsError("CORRUPT", `demo: ${message}`);
}

function hasRestic(): boolean {
  try {
    execFileSync("restic", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function cleanup(runtime: RuncRuntime, dir: string): Promise<void> {
  try {
    for (const c of await runtime.list()) await runtime.delete(c.id, { force: true });
  } catch {}
  await rm(dir, { recursive: true, force: true });
}

/** 20 MB of data: text, random bytes and many small files. */
async function makeData(dir: string): Promise<void> {
  await mkdir(path.join(dir, "small"), { recursive: true });
  const text = Array.from(
    { length: 100_000 },
    (_, i) => `line ${i} of a compressible log file\n`,
  ).join("");
  await writeFile(path.join(dir, "app.log"), text);
  let seed = 42;
  const random = Buffer.alloc(12 * 1024 * 1024);
  for (let i = 0; i < random.length; i += 4) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    random.writeUInt32LE(seed, i);
  }
  await writeFile(path.join(dir, "blob.bin"), random);
  for (let i = 0; i < 500; i++)
    await writeFile(path.join(dir, "small", `f${i}.txt`), `small file ${i}\n`.repeat(i));
}

async function digestTree(dir: string): Promise<string> {
  const hash = createHash("sha256");
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      hash.update(`${rel}/${e.name}\n`);
      if (e.isDirectory()) await walk(path.join(d, e.name), `${rel}/${e.name}`);
      else hash.update(await readFile(path.join(d, e.name)));
    }
  };
  await walk(dir, "");
  return hash.digest("hex");
}

async function lines(file: string): Promise<number> {
  return (await readFile(file, "utf8").catch(() => "")).split("\n").filter((l) => l !== "").length;
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw fail("timed out waiting for a container");
    await new Promise((r) => setTimeout(r, 50));
  }
}
