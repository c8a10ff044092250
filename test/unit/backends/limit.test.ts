import { describe, expect, it } from "vitest";
import { loadInOrder, mapLimit, Semaphore } from "../../../src/backends/limit.js";

const tick = () => new Promise((r) => setTimeout(r, 1));

describe("Semaphore", () => {
  it("never lets more than `size` holders in, and serves waiters in order", async () => {
    const sem = new Semaphore(3);
    let inside = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        sem.run(async () => {
          inside++;
          peak = Math.max(peak, inside);
          order.push(i);
          await tick();
          inside--;
        }),
      ),
    );
    expect(peak).toBe(3);
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(sem.inUse).toBe(0);
  });

  it("releases on failure and ignores a second release", async () => {
    const sem = new Semaphore(1);
    await expect(sem.run(async () => Promise.reject(new Error("x")))).rejects.toThrow("x");
    const release = await sem.acquire();
    release();
    release();
    expect(sem.inUse).toBe(0);
  });

  it("refuses a size below 1", () => {
    expect(() => new Semaphore(0)).toThrow(/concurrency/);
    expect(() => new Semaphore(1.5)).toThrow(/concurrency/);
  });
});

describe("mapLimit", () => {
  it("keeps order and the limit", async () => {
    let inside = 0;
    let peak = 0;
    const out = await mapLimit([5, 4, 3, 2, 1], 2, async (x) => {
      inside++;
      peak = Math.max(peak, inside);
      await new Promise((r) => setTimeout(r, x));
      inside--;
      return x * 10;
    });
    expect(out).toEqual([50, 40, 30, 20, 10]);
    expect(peak).toBe(2);
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });

  it("rejects with the first error and starts nothing new after it", async () => {
    const started: number[] = [];
    await expect(
      mapLimit([0, 1, 2, 3, 4, 5], 2, async (x) => {
        started.push(x);
        await tick();
        if (x === 1) throw new Error("one");
      }),
    ).rejects.toThrow("one");
    expect(started.length).toBeLessThan(6);
  });
});

describe("loadInOrder", () => {
  it("uses results in the items' order as soon as the ones before them are loaded", async () => {
    const used: number[] = [];
    let held = 0;
    let peakHeld = 0;
    const loaded = new Set<number>();
    // item 0 is slow: the others load meanwhile and wait for it
    await loadInOrder(
      [40, 1, 1, 1, 30, 1, 1],
      3,
      async (ms, i) => {
        await new Promise((r) => setTimeout(r, ms));
        loaded.add(i);
        held++;
        peakHeld = Math.max(peakHeld, held);
        return i * 10;
      },
      (r, _ms, i) => {
        held--;
        expect(r).toBe(i * 10);
        // everything before it was used first
        expect(used).toEqual(Array.from({ length: i }, (_, k) => k));
        used.push(i);
      },
    );
    expect(used).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // at most 2 x limit loaded or loading ahead of the one to use next
    expect(peakHeld).toBeGreaterThan(1);
    expect(peakHeld).toBeLessThanOrEqual(6);
    expect(loaded.size).toBe(7);
  });

  it("rejects with a load's or a use's error", async () => {
    await expect(
      loadInOrder(
        [1, 2, 3],
        2,
        async (x) => {
          if (x === 2) throw new Error("load two");
          return x;
        },
        () => {},
      ),
    ).rejects.toThrow("load two");
    await expect(
      loadInOrder(
        [1, 2, 3],
        2,
        async (x) => x,
        (x) => {
          if (x === 3) throw new Error("use three");
        },
      ),
    ).rejects.toThrow("use three");
  });
});

describe("loadInOrder with a failing first item", () => {
  it("rejects instead of waiting forever for it", async () => {
    const started: number[] = [];
    await expect(
      loadInOrder(
        Array.from({ length: 20 }, (_, i) => i),
        2,
        async (x) => {
          started.push(x);
          await tick();
          if (x === 0) {
            await new Promise((r) => setTimeout(r, 20));
            throw new Error("zero");
          }
          return x;
        },
        () => {},
      ),
    ).rejects.toThrow("zero");
    expect(started.length).toBeLessThan(20);
  });
});
