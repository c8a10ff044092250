// Crash safety of the write path: the built CLI (`node dist/src/cli/main.js backup`) is killed
// with SIGKILL at many points of a backup; after each kill the repository passes
// `restic check`, and finally a backup succeeds, passes `restic check --read-data` and reuses
// the blobs whose packs were indexed before the kills.

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { restic } from "../helpers/restic.js";
import { tempDir } from "../helpers/tmp.js";
import { hasTool } from "../helpers/tools.js";

const PW = "crash-pw";
const CLI = path.resolve(import.meta.dirname, "..", "..", "dist", "src", "cli", "main.js");

function run(
  repo: string,
  cwd: string,
  extra: string[] = [],
): { child: ChildProcess; done: Promise<{ code: number | null; out: string }> } {
  const child = spawn(
    process.execPath,
    [CLI, "-r", repo, "backup", "--pack-size", "1", ...extra, "src"],
    {
      cwd,
      env: { ...process.env, RESTIC_PASSWORD: PW },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  return {
    child,
    done: new Promise((resolve) => child.on("exit", (code) => resolve({ code, out }))),
  };
}

function count(dir: string): number {
  return existsSync(dir) ? readdirSync(dir).length : 0;
}

describe.runIf(hasTool("restic") && existsSync(CLI))("backup survives SIGKILL", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };

  beforeAll(async () => {
    tmp = await tempDir("restic-ts-crash-");
    const src = path.join(tmp.dir, "src");
    for (let d = 0; d < 4; d++) {
      mkdirSync(path.join(src, `dir${d}`), { recursive: true });
      writeFileSync(path.join(src, `dir${d}`, "big.bin"), randomBytes(12 * 1024 * 1024));
      for (let f = 0; f < 150; f++)
        writeFileSync(path.join(src, `dir${d}`, `small${f}`), randomBytes(f * 97));
    }
  });
  afterAll(async () => {
    await tmp.cleanup();
  });

  it("keeps the repository consistent at every kill point and resumes", async () => {
    // how long does an undisturbed backup take?
    const probeRepo = path.join(tmp.dir, "probe");
    await restic(probeRepo, PW, ["init"]);
    const t0 = Date.now();
    const probe = await run(probeRepo, tmp.dir).done;
    expect(probe.code, probe.out).toBe(0);
    const full = Date.now() - t0;

    const repo = path.join(tmp.dir, "repo");
    await restic(repo, PW, ["init"]);
    const fractions = [0.15, 0.3, 0.45, 0.6, 0.75, 0.9];
    for (const f of fractions) {
      const { child, done } = run(repo, tmp.dir);
      await new Promise((r) => setTimeout(r, Math.round(full * f)));
      child.kill("SIGKILL");
      await done;
      const check = await restic(repo, PW, ["check"]).catch(async () => {
        // a dead process's lock on this host is stale; restic may want it removed first
        await restic(repo, PW, ["unlock"]);
        return restic(repo, PW, ["check"]);
      });
      expect(check.stdout, `after a kill at ${f}`).toContain("no errors were found");
    }
    const indexesBefore = count(path.join(repo, "index"));
    const last = run(repo, tmp.dir, ["--json"]);
    const r = await last.done;
    expect(r.code, r.out).toBe(0);
    const summary = JSON.parse(r.out.trim().split("\n").at(-1) as string);
    const total = 4 * (12 * 1024 * 1024 + (149 * 150 * 97) / 2);
    if (indexesBefore > 0) expect(summary.data_added).toBeLessThan(total);
    const check = await restic(repo, PW, ["check", "--read-data"]);
    expect(check.stdout).toContain("no errors were found");
    const snaps = JSON.parse((await restic(repo, PW, ["snapshots", "--json"])).stdout) as unknown[];
    expect(snaps.length).toBeGreaterThanOrEqual(1);
  }, 300_000);
});
