import { execFile } from "node:child_process";
import * as fs from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Handle } from "../../src/backends/backend.js";
import { DATA_SUBDIRS, REPO_DIRS } from "../../src/backends/layout.js";
import { LocalBackend } from "../../src/backends/local.js";
import { hasTool } from "../helpers/tools.js";
import {
  collect,
  describeBackend,
  expectCode,
  HOSTILE_NAMES,
  randomData,
  randomId,
} from "./suite.js";

const run = promisify(execFile);

async function tempBase(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), "restic-ts-local-"));
}

async function removeTree(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true });
}

describeBackend("local", async () => {
  const base = await tempBase();
  return { backend: new LocalBackend(path.join(base, "repo")), cleanup: () => removeTree(base) };
});

/** Every path below `dir` (relative, `/`-separated), directories marked with a trailing `/`. */
async function tree(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory()) out.push(`${p}/`, ...(await tree(dir, p)));
    else out.push(p);
  }
  return out.sort();
}

async function modeOf(p: string): Promise<number> {
  return (await fs.stat(p)).mode & 0o777;
}

/** The permission bits a new directory asked for with `mode` really gets under the umask. */
async function umasked(base: string, mode: number): Promise<number> {
  const probe = path.join(base, `umask-probe-${randomId().slice(0, 8)}`);
  await fs.mkdir(probe, { mode: 0o777 });
  const allowed = await modeOf(probe);
  await fs.rmdir(probe);
  return mode & allowed;
}

describe("LocalBackend on disk", () => {
  let base: string;
  let dir: string;
  let b: LocalBackend;

  beforeEach(async () => {
    base = await tempBase();
    dir = path.join(base, "repo");
    b = new LocalBackend(dir);
  });

  afterEach(async () => {
    await removeTree(base);
  });

  it("keeps the location as given and resolves the root", () => {
    const rel = new LocalBackend("some/relative/dir");
    expect(rel.location).toBe("some/relative/dir");
    expect(rel.root).toBe(path.resolve("some/relative/dir"));
    expect(() => new LocalBackend("")).toThrow();
  });

  it("create makes restic's tree: five type directories and data/00..ff, mode 0700", async () => {
    await b.create();
    const want = [...REPO_DIRS].map((d) => `${d}/`).sort();
    expect(await tree(dir)).toEqual(want);
    expect(want).toContain("data/00/");
    expect(want).toContain("data/ff/");
    expect(want.length).toBe(5 + 256);
    const dirMode = await umasked(base, 0o700);
    expect(await modeOf(dir)).toBe(dirMode);
    for (const d of REPO_DIRS) expect(await modeOf(path.join(dir, d))).toBe(dirMode);
    // Idempotent, also over a partly created tree.
    await fs.rmdir(path.join(dir, "data", "7c"));
    await fs.rmdir(path.join(dir, "locks"));
    await b.create();
    expect(await tree(dir)).toEqual(want);
  });

  it("stores files at restic's paths: config, keys/, locks/, snapshots/, index/, data/ab/ab…", async () => {
    await b.create();
    const id = (p = "") => randomId(p);
    const cases: [Handle, string][] = [];
    const pack = id("ab");
    cases.push([{ type: "data", name: pack }, `data/ab/${pack}`]);
    const pack0 = id("00");
    cases.push([{ type: "data", name: pack0 }, `data/00/${pack0}`]);
    for (const [type, d] of [
      ["key", "keys"],
      ["lock", "locks"],
      ["snapshot", "snapshots"],
      ["index", "index"],
    ] as const) {
      const name = id();
      cases.push([{ type, name }, `${d}/${name}`]);
    }
    cases.push([{ type: "config", name: "" }, "config"]);
    for (const [h, rel] of cases) {
      const data = randomData(33);
      await b.save(h, data);
      expect(b.pathOf(h)).toBe(path.join(dir, rel));
      expect(new Uint8Array(await fs.readFile(path.join(dir, rel)))).toEqual(data);
    }
    const files = (await tree(dir)).filter((p) => !p.endsWith("/"));
    expect(files).toEqual(cases.map(([, rel]) => rel).sort());
  });

  it("makes stored files read-only (0400), also when replacing one", async () => {
    await b.create();
    const h: Handle = { type: "snapshot", name: randomId() };
    await b.save(h, randomData(10));
    expect(await modeOf(b.pathOf(h))).toBe(0o400);
    await b.save(h, randomData(11));
    expect(await modeOf(b.pathOf(h))).toBe(0o400);
    await b.save({ type: "config", name: "" }, randomData(5));
    expect(await modeOf(path.join(dir, "config"))).toBe(0o400);
    await b.remove(h);
    await expectCode(b.stat(h), "NOT_FOUND");
  });

  it("uses group-shared modes (dirs 0770, files 0440) when the config is group-readable", async () => {
    await b.create();
    await b.save({ type: "config", name: "" }, randomData(5));
    await fs.chmod(path.join(dir, "config"), 0o440);
    await fs.rm(path.join(dir, "data", "cd"), { recursive: true });
    const shared = new LocalBackend(dir);
    const pack: Handle = { type: "data", name: randomId("cd") };
    await shared.save(pack, randomData(5));
    expect(await modeOf(shared.pathOf(pack))).toBe(0o440);
    expect(await modeOf(path.join(dir, "data", "cd"))).toBe(await umasked(base, 0o770));
  });

  it("never lists temp files of unfinished saves, junk, or misplaced files", async () => {
    await b.create();
    const key = randomId();
    const pack = randomId("ab");
    await b.save({ type: "key", name: key }, randomData(3));
    await b.save({ type: "data", name: pack }, randomData(4));
    await b.save({ type: "config", name: "" }, randomData(5));
    // What a crash in the middle of restic's or our save leaves behind.
    await fs.writeFile(path.join(dir, "keys", `${randomId()}-tmp-1234567`), "partial");
    await fs.writeFile(path.join(dir, "data", "ab", `${randomId("ab")}-tmp-99`), "partial");
    await fs.writeFile(path.join(dir, "config-tmp-42"), "partial");
    // Other junk: wrong names, a directory with an ID's name, a pack in the wrong subdirectory,
    // a stray directory in data/.
    await fs.writeFile(path.join(dir, "keys", "README"), "x");
    await fs.writeFile(path.join(dir, "keys", randomId().toUpperCase()), "x");
    await fs.mkdir(path.join(dir, "snapshots", randomId()));
    await fs.writeFile(path.join(dir, "data", "00", randomId("ab")), "misplaced");
    await fs.mkdir(path.join(dir, "data", "zz"));
    await fs.writeFile(path.join(dir, "data", "zz", randomId()), "x");
    await fs.writeFile(path.join(dir, "data", randomId()), "not in a subdirectory");
    expect(await collect(b.list("key"))).toEqual([{ name: key, size: 3 }]);
    expect(await collect(b.list("data"))).toEqual([{ name: pack, size: 4 }]);
    expect(await collect(b.list("config"))).toEqual([{ name: "", size: 5 }]);
    expect(await collect(b.list("snapshot"))).toEqual([]);
  });

  it("leaves no temp file behind when a save fails", async () => {
    await b.create();
    const h: Handle = { type: "data", name: randomId("ee") };
    // A directory in the way makes the final rename fail after the temp file was written.
    await fs.mkdir(b.pathOf(h));
    await fs.writeFile(path.join(b.pathOf(h), "x"), "x");
    await expectCode(b.save(h, randomData(100)), "IO");
    expect(await fs.readdir(path.join(dir, "data", "ee"))).toEqual([h.name]);
    await expectCode(b.load(h), "CORRUPT");
    await expectCode(b.stat(h), "CORRUPT");
  });

  it("recreates a missing data subdirectory on save", async () => {
    await b.create();
    await fs.rmdir(path.join(dir, "data", "5a"));
    const h: Handle = { type: "data", name: randomId("5a") };
    await b.save(h, randomData(9));
    expect((await b.stat(h)).size).toBe(9);
  });

  it("never touches anything outside the repository for hostile names", async () => {
    await b.create();
    const before = await tree(base);
    for (const name of HOSTILE_NAMES) {
      for (const type of ["data", "key", "snapshot"] as const) {
        await expectCode(b.save({ type, name }, randomData(1)), "INVALID_ARGUMENT");
        await expectCode(b.remove({ type, name }), "INVALID_ARGUMENT");
      }
    }
    expect(await tree(base)).toEqual(before);
  });

  it("tells whether the directory is empty", async () => {
    expect(await b.isEmpty()).toBe(true); // does not exist
    await fs.mkdir(dir);
    expect(await b.isEmpty()).toBe(true);
    await fs.writeFile(path.join(dir, "notes.txt"), "x");
    expect(await b.isEmpty()).toBe(false);
    const file = new LocalBackend(path.join(dir, "notes.txt"));
    expect(await file.isEmpty()).toBe(false);
    const fresh = new LocalBackend(path.join(base, "other"));
    await fresh.create();
    expect(await fresh.isEmpty()).toBe(false);
  });

  it("reports a file shorter than the range as CORRUPT", async () => {
    await b.create();
    const h: Handle = { type: "index", name: randomId() };
    await b.save(h, randomData(100));
    await fs.chmod(b.pathOf(h), 0o600);
    await fs.truncate(b.pathOf(h), 50);
    await expectCode(b.load(h, { offset: 40, length: 20 }), "CORRUPT");
    expect((await b.load(h, { offset: 40 })).length).toBe(10);
  });
});

// --- Interoperability with the real restic -------------------------------------------------

/** Runs where restic is installed; on CI (CI=true) a missing restic fails instead of skipping. */
const hasRestic = hasTool("restic");
const itRestic = it.runIf(hasRestic);

async function restic(repo: string, ...args: string[]): Promise<string> {
  if (!hasRestic) throw new Error("restic is not on PATH (required when CI=true)");
  const { stdout } = await run("restic", ["--repo", repo, "--no-cache", ...args], {
    env: { ...process.env, RESTIC_PASSWORD: "x" },
  });
  return stdout;
}

function lines(s: string): string[] {
  return s
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .sort();
}

describe("LocalBackend and restic 0.14", () => {
  let base: string;

  beforeEach(async () => {
    base = await tempBase();
  });

  afterEach(async () => {
    await removeTree(base);
  });

  itRestic("reads a repository made by restic init", async () => {
    const dir = path.join(base, "restic-repo");
    await restic(dir, "init");
    const b = new LocalBackend(dir);
    // The tree restic made is exactly the one our create() makes.
    const dirs = (await tree(dir)).filter((p) => p.endsWith("/")).map((p) => p.slice(0, -1));
    expect(dirs.sort()).toEqual([...REPO_DIRS].sort());
    const keyFiles = await fs.readdir(path.join(dir, "keys"));
    expect(keyFiles.length).toBe(1);
    const keys = await collect(b.list("key"));
    expect(keys.map((k) => k.name)).toEqual(keyFiles);
    const keyHandle: Handle = { type: "key", name: keyFiles[0] };
    const onDisk = await fs.readFile(path.join(dir, "keys", keyFiles[0]));
    expect(await b.stat(keyHandle)).toEqual({ name: keyFiles[0], size: onDisk.length });
    const key = await b.load(keyHandle);
    expect(Buffer.from(key).equals(onDisk)).toBe(true);
    expect(JSON.parse(new TextDecoder().decode(key)).kdf).toBe("scrypt");
    expect((await b.stat({ type: "config", name: "" })).size).toBeGreaterThan(0);
    expect(await b.isEmpty()).toBe(false);
    for (const t of ["data", "index", "snapshot", "lock"] as const) {
      expect(await collect(b.list(t))).toEqual([]);
    }
    // Our files have the modes restic gives its own.
    expect(await modeOf(path.join(dir, "keys", keyFiles[0]))).toBe(0o400);
    expect(await modeOf(path.join(dir, "config"))).toBe(0o400);
  });

  itRestic("lists the packs, indexes and snapshots restic backup wrote", async () => {
    const dir = path.join(base, "restic-repo");
    const src = path.join(base, "src");
    await fs.mkdir(src);
    for (let i = 0; i < 5; i++) await fs.writeFile(path.join(src, `f${i}`), randomData(50_000));
    await restic(dir, "init");
    await restic(dir, "backup", "--quiet", src);
    const b = new LocalBackend(dir);
    const names = async (t: "data" | "index" | "snapshot") =>
      (await collect(b.list(t))).map((f) => f.name).sort();
    expect(await names("data")).toEqual(lines(await restic(dir, "list", "packs")));
    expect(await names("index")).toEqual(lines(await restic(dir, "list", "index")));
    expect(await names("snapshot")).toEqual(lines(await restic(dir, "list", "snapshots")));
    for (const pack of await collect(b.list("data"))) {
      const p = path.join(dir, "data", pack.name.slice(0, 2), pack.name);
      const onDisk = await fs.readFile(p);
      expect(pack.size).toBe(onDisk.length);
      // The pack header length is the last 4 bytes.
      const tail = await b.load({ type: "data", name: pack.name }, { offset: pack.size - 4 });
      expect(Buffer.from(tail).equals(onDisk.subarray(onDisk.length - 4))).toBe(true);
    }
  });

  itRestic(
    "makes a repository restic can use: our create() and files saved through us",
    async () => {
      const theirs = path.join(base, "restic-repo");
      await restic(theirs, "init");
      const from = new LocalBackend(theirs);
      const ours = new LocalBackend(path.join(base, "our-repo"));
      await ours.create();
      const config = { type: "config", name: "" } as const;
      await ours.save(config, await from.load(config));
      for await (const k of from.list("key")) {
        const h: Handle = { type: "key", name: k.name };
        await ours.save(h, await from.load(h));
      }
      expect(lines(await restic(ours.location, "cat", "config")).length).toBeGreaterThan(0);
      const src = path.join(base, "src");
      await fs.mkdir(src);
      await fs.writeFile(path.join(src, "a"), randomData(10_000));
      await restic(ours.location, "backup", "--quiet", src);
      const packs = (await collect(ours.list("data"))).map((f) => f.name).sort();
      expect(packs.length).toBeGreaterThan(0);
      expect(packs).toEqual(lines(await restic(ours.location, "list", "packs")));
      await restic(ours.location, "check");
      // And restic finds no stray files of ours (temp files) in the tree.
      const files = (await tree(ours.root)).filter((p) => !p.endsWith("/"));
      expect(files.filter((f) => f.includes("-tmp-"))).toEqual([]);
      expect(DATA_SUBDIRS.length).toBe(256);
    },
  );
});
