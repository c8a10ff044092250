// The agent's contract end to end on real containers and a real repository: a busybox
// container (runc) writing while it is backed up through the ResticSnapshotStore, then a full
// restore and a data-only restore, both started; real restic reads the backup with the root
// filesystem at the top level.

import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContainerManager } from "../../src/container/manager.js";
import { ResticSnapshotStore } from "../../src/container/restic-store.js";
import { RuncRuntime } from "../../src/container/runc.js";
import { buildBusyboxRoot, containerTools, lineCount, writerScript } from "../helpers/busybox.js";
import { restic } from "../helpers/restic.js";
import { tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";

const PW = "c0ntainer-Secret";

async function waitFor(
  what: string,
  cond: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.runIf(containerTools() && hasTool("restic"))(
  "containers backed up into a real repository",
  () => {
    let tmp: { dir: string; cleanup(): Promise<void> };
    let runtime: RuncRuntime;
    let manager: ContainerManager;
    let busybox: string;

    beforeAll(async () => {
      tmp = await tempDir("restic-ts-ctr-");
      busybox = path.join(tmp.dir, "busybox");
      await buildBusyboxRoot(busybox);
      await mkdir(path.join(busybox, "var/proc"), { recursive: true });
      await writeFile(path.join(busybox, "var/proc/keep.txt"), "nested proc is data\n");
      runtime = new RuncRuntime({ stateDir: path.join(tmp.dir, "state") });
      manager = new ContainerManager({ runtime, store: new ResticSnapshotStore() });
    });

    afterAll(async () => {
      if (runtime !== undefined)
        for (const c of await runtime.list()) await runtime.delete(c.id, { force: true });
      await tmp?.cleanup();
    });

    it("backup → full restore and data-only restore, readable by restic", async () => {
      const repo = path.join(tmp.dir, "repo");
      const url = `file://${repo}?password=${PW}`;
      await expect(manager.backup("nope", url).get(10_000)).rejects.toBeDefined();

      const id = await manager
        .create(
          {
            root: busybox,
            hostname: "app",
            nics: [{ type: "default" }],
            env: { APP: "1" },
            config: { "/etc/app.conf": "answer=42\n" },
            entrypoint: [
              "/bin/sh",
              "-c",
              `mkdir -p /var/lib/app; ${writerScript("/var/lib/app/log.txt")}`,
            ],
          },
          { start: true },
        )
        .get(10_000);
      const info = await runtime.inspect(id);
      const log = path.join(info.rootPath, "var/lib/app/log.txt");
      await waitFor("the writer", async () => (await lineCount(log)) >= 5);

      // No repository yet: a clear error unless init is asked for.
      await expect(manager.backup(id, url).get(20_000)).rejects.toMatchObject({
        code: "NO_REPOSITORY",
      });
      expect((await runtime.inspect(id)).state).toBe("running");
      const snap = await manager.backup(id, url, { init: true, tags: ["nightly"] }).get(60_000);
      expect(snap).toMatch(/^[0-9a-f]{64}$/);
      expect((await runtime.inspect(id)).state).toBe("running");

      // restic sees the root filesystem at the top level, without proc/dev/sys, with the meta.
      const top = (await restic(repo, PW, ["ls", snap])).stdout
        .split("\n")
        .filter((l) => /^\/[^/]+$/.test(l));
      expect(top).toEqual(expect.arrayContaining(["/.corex.meta", "/bin", "/etc", "/var"]));
      for (const gone of ["/proc", "/dev", "/sys"]) expect(top).not.toContain(gone);
      const tags = JSON.parse((await restic(repo, PW, ["snapshots", "--json"])).stdout)[0].tags;
      expect(tags).toEqual(["nightly"]);
      const meta = JSON.parse((await restic(repo, PW, ["dump", snap, "/.corex.meta"])).stdout);
      expect(meta.hostname).toBe("app");
      expect(JSON.stringify(meta)).not.toContain(PW);
      await restic(repo, PW, ["check", "--read-data"]);
      const byRestic = path.join(tmp.dir, "by-restic");
      await restic(repo, PW, ["restore", snap, "--target", byRestic]);
      const snapLog = await readFile(path.join(byRestic, "var/lib/app/log.txt"), "utf8");
      expect(snapLog.split("\n").filter(Boolean).length).toBeGreaterThanOrEqual(5);
      expect(await readFile(path.join(byRestic, "var/proc/keep.txt"), "utf8")).toBe(
        "nested proc is data\n",
      );

      // Full restore: new ID, same config (fresh default NIC identity), same data; it runs.
      const full = await manager.restore(`${url}#${snap.slice(0, 8)}`, { start: true }).get(60_000);
      expect(full).not.toBe(id);
      const fullInfo = await runtime.inspect(full);
      expect(fullInfo.config.hostname).toBe("app");
      expect(fullInfo.config.env).toEqual({ APP: "1" });
      expect(await readdir(fullInfo.rootPath)).not.toContain(".corex.meta");
      const fullLog = path.join(fullInfo.rootPath, "var/lib/app/log.txt");
      await waitFor(
        "the restored writer",
        async () => (await lineCount(fullLog)) > snapLog.split("\n").filter(Boolean).length + 2,
      );
      expect((await readFile(fullLog, "utf8")).startsWith(snapLog)).toBe(true);

      // Data-only restore: a new config over the backed-up root filesystem.
      const copy = await manager
        .create(
          {
            root: `restic:${url}#latest`,
            hostname: "copy",
            entrypoint: [
              "/bin/sh",
              "-c",
              "trap 'exit 0' TERM; hostname > /h.txt; while :; do sleep 0.05; done",
            ],
          },
          { start: true },
        )
        .get(60_000);
      const copyInfo = await runtime.inspect(copy);
      await waitFor(
        "the copy",
        async () => (await lineCount(path.join(copyInfo.rootPath, "h.txt"))) === 1,
      );
      expect(await readFile(path.join(copyInfo.rootPath, "h.txt"), "utf8")).toBe("copy\n");
      expect(await readFile(path.join(copyInfo.rootPath, "var/lib/app/log.txt"), "utf8")).toBe(
        snapLog,
      );
      expect(await readFile(path.join(copyInfo.rootPath, "etc/app.conf"), "utf8")).toBe(
        "answer=42\n",
      );
      expect(JSON.stringify(await manager.list())).not.toContain(PW);
    });
  },
);
