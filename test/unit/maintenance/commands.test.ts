// The maintenance commands end to end on small repositories written by the test builder
// (local directories, fast key derivation): output shapes, flags, exit codes, effects.

import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../../src/backends/local.js";
import { checkRepository } from "../../../src/repo/checker.js";
import type { Id } from "../../../src/repo/id.js";
import { Repository } from "../../../src/repo/repository.js";
import { loadSnapshot } from "../../../src/repo/snapshots.js";
import { changeTags } from "../../../src/repo/tag.js";
import { tempDir } from "../../helpers/tmp.js";
import { addSnapshot, bytes, FAST_KDF, PASSWORD, readTree } from "./build.js";
import { cli } from "./helpers.js";

const env = { RESTIC_PASSWORD: PASSWORD };

async function makeRepo(dir: string, version = 2): Promise<{ repo: Repository; ids: Id[] }> {
  const repo = await Repository.init(new LocalBackend(dir), PASSWORD, { version, kdf: FAST_KDF });
  const ids: Id[] = [];
  const shared = bytes(9, 4000);
  for (let i = 0; i < 4; i++) {
    ids.push(
      await addSnapshot(
        repo,
        { [`f${i}`]: bytes(i, 3000), shared, sub: { same: "same", [`g${i}`]: `v${i}` } },
        {
          time: `2022-01-0${i + 1}T10:00:00Z`,
          host: i < 3 ? "one" : "two",
          tags: i === 1 ? ["t1", "t2"] : undefined,
        },
      ),
    );
  }
  return { repo, ids };
}

describe("maintenance commands", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let n = 0;
  const fresh = async (version = 2) => {
    const dir = path.join(tmp.dir, `r${++n}`);
    return { dir, ...(await makeRepo(dir, version)) };
  };
  beforeAll(async () => {
    tmp = await tempDir("restic-ts-maint-cmd-");
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  it("forget --dry-run --json lists groups with keep/remove/reasons; nothing is removed", async () => {
    const { dir, ids } = await fresh();
    const out = await cli(["-r", dir, "--json", "forget", "--dry-run", "--keep-last", "1"], env);
    expect(out.stderr).toBe("");
    const groups = JSON.parse(out.stdout);
    expect(groups).toHaveLength(2);
    const one = groups.find((g: { host: string }) => g.host === "one");
    expect(one).toMatchObject({ tags: null, paths: ["/data"] });
    expect(one.keep.map((s: { id: string }) => s.id)).toEqual([ids[2]]);
    expect(one.keep[0].short_id).toBe(ids[2].slice(0, 8));
    expect(one.remove.map((s: { id: string }) => s.id)).toEqual([ids[1], ids[0]]);
    expect(one.reasons).toEqual([
      expect.objectContaining({ matches: ["last snapshot"], counters: {} }),
    ]);
    expect(one.reasons[0].snapshot.id).toBeUndefined();
    expect((await readdirIds(dir, "snapshots")).sort()).toEqual([...ids].sort());
  });

  it("forget removes explicit IDs; --no-lock needs --dry-run; bad flags are fatal", async () => {
    const { dir, ids } = await fresh();
    const out = await cli(["-r", dir, "forget", ids[0].slice(0, 10), ids[1]], env);
    expect(out.code).toBe(0);
    expect((await readdirIds(dir, "snapshots")).sort()).toEqual([ids[2], ids[3]].sort());
    const noLock = await cli(["-r", dir, "--no-lock", "forget", "--keep-last", "1"], env);
    expect(noLock.code).toBe(1);
    expect(noLock.stderr).toMatch("--no-lock is only applicable in combination with --dry-run");
    const bad = await cli(["-r", dir, "forget", "--keep-within", "3w"], env);
    expect(bad.stderr).toMatch(/invalid unit "w"/);
    const badUnused = await cli(
      ["-r", dir, "forget", "--keep-last", "1", "--max-unused", "150%"],
      env,
    );
    expect(badUnused.stderr).toMatch("percentage for --max-unused must be below 100%");
  });

  it("forget --prune: kept snapshots intact, check clean, data of the others gone", async () => {
    const { dir, repo, ids } = await fresh();
    const sizeBefore = await packBytes(dir);
    const out = await cli(
      ["-r", dir, "forget", "--keep-last", "1", "--group-by", "", "--prune", "--max-unused", "0"],
      env,
    );
    expect(out.stderr).toBe("");
    expect(out.stdout).toMatch(/^Applying Policy: keep 1 latest snapshots\nkeep 1 snapshots:\n/);
    expect(out.stdout).toMatch(
      /3 snapshots have been removed, running prune\nloading indexes\.\.\./,
    );
    expect(out.stdout).toMatch(/\ndone\n$/);
    expect(await readdirIds(dir, "snapshots")).toEqual([ids[3]]);
    expect(await packBytes(dir)).toBeLessThan(sizeBefore);
    const report = await checkRepository(await Repository.open(new LocalBackend(dir), PASSWORD), {
      readData: true,
    });
    expect(report.findings).toEqual([]);
    const sn = await loadSnapshot(repo, ids[3]);
    expect((await readTree(repo, sn.tree as Id)).get("/f3")).toEqual(Buffer.from(bytes(3, 3000)));
  });

  it("prune --dry-run -v prints the statistics and the packs it would touch", async () => {
    const { dir, ids } = await fresh();
    await rm(path.join(dir, "snapshots", ids[0]));
    const out = await cli(["-r", dir, "prune", "--dry-run", "-v"], env);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/\nused: +\d+ blobs \/ [\d.]+ KiB\n/);
    expect(out.stdout).toMatch(/\nunused size after prune: .* of remaining size\)\n\n/);
    expect(out.stdout).toMatch(/Would have repacked and removed the following packs:\n\{.*\}\n\n/);
    expect(out.stdout).not.toMatch(/^done$/m);
    const quiet = await cli(["-r", dir, "-q", "prune", "--dry-run"], env);
    expect(quiet.stdout).toBe("");
  });

  it("stats: the four modes on known content", async () => {
    const { dir } = await fresh();
    const run = async (...args: string[]) =>
      JSON.parse((await cli(["-r", dir, "--json", "stats", ...args], env)).stdout);
    // per snapshot: f<i> (3000), shared (4000), sub (dir), sub/same (4), sub/g<i> (2)
    expect(await run()).toEqual({
      total_size: 4 * (3000 + 4000 + 4 + 2),
      total_file_count: 4 * 5,
      snapshots_count: 4,
    });
    const byContents = await run("--mode", "files-by-contents");
    // 4 f<i>, shared, same, 4 g<i>, and one for the content-less directory
    expect(byContents).toEqual({
      total_size: 4 * 3000 + 4000 + 4 + 4 * 2,
      total_file_count: 11,
      snapshots_count: 4,
    });
    const raw = await run("--mode", "raw-data", "latest");
    expect(raw.snapshots_count).toBe(1);
    expect(raw.total_blob_count).toBe(3 + 4 + 1 + 1 + 2); // f3, shared, same, g3, 2 trees
    const text = await cli(["-r", dir, "stats", "--mode", "blobs-per-file", "--host", "two"], env);
    expect(text.stdout).toMatch(
      /^scanning\.\.\.\nStats in blobs-per-file mode:\nSnapshots processed: {3}1\n {3}Total Blob Count: {3}9\n {3}Total File Count: {3}4\n {9}Total Size: {3}[\d.]+ KiB\n$/,
    );
    const bad = await cli(["-r", dir, "stats", "--mode", "nope"], env);
    expect(bad.stderr).toMatch("unknown counting mode: nope");
  });

  it("tag: --add/--remove/--set, original kept, old file removed", async () => {
    const { dir, ids } = await fresh();
    const out = await cli(["-r", dir, "tag", "--add", "x", "--remove", "t1", ids[1]], env);
    expect(out.stdout).toBe("create exclusive lock for repository\nmodified tags on 1 snapshots\n");
    const snaps = await readdirIds(dir, "snapshots");
    expect(snaps).not.toContain(ids[1]);
    const repo = await Repository.open(new LocalBackend(dir), PASSWORD);
    const changed = (
      await Promise.all(snaps.map(async (id) => ({ id, sn: await loadSnapshot(repo, id) })))
    ).find((e) => e.sn.original === ids[1]);
    expect(changed?.sn.tags).toEqual(["x", "t2"]);
    const none = await cli(["-r", dir, "tag", "--add", "x", "--host", "nohost"], env);
    expect(none.stdout).toMatch("no snapshots were modified");
    const both = await cli(["-r", dir, "tag", "--set", "a", "--add", "b"], env);
    expect(both.stderr).toMatch("--set and --add/--remove cannot be given at the same time");
    expect((await cli(["-r", dir, "tag"], env)).stderr).toMatch("nothing to do!");
  });

  it("changeTags follows restic (remove swaps in the last tag; --set '' is a no-op)", () => {
    const sn = {
      time: "2022-01-01T00:00:00Z",
      tree: "a".repeat(64),
      paths: ["/"],
      hostname: "h",
      username: "",
      uid: 0,
      gid: 0,
      tags: ["a", "b", "c"],
    };
    expect(changeTags(sn, { remove: ["a"] })?.tags).toEqual(["c", "b"]);
    expect(changeTags(sn, { add: ["a"] })).toBeUndefined();
    expect(changeTags(sn, { set: ["z"] })?.tags).toEqual(["z"]);
    expect(changeTags(sn, { set: [] })).toBeUndefined();
  });

  it("copy between our repositories, by env vars; a second copy skips; data deduplicated", async () => {
    const { dir: src, ids } = await fresh(1);
    const dst = path.join(tmp.dir, `dst${++n}`);
    await Repository.init(new LocalBackend(dst), "dst-pw", { kdf: FAST_KDF });
    const pwFile = path.join(tmp.dir, "src-pw");
    await writeFile(pwFile, `${PASSWORD}\n`);
    const copyEnv = {
      RESTIC_PASSWORD: "dst-pw",
      RESTIC_FROM_REPOSITORY: src,
      RESTIC_FROM_PASSWORD_FILE: pwFile,
    };
    const out = await cli(["-r", dst, "copy", ids[0], ids[1]], copyEnv);
    expect(out.stderr).toBe("");
    expect(out.stdout.match(/ saved$/gm)).toHaveLength(2);
    const all = await cli(["-r", dst, "copy"], copyEnv);
    expect(all.stdout.match(/skipping source snapshot/g)).toHaveLength(2);
    expect(all.stdout.match(/ saved$/gm)).toHaveLength(2);
    const repo = await Repository.open(new LocalBackend(dst), "dst-pw");
    expect((await checkRepository(repo, { readData: true })).findings).toEqual([]);
    const srcRepo = await Repository.open(new LocalBackend(src), PASSWORD);
    for (const id of await repo.listIds("snapshot")) {
      const sn = await loadSnapshot(repo, id);
      expect(sn.parent).toBeUndefined();
      const orig = await loadSnapshot(srcRepo, sn.original as Id);
      expect(sn.tree).toBe(orig.tree);
      expect(await readTree(repo, sn.tree as Id)).toEqual(await readTree(srcRepo, orig.tree as Id));
    }
    // every blob was copied exactly once
    const index = (await repo.loadIndex()).index;
    expect(index.size).toBe((await srcRepo.loadIndex()).index.size);
    const missing = await cli(["-r", dst, "copy"], { RESTIC_PASSWORD: "dst-pw" });
    expect(missing.stderr).toMatch("Please specify a source repository location");
  });

  it("rebuild-index: from pack headers; a damaged pack is left out and reported", async () => {
    const { dir } = await fresh();
    for (const id of await readdirIds(dir, "index")) await rm(path.join(dir, "index", id));
    const out = await cli(["-r", dir, "-v", "rebuild-index"], env);
    expect(out.code).toBe(0);
    expect(out.stderr).toMatch(/adding pack file to index [0-9a-f]{64}/);
    const repo = await Repository.open(new LocalBackend(dir), PASSWORD);
    expect((await checkRepository(repo, { readData: true })).findings).toEqual([]);
    // a pack whose header cannot be read
    const packs = await repo.listIds("data");
    const victim = path.join(dir, "data", packs[0].slice(0, 2), packs[0]);
    const bytesOf = await readFile(victim);
    await rm(victim, { force: true });
    await writeFile(victim, bytesOf.subarray(0, bytesOf.length - 3));
    const again = await cli(["-r", dir, "-v", "rebuild-index", "--read-all-packs"], env);
    expect(again.stdout).toMatch(`skipped incomplete pack file: ${packs[0]}`);
    expect(await readdirIds(dir, "index")).toHaveLength(1);
  });

  it("--tag '' chooses the snapshots without tags in every command, as restic 0.14 does", async () => {
    // restic 0.14 (checked by hand): `snapshots --tag ''` lists only untagged snapshots,
    // `--tag 't1,'` none (the empty entry needs a snapshot without tags), `--tag ' t1 , t2 '`
    // the one carrying both, and `ls latest --tag ''` the newest untagged one
    const { dir, ids } = await fresh();
    const untagged = [ids[0], ids[2], ids[3]];
    const listed = async (...filter: string[]) => {
      const out = await cli(["-r", dir, "--json", "snapshots", ...filter], env);
      expect(out.stderr).toBe("");
      return JSON.parse(out.stdout).map((s: { id: string }) => s.id);
    };
    expect(await listed("--tag", "")).toEqual(untagged);
    expect(await listed("--tag", ",")).toEqual(untagged);
    expect(await listed("--tag", "t1,")).toEqual([]);
    expect(await listed("--tag", " t1 , t2 ")).toEqual([ids[1]]);
    expect(await listed("--tag", "", "--tag", "t2")).toEqual(ids);
    const ls = await cli(["-r", dir, "--json", "ls", "latest", "--tag", ""], env);
    expect(JSON.parse(ls.stdout.split("\n")[0]).id).toBe(ids[3]);
    const lsTagged = await cli(["-r", dir, "--json", "ls", "latest", "--tag", "t1"], env);
    expect(JSON.parse(lsTagged.stdout.split("\n")[0]).id).toBe(ids[1]);
    const found = await cli(["-r", dir, "--json", "find", "--tag", "", "f1", "f2"], env);
    expect(JSON.parse(found.stdout).map((m: { snapshot: string }) => m.snapshot)).toEqual([ids[2]]);
    const forget = await cli(
      ["-r", dir, "--json", "forget", "--dry-run", "--tag", "", "--keep-last", "9"],
      env,
    );
    const kept = JSON.parse(forget.stdout).flatMap((g: { keep: { id: string }[] }) =>
      g.keep.map((k) => k.id),
    );
    expect(kept.sort()).toEqual([...untagged].sort());
    const stats = await cli(["-r", dir, "--json", "stats", "--tag", ""], env);
    expect(JSON.parse(stats.stdout.split("\n").at(-2) as string).snapshots_count).toBe(3);
  });

  it("check --json: one object per finding and a summary; exit 1 on errors", async () => {
    const { dir, repo } = await fresh();
    // a pack of data blobs (a tree pack would also leave trees missing)
    const entries = [...(await repo.loadIndex()).index.entries()];
    const dataPack = entries.find((e) => e.type === "data")?.packId as Id;
    await rm(path.join(dir, "data", dataPack.slice(0, 2), dataPack));
    const out = await cli(["-r", dir, "--json", "check"], env);
    expect(out.code).toBe(1);
    const lines = out.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({
      message_type: "error",
      kind: "pack-missing",
      pack_id: dataPack,
    });
    expect(lines.at(-1)).toMatchObject({ message_type: "summary", num_errors: 1, snapshots: 4 });
    const subset = await cli(["-r", dir, "check", "--read-data-subset", "0/3"], env);
    expect(subset.stderr).toMatch("values must be positive integers, and n <= t");
    const both = await cli(["-r", dir, "check", "--read-data", "--read-data-subset", "5%"], env);
    expect(both.stderr).toMatch("cannot be used together");
  });
});

async function readdirIds(dir: string, sub: string): Promise<string[]> {
  const { readdir } = await import("node:fs/promises");
  if (sub !== "data") return (await readdir(path.join(dir, sub))).filter((f) => f.length === 64);
  const out: string[] = [];
  for (const d of await readdir(path.join(dir, "data"))) {
    for (const f of await readdir(path.join(dir, "data", d))) out.push(f);
  }
  return out.sort();
}

async function packBytes(dir: string): Promise<number> {
  const { stat } = await import("node:fs/promises");
  let total = 0;
  for (const id of await readdirIds(dir, "data")) {
    total += (await stat(path.join(dir, "data", id.slice(0, 2), id))).size;
  }
  return total;
}
