// check's comparison of a pack header with the index entries for that pack, held to a plain
// model of the rule (restic 0.14 checker.checkPack): each header blob must match an index entry
// by type, ID and offset with the same lengths; index entries no header blob took are reported.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareHeader } from "../../../src/repo/check/verify-pack.js";
import type { IndexEntry } from "../../../src/repo/master-index.js";
import { type PackBlob, packHeaderSize } from "../../../src/repo/pack.js";

/** The rule with string keys and a Map (a repeated key replaces the entry, keeps its place). */
function model(header: readonly PackBlob[], index: readonly IndexEntry[]): string[] {
  const problems: string[] = [];
  const key = (b: { type: string; id: string; offset: number }) => `${b.type}/${b.id}/${b.offset}`;
  const byKey = new Map<string, IndexEntry>();
  for (const b of index) byKey.set(key(b), b);
  for (const b of header) {
    const e = byKey.get(key(b));
    if (
      e === undefined ||
      e.length !== b.length ||
      (e.uncompressedLength ?? 0) !== (b.uncompressedLength ?? 0)
    ) {
      problems.push(`Blob ${b.id} is not contained in index or position is incorrect`);
    } else byKey.delete(key(b));
  }
  for (const e of byKey.values())
    problems.push(`${e.type} blob ${e.id} is in the index but not in the pack header`);
  return problems;
}

// few distinct values, so that collisions (repeats, near-misses) are common
const blob = fc.record({
  type: fc.constantFrom("data" as const, "tree" as const),
  id: fc.constantFrom("a", "b", "c").map((c) => c.repeat(64)),
  offset: fc.constantFrom(0, 100, 200),
  length: fc.constantFrom(40, 50),
  uncompressedLength: fc.constantFrom(undefined, 60),
});

describe("compareHeader", () => {
  it("reports what the plain rule reports, in the same order", () => {
    fc.assert(
      fc.property(fc.array(blob, { maxLength: 8 }), fc.array(blob, { maxLength: 8 }), (h, i) => {
        const header: PackBlob[] = h.map(({ uncompressedLength, ...b }) =>
          uncompressedLength === undefined ? b : { ...b, uncompressedLength },
        );
        const index: IndexEntry[] = i.map(({ uncompressedLength, ...b }) => ({
          ...b,
          packId: "f".repeat(64),
          ...(uncompressedLength === undefined ? {} : { uncompressedLength }),
        }));
        const size = packHeaderSize(index);
        expect(compareHeader(header, size, index)).toEqual(model(header, index));
      }),
      { numRuns: 3000 },
    );
  });

  it("finds nothing wrong when header and index agree", () => {
    const blobs: IndexEntry[] = [0, 1, 2].map((k) => ({
      type: "data",
      id: String(k).repeat(64),
      offset: k * 50,
      length: 50,
      packId: "f".repeat(64),
    }));
    expect(compareHeader(blobs, packHeaderSize(blobs), [...blobs].reverse())).toEqual([]);
    expect(compareHeader(blobs, packHeaderSize(blobs) + 1, blobs)).toHaveLength(1);
  });
});
