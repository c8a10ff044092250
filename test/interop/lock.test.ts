// Locks across tools: restic honours our locks and we honour restic's.

import { spawn } from "node:child_process";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.js";
import { Lock, listLocks } from "../../src/repo/lock.js";
import { Repository } from "../../src/repo/repository.js";
import { restic } from "../helpers/restic.js";
import { tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";

describe.runIf(hasTool("restic"))("locks with restic", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it("restic refuses to prune while we hold an exclusive lock; we refuse while restic backs up", async () => {
    const dir = path.join(tmp.dir, "repo");
    const repo = await Repository.init(new LocalBackend(dir), "pw");
    const lock = await Lock.acquire(repo, { exclusive: true });
    const refused = await restic(dir, "pw", ["prune"]).catch((e: { stderr: string }) => e);
    expect((refused as { stderr: string }).stderr).toMatch(
      /repository is already locked exclusively/,
    );
    await lock.release();

    // restic holds a non-exclusive lock while `backup --stdin` waits for input.
    const child = spawn("restic", ["--no-cache", "-r", dir, "backup", "--stdin", "-q"], {
      env: { ...process.env, RESTIC_PASSWORD: "pw" },
      stdio: ["pipe", "ignore", "pipe"],
    });
    try {
      let locks = await listLocks(repo);
      for (let i = 0; i < 100 && locks.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        locks = await listLocks(repo);
      }
      expect(locks).toHaveLength(1);
      expect(locks[0].lock).toMatchObject({ exclusive: false, pid: child.pid });
      const err = await Lock.acquire(repo, { exclusive: true }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "LOCKED" });
      expect((err as Error).message).toContain(`PID ${child.pid}`);
      // A non-exclusive lock of ours coexists with restic's.
      await (await Lock.acquire(repo, { exclusive: false })).release();
    } finally {
      child.stdin.end("data\n");
      await new Promise((r) => child.on("exit", r));
    }
    expect(await repo.listIds("lock")).toEqual([]);
  });
});
