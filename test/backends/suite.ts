// The Backend conformance suite (after restic's internal/backend/test/tests.go): every
// contract stated in src/backends/backend.ts, run against each backend — mem, local, and
// later the remote ones — through an async factory so servers can be started and torn down.

import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend, FileInfo, FileType, Handle } from "../../src/backends/backend.js";
import { FILE_TYPES } from "../../src/backends/backend.js";
import type { ErrorCode } from "../../src/errors.js";
import { isResticTsError } from "../../src/errors.js";

export interface BackendFixture {
  backend: Backend;
  /** Release whatever `make` set up (directories, servers, connections). */
  cleanup(): Promise<void>;
}

export interface SuiteOptions {
  /** Size of the large round-trip file (default 5 MiB + 7 bytes). */
  largeSize?: number;
  /** Files saved in parallel by the concurrency test (default 50). */
  concurrency?: number;
  /** fast-check runs of the byte-range property (default 40). */
  propertyRuns?: number;
}

/** A random 64-character lower-case hex ID, optionally starting with `prefix`. */
export function randomId(prefix = ""): string {
  return prefix + randomBytes(32).toString("hex").slice(prefix.length);
}

export function randomData(size: number): Uint8Array {
  return new Uint8Array(randomBytes(size));
}

/** Assert that `p` rejects with a ResticTsError of `code`. */
export async function expectCode(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error(`expected rejection with ${code}, got success`);
  if (!isResticTsError(err, code)) {
    throw new Error(`expected ResticTsError ${code}, got ${String(err)}`, { cause: err });
  }
}

export async function collect(it: AsyncIterable<FileInfo>): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const fi of it) out.push(fi);
  return out;
}

/** The listed names of `type`, sorted, failing on duplicates. */
async function listNames(b: Backend, type: FileType): Promise<string[]> {
  const names = (await collect(b.list(type))).map((fi) => fi.name).sort();
  expect(new Set(names).size, `duplicates in list(${type})`).toBe(names.length);
  return names;
}

/** A non-config type for each kind of test; data exercises the subdirectory layout. */
const ID_TYPES: readonly Exclude<FileType, "config">[] = [
  "data",
  "key",
  "lock",
  "snapshot",
  "index",
];

/** Names that must be refused with INVALID_ARGUMENT, each a way to escape or confuse a layout. */
export const HOSTILE_NAMES: readonly string[] = [
  "",
  ".",
  "..",
  "../config",
  "../../../../etc/passwd",
  "/etc/passwd",
  "abc",
  randomId().slice(0, 63),
  `${randomId()}0`,
  randomId().toUpperCase(),
  `${randomId().slice(0, 62)}/x`,
  `${randomId().slice(0, 61)}/..`,
  `../${randomId().slice(3)}`,
  `${randomId().slice(0, 63)}\0`,
  `${randomId().slice(0, 63)}\\`,
  `${randomId()}-tmp-1234`,
  ` ${randomId().slice(1)}`,
];

export function describeBackend(
  name: string,
  make: () => Promise<BackendFixture>,
  options: SuiteOptions = {},
): void {
  const largeSize = options.largeSize ?? 5 * 1024 * 1024 + 7;
  const concurrency = options.concurrency ?? 50;
  const propertyRuns = options.propertyRuns ?? 40;

  describe(`Backend conformance: ${name}`, () => {
    let fx: BackendFixture | undefined;
    let created = false;

    beforeEach(async () => {
      fx = await make();
      created = false;
    });

    afterEach(async () => {
      const f = fx;
      fx = undefined;
      if (f !== undefined) {
        await f.backend.close();
        await f.cleanup();
      }
    });

    /** The fixture's backend after `create()`. */
    async function ready(): Promise<Backend> {
      if (fx === undefined) throw new Error("no fixture");
      if (!created) {
        await fx.backend.create();
        created = true;
      }
      return fx.backend;
    }

    function raw(): Backend {
      if (fx === undefined) throw new Error("no fixture");
      return fx.backend;
    }

    it("has a printable location", () => {
      expect(typeof raw().location).toBe("string");
      expect(raw().location.length).toBeGreaterThan(0);
    });

    it("before create: lists nothing, config is NOT_FOUND, isEmpty is true", async () => {
      const b = raw();
      for (const t of FILE_TYPES) expect(await listNames(b, t)).toEqual([]);
      await expectCode(b.stat({ type: "config", name: "" }), "NOT_FOUND");
      await expectCode(b.load({ type: "config", name: "" }), "NOT_FOUND");
      if (b.isEmpty) expect(await b.isEmpty()).toBe(true);
    });

    it("create is idempotent and keeps stored files", async () => {
      const b = await ready();
      const h: Handle = { type: "data", name: randomId() };
      const data = randomData(100);
      await b.save(h, data);
      await b.save({ type: "config", name: "" }, data);
      await b.create();
      expect(await b.load(h)).toEqual(data);
      expect(await b.load({ type: "config", name: "" })).toEqual(data);
      for (const t of FILE_TYPES)
        expect(await listNames(b, t)).toEqual(t === "data" ? [h.name] : t === "config" ? [""] : []);
    });

    it("after create: lists nothing; isEmpty turns false once a file is saved", async () => {
      const b = await ready();
      for (const t of FILE_TYPES) expect(await listNames(b, t)).toEqual([]);
      await b.save({ type: "key", name: randomId() }, randomData(10));
      if (b.isEmpty) expect(await b.isEmpty()).toBe(false);
    });

    it("stores the config under the empty name and lists it once", async () => {
      const b = await ready();
      const h: Handle = { type: "config", name: "" };
      await expectCode(b.stat(h), "NOT_FOUND");
      const data = new TextEncoder().encode('{"version":2}');
      await b.save(h, data);
      expect(await b.load(h)).toEqual(data);
      expect(await b.stat(h)).toEqual({ name: "", size: data.length });
      expect(await collect(b.list("config"))).toEqual([{ name: "", size: data.length }]);
      for (const t of ID_TYPES) expect(await listNames(b, t)).toEqual([]);
      await b.remove(h);
      await expectCode(b.stat(h), "NOT_FOUND");
      expect(await collect(b.list("config"))).toEqual([]);
    });

    for (const type of ID_TYPES) {
      it(`round-trips empty, small and ${largeSize}-byte ${type} files`, async () => {
        const b = await ready();
        for (const size of [0, 1, 4096 + 3, largeSize]) {
          const h: Handle = { type, name: randomId() };
          const data = randomData(size);
          await b.save(h, data);
          const got = await b.load(h);
          expect(got.length).toBe(size);
          expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
          expect(await b.stat(h)).toEqual({ name: h.name, size });
        }
      });
    }

    it("loads byte ranges: start, middle, end, to the end, empty at the end", async () => {
      const b = await ready();
      const h: Handle = { type: "data", name: randomId() };
      const data = randomData(10_000);
      await b.save(h, data);
      const cases: [number, number | undefined][] = [
        [0, 1],
        [0, 100],
        [0, 10_000],
        [0, undefined],
        [1234, 4321],
        [1234, undefined],
        [9_999, 1],
        [9_999, undefined],
        [9_000, 1_000],
        [10_000, undefined],
        [10_000, 0],
        [500, 0],
      ];
      for (const [offset, length] of cases) {
        const got = await b.load(h, length === undefined ? { offset } : { offset, length });
        const want = data.slice(offset, length === undefined ? undefined : offset + length);
        expect(Buffer.from(got).equals(Buffer.from(want)), `range ${offset}+${length}`).toBe(true);
      }
    });

    it("rejects ranges past the end with CORRUPT", async () => {
      const b = await ready();
      const h: Handle = { type: "index", name: randomId() };
      await b.save(h, randomData(1000));
      await expectCode(b.load(h, { offset: 0, length: 1001 }), "CORRUPT");
      await expectCode(b.load(h, { offset: 999, length: 2 }), "CORRUPT");
      await expectCode(b.load(h, { offset: 1000, length: 1 }), "CORRUPT");
      await expectCode(b.load(h, { offset: 1001 }), "CORRUPT");
      await expectCode(b.load(h, { offset: 5000, length: 10 }), "CORRUPT");
      const empty: Handle = { type: "index", name: randomId() };
      await b.save(empty, new Uint8Array(0));
      expect((await b.load(empty, { offset: 0 })).length).toBe(0);
      await expectCode(b.load(empty, { offset: 0, length: 1 }), "CORRUPT");
    });

    it("rejects negative and non-integer ranges with INVALID_ARGUMENT", async () => {
      const b = await ready();
      const h: Handle = { type: "data", name: randomId() };
      await b.save(h, randomData(100));
      await expectCode(b.load(h, { offset: -1 }), "INVALID_ARGUMENT");
      await expectCode(b.load(h, { offset: 0, length: -1 }), "INVALID_ARGUMENT");
      await expectCode(b.load(h, { offset: 1.5 }), "INVALID_ARGUMENT");
      await expectCode(b.load(h, { offset: 0, length: Number.NaN }), "INVALID_ARGUMENT");
    });

    it("loads any range like Uint8Array.slice, or CORRUPT past the end (property)", async () => {
      const b = await ready();
      const h: Handle = { type: "data", name: randomId() };
      const data = randomData(3000);
      await b.save(h, data);
      await fc.assert(
        fc.asyncProperty(
          fc.nat({ max: 3100 }),
          fc.option(fc.nat({ max: 3100 }), { nil: undefined }),
          async (offset, length) => {
            const range = length === undefined ? { offset } : { offset, length };
            const end = length === undefined ? Math.max(offset, data.length) : offset + length;
            if (end > data.length) {
              await expectCode(b.load(h, range), "CORRUPT");
            } else {
              const got = await b.load(h, range);
              expect(Buffer.from(got).equals(Buffer.from(data.subarray(offset, end)))).toBe(true);
            }
          },
        ),
        { numRuns: propertyRuns },
      );
    });

    it("gives NOT_FOUND for load, ranged load, stat and remove of a missing file", async () => {
      const b = await ready();
      for (const type of ID_TYPES) {
        const h: Handle = { type, name: randomId() };
        await expectCode(b.load(h), "NOT_FOUND");
        await expectCode(b.load(h, { offset: 0, length: 1 }), "NOT_FOUND");
        await expectCode(b.stat(h), "NOT_FOUND");
        await expectCode(b.remove(h), "NOT_FOUND");
      }
      await expectCode(b.remove({ type: "config", name: "" }), "NOT_FOUND");
    });

    it("lists exactly the saved names of each type, with sizes", async () => {
      const b = await ready();
      const want = new Map<FileType, Map<string, number>>();
      const prefixes = ["00", "01", "7f", "ab", "ab", "fe", "ff", ""];
      for (const type of ID_TYPES) {
        const files = new Map<string, number>();
        for (const [i, prefix] of prefixes.entries()) {
          const name = randomId(type === "data" ? prefix : "");
          files.set(name, i * 7);
          await b.save({ type, name }, randomData(i * 7));
        }
        want.set(type, files);
      }
      for (const type of ID_TYPES) {
        const got = await collect(b.list(type));
        const files = want.get(type)!;
        expect(got.map((f) => f.name).sort()).toEqual([...files.keys()].sort());
        for (const fi of got) expect(fi.size).toBe(files.get(fi.name));
      }
      expect(await listNames(b, "config")).toEqual([]);
    });

    it("removes files: gone from stat, load and list; others stay", async () => {
      const b = await ready();
      const keep: Handle = { type: "snapshot", name: randomId() };
      const gone: Handle = { type: "snapshot", name: randomId() };
      const pack: Handle = { type: "data", name: randomId() };
      await b.save(keep, randomData(5));
      await b.save(gone, randomData(6));
      await b.save(pack, randomData(7));
      await b.remove(gone);
      await b.remove(pack);
      await expectCode(b.stat(gone), "NOT_FOUND");
      await expectCode(b.load(gone), "NOT_FOUND");
      await expectCode(b.remove(gone), "NOT_FOUND");
      expect(await listNames(b, "snapshot")).toEqual([keep.name]);
      expect(await listNames(b, "data")).toEqual([]);
      expect((await b.stat(keep)).size).toBe(5);
    });

    it("replaces a file saved again under the same handle", async () => {
      const b = await ready();
      for (const h of [
        { type: "data", name: randomId() },
        { type: "lock", name: randomId() },
        { type: "config", name: "" },
      ] as Handle[]) {
        await b.save(h, randomData(2000));
        const second = randomData(300);
        await b.save(h, second);
        expect(await b.load(h)).toEqual(second);
        expect((await b.stat(h)).size).toBe(300);
        expect((await collect(b.list(h.type))).length).toBe(1);
      }
    });

    it(`saves ${concurrency} files concurrently`, async () => {
      const b = await ready();
      const files = Array.from({ length: concurrency }, (_, i) => ({
        h: { type: i % 3 === 0 ? "index" : "data", name: randomId() } as Handle,
        data: randomData(1000 + i * 101),
      }));
      await Promise.all(files.map((f) => b.save(f.h, f.data)));
      const listed = [...(await listNames(b, "data")), ...(await listNames(b, "index"))].sort();
      expect(listed).toEqual(files.map((f) => f.h.name).sort());
      const loaded = await Promise.all(files.map((f) => b.load(f.h)));
      loaded.forEach((got, i) => {
        expect(Buffer.from(got).equals(Buffer.from(files[i].data))).toBe(true);
      });
    });

    it("refuses invalid names and types with INVALID_ARGUMENT and stores nothing", async () => {
      const b = await ready();
      for (const type of ID_TYPES) {
        for (const bad of HOSTILE_NAMES) {
          const h: Handle = { type, name: bad };
          await expectCode(b.save(h, randomData(3)), "INVALID_ARGUMENT");
          await expectCode(b.load(h), "INVALID_ARGUMENT");
          await expectCode(b.stat(h), "INVALID_ARGUMENT");
          await expectCode(b.remove(h), "INVALID_ARGUMENT");
        }
      }
      const badType = { type: "../data" as FileType, name: randomId() };
      await expectCode(b.save(badType, randomData(3)), "INVALID_ARGUMENT");
      await expectCode(b.load(badType), "INVALID_ARGUMENT");
      await expectCode(b.stat(badType), "INVALID_ARGUMENT");
      await expectCode(b.remove(badType), "INVALID_ARGUMENT");
      await expectCode(collect(b.list("tmp" as FileType)), "INVALID_ARGUMENT");
      for (const t of FILE_TYPES) expect(await listNames(b, t)).toEqual([]);
    });

    it("refuses hostile names for any string (property)", async () => {
      const b = await ready();
      await fc.assert(
        fc.asyncProperty(
          fc.string({ maxLength: 70 }).filter((s) => !/^[0-9a-f]{64}$/.test(s)),
          fc.constantFrom(...ID_TYPES),
          async (name, type) => {
            await expectCode(b.save({ type, name }, new Uint8Array(1)), "INVALID_ARGUMENT");
          },
        ),
        { numRuns: propertyRuns },
      );
      for (const t of FILE_TYPES) expect(await listNames(b, t)).toEqual([]);
    });

    it("hands out buffers independent of what is stored", async () => {
      const b = await ready();
      const h: Handle = { type: "key", name: randomId() };
      const input = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
      await b.save(h, input);
      input.fill(0xee); // the caller reuses its buffer
      const first = await b.load(h);
      expect([...first]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      first.fill(0x55); // the caller scribbles on what it loaded
      const ranged = await b.load(h, { offset: 2, length: 3 });
      expect([...ranged]).toEqual([3, 4, 5]);
      ranged.fill(0x66);
      expect([...(await b.load(h))]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      const kept = await b.load(h);
      await b.save(h, new Uint8Array([9, 9]));
      expect([...kept]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      expect([...(await b.load(h))]).toEqual([9, 9]);
    });

    it("saves from a view into a larger buffer", async () => {
      const b = await ready();
      const h: Handle = { type: "data", name: randomId() };
      const big = randomData(100);
      const view = big.subarray(10, 30);
      await b.save(h, view);
      expect(await b.load(h)).toEqual(Uint8Array.from(view));
      expect((await b.stat(h)).size).toBe(20);
    });

    it("close is idempotent", async () => {
      const b = await ready();
      await b.close();
      await b.close();
    });
  });
}
