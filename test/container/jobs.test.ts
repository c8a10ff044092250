import { describe, expect, it } from "vitest";
import { Job, type JobProgress } from "../../src/container/jobs.js";
import { isResticTsError } from "../../src/errors.js";
import { sleep } from "./fake-store.js";

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return isResticTsError(err) ? err.code : String(err);
  }
  return undefined;
}

describe("Job", () => {
  it("gives the result to every get, before and after it finishes", async () => {
    const job = Job.start("test", async () => {
      await sleep(20);
      return 42;
    });
    expect(job.status).toBe("running");
    expect(await job.get()).toBe(42);
    expect(await job.get(0)).toBe(42);
    expect(job.status).toBe("succeeded");
    expect(job.progress.phase).toBe("done");
  });

  it("a timeout rejects only that get: the job goes on and get works again", async () => {
    let finished = false;
    const job = Job.start("slow", async () => {
      await sleep(150);
      finished = true;
      return "snap";
    });
    const t0 = Date.now();
    expect(await codeOf(job.get(30))).toBe("TIMEOUT");
    expect(Date.now() - t0).toBeLessThan(140);
    expect(job.status).toBe("running");
    expect(await codeOf(job.get(10))).toBe("TIMEOUT");
    expect(await job.get(5_000)).toBe("snap");
    expect(finished).toBe(true);
  });

  it("timeout errors say what timed out", async () => {
    const job = Job.start("backup", () => sleep(100).then(() => 1));
    try {
      await job.get(1);
      expect.fail("should time out");
    } catch (err) {
      expect(isResticTsError(err, "TIMEOUT")).toBe(true);
      expect((err as Error).message).toContain(job.id);
      expect((err as { data: Record<string, unknown> }).data).toMatchObject({
        jobId: job.id,
        timeoutMs: 1,
      });
    }
    await job.get();
  });

  it("refuses a nonsense timeout", async () => {
    const job = Job.start("t", () => sleep(30).then(() => 1));
    expect(await codeOf(job.get(-1))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(job.get(Number.NaN))).toBe("INVALID_ARGUMENT");
    await job.get();
  });

  it("reports failures with the work's error", async () => {
    const job = Job.start("t", async () => {
      await sleep(5);
      throw new Error("boom");
    });
    await expect(job.get()).rejects.toThrow("boom");
    expect(job.status).toBe("failed");
  });

  it("a failed job nobody waits for is not an unhandled rejection", async () => {
    const job = Job.start("t", async () => {
      throw new Error("ignored");
    });
    await job.settled();
    expect(job.status).toBe("failed");
  });

  it("cancel aborts the work, waits for it to wind down, and get gives CANCELLED", async () => {
    let cleanedUp = false;
    const job = Job.start("t", async (ctx) => {
      try {
        await sleep(10_000, ctx.signal);
        return 1;
      } finally {
        await sleep(20);
        cleanedUp = true;
      }
    });
    await sleep(10);
    await job.cancel();
    expect(cleanedUp).toBe(true);
    expect(job.status).toBe("cancelled");
    expect(await codeOf(job.get())).toBe("CANCELLED");
    expect(await codeOf(job.get(10))).toBe("CANCELLED");
  });

  it("a cancelled job is CANCELLED even if the work ignores the signal and succeeds", async () => {
    const job = Job.start("t", async () => {
      await sleep(30);
      return 1;
    });
    const cancelled = job.cancel();
    expect(await codeOf(job.get())).toBe("CANCELLED");
    await cancelled;
  });

  it("cancel after the end changes nothing", async () => {
    const job = Job.start("t", async () => 7);
    expect(await job.get()).toBe(7);
    await job.cancel();
    expect(job.status).toBe("succeeded");
    expect(await job.get()).toBe(7);
  });

  it("emits progress and settled events", async () => {
    const seen: JobProgress[] = [];
    const statuses: string[] = [];
    const job = Job.start("t", async (ctx) => {
      ctx.progress({ phase: "backup" });
      ctx.progress({ files: 3, bytes: 100 });
      return 0;
    });
    job.on("progress", (p) => seen.push(p));
    job.on("settled", (s) => statuses.push(s));
    await job.get();
    expect(seen).toEqual([
      { phase: "backup", files: 0, bytes: 0 },
      { phase: "backup", files: 3, bytes: 100 },
    ]);
    expect(statuses).toEqual(["succeeded"]);
  });
});
