// Multi-snapshot repositories made by the real restic for the maintenance interop tests:
// `restic backup --time …` over a source directory that changes between backups, two hosts,
// some tags. Built once per test file and copied per test.

import { cp, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { restic } from "../../helpers/restic.js";
import { bytes } from "./build.js";

export const RESTIC_PW = "interop-maintenance";

export interface Backup {
  readonly host: string;
  readonly time: string;
  readonly tags?: readonly string[];
  /** Which source directory (its absolute path is the snapshot's path). */
  readonly source: "src-a" | "src-b";
}

export const BACKUPS: readonly Backup[] = [
  { host: "alpha", time: "2021-12-31 23:30:00", source: "src-a", tags: ["daily"] },
  { host: "alpha", time: "2022-01-01 01:00:00", source: "src-a" },
  { host: "alpha", time: "2022-01-01 13:00:00", source: "src-a", tags: ["keep", "daily"] },
  { host: "alpha", time: "2022-01-03 12:00:00", source: "src-a" },
  { host: "alpha", time: "2022-01-10 12:00:00", source: "src-a", tags: ["daily"] },
  { host: "alpha", time: "2022-02-01 00:00:00", source: "src-a" },
  { host: "beta", time: "2022-01-02 08:00:00", source: "src-b" },
  { host: "beta", time: "2022-01-05 08:00:00", source: "src-b", tags: ["keep"] },
  { host: "beta", time: "2023-01-01 00:00:00", source: "src-b" },
];

/** Write the n-th state of a source directory (some files change every time, some never). */
async function writeSource(dir: string, n: number): Promise<void> {
  await mkdir(path.join(dir, "sub", "deep"), { recursive: true });
  await writeFile(path.join(dir, "constant.bin"), bytes(7, 300_000));
  await writeFile(path.join(dir, "sub", "deep", "constant.txt"), "never changes\n");
  await writeFile(path.join(dir, `changing-${n % 3}.bin`), bytes(100 + n, 200_000 + n * 1000));
  await writeFile(path.join(dir, "sub", "counter.txt"), `${n}\n`.repeat(n + 1));
  await writeFile(path.join(dir, "log.txt"), "line of log text\n".repeat(2000 * (n + 1)));
}

/** A restic-made repository at `repo` with one snapshot per entry of BACKUPS. */
export async function makeResticRepo(work: string, repo: string, version = 2): Promise<void> {
  await restic(repo, RESTIC_PW, ["init", "-q", "--repository-version", String(version)]);
  for (const [i, b] of BACKUPS.entries()) {
    const src = path.join(work, b.source);
    await writeSource(src, i);
    const tags = (b.tags ?? []).flatMap((t) => ["--tag", t]);
    await restic(repo, RESTIC_PW, [
      "backup",
      "-q",
      "--host",
      b.host,
      "--time",
      b.time,
      ...tags,
      src,
    ]);
  }
}

export async function copyRepo(from: string, to: string): Promise<string> {
  await cp(from, to, { recursive: true });
  return to;
}

/** `restic ls -l` of every snapshot, by snapshot ID. */
export async function listAll(repo: string, password = RESTIC_PW): Promise<Map<string, string>> {
  const { stdout } = await restic(repo, password, ["snapshots", "--json"]);
  const out = new Map<string, string>();
  for (const s of JSON.parse(stdout) as { id: string }[]) {
    out.set(
      s.id,
      (await restic(repo, password, ["ls", "-l", s.id])).stdout.split("\n").slice(1).join("\n"),
    );
  }
  return out;
}
