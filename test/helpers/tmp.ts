// Temporary directories for tests, removed afterwards (read-only repository files included).

import { cp, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export async function tempDir(
  prefix = "restic-ts-",
): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Copy a checked-in fixture repository to a temp dir so tests can change it. */
export async function copyFixture(name: string, dest: string): Promise<string> {
  const src = path.join(import.meta.dirname, "..", "..", "fixtures", name);
  await cp(src, dest, { recursive: true });
  return dest;
}
