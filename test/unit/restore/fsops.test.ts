import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tryParseGoTime } from "../../../src/repo/gotime.js";
import {
  devMajorMinor,
  type MetadataOps,
  openMetadataOps,
  timespecOf,
} from "../../../src/repo/restore/fsops.js";
import { tempDir } from "../../helpers/tmp.js";
import { hasTool } from "../../helpers/tools.js";

const isRoot = process.getuid?.() === 0;

describe.each([
  ["best available", false],
  ["node fallback", true],
])("metadata operations (%s)", (_name, fallback) => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let ops: MetadataOps;
  beforeEach(async () => {
    tmp = await tempDir();
    ops = await openMetadataOps({ preferFallback: fallback });
  });
  afterEach(async () => {
    await ops.close();
    await tmp.cleanup();
  });

  /** Metadata that sets only the times (owner -1 is lchown's "unchanged"). */
  const timesOnly = (sec: number, nsec: number, mSec = sec, mNsec = nsec) => ({
    uid: -1,
    gid: -1,
    xattrs: undefined,
    aSec: sec,
    aNsec: nsec,
    mSec,
    mNsec,
  });

  // a name that is not UTF-8: the fallback's programs cannot take it in argv
  const weird = () => Buffer.concat([Buffer.from(`${tmp.dir}/`), Buffer.from([0x66, 0xff, 0xfe])]);

  it("creates fifos, sets modes and times (not following symlinks)", async () => {
    const fifo = weird();
    ops.mknod("/fifo", fifo, "fifo", 0n);
    ops.setMetadata("/fifo", fifo, timesOnly(1_700_000_000, 123_456_789), 0o4710, false);
    const link = Buffer.from(path.join(tmp.dir, "link"));
    fs.symlinkSync("/etc/hostname", link);
    const before = fs.statSync("/etc/hostname", { bigint: true }).mtimeNs;
    ops.setMetadata(
      "/link",
      link,
      timesOnly(1_700_000_000, 123_456_789, 1_600_000_000, 1),
      -1,
      true,
    );
    expect(await ops.flush()).toEqual([]);
    const st = fs.lstatSync(fifo, { bigint: true });
    expect(st.isFIFO()).toBe(true);
    expect(Number(st.mode & 0o7777n)).toBe(0o4710);
    const want =
      ops.timePrecision === "nanosecond" ? 1_700_000_000_123_456_789n : 1_700_000_000_123_456_000n;
    expect(st.mtimeNs).toBe(want);
    expect(st.atimeNs).toBe(want);
    expect(fs.lstatSync(link, { bigint: true }).mtimeNs / 1000n).toBe(1_600_000_000_000_000n);
    expect(fs.statSync("/etc/hostname", { bigint: true }).mtimeNs).toBe(before);
  });

  it.runIf(hasTool("getfattr"))("sets extended attributes, values with any bytes", async () => {
    const f = weird();
    fs.writeFileSync(f, "x");
    const xattrs = [
      { name: "user.a", value: new Uint8Array([0, 1, 255]) },
      { name: "user.empty", value: null },
    ];
    ops.setMetadata("/f", f, { ...timesOnly(1_600_000_000, 5), xattrs }, 0o640, false);
    expect(await ops.flush()).toEqual([]);
    const tmpName = path.join(tmp.dir, "plain");
    fs.renameSync(f, tmpName);
    const out = execFileSync("getfattr", ["-d", "-e", "hex", tmpName], { encoding: "utf8" });
    expect(out).toMatch(/user\.a=0x0001ff/);
    expect(out).toMatch(/user\.empty/);
    const st = fs.statSync(tmpName, { bigint: true });
    expect(Number(st.mode & 0o7777n)).toBe(0o640);
    expect(st.mtimeNs / 1000n).toBe(1_600_000_000_000_000n);
  });

  it("collects failures instead of throwing", async () => {
    const missing = Buffer.from(path.join(tmp.dir, "missing"));
    ops.setMetadata("/missing", missing, timesOnly(1, 0), 0o644, false);
    const errs = await ops.flush();
    expect(errs.map((e) => [e.location, e.op, e.code])).toEqual([
      ["/missing", "chmod", "ENOENT"],
      ["/missing", fallback ? "utimes" : "utimensat", "ENOENT"],
    ]);
    expect(await ops.flush()).toEqual([]);
  });

  it.runIf(isRoot)("creates device nodes and changes owners", async () => {
    const dev = weird();
    ops.mknod("/dev", dev, "chardev", 0x103n);
    ops.setMetadata("/dev", dev, { ...timesOnly(Number.NaN, 0), uid: 12, gid: 34 }, 0o600, false);
    expect(await ops.flush()).toEqual([]);
    const st = fs.lstatSync(dev, { bigint: true });
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0x103n);
    expect([st.uid, st.gid]).toEqual([12n, 34n]);
  });
});

describe("helpers", () => {
  it("splits device numbers like glibc", () => {
    expect(devMajorMinor(0x103n)).toEqual({ major: 1, minor: 3 });
    // major 4095, minor 1048575 (the largest in the old 32-bit encoding)
    expect(devMajorMinor(0xffff_ffffn)).toEqual({ major: 4095, minor: 1048575 });
    expect(timespecOf("2023-04-05T06:07:08.123456789+02:00")).toEqual({
      sec: 1680667628,
      nsec: 123456789,
    });
    expect(timespecOf("not a time")).toBeUndefined();
  });

  it("parses node times exactly as gotime.ts does (valid or not)", () => {
    const base = [
      "2023-04-05T06:07:08.123456789+02:00",
      "2024-02-29T23:59:59Z",
      "1969-12-31T23:59:59.999999999-23:59",
      "0001-01-01T00:00:00Z",
      "9999-12-31T23:59:59,5+00:00",
      "2023-04-05T06:07:08.1234567891234Z",
      "2023-02-29T00:00:00Z",
      "2000-02-29T00:00:00Z",
      "1900-02-29T00:00:00Z",
      "2023-04-05T24:00:00Z",
      "2023-04-05T06:60:00Z",
      "2023-04-05T06:07:60Z",
      "2023-13-05T06:07:08Z",
      "2023-00-05T06:07:08Z",
      "2023-04-00T06:07:08Z",
      "2023-04-31T06:07:08Z",
      "2023-04-05T06:07:08.Z",
      "2023-04-05T06:07:08+24:00",
      "2023-04-05T06:07:08+02:60",
      "2023-04-05T06:07:08+0200",
      "2023-04-05t06:07:08Z",
      "2023-04-05T06:07:08z",
      "2023-04-05T06:07:08",
      "2023-04-05T06:07:08Z ",
      "+023-04-05T06:07:08Z",
      "2023-04-05T06:07:0８Z",
    ];
    // every string with one character replaced, dropped or doubled, too
    const all = new Set(base);
    for (const s of base) {
      for (let i = 0; i < s.length; i++) {
        for (const c of ["0", "9", ":", "-", ".", "Z", "+", " "]) {
          all.add(s.slice(0, i) + c + s.slice(i + 1));
        }
        all.add(s.slice(0, i) + s.slice(i + 1));
        all.add(s.slice(0, i) + s[i] + s.slice(i));
      }
    }
    for (const s of all) {
      const t = tryParseGoTime(s);
      expect([s, timespecOf(s)]).toEqual([
        s,
        t === undefined ? undefined : { sec: Number(t.seconds), nsec: t.nanos },
      ]);
    }
  });
});
