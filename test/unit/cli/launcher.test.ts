// The launcher line of main.ts and what launcher.ts puts back for child processes.

import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  DEFERRED_EXTRA_CA_CERTS,
  restoreLauncherEnv,
  USER_GLIBC_TUNABLES,
} from "../../../src/cli/launcher.js";

describe("restoreLauncherEnv", () => {
  it("puts a deferred NODE_EXTRA_CA_CERTS back", () => {
    const env: Record<string, string | undefined> = { [DEFERRED_EXTRA_CA_CERTS]: "/etc/ca.pem" };
    restoreLauncherEnv(env);
    expect(env.NODE_EXTRA_CA_CERTS).toBe("/etc/ca.pem");
  });

  it("leaves an empty deferral and an explicit NODE_EXTRA_CA_CERTS alone", () => {
    const none: Record<string, string | undefined> = { [DEFERRED_EXTRA_CA_CERTS]: "" };
    restoreLauncherEnv(none);
    expect(none.NODE_EXTRA_CA_CERTS).toBeUndefined();
    const set: Record<string, string | undefined> = {
      [DEFERRED_EXTRA_CA_CERTS]: "/a.pem",
      NODE_EXTRA_CA_CERTS: "/b.pem",
    };
    restoreLauncherEnv(set);
    expect(set.NODE_EXTRA_CA_CERTS).toBe("/b.pem");
  });

  it("gives children the user's GLIBC_TUNABLES, or none", () => {
    const mine: Record<string, string | undefined> = {
      GLIBC_TUNABLES: "glibc.malloc.hugetlb=1:glibc.malloc.arena_max=2",
      [USER_GLIBC_TUNABLES]: "glibc.malloc.arena_max=2",
    };
    restoreLauncherEnv(mine);
    expect(mine.GLIBC_TUNABLES).toBe("glibc.malloc.arena_max=2");
    expect(mine[USER_GLIBC_TUNABLES]).toBeUndefined();
    const none: Record<string, string | undefined> = {
      GLIBC_TUNABLES: "glibc.malloc.hugetlb=1:",
      [USER_GLIBC_TUNABLES]: "",
    };
    restoreLauncherEnv(none);
    expect("GLIBC_TUNABLES" in none).toBe(false);
    // started through node itself: nothing to undo
    const plain: Record<string, string | undefined> = { GLIBC_TUNABLES: "glibc.x=1" };
    restoreLauncherEnv(plain);
    expect(plain.GLIBC_TUNABLES).toBe("glibc.x=1");
  });

  it("keeps the launcher line within Linux's 256-byte limit and names both variables", () => {
    const main = readFileSync(
      path.join(import.meta.dirname, "..", "..", "..", "src", "cli", "main.ts"),
      "utf8",
    );
    const line = main.slice(0, main.indexOf("\n"));
    expect(Buffer.byteLength(line)).toBeLessThan(256);
    expect(line).toContain(`${DEFERRED_EXTRA_CA_CERTS}=\${NODE_EXTRA_CA_CERTS}`);
    expect(line).toContain(`${USER_GLIBC_TUNABLES}=\${GLIBC_TUNABLES}`);
    expect(line).toContain(`GLIBC_TUNABLES=glibc.malloc.hugetlb=1:\${GLIBC_TUNABLES}`);
  });
});
