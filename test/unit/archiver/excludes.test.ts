import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CACHEDIR_TAG,
  excludeIfPresent,
  expandEnv,
  parseSize,
} from "../../../src/repo/archiver/excludes.js";
import { buildTargetTree, resolveTargets } from "../../../src/repo/archiver/targets.js";
import { checkedPatterns, matchList } from "../../../src/repo/filter.js";
import { goPathClean } from "../../../src/repo/walk.js";
import { tempDir } from "../../helpers/tmp.js";

const m = (patterns: string[], p: string) =>
  matchList(checkedPatterns(patterns, "--exclude"), p).matched;

describe("restic exclude patterns", () => {
  it("match relative patterns at any depth and anchored ones at the root", () => {
    expect(m(["*.txt"], "/home/u/a.txt")).toBe(true);
    expect(m(["*.txt"], "/home/u/a.txt.bak")).toBe(false);
    expect(m(["u/a.txt"], "/home/u/a.txt")).toBe(true);
    expect(m(["/home"], "/home/u/a.txt")).toBe(true); // a prefix of parts matches
    expect(m(["/home"], "/home")).toBe(true);
    expect(m(["/home/*"], "/home/u")).toBe(true);
    expect(m(["/rootfs/proc"], "/rootfs/proc")).toBe(true);
    expect(m(["/rootfs/proc"], "/rootfs/x/proc")).toBe(false);
    expect(m(["proc"], "/rootfs/x/proc")).toBe(true);
  });
  it("supports **, character classes, ? and escapes", () => {
    expect(m(["/home/**/*.go"], "/home/a/b/c/x.go")).toBe(true);
    expect(m(["/home/**/*.go"], "/home/x.go")).toBe(true);
    expect(m(["/home/**/*.go"], "/srv/x.go")).toBe(false);
    expect(m(["f[0-9].txt"], "/a/f7.txt")).toBe(true);
    expect(m(["f[^0-9].txt"], "/a/f7.txt")).toBe(false);
    expect(m(["f?.txt"], "/a/fé.txt")).toBe(true);
    expect(m(["a\\*b"], "/x/a*b")).toBe(true);
    expect(m(["a\\*b"], "/x/acb")).toBe(false);
  });
  it("negates with !", () => {
    expect(m(["*.log", "!keep.log"], "/var/keep.log")).toBe(false);
    expect(m(["*.log", "!keep.log"], "/var/drop.log")).toBe(true);
  });
  it("refuses malformed patterns", () => {
    expect(() => checkedPatterns(["ok", "bad[", "also\\"], "--exclude")).toThrow(/bad\[\nalso/);
    expect(() => checkedPatterns(["[]"], "--exclude")).toThrow(/--exclude: invalid pattern/);
  });
  it("cleans paths like Go", () => {
    expect(goPathClean("a//b/./c/..")).toBe("a/b");
    expect(goPathClean("/../x/")).toBe("/x");
    expect(goPathClean("")).toBe(".");
    expect(goPathClean("../a")).toBe("../a");
  });
  it("parses sizes and expands variables", () => {
    expect(parseSize("10")).toBe(10);
    expect(parseSize("2k")).toBe(2048);
    expect(parseSize("3M")).toBe(3 * 1024 * 1024);
    expect(parseSize("1g")).toBe(1024 ** 3);
    expect(() => parseSize("x")).toThrow();
    expect(expandEnv(`$HOME/x $${"{"}USER}y`, { HOME: "/h", USER: "u" })).toBe("/h/x uy");
  });
});

describe("tag files and targets", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  beforeAll(async () => {
    tmp = await tempDir("restic-ts-excl-");
    mkdirSync(path.join(tmp.dir, "cache"));
    writeFileSync(
      path.join(tmp.dir, "cache", "CACHEDIR.TAG"),
      "Signature: 8a477f597d28d172789f06886806bc55\n",
    );
    writeFileSync(path.join(tmp.dir, "cache", "data"), "x");
    mkdirSync(path.join(tmp.dir, "fake"));
    writeFileSync(path.join(tmp.dir, "fake", "CACHEDIR.TAG"), "nope");
    writeFileSync(path.join(tmp.dir, "b"), "");
    writeFileSync(path.join(tmp.dir, "a"), "");
  });
  afterAll(() => tmp.cleanup());

  it("excludes a tagged directory's contents but keeps the tag file", () => {
    const warnings: string[] = [];
    const f = excludeIfPresent(CACHEDIR_TAG, (w) => warnings.push(w));
    expect(f(path.join(tmp.dir, "cache", "data"))).toBe(true);
    expect(f(path.join(tmp.dir, "cache", "CACHEDIR.TAG"))).toBe(false);
    expect(f(path.join(tmp.dir, "fake", "x"))).toBe(false);
    expect(warnings.join()).toMatch(/signature/);
  });

  it("expands '.' into its entries and builds restic's top-level tree", () => {
    const t = resolveTargets(["."], tmp.dir);
    expect(t).toEqual(["a", "b", "cache", "fake"]);
    const vt = buildTargetTree(["/srv/x/y", "/srv/z", "rel/q"], tmp.dir);
    expect([...vt.nodes.keys()].sort()).toEqual(["rel", "srv"]);
    const srv = vt.nodes.get("srv");
    expect(srv?.fileInfoPath).toBe("/srv");
    expect([...(srv?.nodes.keys() ?? [])].sort()).toEqual(["x", "z"]);
    expect(srv?.nodes.get("z")?.path).toBe("/srv/z");
    const conflict = buildTargetTree(["/a/b", "a/c"], tmp.dir);
    expect([...conflict.nodes.keys()].sort()).toEqual(["a", "a-1"]);
  });
});
