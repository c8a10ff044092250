// The index fast path (src/repo/index-scan.ts): Go's json.Encoder form of an index file is
// scanned into the same master-index entries as parseIndex gives; anything it does not scan
// falls back to parseIndex, and nothing it scans differs from what parseIndex makes of it,
// whatever the bytes.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseIndex, serialiseIndex } from "../../../src/repo/index-file.js";
import { readIndexFile, scanIndex } from "../../../src/repo/index-scan.js";
import { MasterIndex } from "../../../src/repo/master-index.js";
import { indexArb as makeIndexArb } from "./index-arbitraries.js";

const indexArb = makeIndexArb(0);

const bytes = (s: string) => new TextEncoder().encode(s);

function viaParse(plain: Uint8Array): MasterIndex {
  const mi = new MasterIndex();
  mi.addIndex(parseIndex(plain).index);
  return mi;
}

function viaScan(plain: Uint8Array): MasterIndex | undefined {
  const scanned = scanIndex(plain);
  if (scanned === undefined) return undefined;
  const mi = new MasterIndex();
  mi.addScanned(scanned);
  return mi;
}

describe("index fast path", () => {
  it("scans what restic-ts and restic write into the entries parseIndex gives", () => {
    fc.assert(
      fc.property(indexArb, fc.boolean(), (idx, newline) => {
        let plain = serialiseIndex(idx);
        if (!newline) plain = plain.subarray(0, plain.length - 1);
        const scanned = scanIndex(plain);
        expect(scanned).toBeDefined();
        expect(scanned?.supersedes).toEqual(idx.supersedes);
        expect(scanned?.packCount).toBe(idx.packs.length);
        expect([...(viaScan(plain)?.entries() ?? [])]).toEqual([...viaParse(plain).entries()]);
      }),
    );
  });

  it("scans nothing that parseIndex reads differently, whatever the bytes", () => {
    // single-byte edits of valid index files: most make them unscannable (parseIndex then
    // decides); any edit that still scans must mean the same to parseIndex
    const alphabet = fc.constantFrom(
      ...'0123456789abcdefABCDEF{}[],:" \n.-e'.split("").map((c) => c.charCodeAt(0)),
    );
    fc.assert(
      fc.property(
        indexArb,
        fc.nat(),
        alphabet,
        fc.constantFrom("replace", "insert", "delete"),
        (idx, at, c, edit) => {
          const valid = Buffer.from(serialiseIndex(idx));
          const i = at % valid.length;
          const edited =
            edit === "replace"
              ? Buffer.concat([valid.subarray(0, i), Buffer.from([c]), valid.subarray(i + 1)])
              : edit === "insert"
                ? Buffer.concat([valid.subarray(0, i), Buffer.from([c]), valid.subarray(i)])
                : Buffer.concat([valid.subarray(0, i), valid.subarray(i + 1)]);
          const fast = viaScan(edited);
          if (fast === undefined) return;
          expect([...fast.entries()]).toEqual([...viaParse(edited).entries()]);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("leaves every other form to parseIndex", () => {
    const a = "a".repeat(64);
    const b = "b".repeat(64);
    const blobJson = (rest: string) => `{"packs":[{"id":"${a}","blobs":[{"id":"${b}",${rest}}]}]}`;
    const ok = blobJson('"type":"data","offset":0,"length":5');
    expect(scanIndex(bytes(ok))).toBeDefined();
    expect(scanIndex(bytes('{"packs":[]}\n'))).toBeDefined();
    for (const other of [
      ok.replace("{", "{ "), // whitespace
      ok.replace(`"id":"${a}"`, `"id":"${a.toUpperCase()}"`), // upper-case hex
      blobJson('"type":"data","offset":00,"length":5'), // leading zero
      blobJson('"type":"data","offset":0,"length":4294967296'), // beyond uint32
      blobJson('"type":"data","offset":1.5,"length":5'), // a fraction
      blobJson('"type":"data","offset":1e3,"length":5'), // an exponent
      blobJson('"type":"data","length":5,"offset":0'), // another field order
      blobJson('"type":"data","offset":-1,"length":5'),
      blobJson('"type":"blob","offset":0,"length":5'),
      `${ok}\n\n`, // trailing bytes
      '{"packs":null}',
      `{"packs":[{"id":"${a}","blobs":null}]}`,
      `[{"id":"${a}","blobs":[]}]`, // the legacy format
      '{"supersedes":[],"packs":[]}',
      "",
    ]) {
      expect(scanIndex(bytes(other)), other).toBeUndefined();
    }
    // parseIndex still reads the ones restic reads
    expect(parseIndex(bytes(ok.replace("{", "{ "))).index.packs).toHaveLength(1);
  });

  it("reads either way into the same entries and pack list (readIndexFile)", () => {
    fc.assert(
      fc.property(indexArb, fc.boolean(), (idx, spaced) => {
        // a space after the first brace takes the parseIndex path
        const plain = serialiseIndex(idx);
        const text = Buffer.from(plain).toString();
        const input = spaced ? bytes(text.replace("{", "{ ")) : plain;
        const file = readIndexFile(input);
        expect(file.oldFormat).toBe(false);
        expect(file.packIds()).toEqual(idx.packs.map((p) => p.id));
        const mi = new MasterIndex();
        file.addTo(mi);
        expect([...mi.entries()]).toEqual([...viaParse(plain).entries()]);
      }),
    );
    const a = "a".repeat(64);
    const legacy = readIndexFile(bytes(`[{"id":"${a}","blobs":[]}]`));
    expect(legacy.oldFormat).toBe(true);
    expect(legacy.packIds()).toEqual([a]);
    expect(() => readIndexFile(bytes('{"packs":7}'))).toThrow(/packs is not an array/);
  });
});
