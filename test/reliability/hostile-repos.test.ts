// The hostile fixture repositories (fixtures/hostile/, see make.sh and MANIFEST.json) against
// restore (library and CLI) and check (library and CLI, with and without --read-data). Each is
// refused with a coded error naming the problem, and nothing is written outside the restore
// target: every test restores into a sandbox (repository copy, a directory "outside" with a
// sentinel, the target) and compares everything around the target before and after, and /tmp
// for the file the absolute symlink would plant. The real restic confirms each fixture is
// broken the way the MANIFEST says (as recorded in <case>.restic.txt by make.sh).

import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.js";
import { open } from "../../src/crypto/master-key.js";
import { isResticTsError, ResticTsError } from "../../src/errors.js";
import { type CheckReport, checkRepository } from "../../src/repo/checker.js";
import { decompress } from "../../src/repo/compression.js";
import { goQuote } from "../../src/repo/gostring.js";
import type { Id } from "../../src/repo/id.js";
import type { IndexedRepository } from "../../src/repo/indexed.js";
import { Repository } from "../../src/repo/repository.js";
import { restoreTree } from "../../src/repo/restorer.js";
import { loadSnapshot } from "../../src/repo/snapshots.js";
import { parseTree } from "../../src/repo/tree.js";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";
import type { HostileCase } from "./hostile-make.js";
import { HOSTILE_NAMES } from "./hostile-make.js";

const FIXTURES = path.join(import.meta.dirname, "..", "..", "fixtures", "hostile");
const manifest = JSON.parse(fs.readFileSync(path.join(FIXTURES, "MANIFEST.json"), "utf8")) as {
  password: string;
  absoluteLinkTarget: string;
  planted: string;
  /** Per case, as make.sh wrote it: plus the exit statuses of restic's check (--read-data). */
  cases: Record<string, HostileCase & { restic: { check: number; readData: number } }>;
};
const PLANTED = path.join(manifest.absoluteLinkTarget, manifest.planted);
const haveRestic = hasTool("restic");
const run = promisify(execFile);

// --- the sandbox ------------------------------------------------------------------------------

/** Every entry below `dir` (not following links) with its type, size, mode and content hash. */
function scan(dir: string, skip: (p: string) => boolean): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d)) {
      const p = path.join(d, name);
      if (skip(p)) continue;
      const st = fs.lstatSync(p);
      const meta = `${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`;
      if (st.isSymbolicLink()) out[p] = `link ${fs.readlinkSync(p)}`;
      else if (st.isDirectory()) {
        out[p] = `dir ${meta}`;
        walk(p);
      } else {
        out[p] = `file ${meta} ${createHash("sha256").update(fs.readFileSync(p)).digest("hex")}`;
      }
    }
  };
  walk(dir);
  return out;
}

interface Sandbox {
  readonly dir: string;
  readonly repoDir: string;
  readonly target: string;
  readonly env: Record<string, string>;
  open(): Promise<{ repo: Repository; indexed: IndexedRepository }>;
  treeOf(snapshot: string): Promise<Id>;
}

let sandbox: Sandbox;
let tmp: { dir: string; cleanup(): Promise<void> };
let before: Record<string, string>;
// the repository's locks/ changes while the CLI holds a lock; everything else must not
const notTarget = (p: string) =>
  p === sandbox.target || p.startsWith(`${sandbox.target}/`) || p.endsWith("/locks");

async function makeSandbox(name: string): Promise<Sandbox> {
  tmp = await tempDir("restic-ts-hostile-");
  const repoDir = path.join(tmp.dir, "repo");
  fs.cpSync(path.join(FIXTURES, name), repoDir, { recursive: true });
  // git keeps no empty directories: locks/ appears with the first lock, before the scan
  fs.mkdirSync(path.join(repoDir, "locks"), { recursive: true });
  fs.mkdirSync(path.join(tmp.dir, "outside"));
  fs.writeFileSync(path.join(tmp.dir, "outside", "sentinel"), "untouched");
  const s: Sandbox = {
    dir: tmp.dir,
    repoDir,
    target: path.join(tmp.dir, "target"),
    env: { RESTIC_REPOSITORY: repoDir, RESTIC_PASSWORD: manifest.password },
    async open() {
      const repo = await Repository.open(new LocalBackend(repoDir), manifest.password);
      return { repo, indexed: await repo.loadIndex() };
    },
    async treeOf(snapshot: string) {
      const { repo } = await s.open();
      const sn = await loadSnapshot(repo, manifest.cases[name].snapshots[snapshot]);
      return sn.tree as Id;
    },
  };
  return s;
}

function useCase(name: string): void {
  beforeEach(async () => {
    sandbox = await makeSandbox(name);
    before = scan(sandbox.dir, notTarget);
    expect(fs.existsSync(PLANTED)).toBe(false);
  });
  afterEach(async () => {
    // nothing outside the target changed, nothing was planted through an absolute link
    expect(scan(sandbox.dir, notTarget)).toEqual(before);
    expect(fs.existsSync(PLANTED)).toBe(false);
    await tmp.cleanup();
  });
}

/** All files below the target with their content. */
function targetFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(sandbox.target)) return out;
  for (const [p, kind] of Object.entries(scan(sandbox.target, () => false))) {
    if (kind.startsWith("file")) out[path.relative(sandbox.target, p)] = fs.readFileSync(p, "utf8");
  }
  return out;
}

/** Restore with per-node errors collected (library); returns them as code + message. */
async function restoreCollecting(tree: Id): Promise<string[]> {
  const { indexed } = await sandbox.open();
  const errors: string[] = [];
  await restoreTree(indexed, tree, {
    target: sandbox.target,
    onError: (location, err) => {
      expect(err).toBeInstanceOf(ResticTsError);
      errors.push(`${location}: ${(err as ResticTsError).code} ${(err as Error).message}`);
    },
  });
  return errors.sort();
}

async function check(readData: boolean): Promise<CheckReport> {
  const { repo } = await sandbox.open();
  return checkRepository(repo, { readData, readThreads: 0 });
}

/** Every finding's message and details, one line each. */
const lines = (r: CheckReport) =>
  r.findings.flatMap((f) => [
    `${f.kind}: ${f.message}`,
    ...(f.details ?? []).map((d) => `${f.kind}: ${d}`),
  ]);

async function cli(args: string[]) {
  return runCli(args, sandbox.env);
}

/** Exit statuses restic gave (as recorded by make.sh) for `check` and `check --read-data`. */
function recordedRestic(name: string): { check: number; readData: number; text: string } {
  const text = fs.readFileSync(path.join(FIXTURES, `${name}.restic.txt`), "utf8");
  const codes = [...text.matchAll(/^exit status (\d+)$/gm)].map((m) => Number(m[1]));
  return { check: codes[0], readData: codes[1], text };
}

/** Run the real restic's check on the sandbox's copy; its exit status and output. */
async function resticCheck(args: string[] = []): Promise<{ code: number; out: string }> {
  try {
    const r = await run("restic", ["--no-cache", "-r", sandbox.repoDir, "check", ...args], {
      env: { ...process.env, RESTIC_PASSWORD: manifest.password },
    });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

// --- the cases --------------------------------------------------------------------------------

describe("traversal-names: names that would leave the target", () => {
  useCase("traversal-names");
  const snaps = manifest.cases["traversal-names"].snapshots;

  it.each(Object.keys(HOSTILE_NAMES))(
    "refuses the %s name (library and CLI), writing nothing",
    async (kind) => {
      const bad = HOSTILE_NAMES[kind];
      const { indexed } = await sandbox.open();
      // one level down and at the snapshot's root
      for (const snap of [kind, `${kind}-root`]) {
        const err = await restoreTree(indexed, await sandbox.treeOf(snap), {
          target: sandbox.target,
          onError: () => {},
        }).catch((e: unknown) => e);
        expect(isResticTsError(err, "HOSTILE_PATH")).toBe(true);
        expect((err as Error).message).toBe(`refusing node name ${goQuote(bad)}`);
        expect(fs.readdirSync(sandbox.target)).toEqual([]); // refused while planning
      }
      const r = await cli(["restore", snaps[kind], "--target", sandbox.target]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`Fatal: refusing node name ${goQuote(bad)}`);
      expect(fs.readdirSync(sandbox.target)).toEqual([]);
    },
  );

  it("check reports every hostile name (restic 0.14 only the empty one)", async () => {
    const report = await check(false);
    const text = lines(report).join("\n");
    for (const bad of Object.values(HOSTILE_NAMES)) {
      expect(text).toContain(
        bad === ""
          ? "node with empty name"
          : `node ${goQuote(bad)} has a name that would leave the restore target`,
      );
    }
    expect(report.errors).toBe(Object.keys(HOSTILE_NAMES).length); // one tree each
    const r = await cli(["check"]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(
      'node "a/b" has a name that would leave the restore target',
    );
    expect(r.stderr).toContain("Fatal: repository contains errors");
    const restic = recordedRestic("traversal-names");
    expect([restic.check, restic.readData]).toEqual([1, 1]);
    expect(restic.text).toContain("node with empty name");
  });
});

describe("symlink-parent: a symlink, then a directory of the same name", () => {
  useCase("symlink-parent");
  const snaps = manifest.cases["symlink-parent"].snapshots;

  it.each(["absolute", "relative"])(
    "refuses the %s link as a parent (library and CLI)",
    async (kind) => {
      const tree = await sandbox.treeOf(kind);
      const { indexed } = await sandbox.open();
      await expect(restoreTree(indexed, tree, { target: sandbox.target })).rejects.toMatchObject({
        code: "HOSTILE_PATH",
        message: `tree ${tree.slice(0, 8)} names "escape" twice (below "/")`,
      });
      expect(fs.readdirSync(sandbox.target)).toEqual([]);
      const r = await cli(["restore", snaps[kind], "--target", sandbox.target]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/Fatal: tree [0-9a-f]{8} names "escape" twice/);
      expect(fs.readdirSync(sandbox.target)).toEqual([]);
    },
  );

  it("check reports the name twice; restic 0.14 finds nothing wrong", async () => {
    const text = lines(await check(false)).join("\n");
    const ids = manifest.cases["symlink-parent"].ids;
    for (const t of [ids.absoluteRoot, ids.relativeRoot]) {
      expect(text).toContain(`tree ${t}: node "escape" appears twice`);
    }
    const r = await cli(["check", "--read-data"]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(`tree ${ids.absoluteRoot}: node "escape" appears twice`);
    expect(recordedRestic("symlink-parent")).toMatchObject({ check: 0, readData: 0 });
  });
});

describe("tree-loop: trees that contain themselves (forged IDs)", () => {
  useCase("tree-loop");
  const { ids, snapshots } = manifest.cases["tree-loop"];

  it("restore refuses the forged tree by its hash, library and CLI", async () => {
    for (const [kind, forged, at] of [
      ["self", ids.selfLoop, "/start"],
      ["ancestor", ids.ancestorChild, "/child"],
    ]) {
      const tree = await sandbox.treeOf(kind);
      const { indexed } = await sandbox.open();
      await expect(restoreTree(indexed, tree, { target: sandbox.target })).rejects.toMatchObject({
        code: "CORRUPT",
        message: expect.stringContaining(`tree blob ${forged} in pack`),
      });
      const r = await cli(["restore", snapshots[kind], "--target", sandbox.target]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`ignoring error for ${at}: tree blob ${forged}`);
      expect(r.stderr).toContain("does not match its ID (SHA-256)");
      expect(targetFiles()).toEqual({}); // at most the empty directory of the forged tree
    }
  });

  it("with the hash check bypassed, the loop itself is refused as HOSTILE_PATH", async () => {
    const { repo, indexed } = await sandbox.open();
    // a loader that trusts the IDs the index gives: what a tree cycle would need
    indexed.loadTree = async (id: Id) => {
      const loc = indexed.index.lookup("tree", id)[0];
      const sealed = await repo.backend.load(
        { type: "data", name: loc.packId },
        { offset: loc.offset, length: loc.length },
      );
      const plain = open(repo.masterKey, sealed);
      return parseTree(
        loc.uncompressedLength === undefined
          ? plain
          : await decompress(plain, loc.uncompressedLength, loc.uncompressedLength),
      );
    };
    for (const kind of ["self", "ancestor"]) {
      await expect(
        restoreTree(indexed, await sandbox.treeOf(kind), { target: sandbox.target }),
      ).rejects.toMatchObject({
        code: "HOSTILE_PATH",
        message: expect.stringMatching(/contains itself \(a cycle in the snapshot's trees\)/),
      });
    }
    expect(fs.readdirSync(sandbox.target)).toEqual([]);
  });

  it("check reports both forged trees, as restic does", async () => {
    const report = await check(false);
    const loads = report.findings.filter((f) => f.kind === "tree-load");
    expect(loads.map((f) => f.treeId).sort()).toEqual([ids.selfLoop, ids.ancestorChild].sort());
    for (const f of loads) expect(f.details?.join()).toMatch(/does not match its ID/);
    const r = await cli(["check"]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(`tree blob ${ids.selfLoop}`);
    const restic = recordedRestic("tree-loop");
    expect([restic.check, restic.readData]).toEqual([1, 1]);
    for (const id of [ids.selfLoop, ids.ancestorChild]) {
      expect(restic.text).toContain(`blob ${id} returned invalid hash`);
    }
  });
});

describe("data-hash-mismatch: data blobs that do not hash to their ID", () => {
  useCase("data-hash-mismatch");
  const { ids, snapshots } = manifest.cases["data-hash-mismatch"];

  it("restore refuses both liars (plain and zstd), restores the honest file, writes no forged byte", async () => {
    const errors = await restoreCollecting(await sandbox.treeOf("mismatch"));
    expect(errors).toEqual([
      `/liar-plain.txt: CORRUPT data blob ${ids.plainLie} does not match its ID (SHA-256)`,
      `/liar-zstd.txt: CORRUPT data blob ${ids.zstdLie} does not match its ID (SHA-256)`,
    ]);
    const files = targetFiles();
    expect(files["honest.txt"]).toBe("an honest file\n");
    expect(Object.values(files).join()).not.toContain("something else entirely");
    fs.rmSync(sandbox.target, { recursive: true });
    const r = await cli(["restore", snapshots.mismatch, "--target", sandbox.target]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ignoring error for /liar-plain.txt: data blob ${ids.plainLie}`);
    expect(r.stderr).toContain(`ignoring error for /liar-zstd.txt: data blob ${ids.zstdLie}`);
    expect(r.stderr).toContain("Fatal: There were 2 errors");
    expect(Object.values(targetFiles()).join()).not.toContain("something else entirely");
  });

  it("only check --read-data finds them, as with restic", async () => {
    expect((await check(false)).errors).toBe(0);
    const report = await check(true);
    const text = lines(report).join("\n");
    for (const id of [ids.plainLie, ids.zstdLie]) {
      expect(text).toContain(`blob: blob ${id}: read blob data/${id.slice(0, 8)} from`);
    }
    expect(text).toContain("wrong data returned, hash is");
    expect(report.errors).toBe(1); // one pack, two blobs
    expect((await cli(["check"])).code).toBe(0);
    const r = await cli(["check", "--read-data"]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(`blob ${ids.zstdLie}: read blob`);
    expect(recordedRestic("data-hash-mismatch")).toMatchObject({ check: 0, readData: 1 });
  });
});

describe("pack-header-lies: headers that disagree with the index", () => {
  useCase("pack-header-lies");
  const { ids } = manifest.cases["pack-header-lies"];

  it("restore reads through the index and is not misled", async () => {
    expect(await restoreCollecting(await sandbox.treeOf("lies"))).toEqual([]);
    expect(targetFiles()).toEqual({
      "first.txt": "first blob of the swapped pack: a bit longer than the second\n",
      "second.txt": "second blob\n",
      "third.txt": "the only blob of a pack whose header overstates its length\n",
    });
  });

  it("check finds both lying headers even without --read-data (restic only with it)", async () => {
    for (const readData of [false, true]) {
      const report = await check(readData);
      const packs = new Set(
        report.findings.filter((f) => f.severity === "error").map((f) => f.packId),
      );
      expect(packs).toEqual(new Set([ids.swappedPack, ids.overlongPack]));
    }
    const r = await cli(["check"]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(
      `pack ${ids.swappedPack}: header does not match the index`,
    );
    const restic = recordedRestic("pack-header-lies");
    expect([restic.check, restic.readData]).toEqual([0, 1]);
    expect(restic.text).toContain(`pack ${ids.swappedPack} contains 2 errors`);
    expect(restic.text).toContain(`pack ${ids.overlongPack} contains 1 errors`);
  });
});

describe("index-past-end: an index placing blobs beyond their pack", () => {
  useCase("index-past-end");
  const { ids, snapshots } = manifest.cases["index-past-end"];

  it("restore refuses both misplaced blobs with coded errors, restores the rest", async () => {
    const errors = await restoreCollecting(await sandbox.treeOf("past-end"));
    const short = `CORRUPT pack ${ids.pack.slice(0, 10)}: short read`;
    expect(errors).toEqual([`/beyond.txt: ${short}`, `/straddle.txt: ${short}`]);
    expect(targetFiles()["good.txt"]).toBe("a blob the index places correctly\n");
    const r = await cli(["restore", snapshots["past-end"], "--target", sandbox.target]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("Fatal: There were 2 errors");
  });

  it("check reports the pack's size against the index, as restic does", async () => {
    const report = await check(false);
    const size = report.findings.filter((f) => f.kind === "pack-size");
    expect(size.map((f) => f.packId)).toEqual([ids.pack]);
    // read-data names both misplaced blobs
    const text = lines(await check(true)).join("\n");
    for (const id of [ids.beyond, ids.straddle]) {
      expect(text).toContain(`blob ${id}: lies beyond the end of the pack file`);
    }
    const r = await cli(["check", "--read-data"]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain(
      `blob ${ids.beyond}: lies beyond the end of the pack file`,
    );
    const restic = recordedRestic("index-past-end");
    expect([restic.check, restic.readData]).toEqual([1, 1]);
    expect(restic.text).toContain(`pack ${ids.pack}: unexpected file size`);
  });
});

describe("index-absurd-length: an index claiming 3.5 GB for a blob of 960 bytes", () => {
  useCase("index-absurd-length");
  const { ids, snapshots } = manifest.cases["index-absurd-length"];

  it("restore refuses the claim without allocating for it, restores the rest", async () => {
    const before = process.memoryUsage().arrayBuffers;
    const errors = await restoreCollecting(await sandbox.treeOf("absurd"));
    // buffers sized from the claim would show here (they are not collected this soon)
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(256 * 1024 * 1024);
    expect(errors).toEqual([
      `/claimed-huge.txt: CORRUPT data blob ${ids.small}: the index gives it 3500000000 bytes, more than a blob can have (536870912)`,
    ]);
    expect(targetFiles()["honest.txt"]).toBe("an honest neighbour\n");
    const r = await cli(["restore", snapshots.absurd, "--target", sandbox.target]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ignoring error for /claimed-huge.txt: data blob ${ids.small}`);
    expect(r.stderr).toContain("Fatal: There were 1 errors");
  });

  it("check compares the header with the index and names the blob; restic only with --read-data", async () => {
    for (const readData of [false, true]) {
      const report = await check(readData);
      expect(report.errors).toBeGreaterThan(0);
      expect(lines(report).join("\n")).toContain(`Blob ${ids.small} is not contained in index`);
    }
    expect((await cli(["check", "--read-data"])).code).toBe(1);
    const restic = recordedRestic("index-absurd-length");
    expect([restic.check, restic.readData]).toEqual([0, 1]);
    expect(restic.text).toContain(
      `Blob ${ids.small} is not contained in index or position is incorrect`,
    );
  });
});

// --- the real restic, on the checked-in fixtures ----------------------------------------------

describe.runIf(haveRestic)("real restic agrees with the recorded outputs", () => {
  // --read-data only where plain check passes (index-past-end's read-data retries for ~45 s)
  const cases: [string, boolean][] = [
    ...Object.keys(manifest.cases).map((c): [string, boolean] => [c, false]),
    ["data-hash-mismatch", true],
    ["pack-header-lies", true],
    ["index-absurd-length", true],
  ];
  for (const [name, readData] of cases) {
    describe(name, () => {
      useCase(name);
      it(`restic check${readData ? " --read-data" : ""}`, async () => {
        const r = await resticCheck(readData ? ["--read-data"] : []);
        const recorded = manifest.cases[name].restic;
        expect(recordedRestic(name)).toMatchObject(recorded);
        expect(r.code).toBe(readData ? recorded.readData : recorded.check);
        if (r.code !== 0) expect(r.out).toContain("Fatal: repository contains errors");
      });
    });
  }
});
