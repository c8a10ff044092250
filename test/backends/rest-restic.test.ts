// The REST backend and the real restic 0.14 on one `rclone serve restic` on loopback
// (test/helpers/rest-server.ts): restic reads a repository we made over REST, and we read one
// restic made and backed up to over REST — with basic auth on the way.

import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RestBackend } from "../../src/backends/rest.js";
import { withRetry } from "../../src/backends/retry.js";
import { Repository } from "../../src/repo/repository.js";
import { type RestServer, startRestServer } from "../helpers/rest-server.js";
import { restic } from "../helpers/restic.js";
import { tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";
import { collect, randomData } from "./suite.js";

const haveTools = hasTool("rclone") && hasTool("restic");
const FAST_KDF = { N: 1024, r: 8, p: 1 };

describe.runIf(haveTools)("rest and restic 0.14", () => {
  let srv: RestServer;
  let tmp: { dir: string; cleanup(): Promise<void> };
  beforeAll(async () => {
    srv = await startRestServer({ user: "bob", pass: "p:w@d" });
    tmp = await tempDir();
  });
  afterAll(async () => {
    await srv?.stop();
    await tmp?.cleanup();
  });

  const resticRest = async (name: string, args: string[]) =>
    (await restic(`rest:${srv.repoUrl(name)}`, "pw", args)).stdout;

  it("restic reads a repository we initialised over rest", async () => {
    const b = new RestBackend({ url: srv.repoUrl("ours") });
    try {
      const repo = await Repository.init(b, "pw", { kdf: FAST_KDF });
      const config = JSON.parse(await resticRest("ours", ["cat", "config"]));
      expect(config.id).toBe(repo.config.id);
      const keys = JSON.parse(await resticRest("ours", ["key", "list", "--json"]));
      expect(keys.map((k: { id: string }) => k.id)).toEqual([repo.keyId.slice(0, 8)]);
      await resticRest("ours", ["check"]);
    } finally {
      await b.close();
    }
  });

  it("we read a repository restic made and backed up to over rest", async () => {
    const src = path.join(tmp.dir, "src");
    await mkdir(src);
    for (let i = 0; i < 3; i++) await writeFile(path.join(src, `f${i}`), randomData(300_000));
    await resticRest("theirs", ["init"]);
    await resticRest("theirs", ["backup", "--quiet", src]);
    const b = withRetry(new RestBackend({ url: srv.repoUrl("theirs") }));
    try {
      const repo = await Repository.open(b, "pw");
      const snapshots = await repo.listIds("snapshot");
      const theirs = JSON.parse(await resticRest("theirs", ["snapshots", "--json"]));
      expect(snapshots).toEqual(theirs.map((s: { id: string }) => s.id));
      const packs = (await collect(b.list("data"))).map((f) => f.name).sort();
      const theirPacks = (await resticRest("theirs", ["list", "packs"])).trim().split("\n").sort();
      expect(packs).toEqual(theirPacks);
      for (const p of await collect(b.list("data"))) {
        const tail = await b.load({ type: "data", name: p.name }, { offset: p.size - 4 });
        expect(tail.length).toBe(4);
      }
    } finally {
      await b.close();
    }
  });
});
