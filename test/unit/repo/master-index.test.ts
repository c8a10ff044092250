import { once } from "node:events";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BlobLocation,
  MasterIndex,
  SharedDataBlobSet,
} from "../../../src/repo/master-index.js";

const hex = (n: number, salt = 0) => {
  const b = Buffer.alloc(32);
  b.writeUInt32BE(n >>> 0, 0);
  b.writeUInt32BE(salt, 28);
  return b.toString("hex");
};

type Op =
  | {
      op: "add";
      pack: number;
      blobs: { type: "data" | "tree"; id: number; offset: number; length: number; u: number }[];
    }
  | { op: "remove"; packs: number[] };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant("add" as const),
      pack: fc.integer({ min: 0, max: 12 }),
      blobs: fc.array(
        fc.record({
          type: fc.constantFrom("data" as const, "tree" as const),
          id: fc.integer({ min: 0, max: 30 }),
          offset: fc.integer({ min: 0, max: 3 }),
          length: fc.integer({ min: 32, max: 34 }),
          u: fc.constantFrom(0, 0, 5),
        }),
        { maxLength: 8 },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("remove" as const),
      packs: fc.array(fc.integer({ min: 0, max: 14 }), { maxLength: 3 }),
    }),
  },
);

describe("MasterIndex", () => {
  it("behaves like a list of entries (model-based)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
        const mi = new MasterIndex();
        // model: entries in insertion order, exact duplicates skipped
        let model: { type: string; id: string; loc: BlobLocation }[] = [];
        let packs: string[] = [];
        for (const o of ops) {
          if (o.op === "add") {
            const packId = hex(o.pack, 0xffff);
            if (!packs.includes(packId)) packs.push(packId);
            const blobs = o.blobs.map((b) => ({
              type: b.type,
              id: hex(b.id),
              offset: b.offset,
              length: b.length,
              ...(b.u ? { uncompressedLength: b.u } : {}),
            }));
            mi.add(packId, blobs);
            for (const b of blobs) {
              const loc: BlobLocation = {
                packId,
                offset: b.offset,
                length: b.length,
                ...(b.uncompressedLength ? { uncompressedLength: b.uncompressedLength } : {}),
              };
              const dup = model.some(
                (m) =>
                  m.type === b.type &&
                  m.id === b.id &&
                  JSON.stringify(m.loc) === JSON.stringify(loc),
              );
              if (!dup) model.push({ type: b.type, id: b.id, loc });
            }
          } else {
            const gone = new Set(o.packs.map((p) => hex(p, 0xffff)));
            const before = model.length;
            model = model.filter((m) => !gone.has(m.loc.packId));
            packs = packs.filter((p) => !gone.has(p));
            expect(mi.removePacks(gone)).toBe(before - model.length);
          }
          expect(mi.size).toBe(model.length);
        }
        expect(mi.packs()).toEqual(new Set(packs));
        for (let i = 0; i <= 31; i++) {
          for (const type of ["data", "tree"] as const) {
            const want = model.filter((m) => m.type === type && m.id === hex(i)).map((m) => m.loc);
            expect(mi.lookup(type, hex(i))).toEqual(want);
            expect(mi.has(type, hex(i))).toBe(want.length > 0);
            const size =
              want.length === 0 ? undefined : (want[0].uncompressedLength ?? want[0].length - 32);
            expect(mi.lookupSize(type, hex(i))).toBe(size);
          }
        }
        expect(
          [...mi].map((e) => ({
            type: e.type,
            id: e.id,
            loc: {
              packId: e.packId,
              offset: e.offset,
              length: e.length,
              ...(e.uncompressedLength ? { uncompressedLength: e.uncompressedLength } : {}),
            },
          })),
        ).toEqual(model);
        const grouped = [...mi.byPack()];
        expect(grouped.reduce((n, g) => n + g.blobs.length, 0)).toBe(model.length);
        for (const g of grouped) for (const b of g.blobs) expect(b.packId).toBe(g.packId);
      }),
      { numRuns: 200 },
    );
  });

  it("grows past many entries and finds them all", () => {
    const mi = new MasterIndex();
    const n = 200_000;
    for (let p = 0; p < n / 100; p++) {
      const blobs = [];
      for (let i = 0; i < 100; i++)
        blobs.push({ type: "data" as const, id: hex(p * 100 + i, 7), offset: i * 40, length: 40 });
      mi.add(hex(p, 1), blobs);
    }
    expect(mi.size).toBe(n);
    expect(mi.packCount).toBe(n / 100);
    for (let k = 0; k < n; k += 997) {
      expect(mi.lookup("data", hex(k, 7))).toEqual([
        { packId: hex(Math.floor(k / 100), 1), offset: (k % 100) * 40, length: 40 },
      ]);
      expect(mi.has("tree", hex(k, 7))).toBe(false);
    }
    expect(mi.removePacks([hex(0, 1), hex(5, 1)])).toBe(200);
    expect(mi.size).toBe(n - 200);
    expect(mi.has("data", hex(1, 7))).toBe(false);
    expect(mi.has("data", hex(100, 7))).toBe(true);
  });

  it("shares its data blobs with other threads as they were, exactly", async () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 20 }),
        fc.array(opArb, { maxLength: 5 }),
        (before, after) => {
          const mi = new MasterIndex();
          const apply = (ops: Op[]) => {
            for (const o of ops) {
              if (o.op !== "add") continue;
              mi.add(
                hex(o.pack, 0xffff),
                o.blobs.map((b) => ({
                  type: b.type,
                  id: hex(b.id),
                  offset: b.offset,
                  length: b.length,
                })),
              );
            }
          };
          apply(before);
          const set = new SharedDataBlobSet(mi.shareDataBlobs());
          const then = Array.from({ length: 32 }, (_, id) => mi.has("data", hex(id)));
          apply(after); // later entries are not in the set
          for (let id = 0; id < 32; id++) expect(set.has(hex(id))).toBe(then[id]);
          expect(set.has("not an id")).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
    // and from a worker thread, through the shared memory
    const mi = new MasterIndex();
    mi.add(hex(1, 1), [
      { type: "data", id: hex(7), offset: 0, length: 40 },
      { type: "tree", id: hex(8), offset: 40, length: 40 },
    ]);
    const worker = new Worker(
      `const { parentPort, workerData } = require("node:worker_threads");
       import(workerData.module).then(({ SharedDataBlobSet }) => {
         const set = new SharedDataBlobSet(workerData.blobs);
         parentPort.postMessage(workerData.ids.map((id) => set.has(id)));
       });`,
      {
        eval: true,
        workerData: {
          module: pathToFileURL(path.resolve("dist/src/repo/master-index.js")).href,
          blobs: mi.shareDataBlobs(),
          ids: [hex(7), hex(8), hex(9)],
        },
      },
    );
    const [answers] = await once(worker, "message");
    await worker.terminate();
    expect(answers).toEqual([true, false, false]);
  });

  it("refuses invalid input", () => {
    const mi = new MasterIndex();
    expect(() => mi.add("nope", [])).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => mi.add(hex(1), [{ type: "data", id: "x", offset: 0, length: 1 }])).toThrow();
    expect(() => mi.add(hex(1), [{ type: "data", id: hex(2), offset: -1, length: 1 }])).toThrow();
    expect(() => mi.lookup("data", "zz")).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});
