// Fuzzing the binary formats with fast-check: pack headers (random and mutated entries, absurd
// header lengths and entry counts, lying lengths, lying range reads), the unpacked-file framing
// of repository v2 (0x02 || zstd frame) and zstd frames themselves, including decompression
// bombs: a small frame that declares, or produces, far more than allowed is refused before
// zstd allocates its output (the largest WebAssembly allocation during the call is measured).

import { createRequire } from "node:module";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256, toHex } from "../../src/crypto/hash.js";
import { newMasterKey, open, SEAL_OVERHEAD, seal } from "../../src/crypto/master-key.js";
import {
  activeNativeZstd,
  compress,
  decompress,
  frameContentBounds,
  initCompression,
  parseFrameHeader,
  setZstdImplementation,
  type ZstdImplementation,
} from "../../src/repo/compression.js";
import {
  buildPackHeader,
  COMPRESSED_ENTRY_SIZE,
  MAX_HEADER_SIZE,
  PackBuilder,
  PLAIN_ENTRY_SIZE,
  parsePackHeader,
  readPackHeader,
  readPackHeaderWith,
} from "../../src/repo/pack.js";
import { BlobDecompressor, rawFrameInPlace } from "../../src/repo/restore/zstd.js";
import { decodeUnpacked, encodeUnpacked, MAX_UNPACKED_SIZE } from "../../src/repo/unpacked.js";
import { nativeZstd } from "../../src/repo/zstd-native.js";
import { hashRawFrame, RawFrameHasher } from "../../src/repo/zstd-raw.js";
import { applyEdits, attempt, byteEdits, expectCode, runs } from "./fuzz-helpers.js";

await initCompression();
const enc = new TextEncoder();
const id = (s: string) => toHex(sha256(enc.encode(s)));
const key = newMasterKey();
const MiB = 1024 * 1024;

// --- WebAssembly allocations ----------------------------------------------------------------

interface ZstdModule {
  _malloc(n: number): number;
  HEAPU8: Uint8Array;
}
const zstdModule = (() => {
  const require = createRequire(import.meta.url);
  const entry = require.resolve("@bokuweb/zstd-wasm");
  return (require(path.join(path.dirname(entry), "module.js")) as { Module: ZstdModule }).Module;
})();

/**
 * Run `f` and report how much it allocated for zstd output: the largest malloc in the
 * WebAssembly module, or (libzstd writes into buffers of ours) how far the ArrayBuffer
 * memory grew — a buffer allocated and dropped inside `f` is still counted right after it.
 */
async function largestAllocation(f: () => Promise<unknown>): Promise<number> {
  // (WebAssembly memory growth may count as ArrayBuffer memory: only libzstd's is measured so)
  const native = activeNativeZstd() !== null;
  let largest = 0;
  const realMalloc = zstdModule._malloc;
  zstdModule._malloc = (n: number) => {
    largest = Math.max(largest, n >>> 0);
    return realMalloc(n);
  };
  const before = process.memoryUsage().arrayBuffers;
  try {
    await f().catch(() => undefined);
  } finally {
    zstdModule._malloc = realMalloc;
  }
  return native ? Math.max(largest, process.memoryUsage().arrayBuffers - before) : largest;
}

// --- zstd frames made by hand (RFC 8878) ----------------------------------------------------

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
const WINDOW_2MIB = (11 << 3) & 0xff; // window descriptor: windowLog 10 + 11 = 21

/** A frame of `blocks` RLE blocks of `size` bytes each; `declared` goes in an 8-byte FCS. */
function rleFrame(blocks: number, size = 128 * 1024, declared?: number): Uint8Array {
  const head =
    declared === undefined ? [...MAGIC, 0x00, WINDOW_2MIB] : [...MAGIC, 0xc0, WINDOW_2MIB];
  const fcs = new Uint8Array(declared === undefined ? 0 : 8);
  if (declared !== undefined) new DataView(fcs.buffer).setBigUint64(0, BigInt(declared), true);
  const out = new Uint8Array(head.length + fcs.length + blocks * 4);
  out.set(head);
  out.set(fcs, head.length);
  let p = head.length + fcs.length;
  for (let i = 0; i < blocks; i++) {
    const h = (size << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
    out.set([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, 0x41], p);
    p += 4;
  }
  return out;
}

/** One raw block holding `content`, with `declared` as an 8-byte FCS. */
function rawFrame(content: Uint8Array, declared: number): Uint8Array {
  const out = new Uint8Array(6 + 8 + 3 + content.length);
  out.set([...MAGIC, 0xc0, WINDOW_2MIB]);
  new DataView(out.buffer).setBigUint64(6, BigInt(declared), true);
  const h = (content.length << 3) | 1;
  out.set([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff], 14);
  out.set(content, 17);
  return out;
}

/** `frame` (made by our compressor) rewritten without its content size. */
async function withoutContentSize(frame: Uint8Array): Promise<Uint8Array> {
  const fhd = frame[4];
  const single = (fhd & 0x20) !== 0;
  const fcsSize = fhd >> 6 === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fhd >> 6];
  const headerEnd = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3] + fcsSize;
  if (headerEnd > frame.length) return frame; // (a mutated frame: nothing to rewrite)
  // no FCS, not single-segment, same checksum flag; a window of 128 MiB covers any content here
  const head = [...MAGIC, fhd & 0x04, (17 << 3) & 0xff];
  const out = new Uint8Array(head.length + frame.length - headerEnd);
  out.set(head);
  out.set(frame.subarray(headerEnd), head.length);
  return out;
}

const CODES_ZSTD = ["CORRUPT"] as const;

// every zstd test runs with each implementation there is: WebAssembly always, libzstd when
// it loads (compression.ts picks libzstd by default)
const implementations: ZstdImplementation[] = nativeZstd() ? ["wasm", "native"] : ["wasm"];

describe.each(implementations)("zstd frames (%s)", (impl) => {
  let previous: ZstdImplementation;
  beforeAll(() => {
    previous = setZstdImplementation(impl);
  });
  afterAll(() => {
    setZstdImplementation(previous);
  });

  const text = enc.encode(
    Array.from({ length: 400 }, (_, i) => `line ${i} of a compressible text\n`).join(""),
  );
  const noise = Uint8Array.from({ length: 3000 }, (_, i) => (i * 2654435761) >>> 24);

  it("own frames decode, with and without their content size", async () => {
    for (const data of [text, noise]) {
      const frame = await compress(data, "auto");
      expect(await decompress(frame, data.length, data.length)).toEqual(data);
      const bare = await withoutContentSize(frame);
      expect(parseFrameHeader(bare).contentSize).toBeUndefined();
      expect(await decompress(bare, MAX_UNPACKED_SIZE)).toEqual(data);
      const b = frameContentBounds(frame);
      expect(b.min <= data.length && data.length <= b.max).toBe(true);
    }
  });

  it("random bytes after the magic: a value within the limit or CORRUPT", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 200 }),
        fc.option(fc.nat({ max: 4096 })),
        async (body, expected) => {
          const frame = Uint8Array.from([...MAGIC, ...body]);
          const out = await attempt(CODES_ZSTD, () =>
            decompress(frame, 4096, expected ?? undefined),
          );
          if (out.ok) expect(out.value.length).toBe(expected ?? out.value.length);
          if (out.ok) expect(out.value.length).toBeLessThanOrEqual(4096);
          await attempt(CODES_ZSTD, () => parseFrameHeader(frame));
          await attempt(CODES_ZSTD, () => frameContentBounds(frame));
        },
      ),
      { numRuns: runs(400) },
    );
  });

  it("byte mutations of valid frames: the original, another value within limits, or CORRUPT", async () => {
    const frames = await Promise.all([compress(text, "auto"), compress(noise, "auto")]);
    const decoder = await BlobDecompressor.create();
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.nat({ max: 1 }),
          byteEdits,
          fc.boolean(),
          async (which, edits, bare) => {
            const data = which === 0 ? text : noise;
            let frame = applyEdits(frames[which], edits);
            if (bare && frame.length > 6) frame = await withoutContentSize(frame);
            const out = await attempt(CODES_ZSTD, () => decompress(frame, 2 * data.length));
            if (out.ok) expect(out.value.length).toBeLessThanOrEqual(2 * data.length);
            const exact = await attempt(CODES_ZSTD, () =>
              decompress(frame, MAX_UNPACKED_SIZE, data.length),
            );
            if (exact.ok) expect(exact.value.length).toBe(data.length);
            const into = new Uint8Array(data.length);
            await attempt(CODES_ZSTD, () =>
              decoder.decompressInto(frame.slice(), data.length, into),
            );
            // the pure-JS raw-block readers never throw
            const raw = rawFrameInPlace(frame.slice());
            if (raw !== undefined) expect(raw.length).toBeLessThan(frame.length);
            const h = hashRawFrame(frame, data.length);
            if (h !== undefined) expect(h).toMatch(/^[0-9a-f]{64}$/);
          },
        ),
        { numRuns: runs(300) },
      );
    } finally {
      decoder.dispose();
    }
  });

  it("RawFrameHasher takes any chunking of any bytes without throwing", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }),
        fc.nat({ max: 1000 }),
        (chunks, expected) => {
          const h = new RawFrameHasher(expected);
          for (const c of chunks) if (!h.push(c)) break;
          const d = h.digest();
          if (d !== undefined) expect(d).toMatch(/^[0-9a-f]{64}$/);
        },
      ),
      { numRuns: runs(500) },
    );
  });

  it("a bomb declaring 1 TiB in its header is refused without allocating", async () => {
    const bomb = rleFrame(4, 128 * 1024, 2 ** 40);
    const largest = await largestAllocation(async () => {
      await expectCode("CORRUPT", () => decompress(bomb, MAX_UNPACKED_SIZE));
      await expectCode("CORRUPT", () => decodeUnpacked(Uint8Array.from([2, ...bomb]), 2));
    });
    expect(largest).toBeLessThan(MiB);
  });

  it("a bomb without a content size producing 1 GiB is stopped before zstd runs", async () => {
    const bomb = rleFrame(8192); // 32 KiB of frame, 1 GiB of content
    expect(bomb.length).toBeLessThan(40 * 1024);
    expect(frameContentBounds(bomb)).toEqual({ min: 2 ** 30, max: 2 ** 30 });
    const decoder = await BlobDecompressor.create();
    const heapBefore = zstdModule.HEAPU8.buffer.byteLength;
    const largest = await largestAllocation(async () => {
      await expectCode("CORRUPT", () => decodeUnpacked(Uint8Array.from([2, ...bomb]), 2));
      await expectCode("CORRUPT", () => decompress(bomb, 512 * MiB, 1000)); // blob, index: 1000
      await expectCode("CORRUPT", () => decoder.decompressInto(bomb, 1000, new Uint8Array(1000)));
    });
    decoder.dispose();
    expect(largest).toBeLessThan(MiB);
    expect(zstdModule.HEAPU8.buffer.byteLength - heapBefore).toBeLessThan(16 * MiB);
  });

  it("a frame whose declared or indexed size its blocks cannot fill allocates nothing big", async () => {
    const liar = rawFrame(enc.encode("ten bytes!"), 200 * MiB); // under the unpacked limit
    const out = new Uint8Array(300 * MiB); // the caller's buffer (never touched: no pages)
    const largest = await largestAllocation(async () => {
      await expectCode("CORRUPT", () => decodeUnpacked(Uint8Array.from([2, ...liar]), 2));
      // a blob frame of 10 bytes the index claims is 300 MiB
      const small = await compress(enc.encode("ten bytes!"), "auto");
      await expectCode("CORRUPT", () => decompress(small, 512 * MiB, 300 * MiB));
      const decoder = await BlobDecompressor.create();
      await expectCode("CORRUPT", () => decoder.decompressInto(small, 300 * MiB, out));
      decoder.dispose();
    });
    expect(largest).toBeLessThan(MiB);
  });

  it("compressed blocks without a content size stop at the limit, allocating only up to it", async () => {
    const zeros = new Uint8Array(8 * MiB);
    const bare = await withoutContentSize(await compress(zeros, "auto"));
    expect(bare.length).toBeLessThan(64 * 1024);
    const largest = await largestAllocation(() =>
      expectCode("CORRUPT", () => decompress(bare, MiB)),
    );
    expect(largest).toBeLessThanOrEqual(MiB + bare.length);
    // within the limit it decodes, into no more than the blocks can hold
    const out = await decompress(bare, MAX_UNPACKED_SIZE);
    expect(out.length).toBe(zeros.length);
  });
});

// --- unpacked framing -------------------------------------------------------------------------

describe("unpacked files (v2 framing)", () => {
  it("random bytes, and 0x02 followed by random bytes: a value or a coded error", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 100 }), fc.boolean(), async (b, prefixed) => {
        const input = prefixed ? Uint8Array.from([2, ...MAGIC, ...b]) : b;
        const out = await attempt(["CORRUPT", "UNSUPPORTED"], () => decodeUnpacked(input, 2));
        // v1 files are never decoded
        expect(await decodeUnpacked(input, 1)).toBe(input);
        if (out.ok && input.length > 0 && input[0] !== 2) expect(out.value).toBe(input);
      }),
      { numRuns: runs(400) },
    );
  });

  it("byte mutations of an encoded file: the original JSON, or a coded error", async () => {
    const json = enc.encode(JSON.stringify({ packs: [], supersedes: [id("x")] }));
    const encoded = await encodeUnpacked(json, 2);
    expect(await decodeUnpacked(encoded, 2)).toEqual(json);
    await fc.assert(
      fc.asyncProperty(byteEdits, async (edits) => {
        await attempt(["CORRUPT", "UNSUPPORTED"], () =>
          decodeUnpacked(applyEdits(encoded, edits), 2),
        );
      }),
      { numRuns: runs(300) },
    );
  });
});

// --- pack headers ---------------------------------------------------------------------------

/** Every invariant a parsed header must satisfy. */
function checkBlobs(blobs: ReturnType<typeof parsePackHeader>, blobsEnd?: number): void {
  let offset = 0;
  for (const b of blobs) {
    expect(b.offset).toBe(offset);
    expect(b.length).toBeGreaterThanOrEqual(SEAL_OVERHEAD);
    expect(b.id).toMatch(/^[0-9a-f]{64}$/);
    if (b.uncompressedLength !== undefined) expect(b.uncompressedLength).toBeGreaterThan(0);
    offset += b.length;
  }
  if (blobsEnd !== undefined) expect(offset).toBeLessThanOrEqual(blobsEnd);
}

const sampleEntries = [
  { type: "data" as const, id: id("a"), length: 100 },
  { type: "tree" as const, id: id("b"), length: 64, uncompressedLength: 500 },
  { type: "data" as const, id: id("c"), length: 40, uncompressedLength: 80 },
];

/** A LoadRange over `bytes` that fails the test if asked for bytes outside the file. */
function rangeOf(bytes: Uint8Array) {
  return async (offset: number, length: number) => {
    expect(offset).toBeGreaterThanOrEqual(0);
    expect(offset + length).toBeLessThanOrEqual(bytes.length);
    return bytes.subarray(offset, offset + length);
  };
}

describe("pack headers", () => {
  it("random plaintext headers: contiguous blobs inside the blobs area, or CORRUPT", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 3 * COMPRESSED_ENTRY_SIZE }),
        fc.option(fc.nat({ max: 2 ** 32 })),
        fc.boolean(),
        async (plain, end, exact) => {
          const out = await attempt(["CORRUPT"], () =>
            parsePackHeader(plain, end ?? undefined, exact),
          );
          if (out.ok) checkBlobs(out.value, end ?? undefined);
        },
      ),
      { numRuns: runs(500) },
    );
  });

  it("mutated entries (types, lengths, truncation): a value with the invariants, or CORRUPT", async () => {
    const plain = buildPackHeader(sampleEntries);
    await fc.assert(
      fc.asyncProperty(byteEdits, fc.nat({ max: 400 }), async (edits, end) => {
        const out = await attempt(["CORRUPT"], () =>
          parsePackHeader(applyEdits(plain, edits), end),
        );
        if (out.ok) checkBlobs(out.value, end);
      }),
      { numRuns: runs(400) },
    );
  });

  it("absurd header lengths in the trailer are refused, reading only inside the file", async () => {
    const blobs = new Uint8Array(204);
    const absurd = (size: number) => [
      0,
      1,
      SEAL_OVERHEAD - 1,
      SEAL_OVERHEAD,
      size - 5,
      size - 4,
      size - 3,
      size,
      MAX_HEADER_SIZE - 4,
      MAX_HEADER_SIZE - 3,
      0x7fff_ffff,
      0xffff_ffff,
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.nat({ max: 11 }),
        fc.boolean(),
        async (body, which, identity) => {
          // identity: the "sealed" header is taken as plaintext, to reach the entry parser
          const pack = Uint8Array.from([...blobs, ...body, 0, 0, 0, 0]);
          const hlen = absurd(pack.length)[which] >>> 0;
          new DataView(pack.buffer).setUint32(pack.length - 4, hlen, true);
          const openHeader = identity ? (s: Uint8Array) => s : (s: Uint8Array) => open(key, s);
          const out = await attempt(["CORRUPT", "UNAUTHENTICATED"], () =>
            readPackHeaderWith(rangeOf(pack), pack.length, openHeader, true),
          );
          if (out.ok) checkBlobs(out.value.blobs, pack.length - out.value.headerSize);
        },
      ),
      { numRuns: runs(400) },
    );
  });

  it("a real pack with flipped bytes or a lying size: its blobs, or CORRUPT / UNAUTHENTICATED", async () => {
    const b = new PackBuilder({ key, repoVersion: 2 });
    b.add("data", id("x"), seal(key, enc.encode("x".repeat(50))));
    b.add("tree", id("y"), seal(key, enc.encode("y")), 1);
    const pack = b.finalize();
    expect((await readPackHeader(rangeOf(pack), pack.length, key)).length).toBe(2);
    await fc.assert(
      fc.asyncProperty(byteEdits, fc.integer({ min: -8, max: 8 }), async (edits, lie) => {
        const bytes = applyEdits(pack, edits);
        // the size the caller believes may differ from the bytes there (a lying listing)
        const size = Math.max(0, bytes.length + lie);
        const load = async (offset: number, length: number) =>
          bytes.subarray(offset, offset + length);
        const out = await attempt(["CORRUPT", "UNAUTHENTICATED"], () =>
          readPackHeader(load, size, key),
        );
        if (out.ok) checkBlobs(out.value, size);
      }),
      { numRuns: runs(300) },
    );
  });

  it("an absurd entry count (a 16 MiB header of 37-byte entries) parses or fails in time", async () => {
    const entries = Math.floor((MAX_HEADER_SIZE - 4 - SEAL_OVERHEAD) / PLAIN_ENTRY_SIZE);
    const header = new Uint8Array(entries * PLAIN_ENTRY_SIZE);
    const view = new DataView(header.buffer);
    for (let i = 0; i < entries; i++) view.setUint32(i * PLAIN_ENTRY_SIZE + 1, SEAL_OVERHEAD, true);
    const blobsArea = entries * SEAL_OVERHEAD;
    // 450,000 entries: a few hundred ms on an idle machine; the budget allows for a busy one
    const budget = 10_000;
    const heapBefore = process.memoryUsage().heapUsed;
    const ok = await attempt([], () => parsePackHeader(header, blobsArea, true), budget);
    expect(ok.ok && ok.value.length).toBe(entries);
    // ~150 bytes per entry (an object and a flat 64-character ID); IDs built by string
    // concatenation were ropes of 64 heap objects each: ~1 GB for this header
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(300 * MiB);
    // the same header one byte short of room for its blobs: CORRUPT, naming the entry
    await expectCode("CORRUPT", () => parsePackHeader(header, blobsArea - 1, true), budget);
    // and one entry with a length reaching past everything
    view.setUint32(1, 0xffff_ffff, true);
    await expectCode("CORRUPT", () => parsePackHeader(header, blobsArea, false));
  });
});
