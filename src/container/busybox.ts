// A minimal root filesystem for demo and test containers: a static busybox (Debian
// busybox-static) with a symlink per applet, /etc/passwd and friends.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, copyFile, mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { ResticTsError } from "../errors.js";

/** True when an ELF file has no PT_INTERP program header (so it runs in an empty root). */
function isStaticElf(bytes: Buffer): boolean {
  if (
    bytes.length < 64 ||
    bytes.readUInt32BE(0) !== 0x7f454c46 ||
    bytes[4] !== 2 ||
    bytes[5] !== 1
  ) {
    return false; // not a 64-bit little-endian ELF: do not guess
  }
  const phoff = Number(bytes.readBigUInt64LE(0x20));
  const phentsize = bytes.readUInt16LE(0x36);
  const phnum = bytes.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > bytes.length) return false;
    if (bytes.readUInt32LE(at) === 3) return false; // PT_INTERP
  }
  return true;
}

let cachedBusybox: string | undefined;

/** The path of a statically linked busybox, or undefined. */
export function staticBusybox(): string | undefined {
  if (cachedBusybox !== undefined) return cachedBusybox;
  for (const candidate of ["/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox"]) {
    try {
      if (isStaticElf(readFileSync(candidate))) {
        cachedBusybox = candidate;
        return candidate;
      }
    } catch {
      // not there
    }
  }
  return undefined;
}

/** Build a busybox root filesystem in `dir` (which may exist). */
export async function buildBusyboxRoot(dir: string): Promise<void> {
  const busybox = staticBusybox();
  if (busybox === undefined) {
    throw new ResticTsError(
      "NOT_FOUND",
      "no statically linked busybox found (install busybox-static)",
    );
  }
  for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "var/log", "home"]) {
    await mkdir(path.join(dir, d), { recursive: true, mode: 0o755 });
  }
  await mkdir(path.join(dir, "tmp"), { recursive: true });
  await chmod(path.join(dir, "tmp"), 0o1777);
  await chmod(dir, 0o755);
  await copyFile(busybox, path.join(dir, "bin/busybox"));
  await chmod(path.join(dir, "bin/busybox"), 0o755);
  const applets = execFileSync(busybox, ["--list-full"], { encoding: "utf8" })
    .split("\n")
    .filter((a) => a !== "" && a !== "bin/busybox");
  for (const applet of applets) {
    await mkdir(path.join(dir, path.dirname(applet)), { recursive: true });
    await symlink("/bin/busybox", path.join(dir, applet)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    });
  }
  await writeFile(
    path.join(dir, "etc/passwd"),
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
  );
  await writeFile(path.join(dir, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  await writeFile(path.join(dir, "etc/shadow"), "root:*:19000:0:99999:7:::\n", { mode: 0o600 });
  await writeFile(path.join(dir, "etc/hosts"), "127.0.0.1 localhost\n");
  await writeFile(path.join(dir, "etc/os-release"), 'NAME="busybox test root"\n');
}
