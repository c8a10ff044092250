// Helpers for the maintenance tests: run the CLI in-process, copy damaged fixtures, open repos.

import { readFileSync } from "node:fs";
import path from "node:path";
import { PassThrough } from "node:stream";
import { LocalBackend } from "../../../src/backends/local.js";
import type { CliIo } from "../../../src/cli/io.js";
import { run } from "../../../src/cli/main.js";
import { Repository } from "../../../src/repo/repository.js";
import { copyFixture } from "../../helpers/tmp.js";

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(args: string[], env: Record<string, string> = {}): Promise<Captured> {
  let stdout = "";
  let stderr = "";
  const stdin = new PassThrough();
  stdin.end("");
  const io: CliIo = {
    env,
    stdin,
    write: (t) => {
      stdout += t;
    },
    writeBytes: (b) => {
      stdout += Buffer.from(b).toString("latin1");
    },
    error: (t) => {
      stderr += t;
    },
  };
  const code = await run(args, io);
  return { code, stdout, stderr };
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
