// withLock's `prepare` (prune and check load the index while their exclusive lock settles):
// it starts only once our lock file exists, its result reaches the locked work, and when the
// lock is refused the error comes only after the prepared work has settled.

import { describe, expect, it } from "vitest";
import { MemoryBackend } from "../../../src/backends/mem.js";
import { withLock } from "../../../src/repo/lock.js";
import { Repository } from "../../../src/repo/repository.js";
import { liveForeignLock } from "./helpers.js";

async function repo() {
  return Repository.init(new MemoryBackend(), "pw", {
    kdf: { N: 1024, r: 8, p: 1 },
    chunkerPolynomial: 0x3da3358b4dc173n,
  });
}

describe("withLock prepare", () => {
  it("runs after the lock file is written and hands its result to the locked work", async () => {
    const r = await repo();
    const got = await withLock(
      r,
      true,
      async (_lock, prepared) => ({ prepared, locks: (await r.listIds("lock")).length }),
      async () => (await r.listIds("lock")).length,
    );
    expect(got).toEqual({ prepared: 1, locks: 1 });
    expect(await r.listIds("lock")).toEqual([]);
  });

  it("a lock refused at the second check: LOCKED after the prepared work settled, work not run", async () => {
    const r = await repo();
    let settled = false;
    let ran = false;
    const err = await withLock(
      r,
      true,
      async () => {
        ran = true;
      },
      async () => {
        // another live process takes an exclusive lock while ours settles
        await r.saveUnpacked("lock", liveForeignLock());
        await new Promise((resolve) => setTimeout(resolve, 300));
        settled = true;
      },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "LOCKED" });
    expect(settled).toBe(true);
    expect(ran).toBe(false);
    expect(await r.listIds("lock")).toHaveLength(1); // the other one; ours is gone
  });
});
