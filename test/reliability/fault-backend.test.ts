// The FaultBackend wrapper itself (over the memory backend): which calls it fails, that its
// random failures are reproducible per seed, what a torn or lying write leaves behind, drops
// and reconnects, onCall, and how RetryBackend classifies its errors.

import { describe, expect, it } from "vitest";
import type { Handle } from "../../src/backends/backend.js";
import { MemoryBackend } from "../../src/backends/mem.js";
import { isTransient, RetryBackend } from "../../src/backends/retry.js";
import { isResticTsError } from "../../src/errors.js";
import { type BackendOp, FaultBackend, isInjected, seededRandom } from "./fault-backend.js";

const h = (i: number): Handle => ({ type: "data", name: i.toString(16).padStart(64, "0") });
const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => i & 0xff);
const instant = { retries: 10, sleep: () => Promise.resolve() };

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return isResticTsError(err) ? `${err.code}:${String(err.data.fault)}` : String(err);
  }
}

describe("FaultBackend", () => {
  it("fails exactly the Nth call, counting all calls or only matching ones", async () => {
    const all = new FaultBackend(new MemoryBackend(), { failNth: 3 });
    const got = [];
    for (let i = 1; i <= 5; i++) got.push(await outcome(all.save(h(i), bytes(4))));
    expect(got).toEqual(["ok", "ok", "IO:fail-nth", "ok", "ok"]);
    expect(all.calls).toBe(5);
    expect(await all.stat(h(3)).catch((e) => e.code)).toBe("NOT_FOUND"); // never stored

    const loads = new FaultBackend(new MemoryBackend(), {
      failNth: { n: [2], ops: ["load"], types: ["data"] },
    });
    await loads.save(h(1), bytes(4));
    await loads.save(h(2), bytes(4));
    expect(await outcome(loads.load(h(1)))).toBe("ok");
    expect(await outcome(loads.stat(h(1)))).toBe("ok");
    expect(await outcome(loads.load(h(2)))).toBe("IO:fail-nth");
    expect(await outcome(loads.load(h(1)))).toBe("ok");
    expect(loads.log.filter((r) => r.fault !== undefined)).toEqual([
      { n: 5, op: "load", type: "data", name: h(2).name, fault: "fail-nth" },
    ]);
  });

  it("fails at random at the given rate, the same calls for the same seed", async () => {
    const pattern = async (seed: number) => {
      const fb = new FaultBackend(new MemoryBackend(), { failRate: 0.3, seed });
      const out = [];
      for (let i = 0; i < 200; i++) out.push(await outcome(fb.stat(h(1))));
      return out.map((o) => (o === "IO:fail-rate" ? 1 : 0)).join("");
    };
    const a = await pattern(7);
    expect(await pattern(7)).toBe(a);
    expect(await pattern(8)).not.toBe(a);
    const failures = [...a].filter((c) => c === "1").length;
    expect(failures).toBeGreaterThan(30);
    expect(failures).toBeLessThan(90);
    expect(seededRandom(1)()).toBe(seededRandom(1)());
  });

  it("tears a write: a prefix is stored, then the save fails (or lies)", async () => {
    const inner = new MemoryBackend();
    const torn = new FaultBackend(inner, { truncateWrites: { nth: 2, keep: 0.25 } });
    await torn.save(h(1), bytes(100));
    expect(await outcome(torn.save(h(2), bytes(100)))).toBe("IO:torn-write");
    expect((await inner.load(h(1))).length).toBe(100);
    expect(await inner.load(h(2))).toEqual(bytes(25));

    const lying = new FaultBackend(inner, { truncateWrites: { types: ["data"], fail: false } });
    await lying.save(h(3), bytes(10));
    expect((await inner.load(h(3))).length).toBe(5);
    expect(lying.injected).toBe(1);

    // RetryBackend removes the torn file and saves again.
    const retried = new FaultBackend(inner, { truncateWrites: { nth: 1 } });
    await new RetryBackend(retried, instant).save(h(4), bytes(64));
    expect(await inner.load(h(4))).toEqual(bytes(64));
    expect(retried.log.map((r) => r.op)).toEqual(["save", "remove", "save"]);
  });

  it("drops the connection after a point until reset, or until it reconnects by itself", async () => {
    const fb = new FaultBackend(new MemoryBackend(), { dropAfter: 2 });
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await outcome(fb.stat(h(1))));
    expect(got).toEqual(["NOT_FOUND:undefined", "NOT_FOUND:undefined", "IO:dropped", "IO:dropped"]);
    expect(fb.dropped).toBe(true);
    fb.reset();
    expect(await outcome(fb.stat(h(1)))).toBe("NOT_FOUND:undefined");
    fb.drop();
    expect(await outcome(fb.create())).toBe("IO:dropped");

    const healing = new FaultBackend(new MemoryBackend(), { dropAfter: 0, reconnectAfter: 2 });
    expect(await outcome(healing.create())).toBe("IO:dropped");
    expect(await outcome(healing.create())).toBe("IO:dropped");
    expect(await outcome(healing.create())).toBe("ok");
    // with retries the caller does not notice
    const again = new FaultBackend(new MemoryBackend(), { dropAfter: 0, reconnectAfter: 3 });
    await new RetryBackend(again, instant).save(h(1), bytes(3));
    // save, its cleanup remove and the retried save fail while dropped; then the second
    // cleanup remove and the third save go through
    expect(again.log.map((r) => `${r.op}${r.fault ? "!" : ""}`)).toEqual([
      "save!",
      "remove!",
      "save!",
      "remove",
      "save",
    ]);
  });

  it("fails a listing midway after yielding part of it; RetryBackend completes it", async () => {
    const inner = new MemoryBackend();
    for (let i = 1; i <= 6; i++) await inner.save(h(i), bytes(1));
    const fb = new FaultBackend(inner, { failNth: 1, listFailsMidway: true });
    const seen: string[] = [];
    const err = await (async () => {
      for await (const fi of fb.list("data")) seen.push(fi.name);
    })().catch((e) => e);
    expect(isInjected(err)).toBe(true);
    expect(seen).toHaveLength(3);
    const again = new FaultBackend(inner, { failNth: 1, listFailsMidway: true });
    const names: string[] = [];
    for await (const fi of new RetryBackend(again, instant).list("data")) names.push(fi.name);
    expect(names.sort()).toEqual([1, 2, 3, 4, 5, 6].map((i) => h(i).name));
  });

  it("runs onCall before each call with the running count; its error fails the call", async () => {
    const seen: [BackendOp, number, string | undefined][] = [];
    const fb = new FaultBackend(new MemoryBackend(), {
      onCall: (op, n, handle) => {
        seen.push([op, n, handle?.type]);
        if (n === 3) throw new Error("from onCall");
      },
    });
    await fb.create();
    await fb.save(h(1), bytes(2));
    await expect(fb.load(h(1))).rejects.toThrow("from onCall");
    for await (const _ of fb.list("snapshot"));
    expect(seen).toEqual([
      ["create", 1, undefined],
      ["save", 2, "data"],
      ["load", 3, "data"],
      ["list", 4, "snapshot"],
    ]);
    expect(fb.countsByOp()).toMatchObject({ create: 1, save: 1, load: 1, list: 1, remove: 0 });
  });

  it("marks injected errors transient, or permanent on request, for RetryBackend", async () => {
    const transient = await new FaultBackend(new MemoryBackend(), { failNth: 1 })
      .create()
      .catch((e) => e);
    expect(isTransient(transient)).toBe(true);
    expect(transient.message).toMatch(/^create: injected failure \(call 1\)$/);
    const permanent = await new FaultBackend(new MemoryBackend(), { failNth: 1, permanent: true })
      .create()
      .catch((e) => e);
    expect(isTransient(permanent)).toBe(false);
    const fb = new FaultBackend(new MemoryBackend(), { failNth: 1, permanent: true });
    expect(await outcome(new RetryBackend(fb, instant).save(h(1), bytes(1)))).toBe("IO:fail-nth");
    expect(fb.countsByOp().save).toBe(1); // not retried
  });

  it("delays calls and reports what is in flight", async () => {
    const fb = new FaultBackend(new MemoryBackend(), { delayMs: 30 });
    const t0 = Date.now();
    const p = fb.save(h(1), bytes(1));
    expect(fb.inFlight).toBe(1);
    await fb.idle();
    await p;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    expect(fb.inFlight).toBe(0);
  });
});
