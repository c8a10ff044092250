// The CLI refuses hostile snapshots with a clear message and exit code 1, writing nothing.

import * as fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/tmp.js";
import { craftRepo, dirNode, fileNode, node, PASSWORD } from "../restore/craft.js";

const cli = (args: string[], env: Record<string, string>) => runCli(args, env);

describe("restore of hostile snapshots from the command line", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it.each([
    ["..", 'refusing node name ".."'],
    ["a/b", 'refusing node name "a/b"'],
  ])("refuses a node named %j", async (name, message) => {
    const repoDir = path.join(tmp.dir, "repo");
    const c = await craftRepo(2, repoDir);
    const data = await c.data("x");
    await c.commit(await c.tree([dirNode("d", await c.tree([fileNode(name, [data], 1)]))]));
    const target = path.join(tmp.dir, "target");
    const env = { RESTIC_REPOSITORY: repoDir, RESTIC_PASSWORD: PASSWORD };
    const r = await cli(["restore", "latest", "--target", target], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`Fatal: ${message}`);
    expect(fs.readdirSync(target)).toEqual([]);
    expect(fs.readdirSync(tmp.dir).sort()).toEqual(["repo", "target"]);
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
