// `restic-ts demo [--dir DIR]`: the main job on a built-in local default, end to end, with
// timings: create a repository, add a key, reopen it with each password, and (when the restic
// binary is installed) let restic read it.

import { execFileSync } from "node:child_process";
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { LocalBackend } from "../../backends/local.js";
import { ResticTsError } from "../../errors.js";
import { Repository } from "../../repo/repository.js";
import type { Command } from "../command.js";

export const demoCommand: Command = {
  name: "demo",
  summary: "Run the end-to-end demo on a local repository (default /tmp/restic-ts-demo)",
  usage: "demo [--dir DIR]",
  options: { dir: { type: "string" } },
  async run(ctx, _args, flags) {
    const dir = (flags.dir as string | undefined) ?? path.join(os.tmpdir(), "restic-ts-demo");
    const step = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      const start = performance.now();
      const result = await fn();
      ctx.print(`${what.padEnd(44)} ${(performance.now() - start).toFixed(0).padStart(6)} ms`);
      return result;
    };
    await rm(dir, { recursive: true, force: true });
    const repoDir = path.join(dir, "repo");
    const repo = await step(`init v2 repository at ${repoDir}`, () =>
      Repository.init(new LocalBackend(repoDir), "demo-password"),
    );
    await step("add a second key", () => repo.addKey("second-password"));
    const a = await step("open with the first password", () =>
      Repository.open(new LocalBackend(repoDir), "demo-password"),
    );
    const b = await step("open with the second password", () =>
      Repository.open(new LocalBackend(repoDir), "second-password"),
    );
    if (a.config.id !== b.config.id || a.config.id !== repo.config.id) {
      throw new ResticTsError("CORRUPT", "demo: the two keys open different repositories");
    }
    try {
      const out = await step("restic cat config (the real restic)", async () =>
        execFileSync("restic", ["--no-cache", "-r", repoDir, "cat", "config"], {
          env: { ...process.env, RESTIC_PASSWORD: "second-password" },
        }).toString(),
      );
      const cfg = JSON.parse(out) as { id: string };
      if (cfg.id !== repo.config.id)
        throw new ResticTsError("CORRUPT", "demo: restic sees another config");
      ctx.print("verified: restic opens the repository restic-ts created");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      ctx.print("restic is not installed: skipped the cross-check with restic");
    }
    ctx.print(`demo OK: repository ${repo.config.id.slice(0, 10)} in ${repoDir}`);
    return 0;
  },
};
