// `check` runs its read-only phases while its exclusive lock settles (restic's 200 ms wait
// before it looks for other locks again), holding their output: with the lock confirmed the
// output is whole and in order; with it refused at the second look nothing of the check shows.

import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../../src/backends/local.js";
import { Repository } from "../../../src/repo/repository.js";
import { runCli } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/tmp.js";
import { liveForeignLock } from "../maintenance/helpers.js";

describe("check and its exclusive lock", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let repo: Repository;
  let dir: string;
  const env = () => ({ RESTIC_REPOSITORY: dir, RESTIC_PASSWORD: "pw" });
  beforeAll(async () => {
    tmp = await tempDir("restic-ts-check-lock-");
    dir = path.join(tmp.dir, "repo");
    repo = await Repository.init(new LocalBackend(dir), "pw", { kdf: { N: 1024, r: 8, p: 1 } });
    const src = path.join(tmp.dir, "src");
    mkdirSync(src);
    for (let i = 0; i < 20; i++) writeFileSync(path.join(src, `f${i}`), `file ${i}\n`);
    expect((await runCli(["backup", "-q", src], env())).code).toBe(0);
  });
  afterAll(async () => {
    await tmp?.cleanup();
  });

  it("shows the phases in order once the lock is confirmed", async () => {
    const r = await runCli(["check"], env());
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "create exclusive lock for repository",
        "load indexes",
        "check all packs",
        "check snapshots, trees and blobs",
        "no errors were found",
        "",
      ].join("\n"),
    );
    expect(readdirSync(path.join(dir, "locks"))).toEqual([]);
  });

  it("shows nothing of the check when another process locks while ours settles", async () => {
    const locks = path.join(dir, "locks");
    let raced = false;
    // as soon as our lock file exists, another live process takes an exclusive lock
    const poll = setInterval(() => {
      if (raced || readdirSync(locks).length === 0) return;
      raced = true;
      void repo.saveUnpacked("lock", liveForeignLock());
    }, 2);
    try {
      const r = await runCli(["check"], env());
      expect(raced).toBe(true);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe("create exclusive lock for repository\n");
      expect(r.stderr).toMatch(/lock/i);
    } finally {
      clearInterval(poll);
    }
  });
});
