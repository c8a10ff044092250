import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { offThreadSha256, sha256OffThreadAvailable } from "../../../src/crypto/sha256-offthread.js";

describe("offThreadSha256", () => {
  it("runs on OpenSSL through koffi here", () => {
    expect(sha256OffThreadAvailable()).toBe(true);
  });

  it("equals node:crypto's SHA-256 over uneven chunks, including empty ones and none", async () => {
    const data = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 13 + (i >> 11)) & 0xff);
    const want = createHash("sha256").update(data).digest("hex");
    const h = offThreadSha256();
    const cuts = [0, 0, 1, 64, 100_000, 2 * 1024 * 1024, data.length];
    const pending: Promise<void>[] = [];
    for (let i = 1; i < cuts.length; i++)
      pending.push(h.update(data.subarray(cuts[i - 1], cuts[i])));
    await Promise.all(pending);
    expect(await h.digest()).toBe(want);
    expect(await offThreadSha256().digest()).toBe(createHash("sha256").digest("hex"));
  });

  it("refuses use after digest", async () => {
    const h = offThreadSha256();
    await h.update(new Uint8Array(10));
    await h.digest();
    expect(() => h.update(new Uint8Array(1))).toThrow(/after digest/);
    await expect(h.digest()).rejects.toThrow(/twice/);
  });
});
