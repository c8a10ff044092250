// A minimal root filesystem for container tests: a static busybox with a symlink per applet,
// /etc/passwd and friends. `containerTools()` says whether runc tests can run here: tools missing
// locally → skip; missing in CI (CI=true) → throw, so the suite fails instead of skipping.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { chmod, copyFile, mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { hasTool } from "./tools.js";

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

/**
 * Whether real-container tests can run: runc, a static busybox (Debian: busybox-static), tar
 * and root. Missing with CI=true → throws.
 */
export function containerTools(): boolean {
  const ok =
    hasTool("runc") &&
    hasTool("tar") &&
    staticBusybox() !== undefined &&
    typeof process.getuid === "function" &&
    process.getuid() === 0;
  if (!ok && process.env.CI === "true") {
    throw new Error(
      "container tests need runc, tar, a static busybox (busybox-static) and root in CI (CI=true)",
    );
  }
  return ok;
}

/** Build a busybox root filesystem in `dir` (which may exist). */
export async function buildBusyboxRoot(dir: string): Promise<void> {
  const busybox = staticBusybox();
  if (busybox === undefined) throw new Error("no static busybox found");
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

/** Pack a directory into a tar archive with the system tar. */
export function tarDirectory(dir: string, archive: string): void {
  execFileSync("tar", ["-c", "-f", archive, "--numeric-owner", "-C", dir, "."]);
}

/**
 * A shell script for the container's entrypoint: append an increasing counter to `file` every
 * 50 ms; exit on SIGTERM.
 */
export function writerScript(file: string): string {
  return `trap 'exit 0' TERM; i=0; while :; do i=$((i+1)); echo $i >> ${file}; sleep 0.05; done`;
}

/** The number of lines of a file (0 when missing). */
export async function lineCount(file: string): Promise<number> {
  try {
    return (await readFile(file, "utf8")).split("\n").filter((l) => l !== "").length;
  } catch {
    return 0;
  }
}
