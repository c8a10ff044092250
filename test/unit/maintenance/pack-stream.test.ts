// scanPack: in whole-file mode every byte is seen once, in order; every blob inside the file
// and not overlapping its predecessor is handed out with exactly its bytes; the others are
// returned as skipped. Sparse mode reads only what the blobs need.

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
        async (size, raw, segmentSize) => {
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
            segmentSize,
            onBytes: (c) => {
              seen.push(Uint8Array.from(c));
            },
            onBlob: (e, sealed) => {
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
});
