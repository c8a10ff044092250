// The file-system calls restoring a node's metadata needs that Node.js does not offer (restic
// 0.14 internal/restic/node.go: CreateAt for devices and fifos, RestoreMetadata = lchown,
// chmod, utimensat to the nanosecond, lsetxattr):
//
// - Node has no mknod/mkfifo, no xattr API, and fs.utimes truncates to microseconds (libuv
//   rounds every timestamp down to a whole microsecond).
// - So on Linux x86-64 and arm64 these calls go to one helper process for the whole restore:
//   perl (perl-base is an essential package on Debian, so always present) running a
//   20-line script that makes the raw system calls (fchownat, fchmodat via chmod, utimensat
//   with AT_SYMLINK_NOFOLLOW, lsetxattr, mknodat) for commands streamed over a pipe. Paths and
//   values travel hex-encoded, so any byte string is safe; the helper never follows a symlink
//   except through chmod, which is never called on one.
// - Without perl (or on another architecture, or with RESTIC_TS_NO_HELPER=1) the fallback
//   uses Node (lchown, chmod, lutimes: microseconds) and the `mknod`, `mkfifo` and `setfattr`
//   programs.
//
// Calls are queued in order and never throw: failures are collected and returned by flush().

import { type ChildProcessByStdio, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Readable, Writable } from "node:stream";
import { getSystemErrorName } from "node:util";
import { parseGoTime } from "../gotime.js";

/** A failed call: what was done, to which path (for messages), and the errno name. */
export interface FsOpError {
  readonly op: string;
  readonly location: string;
  readonly code: string;
  readonly message: string;
}

export type SpecialKind = "fifo" | "chardev" | "dev";

/** An instant as seconds and nanoseconds (what utimensat takes). */
export interface Timespec {
  readonly sec: bigint;
  readonly nsec: number;
}

export interface MetadataOps {
  /** "nanosecond" when times are set exactly, "microsecond" when rounded down to µs. */
  readonly timePrecision: "nanosecond" | "microsecond";
  /** Which implementation runs ("perl-helper" or "node-fallback"), for reports. */
  readonly kind: string;
  /** Create a fifo or a device node with mode 0600 (chmod comes later). */
  mknod(location: string, p: Buffer, kind: SpecialKind, rdev: bigint): Promise<void>;
  lchown(location: string, p: Buffer, uid: number, gid: number): Promise<void>;
  chmod(location: string, p: Buffer, mode: number): Promise<void>;
  lsetxattr(location: string, p: Buffer, name: string, value: Uint8Array | null): Promise<void>;
  utimes(
    location: string,
    p: Buffer,
    atime: Timespec,
    mtime: Timespec,
    symlink: boolean,
  ): Promise<void>;
  /** Wait until every queued call has run; returns the failures since the last flush. */
  flush(): Promise<FsOpError[]>;
  close(): Promise<void>;
}

/** Parse a node timestamp; undefined when it is not a valid RFC 3339 time. */
export function timespecOf(goTime: string): Timespec | undefined {
  try {
    const t = parseGoTime(goTime);
    return { sec: t.seconds, nsec: t.nanos };
  } catch {
    return undefined;
  }
}

const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const AT_SYMLINK_NOFOLLOW = 0x100;

/** glibc's major()/minor() of a dev_t. */
export function devMajorMinor(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

function errorName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

function isEperm(code: string): boolean {
  return code === "EPERM";
}

const euid = typeof process.geteuid === "function" ? process.geteuid() : 0;

// --- the perl helper ---------------------------------------------------------------------------

const SYSCALLS: Record<string, readonly number[]> = {
  // utimensat, fchownat, lsetxattr, mknodat
  x64: [280, 260, 189, 259],
  arm64: [88, 54, 6, 33],
};

const PERL_SCRIPT = `
use strict; no warnings;
my ($UT, $CH, $SX, $MK) = @ARGV;
$| = 1;
while (defined(my $line = <STDIN>)) {
  chomp $line;
  my @f = split / /, $line;
  my $op = shift @f; my $seq = shift @f;
  if ($op eq 'S') { print "S $seq\\n"; next; }
  my $p = pack('H*', shift @f);
  my $ok = 0;
  if ($op eq 'C') { $ok = syscall($CH, -100, $p, $f[0] + 0, $f[1] + 0, 0x100) == 0; }
  elsif ($op eq 'M') { $ok = chmod($f[0] + 0, $p) == 1; }
  elsif ($op eq 'T') { my $ts = pack('q4', @f[0..3]); $ok = syscall($UT, -100, $p, $ts, $f[4] + 0) == 0; }
  elsif ($op eq 'X') { my $n = pack('H*', $f[0]); my $v = pack('H*', defined $f[1] ? $f[1] : '');
    $ok = syscall($SX, $p, $n, $v, length($v), 0) == 0; }
  elsif ($op eq 'N') { $ok = syscall($MK, -100, $p, $f[0] + 0, $f[1] + 0) == 0; }
  print 'E ', $seq, ' ', ($! + 0), "\\n" unless $ok;
}
`;

const OP_NAMES: Record<string, string> = {
  C: "lchown",
  M: "chmod",
  T: "utimensat",
  X: "lsetxattr",
  N: "mknod",
};

class PerlOps implements MetadataOps {
  readonly timePrecision = "nanosecond" as const;
  readonly kind = "perl-helper";
  private seq = 0;
  private pending = "";
  /** Locations of calls that may still fail, by sequence number. */
  private readonly tags = new Map<number, [string, string]>();
  private errors: FsOpError[] = [];
  private waiters = new Map<number, () => void>();
  private lineBuf = "";
  private dead: Error | undefined;

  constructor(private readonly child: ChildProcessByStdio<Writable, Readable, null>) {
    child.stdout.setEncoding("latin1");
    child.stdout.on("data", (chunk: string) => this.onData(chunk));
    child.on("error", (err) => this.fail(err));
    child.on("exit", (code) => {
      if (this.waiters.size > 0) this.fail(new Error(`metadata helper exited with code ${code}`));
    });
    child.stdin.on("error", (err) => this.fail(err));
  }

  private fail(err: Error): void {
    this.dead ??= err;
    for (const w of this.waiters.values()) w();
    this.waiters.clear();
  }

  private onData(chunk: string): void {
    this.lineBuf += chunk;
    let nl = this.lineBuf.indexOf("\n");
    while (nl >= 0) {
      const line = this.lineBuf.slice(0, nl);
      this.lineBuf = this.lineBuf.slice(nl + 1);
      nl = this.lineBuf.indexOf("\n");
      const [kind, seqText, errnoText] = line.split(" ");
      const seq = Number(seqText);
      if (kind === "S") {
        for (const k of this.tags.keys()) {
          if (k >= seq) break; // keys are in sequence order
          this.tags.delete(k);
        }
        this.waiters.get(seq)?.();
        this.waiters.delete(seq);
      } else if (kind === "E") {
        const tag = this.tags.get(seq);
        this.tags.delete(seq);
        const code = errorName(Number(errnoText));
        const [op, location] = tag ?? ["?", "?"];
        if (op === "lchown" && isEperm(code) && euid !== 0) continue;
        this.errors.push({ op, location, code, message: `${op}: ${code}` });
      }
    }
  }

  private async send(op: string, location: string, fields: string): Promise<void> {
    if (this.dead) {
      this.errors.push({
        op: OP_NAMES[op] ?? op,
        location,
        code: "EIO",
        message: `metadata helper failed: ${this.dead.message}`,
      });
      return;
    }
    const seq = this.seq++;
    this.tags.set(seq, [OP_NAMES[op] ?? op, location]);
    this.pending += `${op} ${seq} ${fields}\n`;
    // a marker now and then lets the helper confirm what ran, so `tags` stays small
    if (seq % 4096 === 4095) this.pending += `S ${this.seq++}\n`;
    if (this.pending.length >= 64 * 1024) await this.write();
  }

  private async write(): Promise<void> {
    const data = this.pending;
    this.pending = "";
    if (data === "" || this.dead) return;
    if (!this.child.stdin.write(data, "latin1")) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.child.stdin.off("drain", done);
          this.child.off("exit", done);
          resolve();
        };
        this.child.stdin.once("drain", done);
        this.child.once("exit", done);
      });
    }
  }

  mknod(location: string, p: Buffer, kind: SpecialKind, rdev: bigint): Promise<void> {
    const type = kind === "fifo" ? S_IFIFO : kind === "chardev" ? S_IFCHR : S_IFBLK;
    const dev = kind === "fifo" ? 0n : rdev & 0xffff_ffffn;
    return this.send("N", location, `${p.toString("hex")} ${type | 0o600} ${dev}`);
  }

  lchown(location: string, p: Buffer, uid: number, gid: number): Promise<void> {
    return this.send("C", location, `${p.toString("hex")} ${uid} ${gid}`);
  }

  chmod(location: string, p: Buffer, mode: number): Promise<void> {
    return this.send("M", location, `${p.toString("hex")} ${mode}`);
  }

  lsetxattr(location: string, p: Buffer, name: string, value: Uint8Array | null): Promise<void> {
    const v = value === null ? "" : Buffer.from(value.buffer, value.byteOffset, value.length);
    return this.send(
      "X",
      location,
      `${p.toString("hex")} ${Buffer.from(name, "utf8").toString("hex")} ${typeof v === "string" ? "" : v.toString("hex")}`,
    );
  }

  utimes(
    location: string,
    p: Buffer,
    atime: Timespec,
    mtime: Timespec,
    symlink: boolean,
  ): Promise<void> {
    return this.send(
      "T",
      location,
      `${p.toString("hex")} ${atime.sec} ${atime.nsec} ${mtime.sec} ${mtime.nsec} ${symlink ? AT_SYMLINK_NOFOLLOW : 0}`,
    );
  }

  async flush(): Promise<FsOpError[]> {
    if (!this.dead) {
      const seq = this.seq++;
      const done = new Promise<void>((resolve) => this.waiters.set(seq, resolve));
      this.pending += `S ${seq}\n`;
      await this.write();
      await done;
    }
    if (this.dead) {
      for (const [op, location] of this.tags.values()) {
        this.errors.push({
          op,
          location,
          code: "EIO",
          message: `metadata helper failed: ${this.dead.message}`,
        });
      }
      this.tags.clear();
    }
    const errs = this.errors;
    this.errors = [];
    return errs;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, "exit").catch(() => {});
    this.child.stdin.end();
    await exited;
  }
}

// --- the fallback --------------------------------------------------------------------------

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function isUtf8(b: Buffer): boolean {
  try {
    UTF8.decode(b);
    return true;
  } catch {
    return false;
  }
}

function sysCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? "EIO";
}

/** Seconds as the double libuv turns into the same whole microsecond (it truncates). */
function microSeconds(t: Timespec): number {
  return Number(t.sec) + (Math.floor(t.nsec / 1000) + 0.5) / 1e6;
}

class NodeOps implements MetadataOps {
  readonly timePrecision = "microsecond" as const;
  readonly kind = "node-fallback";
  private errors: FsOpError[] = [];
  private readonly hasSetfattr: boolean;

  constructor() {
    this.hasSetfattr =
      spawnSync("setfattr", ["--version"], { stdio: "ignore" }).error === undefined;
  }

  private record(op: string, location: string, err: unknown): void {
    const code = sysCode(err);
    if (op === "lchown" && isEperm(code) && euid !== 0) return;
    this.errors.push({ op, location, code, message: `${op}: ${(err as Error).message ?? code}` });
  }

  /** Run a program on `p`, which may not be UTF-8 (argv is): through a temporary name then. */
  private async runOn(p: Buffer, argv: (name: string) => string[], create: boolean): Promise<void> {
    if (isUtf8(p)) {
      await run(argv(p.toString("utf8")));
      return;
    }
    const dir = path.dirname(p.toString("latin1"));
    const dirBytes = Buffer.from(dir, "latin1");
    const tmpName = `.restic-ts-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const tmp = Buffer.concat([dirBytes, Buffer.from(`/${tmpName}`)]);
    const dirFd = fs.openSync(dirBytes, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      if (!create) fs.renameSync(p, tmp);
      try {
        await run(argv(`/proc/self/fd/3/${tmpName}`), dirFd);
      } finally {
        if (create) {
          if (fs.existsSync(tmp)) fs.renameSync(tmp, p);
        } else fs.renameSync(tmp, p);
      }
    } finally {
      fs.closeSync(dirFd);
    }
  }

  async mknod(location: string, p: Buffer, kind: SpecialKind, rdev: bigint): Promise<void> {
    try {
      if (kind === "fifo") {
        await this.runOn(p, (n) => ["mkfifo", "-m", "0600", "--", n], true);
      } else {
        const { major, minor } = devMajorMinor(rdev);
        const t = kind === "chardev" ? "c" : "b";
        await this.runOn(
          p,
          (n) => ["mknod", "-m", "0600", "--", n, t, String(major), String(minor)],
          true,
        );
      }
    } catch (err) {
      this.record("mknod", location, err);
    }
  }

  async lchown(location: string, p: Buffer, uid: number, gid: number): Promise<void> {
    try {
      await fs.promises.lchown(p, uid, gid);
    } catch (err) {
      this.record("lchown", location, err);
    }
  }

  async chmod(location: string, p: Buffer, mode: number): Promise<void> {
    try {
      await fs.promises.chmod(p, mode);
    } catch (err) {
      this.record("chmod", location, err);
    }
  }

  async lsetxattr(
    location: string,
    p: Buffer,
    name: string,
    value: Uint8Array | null,
  ): Promise<void> {
    if (!this.hasSetfattr) {
      this.errors.push({
        op: "lsetxattr",
        location,
        code: "ENOTSUP",
        message: `cannot restore extended attribute ${name}: the setfattr program is not installed`,
      });
      return;
    }
    const hex =
      value === null || value.length === 0 ? "" : `0x${Buffer.from(value).toString("hex")}`;
    try {
      await this.runOn(p, (n) => ["setfattr", "-h", "-n", name, "-v", hex, "--", n], false);
    } catch (err) {
      this.record("lsetxattr", location, err);
    }
  }

  async utimes(
    location: string,
    p: Buffer,
    atime: Timespec,
    mtime: Timespec,
    symlink: boolean,
  ): Promise<void> {
    try {
      const a = microSeconds(atime);
      const m = microSeconds(mtime);
      if (symlink) await fs.promises.lutimes(p, a, m);
      else await fs.promises.utimes(p, a, m);
    } catch (err) {
      this.record("utimes", location, err);
    }
  }

  async flush(): Promise<FsOpError[]> {
    const errs = this.errors;
    this.errors = [];
    return errs;
  }

  async close(): Promise<void> {}
}

function run(argv: string[], dirFd?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const stdio: ("ignore" | "pipe" | number)[] = ["ignore", "ignore", "pipe"];
    if (dirFd !== undefined) stdio.push(dirFd);
    const child = spawn(argv[0], argv.slice(1), { stdio });
    let stderr = "";
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0) resolve();
      else {
        const err = new Error(`${argv[0]} failed: ${stderr.trim() || `exit code ${code}`}`);
        (err as NodeJS.ErrnoException).code = /Operation not permitted/.test(stderr)
          ? "EPERM"
          : "EIO";
        reject(err);
      }
    });
  });
}

/**
 * The best implementation available: the perl helper when perl runs and the architecture's
 * system call numbers are known (and RESTIC_TS_NO_HELPER is not set), else the Node fallback.
 */
export async function openMetadataOps(
  opts: { preferFallback?: boolean } = {},
): Promise<MetadataOps> {
  const nums = SYSCALLS[process.arch];
  if (
    !opts.preferFallback &&
    process.platform === "linux" &&
    nums !== undefined &&
    process.env.RESTIC_TS_NO_HELPER !== "1"
  ) {
    try {
      const child = spawn("perl", ["-e", PERL_SCRIPT, ...nums.map(String)], {
        stdio: ["pipe", "pipe", "inherit"],
      });
      const started = await Promise.race([
        once(child, "spawn").then(() => true),
        once(child, "error").then(() => false),
      ]);
      if (started) {
        const ops = new PerlOps(child);
        await ops.flush();
        return ops;
      }
    } catch {
      // no perl: fall back
    }
  }
  return new NodeOps();
}
