// Run the real restic binary (the interop oracle) against a repository.

import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface ResticResult {
  stdout: string;
  stderr: string;
}

export async function restic(
  repo: string,
  password: string,
  args: readonly string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<ResticResult> {
  const { stdout, stderr } = await run("restic", ["--no-cache", "-r", repo, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, RESTIC_PASSWORD: password, ...opts.env },
    maxBuffer: 256 * 1024 * 1024,
  });
  return { stdout, stderr };
}
