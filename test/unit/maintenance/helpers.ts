// Helpers for the maintenance tests: run the CLI in-process, copy damaged fixtures, open repos.

import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { LocalBackend } from "../../../src/backends/local.js";
import { serializeLock } from "../../../src/repo/lock.js";
import { Repository } from "../../../src/repo/repository.js";
import { runCli } from "../../helpers/cli.js";
import { copyFixture } from "../../helpers/tmp.js";

export const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, env);

/** An exclusive lock of another process on this host that is alive (this one's PID). */
export function liveForeignLock(): Uint8Array {
  return serializeLock({
    time: new Date().toISOString(),
    exclusive: true,
    hostname: os.hostname(),
    username: "other",
    uid: 0,
    gid: 0,
    pid: process.pid,
  });
}

export interface DamagedManifest {
  password: string;
  snapshots: { S1: string; S2: string; S3: string };
  packs: { D1: string; P1: string; D2: string; P2: string; D3: string; P3: string };
  trees: { R2: string; R3: string; S_a: string };
  index2: string;
}

export const DAMAGED_DIR = path.join(import.meta.dirname, "..", "..", "..", "fixtures", "damaged");

export function damagedManifest(): DamagedManifest {
  return JSON.parse(readFileSync(path.join(DAMAGED_DIR, "MANIFEST.json"), "utf8"));
}

/** Copy damaged fixture `name` into `dir` and open it. */
export async function openDamaged(name: string, dir: string): Promise<Repository> {
  const dest = await copyFixture(path.join("damaged", name), path.join(dir, name));
  return Repository.open(new LocalBackend(dest), damagedManifest().password);
}
