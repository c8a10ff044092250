// scanPack: in whole-file mode every byte is seen once, in order; every blob inside the file
// and not overlapping its predecessor is handed out with exactly its bytes; the others are
// returned as skipped. Sparse mode reads only what the blobs need. With a second (prefetch)
// buffer the next segment is read while a blob is handled, never into the blob's bytes.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type PackEntry,
  type PackFile,
  ScratchBuffer,
  scanPack,
} from "../../../src/repo/pack-stream.js";
import { bytes } from "./build.js";

function memoryFile(data: Uint8Array, reads: [number, number][]): PackFile {
  return {
    id: "0".repeat(64),
    size: data.length,
    async read(offset, length, into) {
      reads.push([offset, length]);
      await new Promise((r) => setImmediate(r));
      if (offset + length > data.length) throw new Error("short read");
      into.set(data.subarray(offset, offset + length));
      return into.subarray(0, length);
    },
    async close() {},
  };
}

const blobArb = fc.record({ offset: fc.nat(5000), length: fc.integer({ min: 1, max: 1500 }) });

describe("scanPack", () => {
  it("whole-file mode: all bytes once, in order; blobs exact; the rest skipped", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 6000 }),
        fc.array(blobArb, { maxLength: 12 }),
        fc.integer({ min: 64, max: 2048 }),
        fc.boolean(),
        async (size, raw, segmentSize, prefetch) => {
          const data = bytes(size + 1, size);
          const blobs: PackEntry[] = raw.map((b, i) => ({
            type: "data",
            id: i.toString(16).padStart(64, "0"),
            ...b,
          }));
          const reads: [number, number][] = [];
          const seen: Uint8Array[] = [];
          const got = new Map<string, Uint8Array>();
          const skipped = await scanPack(memoryFile(data, reads), blobs, {
            wholeFile: true,
            buffer: new ScratchBuffer(),
            prefetch: prefetch ? new ScratchBuffer() : undefined,
            segmentSize,
            onBytes: (c) => {
              seen.push(Uint8Array.from(c));
            },
            onBlob: async (e, sealed) => {
              // valid until onBlob returns, also while the next segment is being read
              await new Promise((r) => setImmediate(r));
              got.set(e.id, Uint8Array.from(sealed));
            },
          });
          expect(Buffer.concat(seen)).toEqual(Buffer.from(data));
          for (const b of blobs) {
            if (skipped.includes(b)) {
              expect(got.has(b.id)).toBe(false);
              continue;
            }
            expect(got.get(b.id)).toEqual(data.subarray(b.offset, b.offset + b.length));
          }
          // skipped: beyond the end, or overlapping the previous streamed blob
          for (const b of skipped) {
            const beyond = b.offset + b.length > size;
            const overlaps = blobs.some(
              (o) =>
                o !== b &&
                !skipped.includes(o) &&
                o.offset < b.offset + b.length &&
                b.offset < o.offset + o.length,
            );
            expect(beyond || overlaps).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("sparse mode reads only near the blobs", async () => {
    const data = bytes(3, 10 * 1024 * 1024);
    const blobs: PackEntry[] = [
      { type: "data", id: "1".repeat(64), offset: 100, length: 1000 },
      { type: "data", id: "2".repeat(64), offset: 8 * 1024 * 1024, length: 1000 },
    ];
    const reads: [number, number][] = [];
    const got: string[] = [];
    await scanPack(memoryFile(data, reads), blobs, {
      wholeFile: false,
      buffer: new ScratchBuffer(),
      onBlob: (e) => {
        got.push(e.id);
      },
    });
    expect(got).toEqual(blobs.map((b) => b.id));
    expect(reads).toEqual([
      [100, 1000],
      [8 * 1024 * 1024, 1000],
    ]);
  });

  it("with a prefetch buffer, reads the next segment while a blob is handled", async () => {
    const data = bytes(4, 3 * 1024 * 1024);
    const blobs: PackEntry[] = [0, 1, 2].map((i) => ({
      type: "data",
      id: String(i + 1).repeat(64),
      offset: i * 1024 * 1024,
      length: 1024 * 1024,
    }));
    const reads: [number, number][] = [];
    const readsAtBlob: number[] = [];
    await scanPack(memoryFile(data, reads), blobs, {
      wholeFile: false,
      buffer: new ScratchBuffer(),
      prefetch: new ScratchBuffer(),
      segmentSize: 1024 * 1024,
      onBlob: async (e, sealed) => {
        readsAtBlob.push(reads.length);
        await new Promise((r) => setImmediate(r));
        const want = data.subarray(e.offset, e.offset + e.length);
        expect(Buffer.from(sealed).equals(want)).toBe(true);
      },
    });
    expect(readsAtBlob).toEqual([2, 3, 3]);
  });

  it("waits for a read still running when a blob fails", async () => {
    const data = bytes(5, 2048);
    const blobs: PackEntry[] = [0, 1].map((i) => ({
      type: "data",
      id: String(i + 1).repeat(64),
      offset: i * 1024,
      length: 1024,
    }));
    let running = 0;
    const file = memoryFile(data, []);
    const read = file.read;
    file.read = async (offset, length, into) => {
      running++;
      try {
        return await read(offset, length, into);
      } finally {
        running--;
      }
    };
    const failed = scanPack(file, blobs, {
      wholeFile: false,
      buffer: new ScratchBuffer(),
      prefetch: new ScratchBuffer(),
      segmentSize: 1024,
      onBlob: () => {
        throw new Error("bad blob");
      },
    });
    await expect(failed).rejects.toThrow("bad blob");
    expect(running).toBe(0);
  });
});
