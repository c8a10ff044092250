import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  childMatchPattern,
  goFilepathMatch,
  invalidPatterns,
  matchList,
  matchPattern,
  parsePatterns,
  restoreFilter,
} from "../../../src/repo/filter.js";
import { bytesToGoString } from "../../../src/repo/gostring.js";

interface Vectors {
  match: { P: string; N: string; M: boolean; E: boolean }[];
  filter: { P: string; S: string; M: boolean; C: boolean; E: boolean }[];
  list: { L: string[]; S: string; M: boolean; C: boolean }[];
}

const vectors = JSON.parse(
  readFileSync(new URL("./fixtures/filter-vectors.json", import.meta.url), "utf8"),
) as Vectors;

const hex = (h: string) => bytesToGoString(Buffer.from(h, "hex"));

describe("goFilepathMatch (go1.19 vectors)", () => {
  it(`agrees with Go on ${vectors.match.length} pattern/name pairs`, () => {
    const wrong: string[] = [];
    for (const v of vectors.match) {
      const p = hex(v.P);
      const n = hex(v.N);
      let got: boolean | "error";
      try {
        got = goFilepathMatch(p, n);
      } catch {
        got = "error";
      }
      // Go reports a bad pattern only where its scan reaches the bad part
      const want = v.E ? "error" : v.M;
      if (got !== want) wrong.push(`${JSON.stringify(p)} ${JSON.stringify(n)}: ${got} != ${want}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe("restic filter (restic 0.14 vectors)", () => {
  it(`Match and ChildMatch agree on ${vectors.filter.length} pairs`, () => {
    const wrong: string[] = [];
    for (const v of vectors.filter) {
      if (v.E) {
        expect(() => {
          matchPattern(v.P, v.S);
          childMatchPattern(v.P, v.S);
        }).toThrow();
        continue;
      }
      const m = matchPattern(v.P, v.S);
      const c = childMatchPattern(v.P, v.S);
      if (m !== v.M || c !== v.C) wrong.push(`${v.P} ${v.S}: ${m}/${c} != ${v.M}/${v.C}`);
    }
    expect(wrong).toEqual([]);
  });

  it("ListWithChild agrees, negated patterns included", () => {
    for (const v of vectors.list) {
      expect(matchList(parsePatterns(v.L), v.S), `${v.L} ${v.S}`).toEqual({
        matched: v.M,
        childMayMatch: v.C,
      });
    }
  });

  it("validates patterns like restic", () => {
    expect(invalidPatterns(["*.go", "[", "a\\", "ok/[]"])).toEqual(["[", "a\\", "ok/[]"]);
    expect(() => restoreFilter({ include: ["["] })).toThrow(/--include: invalid pattern/);
    expect(() => restoreFilter({ include: ["a"], exclude: ["b"] })).toThrow(/mutually exclusive/);
    expect(restoreFilter({})).toBeUndefined();
  });

  it("builds restore's select functions", () => {
    const ex = restoreFilter({ exclude: ["*.tmp"], iexclude: ["CACHE"] });
    expect(ex?.("/a/x.tmp", false)).toEqual({ selected: false, childMayBeSelected: false });
    expect(ex?.("/a/cache", true)).toEqual({ selected: false, childMayBeSelected: false });
    expect(ex?.("/a", true)).toEqual({ selected: true, childMayBeSelected: true });
    expect(ex?.("/a/y", false)).toEqual({ selected: true, childMayBeSelected: false });
    const inc = restoreFilter({ include: ["/home/user"] });
    expect(inc?.("/home", true)).toEqual({ selected: false, childMayBeSelected: true });
    expect(inc?.("/home/user", true)).toEqual({ selected: true, childMayBeSelected: true });
    expect(inc?.("/etc", true)).toEqual({ selected: false, childMayBeSelected: false });
    const iinc = restoreFilter({ iinclude: ["*.JPG"] });
    expect(iinc?.("/pics/a.jpg", false).selected).toBe(true);
  });
});
