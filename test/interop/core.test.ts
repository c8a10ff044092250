// Interop of the repository core with the real restic 0.14: fixture repositories restic made
// open with each password; restic opens repositories we init and keys we add, we open keys
// restic adds to ours.

import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.js";
import { Repository } from "../../src/repo/repository.js";
import { runCli } from "../helpers/cli.js";
import { restic } from "../helpers/restic.js";
import { copyFixture, tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";

const PW1 = "fixture-password-1";
const PW2 = "fixture-password-2";
const haveRestic = hasTool("restic");

describe("fixture repositories made by restic 0.14", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it.each([1, 2])("v%i opens with each password and reads its snapshot and index", async (v) => {
    const dir = await copyFixture(`repos/v${v}`, path.join(tmp.dir, "repo"));
    const backend = new LocalBackend(dir);
    const a = await Repository.open(backend, PW1);
    const b = await Repository.open(backend, PW2);
    expect(a.config.version).toBe(v);
    expect(b.config).toEqual(a.config);
    expect(a.keyId).not.toBe(b.keyId);
    expect(b.masterKey).toEqual(a.masterKey);
    const keys = await a.listKeys();
    expect(keys.find((k) => k.id === b.keyId)).toMatchObject({
      username: "fixture",
      hostname: "fixture-host",
    });

    const [snapId] = await a.listIds("snapshot");
    const snapshot = JSON.parse(new TextDecoder().decode(await a.loadUnpacked("snapshot", snapId)));
    expect(snapshot).toMatchObject({ hostname: "fixture-host", tags: ["fixture"] });
    expect(snapshot.tree).toMatch(/^[0-9a-f]{64}$/);
    const [indexId] = await a.listIds("index");
    const index = JSON.parse(new TextDecoder().decode(await a.loadUnpacked("index", indexId)));
    const blobs = index.packs.flatMap((p: { blobs: { id: string }[] }) => p.blobs.map((x) => x.id));
    expect(blobs).toContain(snapshot.tree);
    await expect(Repository.open(backend, "not-the-password")).rejects.toMatchObject({
      code: "WRONG_PASSWORD",
    });
  });
});

describe.runIf(haveRestic)("list blobs", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it.each([1, 2])("prints the v%i fixture's index entries as restic does", async (v) => {
    const dir = await copyFixture(`repos/v${v}`, path.join(tmp.dir, "repo"));
    const lines = (text: string) => text.trim().split("\n").sort();
    const theirs = lines((await restic(dir, PW1, ["list", "blobs"])).stdout);
    const ours = await runCli(["-r", dir, "list", "blobs"], { RESTIC_PASSWORD: PW1 });
    expect(ours.code, ours.stderr).toBe(0);
    expect(theirs.length).toBeGreaterThan(2);
    expect(lines(ours.stdout)).toEqual(theirs);
  });
});

describe.runIf(haveRestic)("restic reads what we write", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  beforeEach(async () => {
    tmp = await tempDir();
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it.each([1, 2])(
    "restic opens a v%i repository we init, and its key list shows our keys",
    async (v) => {
      const dir = path.join(tmp.dir, "repo");
      const repo = await Repository.init(new LocalBackend(dir), "ours", {
        version: v,
        username: "u",
        hostname: "h",
      });
      const cfg = JSON.parse((await restic(dir, "ours", ["cat", "config"])).stdout);
      expect(cfg).toEqual({
        version: v,
        id: repo.config.id,
        chunker_polynomial: repo.config.chunkerPolynomial.toString(16),
      });
      const second = await repo.addKey("second", { username: "alice", hostname: "box" });
      const keys = JSON.parse((await restic(dir, "second", ["key", "list", "--json"])).stdout);
      expect(keys).toHaveLength(2);
      expect(keys.find((k: { current: boolean }) => k.current)).toMatchObject({
        id: second.slice(0, 8),
        userName: "alice",
        hostName: "box",
      });
      const master = JSON.parse((await restic(dir, "ours", ["cat", "masterkey"])).stdout);
      expect(master).toEqual({
        mac: {
          k: Buffer.from(repo.masterKey.macK).toString("base64"),
          r: Buffer.from(repo.masterKey.macR).toString("base64"),
        },
        encrypt: Buffer.from(repo.masterKey.encrypt).toString("base64"),
      });
      // restic can write into it: a backup succeeds and its snapshot is readable by us.
      const src = path.join(tmp.dir, "src");
      await copyFixture("repos/source", src);
      await restic(dir, "ours", ["backup", "-q", "."], { cwd: src });
      const reopened = await Repository.open(new LocalBackend(dir), "ours");
      const [snapId] = await reopened.listIds("snapshot");
      expect(
        JSON.parse(new TextDecoder().decode(await reopened.loadUnpacked("snapshot", snapId))).paths,
      ).toEqual([src]);
      await restic(dir, "ours", ["check", "--read-data"]);
    },
  );

  it("we open a key file restic adds to our repository, with restic's own scrypt parameters", async () => {
    const dir = path.join(tmp.dir, "repo");
    const repo = await Repository.init(new LocalBackend(dir), "ours");
    const pwFile = path.join(tmp.dir, "pw");
    await writeFile(pwFile, "theirs\n");
    const out = await restic(dir, "ours", ["key", "add", "--new-password-file", pwFile]);
    const id =
      /saved new key as <Key of [^,]*, created on [^>]*>|saved new key as ([0-9a-f]+)/.exec(
        out.stdout,
      );
    expect(id).not.toBeNull();
    const viaTheirs = await Repository.open(new LocalBackend(dir), "theirs");
    expect(viaTheirs.keyId).not.toBe(repo.keyId);
    expect(viaTheirs.masterKey).toEqual(repo.masterKey);
    // restic's passwd replaces our key; we follow.
    await writeFile(pwFile, "rotated\n");
    await restic(dir, "theirs", ["key", "passwd", "--new-password-file", pwFile]);
    await expect(Repository.open(new LocalBackend(dir), "theirs")).rejects.toMatchObject({
      code: "WRONG_PASSWORD",
    });
    expect((await Repository.open(new LocalBackend(dir), "rotated")).config).toEqual(repo.config);
  });
});
