// The raw-block zstd hasher: equal to hashing the decompressed content for frames of raw and
// RLE blocks (fed in chunks of any size), and declining everything else.

import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compress, decompress } from "../../../src/repo/compression.js";
import { hashRawFrame, RawFrameHasher } from "../../../src/repo/zstd-raw.js";
import { bytes } from "./build.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A frame of raw/RLE blocks built by hand (single segment, 4-byte content size). */
function rawFrame(blocks: { rle?: number; data?: Uint8Array; size?: number }[], checksum = false) {
  const parts: number[] = [0x28, 0xb5, 0x2f, 0xfd, 0x80 | 0x20 | (checksum ? 4 : 0)];
  const content: number[] = [];
  const body: number[] = [];
  blocks.forEach((b, i) => {
    const last = i === blocks.length - 1 ? 1 : 0;
    if (b.rle !== undefined) {
      const size = b.size ?? 0;
      const h = last | (1 << 1) | (size << 3);
      body.push(h & 255, (h >> 8) & 255, (h >> 16) & 255, b.rle);
      for (let k = 0; k < size; k++) content.push(b.rle);
    } else {
      const d = b.data ?? new Uint8Array();
      const h = last | (d.length << 3);
      body.push(h & 255, (h >> 8) & 255, (h >> 16) & 255, ...d);
      content.push(...d);
    }
  });
  const n = content.length;
  parts.push(n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255, ...body);
  if (checksum) parts.push(1, 2, 3, 4);
  return { frame: new Uint8Array(parts), content: new Uint8Array(content) };
}

describe("RawFrameHasher", () => {
  it("hashes raw and RLE blocks in any chunking, with or without checksum", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 300 }).map((data) => ({ data })),
            fc.record({ rle: fc.integer({ min: 0, max: 255 }), size: fc.nat(500) }),
          ),
          { minLength: 1, maxLength: 6 },
        ),
        fc.boolean(),
        fc.integer({ min: 1, max: 64 }),
        (blocks, checksum, chunk) => {
          const { frame, content } = rawFrame(blocks, checksum);
          const h = new RawFrameHasher(content.length);
          for (let p = 0; p < frame.length; p += chunk) {
            expect(h.push(frame.subarray(p, p + chunk))).toBe(true);
          }
          expect(h.digest()).toBe(sha(content));
        },
      ),
    );
  });

  it("declines compressed blocks, wrong sizes, truncation and trailing bytes", async () => {
    const text = new TextEncoder().encode("compressible text ".repeat(1000));
    const z = await compress(text, "auto");
    expect(hashRawFrame(z, text.length)).toBeUndefined();
    const { frame, content } = rawFrame([{ data: bytes(1, 100) }]);
    expect(hashRawFrame(frame, content.length)).toBe(sha(content));
    expect(hashRawFrame(frame, content.length + 1)).toBeUndefined();
    expect(hashRawFrame(frame.subarray(0, frame.length - 1), content.length)).toBeUndefined();
    const longer = new Uint8Array([...frame, 0]);
    expect(hashRawFrame(longer, content.length)).toBeUndefined();
  });

  it("agrees with the decoder on what the real zstd writes for random data", async () => {
    for (const n of [1, 1000, 200_000, 1_100_000]) {
      const data = bytes(n, n);
      const z = await compress(data, "auto");
      const got = hashRawFrame(z, n);
      if (got !== undefined) expect(got).toBe(sha(await decompress(z, n, n)));
      expect(got ?? sha(data)).toBe(sha(data));
    }
  });
});
