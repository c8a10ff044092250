// Maintenance commands against the real restic 0.14: forget prints what restic prints and
// removes what restic removes; after our forget --prune restic's check --read-data passes and
// the kept snapshots list identically; after restic's prune of a repository we wrote, our check
// --read-data passes; stats agree; copy and tag interoperate; locks are honoured both ways; the
// snapshot filters (--host/--tag/--path) and grouping choose what restic's choose.

import { spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../src/backends/local.js";
import { checkRepository } from "../../src/repo/checker.js";
import { listLocks, withLock } from "../../src/repo/lock.js";
import { executePrune, loadIndexForPrune, planPrune } from "../../src/repo/prune.js";
import { Repository } from "../../src/repo/repository.js";
import { listSnapshots } from "../../src/repo/snapshots.js";
import { restic } from "../helpers/restic.js";
import { tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";
import { CrashingBackend } from "../unit/maintenance/build.js";
import { cli } from "../unit/maintenance/helpers.js";
import { copyRepo, listAll, makeResticRepo, RESTIC_PW } from "../unit/maintenance/restic-repos.js";

const env = { RESTIC_PASSWORD: RESTIC_PW };

/** Split `forget -v` output into its parts: the policy line, each group (sorted), the rest. */
function forgetParts(out: string): string[] {
  const lines = out.split("\n");
  const parts: string[] = [];
  let cur: string[] = [];
  for (const l of lines) {
    if (l.startsWith("snapshots for (") || l.startsWith("Would have removed")) {
      parts.push(cur.join("\n"));
      cur = [];
    }
    cur.push(l);
  }
  parts.push(cur.join("\n"));
  const [head, ...rest] = parts;
  const tail = rest.at(-1)?.startsWith("Would have") ? (rest.pop() as string) : "";
  return [head, ...rest.sort(), tail];
}

interface JsonGroup {
  host: string;
  paths: string[] | null;
  tags: string[] | null;
}
const sortGroups = (groups: JsonGroup[]) =>
  [...groups].sort((a, b) =>
    JSON.stringify([a.host, a.paths, a.tags]) < JSON.stringify([b.host, b.paths, b.tags]) ? -1 : 1,
  );

describe.runIf(hasTool("restic"))("maintenance interop with restic", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let base: string;
  let n = 0;
  const fresh = () => copyRepo(base, path.join(tmp.dir, `repo-${++n}`));

  beforeAll(async () => {
    tmp = await tempDir("restic-ts-maint-");
    base = path.join(tmp.dir, "base");
    await makeResticRepo(tmp.dir, base);
  }, 120_000);
  afterAll(async () => {
    await tmp.cleanup();
  });

  const POLICIES = [
    ["--keep-last", "2"],
    ["--keep-daily", "2", "--keep-monthly", "1", "--keep-tag", "keep", "--keep-within", "3d"],
    ["--keep-hourly", "3", "--keep-weekly", "2", "--keep-yearly", "1"],
    ["--keep-within-daily", "7d", "--keep-within-monthly", "1y", "--group-by", "host"],
    ["--keep-last", "1", "--group-by", "tags", "--tag", "daily"],
    ["--keep-last", "1", "--tag", ""],
    ["--keep-last", "1", "--tag", "keep", "--tag", "daily"],
    ["--keep-last", "1", "--tag", "keep,daily"],
    ["--keep-tag", "daily,keep", "--keep-within-hourly", "1m2d", "--host", "alpha"],
    ["--keep-last", "2", "--compact", "--group-by", "paths"],
  ];

  it("forget --dry-run prints and decides what restic does (text and JSON)", async () => {
    for (const policy of POLICIES) {
      const args = ["forget", "--dry-run", "-v", ...policy];
      const theirs = await restic(base, RESTIC_PW, args);
      const ours = await cli(["-r", base, ...args], env);
      expect(ours.stderr).toBe("");
      expect(forgetParts(ours.stdout), policy.join(" ")).toEqual(forgetParts(theirs.stdout));
      const jsonArgs = ["--json", "forget", "--dry-run", ...policy];
      const theirJson = JSON.parse((await restic(base, RESTIC_PW, jsonArgs)).stdout);
      const ourJson = JSON.parse((await cli(["-r", base, ...jsonArgs], env)).stdout);
      expect(sortGroups(ourJson), policy.join(" ")).toEqual(sortGroups(theirJson));
    }
  });

  it("after our forget --prune, restic check --read-data passes and kept snapshots list the same", async () => {
    const repo = await fresh();
    const before = await listAll(repo);
    const out = await cli(
      [
        "-r",
        repo,
        "forget",
        "--keep-last",
        "1",
        "--keep-tag",
        "keep",
        "--prune",
        "--max-unused",
        "0",
      ],
      env,
    );
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(
      /repacking packs\nrebuilding index\ndeleting obsolete index files\n/,
    );
    await restic(repo, RESTIC_PW, ["check", "--read-data"]);
    const after = await listAll(repo);
    expect(after.size).toBe(4);
    for (const [id, listing] of after) expect(listing).toBe(before.get(id));
    // restic finds nothing left to prune
    const again = await restic(repo, RESTIC_PW, ["prune", "--dry-run", "--max-unused", "0"]);
    expect(again.stdout).toMatch(/to repack: +0 blobs/);
    expect(again.stdout).toMatch(/to delete: +0 blobs/);
  });

  it("after restic forget + prune on a repository we wrote (copy), our check --read-data passes", async () => {
    const dst = path.join(tmp.dir, `ours-${++n}`);
    await restic(dst, RESTIC_PW, ["init", "-q"]);
    const copied = await cli(["-r", dst, "copy", "--from-repo", base], {
      ...env,
      RESTIC_FROM_PASSWORD: RESTIC_PW,
    });
    expect(copied.stderr).toBe("");
    await restic(dst, RESTIC_PW, ["check", "--read-data"]);
    await restic(dst, RESTIC_PW, ["forget", "--keep-last", "2", "--prune", "--max-unused", "0"]);
    const check = await cli(["-r", dst, "check", "--read-data"], env);
    expect(check.stderr).toBe("");
    expect(check.code).toBe(0);
    // and our prune of what restic left, checked by restic again
    await cli(["-r", dst, "forget", "--keep-last", "1", "--prune", "--max-unused", "0"], env);
    await restic(dst, RESTIC_PW, ["check", "--read-data"]);
  });

  it("copy: restic reads the copies, identical listings; neither tool copies twice", async () => {
    const dst = path.join(tmp.dir, `copy-${++n}`);
    await restic(dst, "other-pw", ["init", "-q", "--repository-version", "1"]);
    const copyEnv = { RESTIC_PASSWORD: "other-pw", RESTIC_FROM_PASSWORD: RESTIC_PW };
    const first = await cli(["-r", dst, "copy", "--from-repo", base, "--host", "beta"], copyEnv);
    expect(first.code).toBe(0);
    expect(first.stdout.match(/ saved$/gm)).toHaveLength(3);
    await restic(dst, "other-pw", ["check", "--read-data"]);
    const src = await listAll(base);
    const copies = JSON.parse((await restic(dst, "other-pw", ["snapshots", "--json"])).stdout) as {
      id: string;
      original: string;
      parent?: string;
    }[];
    expect(copies).toHaveLength(3);
    for (const c of copies) {
      expect(c.parent).toBeUndefined();
      const listing = (await restic(dst, "other-pw", ["ls", "-l", c.id])).stdout;
      expect(listing.split("\n").slice(1).join("\n")).toBe(src.get(c.original));
    }
    const second = await cli(["-r", dst, "copy", "--from-repo", base, "--host", "beta"], copyEnv);
    expect(second.stdout.match(/skipping source snapshot/g)).toHaveLength(3);
    const theirs = await restic(dst, "other-pw", ["copy", "--from-repo", base, "--host", "beta"], {
      env: { RESTIC_FROM_PASSWORD: RESTIC_PW },
    });
    expect(theirs.stdout.match(/skipping source snapshot/g)).toHaveLength(3);
    // the rest, copied by restic, is skipped by us
    await restic(dst, "other-pw", ["copy", "--from-repo", base], {
      env: { RESTIC_FROM_PASSWORD: RESTIC_PW },
    });
    const third = await cli(["-r", dst, "copy", "--from-repo", base], copyEnv);
    expect(third.stdout.match(/skipping source snapshot/g)).toHaveLength(9);
    expect(third.stdout).not.toMatch(/ saved$/m);
  });

  it("snapshot filters choose what restic's do: --tag '' untagged, --tag a,b both, repeated --tag either", async () => {
    // a copy with a cheap key (both programs honour each key file's own scrypt parameters),
    // named by a key hint so each of the many runs below derives one key quickly
    const repo = await fresh();
    const opened = await Repository.open(new LocalBackend(repo), RESTIC_PW);
    const keyHint = await opened.addKey("fast-pw", { kdf: { N: 1024, r: 8, p: 1 } });
    const theirRun = (args: string[]) =>
      restic(repo, "fast-pw", args, { env: { RESTIC_KEY_HINT: keyHint } });
    const ourRun = (args: string[]) =>
      cli(["-r", repo, ...args], { RESTIC_PASSWORD: "fast-pw", RESTIC_KEY_HINT: keyHint });
    const srcA = path.join(tmp.dir, "src-a");
    const srcB = path.join(tmp.dir, "src-b");
    const all = JSON.parse((await theirRun(["snapshots", "--json"])).stdout) as {
      id: string;
      tags?: string[];
    }[];
    const ids = (pick: (tags: string[]) => boolean) =>
      all.filter((s) => pick(s.tags ?? [])).map((s) => s.id);
    const untagged = ids((t) => t.length === 0);
    const both = ids((t) => t.includes("keep") && t.includes("daily"));
    // restic 0.14's HasTagList/HasTags (internal/restic/snapshot.go), spelled out
    const expected: [string[], string[]][] = [
      [["--tag", ""], untagged],
      [["--tag", "keep,daily"], both],
      [["--tag", " keep , daily "], both],
      [["--tag", "keep", "--tag", "daily"], ids((t) => t.includes("keep") || t.includes("daily"))],
      [["--tag", "", "--tag", "keep"], ids((t) => t.length === 0 || t.includes("keep"))],
      // an empty entry matches a snapshot without tags when it is reached, so order matters
      [["--tag", ",keep"], untagged],
      [["--tag", "keep,"], []],
    ];
    expect(untagged.length).toBeGreaterThan(0);
    expect(both.length).toBeGreaterThan(0);
    const same = [
      ...expected.map(([args]) => ["--json", ...args]),
      ["--json"],
      ["--json", "--tag", "nope"],
      ["--json", "--host", "beta"],
      ["--json", "--host", "alpha", "--host", "beta"],
      ["--json", "-H", "beta", "--tag", "keep"],
      ["--json", "--path", srcA],
      ["--json", "--path", srcA, "--path", srcB],
      ["--json", "--latest", "1"],
      ["--json", "--latest", "2", "--tag", ""],
      ["--json", "latest", "--tag", ""],
      // the warnings: no "latest" for the filter (TagLists printed as restic does), explicit
      // IDs with filters, IDs not found or ambiguous
      ["--json", "latest", "--tag", "keep,x", "--tag", "y", "--host", "alpha", "--path", srcA],
      ["--json", all[0].id.slice(0, 8), "--tag", "keep"],
      ["--json", "zz", ""],
      ["--tag", ""],
      ["-c", "--tag", "keep", "--tag", "daily"],
    ];
    for (const args of same) {
      const theirs = await theirRun(["snapshots", ...args]);
      const ours = await ourRun(["snapshots", ...args]);
      expect(ours.stdout, JSON.stringify(args)).toBe(theirs.stdout);
      expect(ours.stderr, JSON.stringify(args)).toBe(theirs.stderr);
    }
    for (const [args, want] of expected) {
      const out = await ourRun(["--json", "snapshots", ...args]);
      const got = JSON.parse(out.stdout).map((s: { id: string }) => s.id);
      expect(got, JSON.stringify(args)).toEqual(want);
    }
    // grouping (restic prints groups in Go's random map order)
    type Group = { group_key: unknown };
    const byKey = (groups: Group[]) =>
      [...groups].sort((a, b) =>
        JSON.stringify(a.group_key) < JSON.stringify(b.group_key) ? -1 : 1,
      );
    for (const args of [
      ["-g", "tags"],
      ["-g", "host,paths", "--tag", ""],
      ["-g", "tags", "--tag", "keep", "--tag", "daily"],
    ]) {
      const theirs = JSON.parse((await theirRun(["snapshots", "--json", ...args])).stdout);
      const ours = JSON.parse((await ourRun(["snapshots", "--json", ...args])).stdout);
      expect(byKey(ours), JSON.stringify(args)).toEqual(byKey(theirs));
    }
    // a snapshot ID no snapshot or several snapshots start with (restic exits 1)
    for (const args of [
      ["diff", "zz", all[0].id],
      ["diff", all[0].id, ""],
      ["restore", "zz", "--target", "/nonexistent/restic-ts-never"],
      ["restore", "latest", "--host", "nohost", "--target", "/nonexistent/restic-ts-never"],
      ["dump", "zz", "/a"],
      ["dump", "latest", "--path", "/nope", "/a"],
      ["cat", "snapshot", "zz"],
    ]) {
      const theirs = await theirRun(args).then(
        (r) => ({ ...r, code: 0 }),
        (e: { stdout: string; stderr: string; code: number }) => e,
      );
      const ours = await ourRun(args);
      expect(theirs.code, JSON.stringify(args)).toBe(1);
      expect(ours.code, JSON.stringify(args)).toBe(1);
      expect(ours.stdout, JSON.stringify(args)).toBe(theirs.stdout);
      expect(ours.stderr, JSON.stringify(args)).toBe(theirs.stderr);
    }
    // the other commands take the same filter
    for (const args of [
      ["ls", "--json", "latest", "--tag", ""],
      ["ls", "latest", "--tag", "keep,daily", "--host", "beta"],
      ["ls", "zz"],
      ["stats", "--json", "--tag", ""],
      ["stats", "--json", "--tag", "keep", "--tag", "daily"],
    ]) {
      const theirs = await theirRun(args);
      const ours = await ourRun(args);
      expect(ours.stdout, JSON.stringify(args)).toBe(theirs.stdout);
      expect(ours.stderr, JSON.stringify(args)).toBe(theirs.stderr);
    }
  });

  it("stats: every mode prints what restic prints", async () => {
    for (const mode of ["restore-size", "files-by-contents", "blobs-per-file", "raw-data"]) {
      for (const sel of [[], ["latest"], ["--host", "beta"]]) {
        const args = ["stats", "--mode", mode, ...sel];
        const theirs = await restic(base, RESTIC_PW, args);
        const ours = await cli(["-r", base, ...args], env);
        expect(ours.stdout, args.join(" ")).toBe(theirs.stdout);
        const theirJson = (await restic(base, RESTIC_PW, ["--json", ...args])).stdout;
        const ourJson = (await cli(["-r", base, "--json", ...args], env)).stdout;
        expect(ourJson, args.join(" ")).toBe(theirJson);
      }
    }
  });

  it("tag: restic sees the new tags and the original ID; check passes", async () => {
    const repo = await fresh();
    const out = await cli(
      ["-r", repo, "tag", "--add", "extra,more", "--remove", "daily", "--host", "alpha"],
      env,
    );
    expect(out.stdout).toBe("create exclusive lock for repository\nmodified tags on 6 snapshots\n");
    const before = JSON.parse((await restic(base, RESTIC_PW, ["snapshots", "--json"])).stdout);
    const after = JSON.parse((await restic(repo, RESTIC_PW, ["snapshots", "--json"])).stdout);
    for (const sn of after.filter((s: { hostname: string }) => s.hostname === "alpha")) {
      const orig = before.find((b: { id: string }) => b.id === sn.original);
      expect(orig).toBeDefined();
      const want = [...(orig.tags ?? []).filter((t: string) => t !== "daily"), "extra", "more"];
      expect([...sn.tags].sort()).toEqual(want.sort());
    }
    // restic's own tag change keeps our original
    await restic(repo, RESTIC_PW, ["tag", "--set", "x", "--host", "alpha"]);
    const again = JSON.parse((await restic(repo, RESTIC_PW, ["snapshots", "--json"])).stdout);
    const originals = again.filter((s: { hostname: string }) => s.hostname === "alpha");
    expect(originals.map((s: { original: string }) => s.original).sort()).toEqual(
      before
        .filter((s: { hostname: string }) => s.hostname === "alpha")
        .map((s: { id: string }) => s.id)
        .sort(),
    );
    await restic(repo, RESTIC_PW, ["check"]);
  });

  it("rebuild-index: from pack headers alone; restic check --read-data passes", async () => {
    const repo = await fresh();
    await rm(path.join(repo, "index"), { recursive: true });
    const out = await cli(["-r", repo, "rebuild-index"], env);
    expect(out.code).toBe(0);
    expect(out.stderr).toMatch(/adding pack file to index/);
    await restic(repo, RESTIC_PW, ["check", "--read-data"]);
    const all = await cli(["-r", repo, "rebuild-index", "--read-all-packs"], env);
    expect(all.code).toBe(0);
    await restic(repo, RESTIC_PW, ["check", "--read-data"]);
    expect(await listAll(repo)).toEqual(await listAll(base));
  });

  it("a prune interrupted after any change leaves a repository restic check accepts", async () => {
    const probeDir = await fresh();
    const probe = new CrashingBackend(new LocalBackend(probeDir), Number.POSITIVE_INFINITY);
    const run = async (backend: CrashingBackend) => {
      // forget all but the newest snapshot of each host (not counted as changes of the prune);
      // the oldest snapshot's packs hold data still in use, so prune repacks
      const reader = await Repository.open(backend.inner, RESTIC_PW);
      const newest = new Map<string, string>();
      for (const e of await listSnapshots(reader)) newest.set(e.snapshot.hostname, e.id);
      for (const id of await reader.listIds("snapshot")) {
        if (![...newest.values()].includes(id)) {
          await backend.inner.remove({ type: "snapshot", name: id });
        }
      }
      const repo = await Repository.open(backend, RESTIC_PW);
      const { indexed, indexIds } = await loadIndexForPrune(repo);
      const opts = { maxUnused: { kind: "percent", percent: 0 } as const };
      const plan = await planPrune(indexed, indexIds, opts);
      await executePrune(indexed, plan, opts);
      return plan;
    };
    const plan = await run(probe);
    expect(plan.repackPacks.size).toBeGreaterThan(0);
    expect(plan.removePacks.size).toBeGreaterThan(0);
    const total = probe.changes;
    const probeRepo = await Repository.open(probe.inner, RESTIC_PW);
    expect((await probeRepo.listIds("snapshot")).length).toBe(2);
    expect(total).toBeGreaterThan(5);
    // crash points spread over the whole prune (every one would take a minute)
    const points = [
      ...new Set([0, 1, 2, 3, Math.floor(total / 3), Math.floor(total / 2), total - 2, total - 1]),
    ];
    for (const survive of points) {
      const dir = await fresh();
      const crashing = new CrashingBackend(new LocalBackend(dir), survive);
      await run(crashing).catch(() => {});
      await restic(dir, RESTIC_PW, ["check"]).catch((err: { stdout: string; stderr: string }) => {
        throw new Error(`crash after ${survive} of ${total}: ${err.stdout}${err.stderr}`);
      });
      const ours = await checkRepository(await Repository.open(new LocalBackend(dir), RESTIC_PW));
      expect(ours.errors, `crash after ${survive}`).toBe(0);
    }
  });

  it("locks: we refuse exclusive work while restic holds a lock; restic refuses while we prune", async () => {
    const repo = await fresh();
    const child = spawn("restic", ["--no-cache", "-r", repo, "backup", "--stdin", "-q"], {
      env: { ...process.env, RESTIC_PASSWORD: RESTIC_PW },
      stdio: ["pipe", "ignore", "pipe"],
    });
    try {
      const r = await Repository.open(new LocalBackend(repo), RESTIC_PW);
      for (let i = 0; i < 100 && (await listLocks(r)).length === 0; i++) {
        await new Promise((res) => setTimeout(res, 100));
      }
      for (const args of [
        ["prune"],
        ["forget", "--keep-last", "1"],
        ["check"],
        ["rebuild-index"],
      ]) {
        const out = await cli(["-r", repo, ...args], env);
        expect(out.code, args.join(" ")).toBe(11);
        expect(out.stderr).toMatch(`PID ${child.pid}`);
      }
      // non-exclusive work goes ahead beside restic's lock
      expect((await cli(["-r", repo, "stats"], env)).code).toBe(0);
    } finally {
      child.stdin.end("data\n");
      await new Promise((res) => child.on("exit", res));
    }
    // while our prune runs under its exclusive lock, restic backup is refused
    const r = await Repository.open(new LocalBackend(repo), RESTIC_PW);
    await withLock(r, true, async () => {
      const refused = await restic(repo, RESTIC_PW, ["backup", "--stdin"]).catch(
        (e: { stderr: string }) => e,
      );
      expect((refused as { stderr: string }).stderr).toMatch(
        /repository is already locked exclusively/,
      );
      const { indexed, indexIds } = await loadIndexForPrune(r);
      await executePrune(indexed, await planPrune(indexed, indexIds), {});
    });
    await restic(repo, RESTIC_PW, ["check"]);
  });
});
