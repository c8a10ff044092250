// The repository opening main.ts begins before a command's modules load (src/cli/command.ts
// beginEarlyOpening): only for a local repository whose password needs no prompt, used by
// openRepository only for the same repository, password and key hint, and silent on errors.

import path from "node:path";
import { PassThrough } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { beginEarlyOpening, CommandContext, type FlagValues } from "../../../src/cli/command.js";
import type { CliIo } from "../../../src/cli/io.js";
import { runCli } from "../../helpers/cli.js";
import { tempDir } from "../../helpers/tmp.js";

function fakeIo(env: Record<string, string>): CliIo & { stdinRead: () => boolean } {
  const stdin = new PassThrough();
  let read = false;
  stdin.on("resume", () => {
    read = true;
  });
  return {
    env,
    stdin,
    stdinRead: () => read,
    write: () => {},
    writeBytes: () => {},
    error: () => {},
  };
}

describe("early repository opening", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let repo: string;
  beforeEach(async () => {
    tmp = await tempDir();
    repo = path.join(tmp.dir, "repo");
    expect((await runCli(["init"], { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: "pw" })).code).toBe(
      0,
    );
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it("begins for a local repository with a password, listing its key files", async () => {
    const early = await beginEarlyOpening(fakeIo({ RESTIC_PASSWORD: "pw" }), { repo });
    expect(early).toBeDefined();
    expect(early?.password).toBe("pw");
    const keys = await early?.keys;
    expect(keys?.ids).toHaveLength(1);
    expect((await keys?.first)?.userKey).toBeDefined();
  });

  it("does not begin without a password (no prompt), for remote repositories, or on errors", async () => {
    const io = fakeIo({});
    expect(await beginEarlyOpening(io, { repo })).toBeUndefined();
    expect(io.stdinRead()).toBe(false);
    const env = { RESTIC_PASSWORD: "pw" };
    expect(await beginEarlyOpening(fakeIo(env), { repo: "rest:http://127.0.0.1:1/" })).toBe(
      undefined,
    );
    expect(await beginEarlyOpening(fakeIo(env), { repo: "sftp:u@h:/r" })).toBeUndefined();
    expect(await beginEarlyOpening(fakeIo(env), {})).toBeUndefined();
    const missing = { "password-file": path.join(tmp.dir, "none") };
    expect(await beginEarlyOpening(fakeIo({}), { repo, ...missing })).toBeUndefined();
  });

  it("is used only for the same repository and password", async () => {
    const wrong = beginEarlyOpening(fakeIo({ RESTIC_PASSWORD: "wrong" }), { repo });
    const global: FlagValues = { repo };
    const ctx = new CommandContext(fakeIo({ RESTIC_PASSWORD: "pw" }), global, wrong);
    expect((await ctx.openRepository()).config.version).toBe(2);

    const other = path.join(tmp.dir, "other");
    const elsewhere = beginEarlyOpening(fakeIo({ RESTIC_PASSWORD: "pw" }), { repo: other });
    const ctx2 = new CommandContext(fakeIo({ RESTIC_PASSWORD: "pw" }), global, elsewhere);
    expect((await ctx2.openRepository()).config.version).toBe(2);

    const same = beginEarlyOpening(fakeIo({ RESTIC_PASSWORD: "wrong" }), { repo });
    const ctx3 = new CommandContext(fakeIo({ RESTIC_PASSWORD: "wrong" }), global, same);
    await expect(ctx3.openRepository()).rejects.toMatchObject({ code: "WRONG_PASSWORD" });
  });

  it("leaves the command's errors as they were", async () => {
    const env = { RESTIC_REPOSITORY: repo, RESTIC_PASSWORD: "pw" };
    const missing = await runCli(["snapshots"], { ...env, RESTIC_REPOSITORY: `${repo}-none` });
    expect(missing.code).toBe(10);
    expect(missing.stderr).toMatch(/^Fatal: there is no repository at /);
    const wrong = await runCli(["snapshots"], { ...env, RESTIC_PASSWORD: "nope" });
    expect(wrong.code).toBe(12);
    const badArgs = await runCli(["restore"], env);
    expect(badArgs.stderr).toBe("Fatal: no snapshot ID specified\n");
    const badFlag = await runCli(["snapshots", "--no-such-flag"], env);
    expect(badFlag.code).toBe(1);
    expect(await runCli(["snapshots"], env)).toMatchObject({ code: 0, stdout: "", stderr: "" });
  });
});
