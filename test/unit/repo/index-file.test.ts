import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseIndex, serialiseIndex } from "../../../src/repo/index-file.js";
import { indexArb as makeIndexArb } from "./index-arbitraries.js";

const indexArb = makeIndexArb(1);
const text = (b: Uint8Array) => Buffer.from(b).toString();

describe("index files", () => {
  it("round-trip, and serialise as Go's json.Encoder would", () => {
    fc.assert(
      fc.property(indexArb, (idx) => {
        const bytes = serialiseIndex(idx);
        const { index, oldFormat } = parseIndex(bytes);
        expect(oldFormat).toBe(false);
        expect(index).toEqual(idx);
        // the same shape through JSON.stringify, with Go's omitempty rules applied
        const go = {
          ...(idx.supersedes.length > 0 ? { supersedes: idx.supersedes } : {}),
          packs: idx.packs.map((p) => ({
            id: p.id,
            blobs: p.blobs.map((b) => ({
              id: b.id,
              type: b.type,
              offset: b.offset,
              length: b.length,
              ...(b.uncompressedLength ? { uncompressed_length: b.uncompressedLength } : {}),
            })),
          })),
        };
        expect(text(bytes)).toBe(`${JSON.stringify(go)}\n`);
      }),
    );
  });

  it("writes an empty index like restic", () => {
    expect(text(serialiseIndex({ supersedes: [], packs: [] }))).toBe('{"packs":[]}\n');
    expect(parseIndex('{"packs":null,"supersedes":null}').index).toEqual({
      supersedes: [],
      packs: [],
    });
  });

  it("reads the legacy format (a bare array of packs) and ignores unknown fields", () => {
    const a = "ab".repeat(32);
    const { index, oldFormat } = parseIndex(
      `[{"id":"${a}","blobs":[{"id":"${a.toUpperCase()}","type":"tree","offset":0,"length":40,"uncompressed_length":9,"x":1}]}]`,
    );
    expect(oldFormat).toBe(true);
    expect(index).toEqual({
      supersedes: [],
      packs: [{ id: a, blobs: [{ id: a, type: "tree", offset: 0, length: 40 }] }],
    });
  });

  it("refuses malformed indexes with CORRUPT naming the field", () => {
    const a = "ab".repeat(32);
    const blobJson = (over: string) =>
      `{"packs":[{"id":"${a}","blobs":[{"id":"${a}","type":"data","offset":0,"length":40${over}}]}]}`;
    const cases: [string, RegExp][] = [
      ["{", /not JSON/],
      ["5", /object/],
      ['{"supersedes":"x","packs":[]}', /supersedes/],
      ['{"supersedes":["x"],"packs":[]}', /supersedes\[0\]/],
      ['{"packs":{}}', /packs/],
      ['{"packs":[5]}', /packs\[0\]/],
      ['{"packs":[{"id":"zz"}]}', /packs\[0\]\.id/],
      [`{"packs":[{"id":"${a}","blobs":5}]}`, /blobs/],
      [blobJson(',"type":"index"'), /type/],
      [blobJson(',"offset":-1'), /offset/],
      [blobJson(',"length":1.5'), /length/],
      [blobJson(',"length":4294967296'), /length/],
      [blobJson(',"uncompressed_length":"7"'), /uncompressed_length/],
      [blobJson(',"id":null'), /blobs\[0\]\.id/],
    ];
    for (const [json, msg] of cases) {
      expect(() => parseIndex(json), json).toThrow(
        expect.objectContaining({ code: "CORRUPT", message: expect.stringMatching(msg) }),
      );
    }
  });

  it("refuses to write invalid entries", () => {
    expect(() => serialiseIndex({ supersedes: [], packs: [{ id: "x", blobs: [] }] })).toThrow(
      expect.objectContaining({ code: "INVALID_ARGUMENT" }),
    );
  });
});
