import { describe, expect, it } from "vitest";
import type { Id } from "../../../src/repo/id.js";
import type { Node } from "../../../src/repo/node.js";
import type { Tree } from "../../../src/repo/tree.js";
import {
  findTreeDirectory,
  goPathClean,
  goPathJoin,
  splitSnapshotRef,
  TreePrefetcher,
  walkTree,
} from "../../../src/repo/walk.js";
import { dirNode, fileNode, node } from "./craft.js";

const id = (c: string) => c.repeat(64).slice(0, 64);

/** Trees in memory: `trees[id]`, with a count of loads. */
function loader(trees: Record<Id, Node[]>) {
  const loads: Id[] = [];
  return {
    loads,
    async loadTree(t: Id): Promise<Tree> {
      loads.push(t);
      const nodes = trees[t];
      if (!nodes) throw new Error(`no tree ${t}`);
      return { nodes };
    },
  };
}

describe("Go paths", () => {
  it("cleans and joins like path.Clean/path.Join", () => {
    const clean: [string, string][] = [
      ["", "."],
      ["/", "/"],
      ["a//b/./c/..", "a/b"],
      ["/../x", "/x"],
      ["../../a", "../../a"],
      ["/a/b/", "/a/b"],
      ["a/../..", ".."],
    ];
    for (const [i, o] of clean) expect(goPathClean(i), i).toBe(o);
    expect(goPathJoin("/", "a")).toBe("/a");
    expect(goPathJoin("/a", "b")).toBe("/a/b");
    expect(goPathJoin("/a", "..")).toBe("/");
    expect(goPathJoin("/a/", "b")).toBe("/a/b");
    expect(goPathJoin("/a", "b/../c")).toBe("/a/c");
    expect(goPathJoin("/a", "")).toBe("/a");
  });

  it("splits SNAPSHOT:subfolder at the first colon", () => {
    expect(splitSnapshotRef("latest")).toEqual({ ref: "latest", subfolder: "" });
    expect(splitSnapshotRef("abc:/x:y")).toEqual({ ref: "abc", subfolder: "/x:y" });
  });
});

describe("walkTree", () => {
  const root = id("1");
  const sub = id("2");
  const trees = {
    [root]: [
      fileNode("b", [], 0),
      dirNode("c", sub),
      fileNode("a", [], 0),
      node("\udcff-raw", "symlink"),
    ],
    [sub]: [fileNode("y", [], 0), fileNode("x", [], 0)],
  };

  it("visits nodes depth-first in byte order of names with Go paths", async () => {
    const seen: string[] = [];
    await walkTree(loader(trees), root, (p) => {
      seen.push(p);
      return undefined;
    });
    expect(seen).toEqual(["/a", "/b", "/c", "/c/x", "/c/y", "/\udcff-raw"]);
  });

  it("skips directories and the rest of a tree on request", async () => {
    const seen: string[] = [];
    await walkTree(loader(trees), root, (p, n) => {
      seen.push(p);
      if (n.type === "dir") return { skip: true };
      if (p === "/c/x") return { skip: true };
      return undefined;
    });
    expect(seen).toEqual(["/a", "/b", "/c", "/\udcff-raw"]);
  });

  it("remembers subtrees whose nodes were all ignored and does not walk them again", async () => {
    const ignoreTrees = new Set<Id>();
    const l = loader(trees);
    const visit = () => ({ ignore: true });
    await walkTree(l, root, visit, { ignoreTrees, prefetch: 1 });
    expect(ignoreTrees.has(sub)).toBe(true);
    const seen: string[] = [];
    await walkTree(
      l,
      root,
      (p) => {
        seen.push(p);
        return undefined;
      },
      { ignoreTrees, prefetch: 1 },
    );
    expect(seen).toEqual(["/a", "/b", "/\udcff-raw"]);
  });

  it("refuses cycles with HOSTILE_PATH", async () => {
    const cyc = { [root]: [dirNode("loop", sub)], [sub]: [dirNode("back", root)] };
    await expect(walkTree(loader(cyc), root, () => undefined)).rejects.toMatchObject({
      code: "HOSTILE_PATH",
    });
  });

  it("reports unloadable subtrees to onTreeError", async () => {
    const broken = { [root]: [dirNode("gone", id("9")), fileNode("z", [], 0)] };
    const errors: string[] = [];
    const seen: string[] = [];
    await walkTree(
      loader(broken),
      root,
      (p) => {
        seen.push(p);
        return undefined;
      },
      { onTreeError: (p) => errors.push(p) },
    );
    expect(errors).toEqual(["/gone"]);
    expect(seen).toEqual(["/gone", "/z"]);
  });

  it("finds the tree of a directory", async () => {
    const l = loader(trees);
    expect(await findTreeDirectory(l, root, "/c/")).toBe(sub);
    expect(await findTreeDirectory(l, root, "")).toBe(root);
    await expect(findTreeDirectory(l, root, "c/x")).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await expect(findTreeDirectory(l, root, "nope")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  it("prefetches with bounded concurrency and hands each tree out once", async () => {
    let active = 0;
    let peak = 0;
    const slow = {
      async loadTree(t: Id): Promise<Tree> {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
        return { nodes: [fileNode(t.slice(0, 4), [], 0)] };
      },
    };
    const p = new TreePrefetcher(slow, 3, 10);
    const ids = Array.from({ length: 20 }, (_, i) => id(String.fromCharCode(97 + i)));
    p.prefetch(ids);
    const trees = await Promise.all(ids.map((t) => p.loadTree(t)));
    expect(trees.map((t) => t.nodes[0].name)).toEqual(ids.map((t) => t.slice(0, 4)));
    expect(peak).toBeLessThanOrEqual(3);
  });
});
