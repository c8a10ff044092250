// Test helper: builds real restic repositories with the installed `restic` binary (0.14.0) and
// decrypts their files with the project's crypto, so the data-model code can be checked against
// bytes restic itself wrote. Tests using it skip when restic is missing, except in CI, where
// they fail.
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decompress, init } from "@bokuweb/zstd-wasm";
import { type MasterKey, open } from "../../../src/crypto/master-key.js";
import { openKeyFile, parseKeyFile } from "../../../src/repo/key-file.js";

export const PASSWORD = "test password";
export const hasRestic = spawnSync("restic", ["version"]).status === 0;
/** Run restic-dependent tests: always in CI (where a missing restic fails them), else if present. */
export const runResticTests = hasRestic || process.env.CI === "true";

export function requireRestic(): void {
  if (!hasRestic)
    throw new Error("restic is not installed, but CI=true requires the interop tests to run");
}

/** Run restic on `repo`; returns its stdout bytes. */
export function resticRaw(repo: string, args: string[], cwd?: string): Buffer {
  return execFileSync("restic", ["--repo", repo, "--no-cache", ...args], {
    cwd,
    env: { ...process.env, RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: join(repo, "..", "cache") },
    stdio: ["ignore", "pipe", "pipe"],
    maxBuffer: 256 * 1024 * 1024,
  });
}

export function restic(repo: string, args: string[], cwd?: string): string {
  return resticRaw(repo, args, cwd).toString("utf8");
}

/** A source directory with every kind of entry and awkward names restic 0.14 can back up. */
export function makeSourceTree(root: string): void {
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, "plain.txt"), "hello restic\n");
  writeFileSync(join(root, "empty"), "");
  const big = Buffer.alloc(3 * 1024 * 1024);
  let x = 12345;
  for (let i = 0; i < big.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    big[i] = x >>> 24;
  }
  writeFileSync(join(root, "random.bin"), big);
  writeFileSync(join(root, "text.log"), "line of compressible text\n".repeat(20000));
  mkdirSync(join(root, "sub dir", "deeper"), { recursive: true });
  writeFileSync(join(root, "sub dir", "ü ñ 日本語.txt"), "unicode\n");
  writeFileSync(join(root, "sub dir", "deeper", "x"), "x");
  symlinkSync("plain.txt", join(root, "link"));
  symlinkSync(Buffer.from([0x74, 0xff, 0x2f, 0xc3]), Buffer.from(join(root, "badlink")));
  linkSync(join(root, "plain.txt"), join(root, "hard"));
  execFileSync("mkfifo", [join(root, "pipe")]);
  const names = [
    "new\nline",
    "<&>",
    'quote"back\\slash',
    "tab\there",
    "\x01ctl\x7f",
    "soft\u00adhyphen",
    "melting\u{1fae0}face",
    "ls\u2028sep",
    "sp ace ",
    "bom\ufeff",
    "é-combining-e\u0301",
    "z\u{10ffff}",
  ];
  for (const n of names) writeFileSync(join(root, n), n);
  writeFileSync(
    Buffer.concat([Buffer.from(`${root}/inv`), Buffer.from([0xff, 0xfe, 0xc3])]),
    "invalid utf-8 name",
  );
  mkdirSync(join(root, "sticky"));
  chmodSync(join(root, "sticky"), 0o1777);
  chmodSync(join(root, "plain.txt"), 0o4755);
  spawnSync("setfattr", ["-n", "user.restic", "-v", "value<&>", join(root, "text.log")]);
  spawnSync("setfattr", ["-n", "user.empty", join(root, "text.log")]);
  spawnSync("mknod", [join(root, "null-dev"), "c", "1", "3"]);
}

export interface ResticRepo {
  dir: string;
  key: MasterKey;
  version: 1 | 2;
  /** Files of one type (data, index, snapshots…): name -> raw bytes. */
  files(type: string): Map<string, Uint8Array>;
  /** Decrypt (and for v2, decompress) an unpacked file. */
  unpacked(raw: Uint8Array): Uint8Array;
  /** Delete the repository and its source tree. */
  remove(): void;
}

let zstdReady: Promise<void> | undefined;
export async function zstd(): Promise<(frame: Uint8Array, size: number) => Uint8Array> {
  zstdReady ??= init();
  await zstdReady;
  return (frame, size) => decompress(frame, { defaultHeapSize: Math.max(size, 1024) });
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...listFiles(join(dir, e.name)));
    else out.push(join(dir, e.name));
  }
  return out;
}

/** Init a repository, back up the source tree twice (the second with a parent), open its key. */
export async function makeResticRepo(version: 1 | 2): Promise<ResticRepo> {
  requireRestic();
  const base = mkdtempSync(join(tmpdir(), `restic-ts-v${version}-`));
  const src = join(base, "src");
  const dir = join(base, "repo");
  makeSourceTree(src);
  restic(dir, ["init", "--repository-version", String(version)]);
  restic(
    dir,
    ["backup", "--host", "test<host>", "--tag", "t1,t2", "--exclude", "*.tmp", "src"],
    base,
  );
  writeFileSync(join(src, "added later"), "second snapshot");
  restic(dir, ["backup", "--host", "test<host>", "src"], base);
  const keyName = readdirSync(join(dir, "keys"))[0];
  const key = await openKeyFile(parseKeyFile(readFileSync(join(dir, "keys", keyName))), PASSWORD);
  const unz = await zstd();
  return {
    dir,
    key,
    version,
    files(type) {
      const m = new Map<string, Uint8Array>();
      for (const f of listFiles(join(dir, type)))
        m.set(f.slice(f.lastIndexOf("/") + 1), new Uint8Array(readFileSync(f)));
      return m;
    },
    remove() {
      rmSync(base, { recursive: true, force: true });
    },
    unpacked(raw) {
      const plain = open(key, raw);
      if (version === 1 || plain[0] === 0x7b || plain[0] === 0x5b) return plain;
      if (plain[0] !== 2) throw new Error(`unknown unpacked version ${plain[0]}`);
      return unz(plain.subarray(1), 64 * 1024 * 1024);
    },
  };
}
