// External tools for interop tests: present → run; missing locally → skip; missing in CI
// (CI=true) → fail, because a skipped interop test there would hide a broken install step.

import { execFileSync } from "node:child_process";

export function hasTool(name: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" });
    return true;
  } catch {
    if (process.env.CI === "true") {
      throw new Error(`${name} is required in CI (CI=true) but is not installed`);
    }
    return false;
  }
}
