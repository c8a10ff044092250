import { describe, expect, it } from "vitest";
import { MemoryBackend } from "../../src/backends/mem.js";
import { describeBackend } from "./suite.js";

describeBackend("mem", async () => ({ backend: new MemoryBackend(), cleanup: async () => {} }));

describe("MemoryBackend", () => {
  it("names its location mem:<label>", () => {
    expect(new MemoryBackend("x").location).toBe("mem:x");
    expect(new MemoryBackend().location).toMatch(/^mem:\d+$/);
  });
});
