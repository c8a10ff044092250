// Hostile snapshots: names that would leave the target, names twice in one tree (a symlink
// and a directory of the same name), trees that contain themselves, and targets holding
// symlinks or hard links that point outside. Each must be refused with HOSTILE_PATH (or
// defused) with nothing written outside the target.

import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Id } from "../../../src/repo/id.js";
import type { Node } from "../../../src/repo/node.js";
import { restoreTree } from "../../../src/repo/restorer.js";
import type { Tree } from "../../../src/repo/tree.js";
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

  const badNames = ["", ".", "..", "a/b", "../outside/sentinel", "x\0y", "/abs"];

  it.each(badNames)(
    "refuses the node name %j at the root and below, writing nothing",
    async (bad) => {
      for (const nested of [false, true]) {
        const c = await craftRepo(2);
        const data = await c.data("evil");
        const hostileTree = await c.tree([fileNode("fine", [data], 4), fileNode(bad, [data], 4)]);
        const root = nested
          ? await c.tree([fileNode("a-first", [data], 4), dirNode("sub", hostileTree)])
          : hostileTree;
        const ir = await c.commit(root);
        const err = await restoreTree(ir, root, { target, onError: () => {} }).catch((e) => e);
        expect(err).toMatchObject({ code: "HOSTILE_PATH" });
        expect(String(err.message)).toMatch(/refusing node name/);
        // refused while planning: nothing was written
        expect(fs.readdirSync(target)).toEqual([]);
      }
    },
  );

  it("refuses a name used twice in one tree (a symlink out, then a directory through it)", async () => {
    const c = await craftRepo(1);
    const data = await c.data("escaped!");
    const inner = await c.tree([fileNode("sentinel", [data], 8)]);
    const root = await c.tree([
      node("x", "symlink", { linkTarget: "../outside" }),
      dirNode("x", inner),
    ]);
    const ir = await c.commit(root);
    await expect(restoreTree(ir, root, { target })).rejects.toMatchObject({
      code: "HOSTILE_PATH",
      message: expect.stringMatching(/twice/),
    });
    expect(fs.readdirSync(target)).toEqual([]);
  });

  it("refuses a tree that contains itself", async () => {
    const c = await craftRepo(2);
    const root = await c.tree([fileNode("f", [await c.data("x")], 1)]);
    const ir = await c.commit(root);
    // a tree's ID is its hash, so a cycle needs a forged loader: "loop" points back to the root
    const cyclic = (id: Id): Tree => ({
      nodes: [dirNode("loop", id) as Node, fileNode("f", [], 0) as Node],
    });
    ir.loadTree = async (id: Id) => cyclic(id);
    await expect(restoreTree(ir, root, { target })).rejects.toMatchObject({
      code: "HOSTILE_PATH",
      message: expect.stringMatching(/contains itself/),
    });
    expect(fs.readdirSync(target)).toEqual([]);
    // also two trees pointing at each other
    const other = "ee".repeat(32);
    ir.loadTree = async (id: Id) => ({
      nodes: [dirNode("next", id === root ? other : root) as Node],
    });
    await expect(restoreTree(ir, root, { target })).rejects.toMatchObject({ code: "HOSTILE_PATH" });
  });

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
