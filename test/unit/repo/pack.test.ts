import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { newMasterKey, open, SEAL_OVERHEAD, seal } from "../../../src/crypto/master-key.js";
import { isResticTsError } from "../../../src/errors.js";
import {
  buildPackHeader,
  COMPRESSED_ENTRY_SIZE,
  MIN_PACK_SIZE,
  type PackBlob,
  PackBuilder,
  PLAIN_ENTRY_SIZE,
  packHeaderSize,
  parsePackHeader,
  readPackHeader,
  readPackHeaderWith,
} from "../../../src/repo/pack.js";

const id = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("hex"));
const entry = fc.record({
  type: fc.constantFrom("data" as const, "tree" as const),
  id,
  length: fc.integer({ min: SEAL_OVERHEAD, max: 0xffff_ffff }),
  uncompressedLength: fc.option(fc.integer({ min: 1, max: 0xffff_ffff }), { nil: undefined }),
});

function withOffsets(
  list: { type: "data" | "tree"; id: string; length: number; uncompressedLength?: number }[],
) {
  let off = 0;
  return list.map((e) => {
    const b: PackBlob =
      e.uncompressedLength === undefined
        ? { type: e.type, id: e.id, offset: off, length: e.length }
        : {
            type: e.type,
            id: e.id,
            offset: off,
            length: e.length,
            uncompressedLength: e.uncompressedLength,
          };
    off += e.length;
    return b;
  });
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const mem = (bytes: Uint8Array) => async (off: number, len: number) =>
  bytes.subarray(off, off + len);

describe("pack header entries", () => {
  it("round-trips through build and parse", () => {
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 40 }), (list) => {
        const blobs = withOffsets(list);
        const header = buildPackHeader(blobs);
        expect(header.length).toBe(blobs.reduce((n, b) => n + (b.uncompressedLength ? 41 : 37), 0));
        expect(parsePackHeader(header)).toEqual(blobs);
      }),
    );
  });

  it("writes restic's layout: type, LE length, LE uncompressed length, id", () => {
    const h = buildPackHeader([
      { type: "tree", id: "01".repeat(32), length: 0x01020304 },
      { type: "data", id: "02".repeat(32), length: 40, uncompressedLength: 0x0a0b0c0d },
    ]);
    expect(h.length).toBe(PLAIN_ENTRY_SIZE + COMPRESSED_ENTRY_SIZE);
    expect(Buffer.from(h.subarray(0, 5)).toString("hex")).toBe("0104030201");
    expect(Buffer.from(h.subarray(37, 46)).toString("hex")).toBe("02280000000d0c0b0a");
  });

  it("refuses lies with CORRUPT", () => {
    const ok = buildPackHeader([{ type: "data", id: "aa".repeat(32), length: 100 }]);
    const bad = (mut: (b: Uint8Array) => Uint8Array, blobsEnd?: number, exact = false) => {
      expect(() => parsePackHeader(mut(Uint8Array.from(ok)), blobsEnd, exact)).toThrow(
        expect.objectContaining({ code: "CORRUPT" }),
      );
    };
    const set = (i: number, v: number) => (b: Uint8Array) => {
      b[i] = v;
      return b;
    };
    bad(set(0, 4));
    bad((b) => b.subarray(0, 36));
    bad(set(0, 2)); // compressed type needs 41 bytes
    bad((b) => set(2, 0)(set(1, 5)(b))); // shorter than the seal overhead
    bad((b) => b, 99); // extends past the blobs
    bad((b) => b, 101, true); // leaves a gap
    expect(parsePackHeader(ok, 100, true)).toHaveLength(1);
    const zeroU = buildPackHeader([
      { type: "data", id: "aa".repeat(32), length: 100, uncompressedLength: 1 },
    ]);
    zeroU.fill(0, 5, 9);
    expect(() => parsePackHeader(zeroU)).toThrow(expect.objectContaining({ code: "CORRUPT" }));
  });
});

describe("PackBuilder and readPackHeader", () => {
  const key = newMasterKey();

  it("builds packs that read back, with blobs that decrypt to their IDs", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom("data" as const, "tree" as const),
            fc.uint8Array({ maxLength: 300 }),
          ),
          {
            minLength: 1,
            maxLength: 40,
          },
        ),
        async (items) => {
          const pb = new PackBuilder({ key, repoVersion: 1 });
          for (const [type, data] of items) pb.add(type, sha(data), seal(key, data));
          const expected = pb.finalSize;
          const pack = pb.finalize();
          expect(pack.length).toBe(expected);
          expect(pack.length).toBe(pb.size + packHeaderSize(pb.blobs));
          const loads: number[] = [];
          const blobs = await readPackHeader(
            async (o, l) => {
              loads.push(l);
              return pack.subarray(o, o + l);
            },
            pack.length,
            key,
          );
          expect(blobs).toEqual(pb.blobs);
          expect(loads.length).toBe(items.length <= 15 ? 1 : 2);
          for (const [i, b] of blobs.entries()) {
            const plain = open(key, pack.subarray(b.offset, b.offset + b.length));
            expect(plain).toEqual(items[i][1]);
            expect(sha(plain)).toBe(b.id);
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it("allows compressed entries only in repository version 2", async () => {
    const v1 = new PackBuilder({ key, repoVersion: 1 });
    expect(() => v1.add("data", "aa".repeat(32), seal(key, Uint8Array.of(1)), 10)).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
    const v2 = new PackBuilder({ key, repoVersion: 2 });
    v2.add("tree", "aa".repeat(32), seal(key, Uint8Array.of(1)), 10);
    const pack = v2.finalize();
    expect(await readPackHeader(mem(pack), pack.length, key)).toEqual([
      { type: "tree", id: "aa".repeat(32), offset: 0, length: 33, uncompressedLength: 10 },
    ]);
    expect(() => v2.finalize()).toThrow();
    expect(() => new PackBuilder({ key, repoVersion: 2 }).finalize()).toThrow();
  });

  it("refuses damaged packs with CORRUPT or UNAUTHENTICATED, never anything else", async () => {
    const pb = new PackBuilder({ key, repoVersion: 2 });
    for (let i = 0; i < 20; i++) pb.add("data", sha(Uint8Array.of(i)), seal(key, Uint8Array.of(i)));
    const pack = pb.finalize();
    const code = async (bytes: Uint8Array) => {
      try {
        await readPackHeader(mem(bytes), bytes.length, key);
        return "ok";
      } catch (err) {
        if (!isResticTsError(err)) throw err;
        return err.code;
      }
    };
    expect(await code(pack)).toBe("ok");
    expect(await code(pack.subarray(0, MIN_PACK_SIZE - 1))).toBe("CORRUPT");
    const setLen = (n: number) => {
      const b = Uint8Array.from(pack);
      new DataView(b.buffer).setUint32(b.length - 4, n, true);
      return b;
    };
    expect(await code(setLen(0))).toBe("CORRUPT");
    expect(await code(setLen(31))).toBe("CORRUPT");
    expect(await code(setLen(pack.length))).toBe("CORRUPT");
    expect(await code(setLen(0xffff_ffff))).toBe("CORRUPT");
    expect(await code(setLen(200))).toBe("UNAUTHENTICATED");
    // a header that authenticates but lies about the blob lengths
    const lie = buildPackHeader([{ type: "data", id: "aa".repeat(32), length: 1000 }]);
    const sealed = seal(key, lie);
    const fake = new Uint8Array(100 + sealed.length + 4);
    fake.set(sealed, 100);
    new DataView(fake.buffer).setUint32(fake.length - 4, sealed.length, true);
    expect(await code(fake)).toBe("CORRUPT");
    // short reads
    await expect(
      readPackHeaderWith(
        async () => new Uint8Array(3),
        pack.length,
        (s) => open(key, s),
      ),
    ).rejects.toThrow(expect.objectContaining({ code: "CORRUPT" }));
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: pack.length - 1 }),
        fc.integer({ min: 1, max: 255 }),
        async (i, x) => {
          const b = Uint8Array.from(pack);
          b[i] ^= x;
          const c = await code(b);
          expect(["ok", "CORRUPT", "UNAUTHENTICATED"]).toContain(c);
        },
      ),
      { numRuns: 300 },
    );
  });
});
