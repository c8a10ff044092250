import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runCli } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/tmp.js";

const cli = (args: string[], env: Record<string, string> = {}, stdinText?: string) =>
  runCli(args, env, stdinText);

describe("CLI", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it("init, cat config, key add/list/remove, list keys", async () => {
    const repo = path.join(tmp.dir, "repo");
    const env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: "pw1" };
    const init = await cli(["init", "--repository-version", "1"], env);
    expect(init.stderr).toBe("");
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/^created restic repository [0-9a-f]{10} at /);

    const cfg = JSON.parse((await cli(["cat", "config"], env)).stdout);
    expect(cfg.version).toBe(1);
    expect(cfg.chunker_polynomial).toMatch(/^[0-9a-f]+$/);

    const pwFile = path.join(tmp.dir, "pw2");
    await writeFile(pwFile, "pw2\n");
    const add = await cli(
      ["key", "add", "--new-password-file", pwFile, "--user", "alice", "--host", "box"],
      env,
    );
    expect(add.code).toBe(0);
    const newId = /saved new key as ([0-9a-f]{64})/.exec(add.stdout)?.[1];
    expect(newId).toBeDefined();

    const list = await cli(["key", "list", "--json"], {
      RESTIC_REPOSITORY: repo,
      RESTIC_PASSWORD_FILE: pwFile,
    });
    const keys = JSON.parse(list.stdout) as {
      current: boolean;
      id: string;
      userName: string;
      hostName: string;
    }[];
    expect(keys).toHaveLength(2);
    expect(keys.find((k) => k.current)).toMatchObject({
      id: newId?.slice(0, 8),
      userName: "alice",
      hostName: "box",
    });

    const table = await cli(["-r", repo, "key", "list"], { RESTIC_PASSWORD: "pw1" });
    expect(table.stdout.split("\n")[0]).toMatch(/^ ID\s+User\s+Host\s+Created$/);
    expect(table.stdout).toContain(
      `*${(await cli(["list", "keys"], env)).stdout
        .split("\n")
        .find((id) => id !== newId)
        ?.slice(0, 8)}`,
    );

    const removeSelf = await cli(["key", "remove", newId!.slice(0, 8)], {
      RESTIC_REPOSITORY: repo,
      RESTIC_PASSWORD: "pw2",
    });
    expect(removeSelf.code).toBe(1);
    expect(removeSelf.stderr).toMatch(/refusing to remove the key currently used/);
    const remove = await cli(["key", "remove", newId!.slice(0, 8)], env);
    expect(remove.code).toBe(0);
    expect((await cli(["list", "keys"], env)).stdout.trim().split("\n")).toHaveLength(1);
  });

  it("takes the password from the URL, and never prints it", async () => {
    const repo = path.join(tmp.dir, "repo");
    const url = `file://${repo}?password=hunter2`;
    expect((await cli(["init", "-r", url])).code).toBe(0);
    const wrong = await cli(["cat", "config", "-r", `file://${repo}?password=hunter3`]);
    expect(wrong.code).toBe(12);
    expect(wrong.stderr).toMatch(/wrong password/);
    expect(wrong.stderr + wrong.stdout).not.toContain("hunter");
    const bad = await cli(["cat", "config", "-r", `file://${repo}?password=hunter2&x=1`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).not.toContain("hunter2");
  });

  it("reads the password from standard input when it is not a terminal", async () => {
    const repo = path.join(tmp.dir, "repo");
    expect((await cli(["init", "-r", repo], {}, "stdinpw\n")).code).toBe(0);
    expect((await cli(["cat", "config", "-r", repo], {}, "stdinpw\n")).code).toBe(0);
  });

  it("exit codes and messages for bad input", async () => {
    const repo = path.join(tmp.dir, "repo");
    const none = await cli(["cat", "config", "-r", repo, "--password-file", "/nonexistent/pw"]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/password file \/nonexistent\/pw cannot be read/);
    const noRepo = await cli(["cat", "config", "-r", repo], { RESTIC_PASSWORD: "x" });
    expect(noRepo.code).toBe(10);
    expect(noRepo.stderr).toMatch(/there is no repository/);
    const empty = await cli(["init", "-r", repo], { RESTIC_PASSWORD: "" });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/empty password/);
    await mkdir(path.join(tmp.dir, "full"));
    await writeFile(path.join(tmp.dir, "full", "file"), "x");
    const notEmpty = await cli(["init", "-r", path.join(tmp.dir, "full")], {
      RESTIC_PASSWORD: "x",
    });
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.stderr).toMatch(/not empty/);
    const badVersion = await cli(["init", "-r", repo, "--repository-version", "3"], {
      RESTIC_PASSWORD: "x",
    });
    expect(badVersion.stderr).toMatch(/unsupported repository version 3/);
    const unknown = await cli(["frobnicate"]);
    expect(unknown.code).toBe(1);
    const badFlag = await cli(["init", "--bogus"], {
      RESTIC_PASSWORD: "x",
      RESTIC_REPOSITORY: repo,
    });
    expect(badFlag.code).toBe(1);
    expect(badFlag.stderr).toMatch(/bogus/);
  });
});
