// Extended attributes read through libc via koffi (src/repo/archiver/xattr-ffi.ts): by path
// and on an open descriptor alike, in the kernel's order, empty and 3,000-byte values kept;
// and the blob engine (EngineConfig.xattrs) hands a whole file's attributes back with its
// contents, as the archiver then stores them (null: none).

import { execFileSync } from "node:child_process";
import { closeSync, openSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeMasterKey, newMasterKey } from "../../../src/crypto/master-key.js";
import { FfiXattrs } from "../../../src/repo/archiver/xattr-ffi.js";
import type { ExtendedAttribute } from "../../../src/repo/node.js";
import { BlobEngine, packCapacity } from "../../../src/repo/workers/engine.js";
import type { EngineConfig } from "../../../src/repo/workers/protocol.js";
import { tempDir } from "../../helpers/tmp.js";

const setfattr = (p: string, name: string, value: string) =>
  execFileSync("setfattr", ["-n", name, "-v", value, p], { stdio: "ignore" });

const text = (attrs: readonly ExtendedAttribute[] | undefined | null) =>
  attrs?.map((a) => `${a.name}=${Buffer.from(a.value ?? []).toString()}`);

describe("extended attributes through koffi", () => {
  let tmp: { dir: string; cleanup(): Promise<void> };
  let withAttrs: string;
  let without: string;
  const big = "v".repeat(3000);
  beforeAll(async () => {
    tmp = await tempDir("restic-ts-xattr-");
    withAttrs = path.join(tmp.dir, "with");
    without = path.join(tmp.dir, "without");
    writeFileSync(withAttrs, "some contents\n");
    writeFileSync(without, "other contents\n");
    setfattr(withAttrs, "user.zeta", "last");
    setfattr(withAttrs, "user.alpha", "");
    setfattr(withAttrs, "user.big", big);
  });
  afterAll(async () => {
    await tmp?.cleanup();
  });

  it("reads the same attributes by path and by descriptor", () => {
    const x = FfiXattrs.load();
    expect(x, "koffi and libc's xattr calls").toBeDefined();
    if (x === undefined) return;
    const byPath = text(x.readPath(withAttrs));
    const fd = openSync(withAttrs, "r");
    const byFd = text(x.readFd(fd));
    closeSync(fd);
    // the kernel's order is what `getfattr` without sorting would show: compare as a set too
    expect(byPath).toEqual(byFd);
    expect([...(byPath ?? [])].sort()).toEqual([
      "user.alpha=",
      `user.big=${big}`,
      "user.zeta=last",
    ]);
    expect(x.readPath(without)).toBeUndefined();
    expect(x.readPath(path.join(tmp.dir, "missing"))).toBeUndefined();
  });

  it("come back from the blob engine with each whole file", async () => {
    const key = newMasterKey();
    const cfg: EngineConfig = {
      key: encodeMasterKey(key),
      polynomial: 0x3da3358b4dc173n,
      repoVersion: 2,
      zstdLevel: 1,
      packSize: 1024 * 1024,
      minSize: 4096,
      maxSize: 65536,
      readSize: 16 * 1024,
      xattrs: true,
    };
    const engine = await BlobEngine.create(cfg, {
      claim: (ids) => new Uint8Array(ids.length).fill(1),
      takeBuffer: () => new ArrayBuffer(packCapacity(cfg)),
      takeFile: () => {
        throw new Error("no pack files");
      },
      packFinished: () => {},
    });
    const [a, b] = engine.processFiles([
      { ref: 1, path: withAttrs },
      { ref: 2, path: without },
    ]);
    expect(text(a.xattrs)).toEqual(text(FfiXattrs.load()?.readPath(withAttrs)));
    expect(b.xattrs).toBeNull();
    const off = await BlobEngine.create(
      { ...cfg, xattrs: false },
      {
        claim: (ids) => new Uint8Array(ids.length).fill(1),
        takeBuffer: () => new ArrayBuffer(packCapacity(cfg)),
        takeFile: () => {
          throw new Error("no pack files");
        },
        packFinished: () => {},
      },
    );
    const [c] = off.processFiles([{ ref: 3, path: withAttrs }]);
    expect("xattrs" in c).toBe(false);
  });
});
