// `restic-ts container …` in-process: create from a config file, back up, restore in full and
// data-only, list without passwords, delete; IDs printed as the library returns them.

import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RuncRuntime } from "../../src/container/runc.js";
import { buildBusyboxRoot, containerTools } from "../helpers/busybox.js";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

const cli = (args: string[]) => runCli(args);

describe.runIf(containerTools())("restic-ts container", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let state: string;

  beforeAll(async () => {
    tmp = await tempDir("restic-ts-ctr-cli-");
    state = path.join(tmp.dir, "state");
    await buildBusyboxRoot(path.join(tmp.dir, "rootfs"));
    await writeFile(path.join(tmp.dir, "rootfs/data.txt"), "payload\n");
  });

  afterAll(async () => {
    const runtime = new RuncRuntime({ stateDir: state });
    for (const c of await runtime.list()) await runtime.delete(c.id, { force: true });
    await tmp?.cleanup();
  });

  it("create, backup, restore (full and data-only), list, delete", async () => {
    const q = ["--state-dir", state, "-q"];
    const cfgFile = path.join(tmp.dir, "config.json");
    await writeFile(
      cfgFile,
      JSON.stringify({
        root: path.join(tmp.dir, "rootfs"),
        hostname: "cli",
        entrypoint: ["/bin/true"],
      }),
    );
    const created = await cli(["container", "create", "--config", cfgFile, ...q]);
    expect(created.stderr).toBe("");
    const id = created.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]+$/);

    const url = `file://${path.join(tmp.dir, "repo")}?password=cli-secret`;
    const noRepo = await cli(["container", "backup", id, url, ...q]);
    expect(noRepo.code).toBe(10);
    expect(noRepo.stderr).not.toContain("cli-secret");
    const backedUp = await cli(["container", "backup", id, url, "--init", "--tag", "t1", ...q]);
    expect(backedUp.code).toBe(0);
    const snap = backedUp.stdout.trim();
    expect(snap).toMatch(/^[0-9a-f]{64}$/);

    const full = (
      await cli(["container", "restore", `${url}#${snap.slice(0, 8)}`, ...q])
    ).stdout.trim();
    const copy = (
      await cli([
        "container",
        "create",
        "--config",
        JSON.stringify({ root: `restic:${url}#${snap}`, hostname: "copy" }),
        ...q,
      ])
    ).stdout.trim();
    const listed = await cli(["container", "list", "--json", ...q]);
    const all = JSON.parse(listed.stdout) as {
      id: string;
      config: { hostname?: string; root: string };
    }[];
    expect(all.map((c) => c.id).sort()).toEqual([id, full, copy].sort());
    expect(all.find((c) => c.id === full)?.config.hostname).toBe("cli");
    expect(all.find((c) => c.id === copy)?.config.root).toBe(
      `restic:file://${path.join(tmp.dir, "repo")}?password=***#${snap}`,
    );
    expect(listed.stdout).not.toContain("cli-secret");
    const inspect = JSON.parse((await cli(["container", "inspect", copy, ...q])).stdout) as {
      rootPath: string;
    };
    expect(inspect.rootPath).toBeTruthy();

    expect((await cli(["container", "delete", copy, ...q])).code).toBe(0);
    const bad = await cli(["container", "frobnicate", ...q]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/use one of create, backup/);
  });
});
