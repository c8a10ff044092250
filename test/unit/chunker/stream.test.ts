// The chunker's I/O wrapper: chunkStream over async iterables and Node streams, chunkFile over
// files, against the pure splitter and the restic vectors.

import { createHash } from "node:crypto";
import { createReadStream, existsSync, readdirSync } from "node:fs";
import { appendFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  type ChunkerOptions,
  chunkBoundaries,
  chunkFile,
  chunkStream,
} from "../../../src/chunker/index.js";
import { isResticTsError } from "../../../src/errors.js";
import { loadVectors, makeInput, xorshiftBytes } from "./inputs.js";

const TEST_POL = 0x3da3358b4dc173n;
const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const SMALL = { minSize: 128, maxSize: 2048, averageBits: 8 };

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "restic-ts-chunker-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(c);
  return out;
}

function expected(data: Uint8Array, opts: ChunkerOptions = SMALL): Uint8Array[] {
  return chunkBoundaries(data, TEST_POL, opts).map((b) =>
    data.subarray(b.start, b.start + b.length),
  );
}

const hexes = (cs: Uint8Array[]) => cs.map((c) => Buffer.from(c).toString("hex"));

describe("chunkStream", () => {
  it("yields the chunks, whatever the pieces the source yields", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 1 << 30 }),
        fc.integer({ min: 0, max: 40_000 }),
        // empty pieces are allowed, but some size must be positive or the source never ends
        fc
          .array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 30 })
          .filter((sizes) => sizes.some((n) => n > 0)),
        async (seed, length, sizes) => {
          const data = xorshiftBytes(seed, length);
          async function* pieces() {
            let off = 0;
            for (let k = 0; off < data.length; k++) {
              const n = sizes[k % sizes.length];
              yield data.subarray(off, off + n); // empty pieces too
              off += n;
            }
          }
          const got = await collect(chunkStream(pieces(), TEST_POL, SMALL));
          expect(hexes(got)).toEqual(hexes(expected(data)));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("reads Node streams, and the chunks own their memory", async () => {
    const data = xorshiftBytes(3, 100_000);
    const path = join(dir, "stream.bin");
    await writeFile(path, data);
    const got = await collect(
      chunkStream(createReadStream(path, { highWaterMark: 1000 }), TEST_POL, SMALL),
    );
    expect(hexes(got)).toEqual(hexes(expected(data)));
    const fromReadable = await collect(
      chunkStream(Readable.from([Buffer.from(data)]), TEST_POL, SMALL),
    );
    expect(hexes(fromReadable)).toEqual(hexes(expected(data)));
    for (const c of fromReadable) expect(c.byteLength).toBe(c.buffer.byteLength);
  });

  it("yields nothing for an empty source", async () => {
    expect(await collect(chunkStream(Readable.from([]), TEST_POL))).toEqual([]);
  });

  it("rejects string chunks", async () => {
    await expect(collect(chunkStream(Readable.from(["text"]), TEST_POL))).rejects.toSatisfy((e) =>
      isResticTsError(e, "INVALID_ARGUMENT"),
    );
  });
});

describe("chunkFile", () => {
  it("yields the chunks for any read size", async () => {
    const data = xorshiftBytes(11, 150_000);
    const path = join(dir, "file.bin");
    await writeFile(path, data);
    for (const readSize of [1, 7, 100, 2047, 2048, 4096, 65_536, 1 << 20]) {
      // tiny reads on a prefix only: each read is a round trip to the thread pool
      const n = readSize < 50 ? 20_000 : data.length;
      await writeFile(path, data.subarray(0, n));
      const got = await collect(chunkFile(path, TEST_POL, { ...SMALL, readSize }));
      expect(hexes(got), `readSize ${readSize}`).toEqual(hexes(expected(data.subarray(0, n))));
    }
  });

  it("handles empty and tiny files", async () => {
    const empty = join(dir, "empty");
    await writeFile(empty, new Uint8Array(0));
    expect(await collect(chunkFile(empty, TEST_POL))).toEqual([]);
    const tiny = join(dir, "tiny");
    await writeFile(tiny, Buffer.from("hello"));
    expect(hexes(await collect(chunkFile(tiny, TEST_POL)))).toEqual([
      Buffer.from("hello").toString("hex"),
    ]);
  });

  it("copes with a file that grows while it is read", async () => {
    // The ring starts at the file's size plus one read; longer chunks make it grow.
    const opts = { minSize: 128, maxSize: 2048, averageBits: 12, readSize: 100 };
    const first = xorshiftBytes(12, 1000);
    first.fill(0, 64, 128); // a window of zeros: the first chunk is cut at 128
    const more = xorshiftBytes(13, 50_000);
    const path = join(dir, "growing.bin");
    await writeFile(path, first);
    const alloc = vi.spyOn(Buffer, "allocUnsafeSlow");
    const got: Uint8Array[] = [];
    try {
      for await (const c of chunkFile(path, TEST_POL, opts)) {
        if (got.length === 0) await appendFile(path, more);
        got.push(c);
      }
      // a ring of size + read + 1 bytes, then one of maxSize + 2 * readSize
      const rings = alloc.mock.calls.map(([n]) => n).filter((n) => n === 1101 || n === 2248);
      expect(rings).toEqual([1101, 2248]);
    } finally {
      alloc.mockRestore();
    }
    expect(got[0].length).toBe(128);
    const all = new Uint8Array([...first, ...more]);
    expect(hexes(got)).toEqual(hexes(expected(all, opts)));
  });

  it("closes the file when the consumer stops early, with a read in flight", async () => {
    const path = join(dir, "early.bin");
    await writeFile(path, xorshiftBytes(14, 200_000));
    const fds = () => (existsSync("/proc/self/fd") ? readdirSync("/proc/self/fd").length : 0);
    const before = fds();
    for (let k = 0; k < 5; k++) {
      for await (const c of chunkFile(path, TEST_POL, { ...SMALL, readSize: 1000 })) {
        expect(c.length).toBeGreaterThan(0);
        break;
      }
    }
    expect(fds()).toBe(before);
  });

  it("reports a missing file as NOT_FOUND", async () => {
    await expect(collect(chunkFile(join(dir, "nope"), TEST_POL))).rejects.toSatisfy((e) =>
      isResticTsError(e, "NOT_FOUND"),
    );
  });

  it("rejects a bad read size", async () => {
    await expect(
      collect(chunkFile(join(dir, "nope"), TEST_POL, { readSize: 0 })),
    ).rejects.toSatisfy((e) => isResticTsError(e, "INVALID_ARGUMENT"));
  });

  it("splits a file as restic does (vectors, restic's sizes)", async () => {
    const c = loadVectors().cases.find((x) => x.name === "random 16 MiB seed 5, derived pol 2");
    if (!c) throw new Error("vector missing");
    const path = join(dir, "vector.bin");
    await writeFile(path, makeInput(c.input));
    const sums: string[] = [];
    for await (const chunk of chunkFile(path, BigInt(`0x${c.pol}`))) sums.push(sha256(chunk));
    expect(sums).toEqual(c.chunks.map((x) => x[3]));
  });
});
