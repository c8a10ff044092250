// The reading commands run in-process on copies of the restic-made fixture repositories; where
// restic is installed, each output is compared byte for byte with restic 0.14's.

import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../../src/backends/local.js";
import { Repository } from "../../../src/repo/repository.js";
import { runCli } from "../../helpers/cli.js";
import { copyFixture, tempDir } from "../../helpers/tmp.js";
import { hasTool } from "../../helpers/tools.js";

async function cli(args: string[], env: Record<string, string>) {
  const r = await runCli(args, env);
  return { code: r.code, stdout: r.bytes, stderr: r.stderr };
}

const withRestic = hasTool("restic");

describe.each(["v1", "v2"])("reading commands on fixture %s", (v) => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let env: Record<string, string>;
  let repo: string;
  let snapshotId: string;
  beforeAll(async () => {
    tmp = await tempDir();
    repo = await copyFixture(`repos/${v}`, path.join(tmp.dir, "repo"));
    const opened = await Repository.open(new LocalBackend(repo), "fixture-password-1");
    snapshotId = (await opened.listIds("snapshot"))[0];
    // a cheap key (both programs honour each key file's own scrypt parameters), named by a
    // key hint so each command runs scrypt once
    const fastKey = await opened.addKey("fast-password", { kdf: { N: 1024, r: 8, p: 1 } });
    env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: "fast-password", RESTIC_KEY_HINT: fastKey };
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  const restic = (args: string[]): Buffer =>
    execFileSync("restic", ["--no-cache", ...args], {
      env: { ...process.env, ...env },
      maxBuffer: 1 << 28,
    });

  const same = [
    ["snapshots"],
    ["snapshots", "--json"],
    ["snapshots", "--host", "fixture-host", "--tag", "fixture"],
    ["snapshots", "--host", "nobody", "--json"],
    ["snapshots", "--tag", ""],
    ["snapshots", "--tag", " fixture ", "--json"],
    ["snapshots", "-g", "tags", "--json"],
    ["ls", "latest"],
    ["ls", "-l", "latest"],
    ["ls", "--json", "latest"],
    ["ls", "latest", "/dir"],
    ["ls", "--recursive", "latest", "/dir"],
    ["find", "*.txt"],
    ["find", "-l", "/dir/*"],
    ["--json", "find", "*.txt", "link"],
    ["find", "nothing-matches"],
    ["--json", "find", "nothing-matches"],
    ["dump", "latest", "/dir/sub/numbers.txt"],
    ["dump", "latest", "/"],
    ["dump", "latest", "/dir"],
    ["diff", "latest", "latest"],
    ["--json", "diff", "latest", "latest"],
  ];

  it.runIf(withRestic).each(same)("prints what restic prints for %s", async (...args) => {
    const a = args as string[];
    // restic 0.14's diff takes no "latest": give it the ID
    const ra = a.map((x) => (a.includes("diff") && x === "latest" ? snapshotId : x));
    const ours = await cli(ra, env);
    expect(ours.stderr).toBe("");
    expect(ours.code).toBe(0);
    expect(ours.stdout.toString("latin1")).toBe(restic(ra).toString("latin1"));
  });

  it("cats blobs and trees", async () => {
    const sn = JSON.parse((await cli(["snapshots", "--json"], env)).stdout.toString())[0];
    const tree = (await cli(["cat", "tree", sn.tree], env)).stdout.toString();
    expect(tree.endsWith("}\n")).toBe(true);
    const nodes = JSON.parse(tree).nodes as { name: string; content?: string[] }[];
    expect(nodes.map((n) => n.name)).toEqual(["dir", "empty", "hello.txt"]);
    expect((await cli(["cat", "tree", `${sn.short_id}:dir`], env)).stdout.toString()).toMatch(
      /"name":"aaa.txt"/,
    );
    expect((await cli(["cat", "tree", "latest"], env)).stdout.toString()).toBe(tree);
    const hello = nodes[2].content?.[0] as string;
    expect((await cli(["cat", "blob", hello], env)).stdout.toString()).toBe("hello restic\n");
    expect((await cli(["cat", "blob", sn.tree], env)).stdout.toString()).toBe(tree);
    const missing = await cli(["cat", "blob", "00".repeat(32)], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/blob not found/);
    if (withRestic) {
      expect((await cli(["cat", "blob", hello], env)).stdout).toEqual(
        restic(["cat", "blob", hello]),
      );
    }
  });

  it("reports dump errors as restic does (exit code 2)", async () => {
    for (const [p, msg] of [
      ["/nope", 'path "/nope" not found in snapshot'],
      ["/hello.txt/x", '"/hello.txt" should be a dir, but is a "file"'],
      ["/dir/link", '"/dir/link" should be a file, but is a "symlink"'],
    ]) {
      const r = await cli(["dump", "latest", p], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(`cannot dump file: ${msg}\n`);
    }
    const zip = await cli(["dump", "--archive", "zip", "latest", "/"], env);
    expect(zip.code).toBe(1);
  });

  it("restores with text and JSON output", async () => {
    const target = path.join(tmp.dir, `t-${Math.random()}`);
    const text = await cli(["restore", "latest", "--target", target, "--verify"], env);
    expect(text.stderr).toBe("");
    const lines = text.stdout.toString().split("\n");
    expect(lines[0]).toMatch(
      /^restoring <Snapshot [0-9a-f]{8} of \[.*\] at 2021-05-06 07:08:09 \+0000 UTC by .*@fixture-host> to /,
    );
    expect(lines[1]).toBe(`verifying files in ${target}`);
    expect(lines[2]).toMatch(/^finished verifying 4 files in .* \(took \d+(\.\d+)?m?s\)$/);
    expect(lines[3]).toBe("Summary: Restored 4 Files (399.323 KiB) in 0:00");
    expect(fs.readFileSync(path.join(target, "hello.txt"), "utf8")).toBe("hello restic\n");
    const target2 = path.join(tmp.dir, `j-${Math.random()}`);
    const json = await cli(["--json", "restore", "latest:dir", "--target", target2], env);
    const msgs = json.stdout
      .toString()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(msgs.at(-1)).toEqual({
      message_type: "summary",
      total_files: 2,
      files_restored: 2,
      total_bytes: 408894,
      bytes_restored: 408894,
    });
    expect(fs.readdirSync(target2).sort()).toEqual(["aaa.txt", "link", "sub"]);
    const noTarget = await cli(["restore", "latest"], env);
    expect(noTarget.code).toBe(1);
    expect(noTarget.stderr).toMatch(/please specify a directory to restore to/);
    const both = await cli(["restore", "latest", "-t", target2, "-i", "a", "-e", "b"], env);
    expect(both.stderr).toMatch(/mutually exclusive/);
  });
});
