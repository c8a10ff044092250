// A minimal root filesystem for container tests: a static busybox with a symlink per applet,
// /etc/passwd and friends. `containerTools()` says whether runc tests can run here: tools missing
// locally → skip; missing in CI (CI=true) → throw, so the suite fails instead of skipping.

import { execFileSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { buildBusyboxRoot, staticBusybox } from "../../src/container/busybox.js";
import { hasTool } from "./tools.js";

export { buildBusyboxRoot, staticBusybox };

/**
 * Whether real-container tests can run: runc, a static busybox (Debian: busybox-static), tar
 * and root. Missing with CI=true → throws.
 */
export function containerTools(): boolean {
  const ok =
    hasTool("runc") &&
    hasTool("tar") &&
    staticBusybox() !== undefined &&
    typeof process.getuid === "function" &&
    process.getuid() === 0;
  if (!ok && process.env.CI === "true") {
    throw new Error(
      "container tests need runc, tar, a static busybox (busybox-static) and root in CI (CI=true)",
    );
  }
  return ok;
}

/** Pack a directory into a tar archive with the system tar. */
export function tarDirectory(dir: string, archive: string): void {
  execFileSync("tar", ["-c", "-f", archive, "--numeric-owner", "-C", dir, "."]);
}

/**
 * A shell script for the container's entrypoint: append an increasing counter to `file` every
 * 50 ms; exit on SIGTERM.
 */
export function writerScript(file: string): string {
  return `trap 'exit 0' TERM; i=0; while :; do i=$((i+1)); echo $i >> ${file}; sleep 0.05; done`;
}

/** The number of lines of a file (0 when missing). */
export async function lineCount(file: string): Promise<number> {
  try {
    return (await readFile(file, "utf8")).split("\n").filter((l) => l !== "").length;
  } catch {
    return 0;
  }
}
