// The CLI reports per-node restore problems and fails at the end. (Hostile snapshots, refused
// before anything is written, are tested on fixtures in test/reliability/hostile-repos.test.ts.)

import * as fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/tmp.js";
import { craftRepo, fileNode, node, PASSWORD } from "../restore/craft.js";

const cli = (args: string[], env: Record<string, string>) => runCli(args, env);

describe("restore of hostile snapshots from the command line", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it("reports per-node problems, restores the rest and fails at the end", async () => {
    const repoDir = path.join(tmp.dir, "repo");
    const c = await craftRepo(1, repoDir);
    const good = await c.data("fine");
    await c.commit(
      await c.tree([
        fileNode("broken", ["cd".repeat(32)], 4),
        fileNode("ok", [good], 4),
        node("odd", "irregular"),
      ]),
    );
    const target = path.join(tmp.dir, "target");
    const env = { RESTIC_REPOSITORY: repoDir, RESTIC_PASSWORD: PASSWORD };
    const r = await cli(["restore", "latest", "--target", target], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ignoring error for \/broken: data blob (cd)+ is not in the index/);
    expect(r.stderr).toMatch(/ignoring error for \/odd: filetype "irregular" not implemented/);
    expect(r.stderr).toMatch(/Fatal: There were 2 errors/);
    expect(fs.readFileSync(path.join(target, "ok"), "utf8")).toBe("fine");
  });
});
