// Restore against restic 0.14: restic backs up a tree with every kind of entry
// (restore-tree.ts) into v1 and v2 repositories; restic-ts's restore must reproduce the source
// (type, content, mode, mtime, owner, xattrs, hard-link groups, device numbers) and be
// identical to restic's own restore of the same snapshot (atimes and directory times too);
// include/exclude, subfolder and sparse restores are checked, and the reading commands'
// output is compared with restic's byte for byte.

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.js";
import { Repository } from "../../src/repo/repository.js";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";
import { compareTrees, scanTree } from "../helpers/tree-compare.js";
import { makeRestoreSourceTree } from "./restore-tree.js";

const PASSWORD = "interop-password";
/** Extended attributes are compared too (getfattr is required in CI). */
const XATTRS = hasTool("getfattr");
const scan = (dir: string) => scanTree(dir, { xattrs: XATTRS });

async function cli(args: string[], env: Record<string, string>) {
  const r = await runCli(args, env);
  return { code: r.code, stdout: r.bytes, stderr: r.stderr };
}

describe.runIf(hasTool("restic")).each([1, 2] as const)(
  "restore interop, repository v%i",
  (version) => {
    let tmp: { dir: string; cleanup(): Promise<void> };
    let env: Record<string, string>;
    let src: string;
    let first: string;
    let second: string;
    const restic = (args: string[], cwd?: string): Buffer =>
      execFileSync("restic", ["--no-cache", ...args], {
        env: { ...process.env, ...env },
        cwd,
        maxBuffer: 1 << 30,
        stdio: ["ignore", "pipe", "pipe"],
      });

    beforeAll(async () => {
      tmp = await tempDir("restic-ts-restore-interop-");
      const base = tmp.dir;
      src = path.join(base, "src");
      makeRestoreSourceTree(src);
      const repo = path.join(base, "repo");
      env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: PASSWORD };
      restic(["init", "--repository-version", String(version)]);
      // a cheap key for every later command of both programs
      const opened = await Repository.open(new LocalBackend(repo), PASSWORD);
      env.RESTIC_KEY_HINT = await opened.addKey(PASSWORD, { kdf: { N: 1024, r: 8, p: 1 } });
      restic(["backup", "--host", "h1", "--tag", "one", "src"], base);
      // a second snapshot with changes for diff
      fs.appendFileSync(path.join(src, "text.log"), "more\n");
      fs.rmSync(path.join(src, "empty"));
      fs.mkdirSync(path.join(src, "added dir"));
      fs.writeFileSync(path.join(src, "added dir", "f"), "new");
      fs.rmSync(path.join(src, "link"));
      fs.writeFileSync(path.join(src, "link"), "now a file");
      fs.chmodSync(path.join(src, "readonly"), 0o640);
      restic(["backup", "--host", "h2", "src"], base);
      const ids = JSON.parse(restic(["snapshots", "--json"]).toString()) as {
        id: string;
        hostname: string;
      }[];
      first = ids.find((s) => s.hostname === "h1")?.id as string;
      second = ids.find((s) => s.hostname === "h2")?.id as string;
    }, 300_000);
    afterAll(async () => {
      // the locked 0555 directory and 0000 files are removable as root; chmod for others
      execFileSync("chmod", ["-R", "u+rwX", tmp.dir]);
      await tmp.cleanup();
    });

    it("restores the second snapshot exactly like the source and like restic", async () => {
      const ours = path.join(tmp.dir, "ours");
      const theirs = path.join(tmp.dir, "theirs");
      const r = await cli(["restore", second, "--target", ours, "--verify"], env);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      restic(["restore", second, "--target", theirs]);
      const a = scan(path.join(theirs, "src"));
      const b = scan(path.join(ours, "src"));
      expect(compareTrees(a, b, { atime: true, rootMetadata: true })).toEqual([]);
      const diffs = compareTrees(scan(src), b);
      // restic 0.14 stores a symlink target that is not UTF-8 with U+FFFD for the bad bytes
      expect(diffs).toEqual(['"badlink": link target 74ff2fc3 != 74efbfbd2fefbfbd']);
    });

    it("restores the first snapshot like restic", async () => {
      const ours = path.join(tmp.dir, "ours1");
      const theirs = path.join(tmp.dir, "theirs1");
      expect((await cli(["restore", first, "--target", ours], env)).code).toBe(0);
      restic(["restore", first, "--target", theirs]);
      expect(compareTrees(scan(theirs), scan(ours), { atime: true })).toEqual([]);
    });

    it.each([
      [["--include", "*.txt"]],
      [["--include", "/src/links"]],
      [["--exclude", "*.bin", "--exclude", "deep"]],
      [["--iexclude", "SUB DIR", "--iexclude", "*.LOG"]],
      [["--iinclude", "LARGE.BIN", "--include", "sticky"]],
    ])("selects like restic with %j", async (flags) => {
      const tag = Math.random().toString(36).slice(2);
      const ours = path.join(tmp.dir, `ours-${tag}`);
      const theirs = path.join(tmp.dir, `theirs-${tag}`);
      expect((await cli(["restore", second, "--target", ours, ...flags], env)).code).toBe(0);
      restic(["restore", second, "--target", theirs, ...flags]);
      expect(compareTrees(scan(theirs), scan(ours), { atime: true })).toEqual([]);
    });

    it("restores a subfolder, and sparse files with holes", async () => {
      const full = path.join(tmp.dir, "full");
      const sub = path.join(tmp.dir, "sub");
      expect((await cli(["restore", second, "--target", full], env)).code).toBe(0);
      expect(
        (await cli(["restore", `${second}:src/sub dir`, "--target", sub, "--sparse"], env)).code,
      ).toBe(0);
      expect(compareTrees(scan(path.join(full, "src", "sub dir")), scan(sub))).toEqual([]);
      const sparse = path.join(tmp.dir, "sparse");
      const r = await cli(
        ["restore", second, "--target", sparse, "--sparse", "--include", "sparse.img"],
        env,
      );
      expect(r.code).toBe(0);
      const img = path.join(sparse, "src", "sparse.img");
      const st = fs.statSync(img);
      expect(st.size).toBe(40 * 1024 * 1024 + 4);
      expect(st.blocks * 512).toBeLessThan(4 * 1024 * 1024);
      expect(fs.readFileSync(img).equals(fs.readFileSync(path.join(src, "sparse.img")))).toBe(true);
    });

    const outputs: string[][] = [
      ["snapshots"],
      ["snapshots", "--json"],
      ["ls", "-l", "FIRST"],
      ["ls", "--json", "SECOND"],
      ["ls", "--recursive", "FIRST", "/src/links"],
      ["find", "-l", "*.txt", "link*"],
      ["--json", "find", "*i*"],
      ["find", "-i", "/SRC/DEEP/**/BOTTOM.TXT"],
      ["diff", "FIRST", "SECOND"],
      ["diff", "--metadata", "FIRST", "SECOND"],
      ["--json", "diff", "FIRST", "SECOND"],
      ["dump", "FIRST", "/src/large.bin"],
      ["dump", "FIRST", "/src/links"],
      ["dump", "FIRST", "/src"],
      ["dump", "SECOND", "/"],
      ["cat", "blob", "TREE"],
    ];

    it.each(outputs)("prints what restic prints: %s", async (...args) => {
      const tree = JSON.parse(restic(["cat", "snapshot", first]).toString()).tree as string;
      const a = (args as string[]).map((x) =>
        x === "FIRST" ? first : x === "SECOND" ? second : x === "TREE" ? tree : x,
      );
      const ours = await cli(a, env);
      expect(ours.stderr).toBe("");
      expect(ours.code).toBe(0);
      const theirs = restic(a);
      if (a.includes("find") && !a.includes("--json")) {
        // restic prints the snapshots in the order it loaded them: compare per snapshot
        const blocks = (b: Buffer) => b.toString("latin1").replace(/\n+$/, "").split("\n\n").sort();
        expect(blocks(ours.stdout)).toEqual(blocks(theirs));
      } else if (a.includes("find")) {
        const sorted = (b: Buffer) =>
          (JSON.parse(b.toString()) as { snapshot: string }[]).sort((x, y) =>
            x.snapshot < y.snapshot ? -1 : 1,
          );
        expect(sorted(ours.stdout)).toEqual(sorted(theirs));
      } else {
        expect(ours.stdout.equals(theirs)).toBe(true);
      }
    });
  },
);
