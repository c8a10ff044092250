import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  aclText,
  BLOCK,
  nodeTarHeader,
  TAR_TRAILER,
  tarHeader,
  tarPadding,
  xattrRecords,
} from "../../../src/repo/tar.js";
import { tempDir } from "../../helpers/tmp.js";
import { hasTool } from "../../helpers/tools.js";
import { node } from "./craft.js";

function checksumOk(blk: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : blk[i];
  return Number.parseInt(Buffer.from(blk.subarray(148, 154)).toString(), 8) === sum;
}

describe("tar headers (Go archive/tar, as restic dump writes them)", () => {
  it("writes a USTAR header when everything fits", () => {
    const h = tarHeader(
      nodeTarHeader(
        node("f", "file", { size: 5, uid: 1000, gid: 100, user: "u", group: "g" }),
        "/a/f",
      ),
    );
    expect(h.length).toBe(BLOCK);
    expect(Buffer.from(h.subarray(0, 4)).toString()).toBe("a/f\0");
    expect(Buffer.from(h.subarray(100, 108)).toString()).toBe("0000644\0");
    expect(Buffer.from(h.subarray(124, 136)).toString()).toBe("00000000005\0");
    // mtime 2023-04-05T06:07:08.123456789Z rounds to ...08
    expect(Number.parseInt(Buffer.from(h.subarray(136, 147)).toString(), 8)).toBe(1680674828);
    expect(Buffer.from(h.subarray(257, 265)).toString()).toBe("ustar\x0000");
    expect(checksumOk(h)).toBe(true);
  });

  it("splits long ASCII names, uses PAX for the rest", () => {
    const long = `/${"d".repeat(120)}/${"f".repeat(50)}`;
    const split = tarHeader(nodeTarHeader(node("x", "file"), long));
    expect(split.length).toBe(BLOCK);
    expect(Buffer.from(split.subarray(345, 345 + 120)).toString()).toBe("d".repeat(120));
    const utf = tarHeader(nodeTarHeader(node("é", "file"), "/é"));
    expect(utf.length).toBe(3 * BLOCK);
    // Go keeps only the ASCII of the extended header's name
    expect(Buffer.from(utf.subarray(0, 13)).toString()).toBe("PaxHeaders.0\0");
    expect(Buffer.from(utf.subarray(BLOCK, BLOCK + 12)).toString()).toBe("11 path=é\n\0");
    expect(utf[156]).toBe(0x78);
    expect(checksumOk(utf) && checksumOk(utf.subarray(2 * BLOCK))).toBe(true);
    const dir = tarHeader(nodeTarHeader(node("d", "dir"), "/d"));
    expect(Buffer.from(dir.subarray(0, 3)).toString()).toBe("d/\0");
    expect(dir[156]).toBe(0x35);
    const big = tarHeader(nodeTarHeader(node("u", "file", { uid: 3_000_000 }), "/u"));
    expect(Buffer.from(big.subarray(BLOCK, BLOCK + 14)).toString()).toBe("15 uid=3000000");
  });

  it("turns extended attributes and ACLs into PAX records", () => {
    const acl = Buffer.from("02000000010006000000000004000400000000002000040000000000", "hex");
    expect(aclText(acl)).toBe("user::rw-\ngroup::r--\nother::r--\n");
    const rec = xattrRecords([
      { name: "user.x", value: Buffer.from("v\0w") },
      { name: "system.posix_acl_access", value: acl },
    ]);
    expect([...rec.entries()]).toEqual([
      ["SCHILY.xattr.user.x", "v\0w"],
      ["SCHILY.acl.access", "user::rw-\ngroup::r--\nother::r--\n"],
    ]);
    expect(() =>
      tarHeader(
        nodeTarHeader(
          node("f", "file", { extendedAttributes: [{ name: "a=b", value: null }] }),
          "/f",
        ),
      ),
    ).toThrow(/invalid PAX record/);
  });

  it.runIf(hasTool("tar"))("is read back by tar", async () => {
    const tmp = await tempDir();
    const file = path.join(tmp.dir, "x.tar");
    const data = Buffer.from("hello");
    const nodes: [ReturnType<typeof node>, string][] = [
      [node("d", "dir"), "/d"],
      [node("f", "file", { size: 5 }), "/d/f"],
      [node("l", "symlink", { linkTarget: "f" }), "/d/l"],
      [node("ü", "file", { size: 5 }), "/d/ü"],
    ];
    const parts: Uint8Array[] = [];
    for (const [n, p] of nodes) {
      parts.push(tarHeader(nodeTarHeader(n, p)));
      if (n.type === "file") parts.push(data, tarPadding(5));
    }
    parts.push(TAR_TRAILER);
    fs.writeFileSync(file, Buffer.concat(parts));
    const list = execFileSync("tar", ["-tf", file], { encoding: "utf8" });
    expect(list).toBe("d/\nd/f\nd/l\nd/ü\n");
    await tmp.cleanup();
  });
});
