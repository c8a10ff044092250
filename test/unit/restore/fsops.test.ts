import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
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

  // a name that is not UTF-8: the fallback's programs cannot take it in argv
  const weird = () => Buffer.concat([Buffer.from(`${tmp.dir}/`), Buffer.from([0x66, 0xff, 0xfe])]);

  it("creates fifos, sets modes and times (not following symlinks)", async () => {
    const fifo = weird();
    await ops.mknod("/fifo", fifo, "fifo", 0n);
    await ops.chmod("/fifo", fifo, 0o4710);
    const t = { sec: 1_700_000_000n, nsec: 123_456_789 };
    await ops.utimes("/fifo", fifo, t, t, false);
    const link = Buffer.from(path.join(tmp.dir, "link"));
    fs.symlinkSync("/etc/hostname", link);
    const before = fs.statSync("/etc/hostname", { bigint: true }).mtimeNs;
    await ops.utimes("/link", link, t, { sec: 1_600_000_000n, nsec: 1 }, true);
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
    await ops.lsetxattr("/f", f, "user.a", new Uint8Array([0, 1, 255]));
    await ops.lsetxattr("/f", f, "user.empty", null);
    expect(await ops.flush()).toEqual([]);
    const tmpName = path.join(tmp.dir, "plain");
    fs.renameSync(f, tmpName);
    const out = execFileSync("getfattr", ["-d", "-e", "hex", tmpName], { encoding: "utf8" });
    expect(out).toMatch(/user\.a=0x0001ff/);
    expect(out).toMatch(/user\.empty/);
  });

  it("collects failures instead of throwing", async () => {
    const missing = Buffer.from(path.join(tmp.dir, "missing"));
    await ops.chmod("/missing", missing, 0o644);
    await ops.utimes("/missing", missing, { sec: 1n, nsec: 0 }, { sec: 1n, nsec: 0 }, false);
    const errs = await ops.flush();
    expect(errs.map((e) => [e.location, e.code])).toEqual([
      ["/missing", "ENOENT"],
      ["/missing", "ENOENT"],
    ]);
    expect(await ops.flush()).toEqual([]);
  });

  it.runIf(isRoot)("creates device nodes and changes owners", async () => {
    const dev = weird();
    await ops.mknod("/dev", dev, "chardev", 0x103n);
    await ops.lchown("/dev", dev, 12, 34);
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
      sec: 1680667628n,
      nsec: 123456789,
    });
    expect(timespecOf("not a time")).toBeUndefined();
  });
});
