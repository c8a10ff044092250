// Hostile restore targets: symlinks or hard links that point outside, left in the target by an
// earlier restore or put there by someone else. Each must be refused with HOSTILE_PATH (or
// defused) with nothing written outside the target. (Hostile snapshots themselves — names that
// leave the target, a name twice, trees that loop — are fixtures: test/reliability/hostile-*.)

import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { restoreTree } from "../../../src/repo/restorer.js";
import { tempDir } from "../../helpers/tmp.js";
import { craftRepo, dirNode, fileNode, node } from "./craft.js";

/** Every path below `dir` with its content (files) or link target. */
function snapshotDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d)) {
      const p = path.join(d, name);
      const st = fs.lstatSync(p);
      if (st.isSymbolicLink()) out[p] = `-> ${fs.readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[p] = "dir";
        walk(p);
      } else out[p] = fs.readFileSync(p, "utf8");
    }
  };
  walk(dir);
  return out;
}

describe("hostile snapshots", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let outside: string;
  let target: string;
  let before: Record<string, string>;

  beforeEach(async () => {
    tmp = await tempDir("restic-ts-hostile-");
    outside = path.join(tmp.dir, "outside");
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, "sentinel"), "untouched");
    fs.writeFileSync(path.join(outside, "linked"), "untouched too");
    target = path.join(tmp.dir, "target");
    before = snapshotDir(outside);
  });
  afterEach(async () => {
    // nothing may ever change outside the target
    expect(snapshotDir(outside)).toEqual(before);
    expect(fs.readdirSync(tmp.dir).sort()).toEqual(
      fs.existsSync(target) ? ["outside", "target"] : ["outside"],
    );
    await tmp.cleanup();
  });

  // Names that leave the target, a name twice in one tree (a symlink, then a directory through
  // it) and trees that contain themselves are covered on checked-in fixture repositories by
  // test/reliability/hostile-repos.test.ts (fixtures/hostile/).

  it("refuses to create a directory through a symlink a previous restore left in the target", async () => {
    const c = await craftRepo(2);
    const first = await c.tree([node("d", "symlink", { linkTarget: "../outside" })]);
    const data = await c.data("written through the link?");
    const second = await c.tree([dirNode("d", await c.tree([fileNode("sentinel", [data], 25)]))]);
    const ir = await c.commit(second);
    await restoreTree(ir, first, { target });
    expect(fs.readlinkSync(path.join(target, "d"))).toBe("../outside");
    await expect(restoreTree(ir, second, { target })).rejects.toMatchObject({
      code: "HOSTILE_PATH",
      message: expect.stringMatching(/is a symlink/),
    });
  });

  it("replaces a symlink or a hard link in the way of a file instead of writing through it", async () => {
    fs.mkdirSync(target);
    fs.symlinkSync("../outside/sentinel", path.join(target, "via-symlink"));
    fs.linkSync(path.join(outside, "linked"), path.join(target, "via-hardlink"));
    before = snapshotDir(outside); // the hard link raised nothing visible outside
    const c = await craftRepo(1);
    const data = await c.data("new content");
    const root = await c.tree([
      fileNode("via-symlink", [data], 11),
      fileNode("via-hardlink", [data], 11),
      node("empty-via", "file", { content: [] }),
    ]);
    fs.symlinkSync("../outside/sentinel", path.join(target, "empty-via"));
    const ir = await c.commit(root);
    await restoreTree(ir, root, { target });
    for (const f of ["via-symlink", "via-hardlink"]) {
      expect(fs.lstatSync(path.join(target, f)).isFile()).toBe(true);
      expect(fs.readFileSync(path.join(target, f), "utf8")).toBe("new content");
    }
    expect(fs.lstatSync(path.join(target, "empty-via")).isFile()).toBe(true);
    fs.rmSync(path.join(target, "via-hardlink"));
  });

  it("creates symlinks that point outside without following them", async () => {
    const c = await craftRepo(2);
    const root = await c.tree([
      node("abs", "symlink", { linkTarget: path.join(outside, "sentinel") }),
      node("rel", "symlink", { linkTarget: "../outside" }),
      node("fifo-next-to-it", "fifo"),
    ]);
    const ir = await c.commit(root);
    const res = await restoreTree(ir, root, { target });
    expect(res.errors).toBe(0);
    expect(fs.readlinkSync(path.join(target, "rel"))).toBe("../outside");
    // metadata went to the links themselves (lchown/utimensat without following)
    expect(fs.lstatSync(path.join(target, "abs"), { bigint: true }).mtimeNs).toBe(
      1680674828123456789n,
    );
  });
});
