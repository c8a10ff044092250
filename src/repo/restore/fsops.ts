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
// Calls are queued in order, return at once and never throw: failures are collected and
// returned by flush() (the only call to wait for). The helper's calls are encoded straight
// into reused-size chunks of bytes, one line per node (path hex-encoded once).

import { type ChildProcessByStdio, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Readable, Writable } from "node:stream";
import { getSystemErrorName } from "node:util";
import { goTimeSeconds } from "../gotime.js";

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
  readonly sec: number;
  readonly nsec: number;
}

/** The metadata of one node to restore (restorer.ts's plan nodes are these). */
export interface NodeMetadata {
  /** Owner; both -1 to leave it. */
  readonly uid: number;
  readonly gid: number;
  readonly xattrs:
    | readonly { readonly name: string; readonly value: Uint8Array | null }[]
    | undefined;
  /** atime and mtime: whole seconds (NaN when the node's times are not valid: left alone). */
  readonly aSec: number;
  readonly aNsec: number;
  readonly mSec: number;
  readonly mNsec: number;
}

/**
 * The calls queue in order and return at once (nothing per call to wait for); failures are
 * collected and returned by flush().
 */
export interface MetadataOps {
  /** "nanosecond" when times are set exactly, "microsecond" when rounded down to µs. */
  readonly timePrecision: "nanosecond" | "microsecond";
  /** Which implementation runs ("perl-helper" or "node-fallback"), for reports. */
  readonly kind: string;
  /** Create a fifo or a device node with mode 0600 (chmod comes later). */
  mknod(location: string, p: Buffer, kind: SpecialKind, rdev: bigint): void;
  /**
   * Restore a node's metadata, in restic's order: owner (lchown), extended attributes, mode
   * (`perm`, chmod's bits; -1 for none: a symlink's), atime and mtime (of the link itself for
   * a symlink).
   */
  setMetadata(
    location: string,
    p: Buffer,
    meta: NodeMetadata,
    perm: number,
    symlink: boolean,
  ): void;
  /** A promise to wait for before queuing more when the queue is full, else undefined. */
  backlog(): Promise<void> | undefined;
  /** Wait until every queued call has run; returns the failures since the last flush. */
  flush(): Promise<FsOpError[]>;
  close(): Promise<void>;
}

/** Parse a node timestamp; undefined when it is not a valid RFC 3339 time. */
export function timespecOf(goTime: string): Timespec | undefined {
  return goTimeSeconds(goTime);
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

// One line per call: `OP SEQ HEXPATH FIELDS...`. `A` is a node's metadata in one line (uid and
// gid, -1 for no lchown; mode, -1 for no chmod; atime and mtime seconds and nanoseconds, "-"
// for none; utimensat flags), so its path is sent and decoded once. A failure is answered
// `E SEQ ERRNO OP`; `S SEQ` is answered in kind once everything before it has run.
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
  if ($op eq 'A') {
    if (($f[0] >= 0 || $f[1] >= 0) && syscall($CH, -100, $p, $f[0] + 0, $f[1] + 0, 0x100) != 0) { print "E $seq ", ($! + 0), " C\\n"; }
    if ($f[2] >= 0 && chmod($f[2] + 0, $p) != 1) { print "E $seq ", ($! + 0), " M\\n"; }
    if ($f[3] ne '-') { my $ts = pack('q4', @f[3..6]);
      if (syscall($UT, -100, $p, $ts, $f[7] + 0) != 0) { print "E $seq ", ($! + 0), " T\\n"; } }
    next;
  }
  my $ok = 0;
  if ($op eq 'X') { my $n = pack('H*', $f[0]); my $v = pack('H*', defined $f[1] ? $f[1] : '');
    $ok = syscall($SX, $p, $n, $v, length($v), 0) == 0; }
  elsif ($op eq 'N') { $ok = syscall($MK, -100, $p, $f[0] + 0, $f[1] + 0) == 0; }
  print "E $seq ", ($! + 0), " $op\\n" unless $ok;
}
`;

const OP_NAMES: Record<string, string> = {
  C: "lchown",
  M: "chmod",
  T: "utimensat",
  X: "lsetxattr",
  N: "mknod",
};

/** Lines are encoded into chunks of this size, each written to the pipe when full. */
const CHUNK = 64 * 1024;
/** ASCII hex digits of every byte value, two per byte. */
const HEX = Buffer.from(
  Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0")).join(""),
  "latin1",
);
const SPACE = 0x20;
const NEWLINE = 0x0a;
const MINUS = 0x2d;

class PerlOps implements MetadataOps {
  readonly timePrecision = "nanosecond" as const;
  readonly kind = "perl-helper";
  private seq = 0;
  /** The chunk being filled and how much of it is. */
  private out = Buffer.allocUnsafeSlow(CHUNK);
  private pos = 0;
  /** Locations of calls that may still fail, by sequence number. */
  private readonly tags = new Map<number, string>();
  private errors: FsOpError[] = [];
  private waiters = new Map<number, () => void>();
  private lineBuf = "";
  private dead: Error | undefined;
  /** Resolved when the pipe has drained after a write it could not take at once. */
  private blocked: Promise<void> | undefined;

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
      const [kind, seqText, errnoText, opLetter] = line.split(" ");
      const seq = Number(seqText);
      if (kind === "S") {
        for (const k of this.tags.keys()) {
          if (k >= seq) break; // keys are in sequence order
          this.tags.delete(k);
        }
        this.waiters.get(seq)?.();
        this.waiters.delete(seq);
      } else if (kind === "E") {
        const location = this.tags.get(seq) ?? "?";
        const code = errorName(Number(errnoText));
        const op = OP_NAMES[opLetter] ?? opLetter;
        if (op === "lchown" && isEperm(code) && euid !== 0) continue;
        this.errors.push({ op, location, code, message: `${op}: ${code}` });
      }
    }
  }

  /**
   * Start a line: `OP SEQ HEXPATH` with room for `extra` more bytes; false (the call recorded
   * as failed) when the helper is gone.
   */
  private begin(op: number, location: string, p: Buffer, extra: number): boolean {
    if (this.dead) {
      const name = OP_NAMES[String.fromCharCode(op)] ?? "metadata";
      this.errors.push({
        op: name,
        location,
        code: "EIO",
        message: `metadata helper failed: ${this.dead.message}`,
      });
      return false;
    }
    const need = 2 * p.length + extra + 64;
    if (this.pos + need > this.out.length) this.write(need);
    const seq = this.seq++;
    this.tags.set(seq, location);
    const out = this.out;
    out[this.pos++] = op;
    out[this.pos++] = SPACE;
    this.int(seq);
    out[this.pos++] = SPACE;
    this.hex(p);
    return true;
  }

  /** End a line; a marker now and then lets the helper confirm what ran (`tags` stays small). */
  private end(): void {
    this.out[this.pos++] = NEWLINE;
    if (this.seq % 4096 === 0) this.marker(this.seq++);
  }

  private marker(seq: number): void {
    if (this.pos + 32 > this.out.length) this.write(32);
    this.out[this.pos++] = 0x53; // S
    this.out[this.pos++] = SPACE;
    this.int(seq);
    this.out[this.pos++] = NEWLINE;
  }

  private hex(b: Uint8Array): void {
    const out = this.out;
    let pos = this.pos;
    for (let i = 0; i < b.length; i++) {
      const h = b[i] << 1;
      out[pos] = HEX[h];
      out[pos + 1] = HEX[h + 1];
      pos += 2;
    }
    this.pos = pos;
  }

  /** A space, then an integer (negative or not) in decimal. */
  private field(n: number): void {
    this.out[this.pos++] = SPACE;
    if (n < 0) {
      this.out[this.pos++] = MINUS;
      n = -n;
    }
    this.int(n);
  }

  private int(n: number): void {
    const out = this.out;
    if (n < 10) {
      out[this.pos++] = 0x30 + n;
      return;
    }
    let digits = 1;
    for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
    let pos = this.pos + digits;
    this.pos = pos;
    do {
      out[--pos] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
  }

  /** Hand the chunk to the pipe and start a new one of at least `need` bytes. */
  private write(need: number): void {
    const data = this.out.subarray(0, this.pos);
    this.out = Buffer.allocUnsafeSlow(Math.max(CHUNK, need));
    this.pos = 0;
    if (data.length === 0 || this.dead) return;
    if (!this.child.stdin.write(data) && this.blocked === undefined) {
      this.blocked = new Promise<void>((resolve) => {
        const done = () => {
          this.child.stdin.off("drain", done);
          this.child.off("exit", done);
          this.blocked = undefined;
          resolve();
        };
        this.child.stdin.once("drain", done);
        this.child.once("exit", done);
      });
    }
  }

  backlog(): Promise<void> | undefined {
    return this.blocked;
  }

  mknod(location: string, p: Buffer, kind: SpecialKind, rdev: bigint): void {
    const type = kind === "fifo" ? S_IFIFO : kind === "chardev" ? S_IFCHR : S_IFBLK;
    const dev = kind === "fifo" ? 0 : Number(rdev & 0xffff_ffffn);
    if (!this.begin(0x4e /* N */, location, p, 0)) return;
    this.field(type | 0o600);
    this.field(dev);
    this.end();
  }

  setMetadata(
    location: string,
    p: Buffer,
    meta: NodeMetadata,
    perm: number,
    symlink: boolean,
  ): void {
    const xattrs = meta.xattrs;
    let chown = true;
    if (xattrs !== undefined && xattrs.length > 0) {
      // lchown before the attributes (it clears security.capability), chmod after them
      if (!this.begin(0x41 /* A */, location, p, 0)) return;
      this.field(meta.uid);
      this.field(meta.gid);
      this.field(-1);
      this.out[this.pos++] = SPACE;
      this.out[this.pos++] = MINUS;
      this.end();
      for (const a of xattrs) {
        const name = Buffer.from(a.name, "utf8");
        const value = a.value ?? new Uint8Array(0);
        if (!this.begin(0x58 /* X */, location, p, 2 * (name.length + value.length))) return;
        this.out[this.pos++] = SPACE;
        this.hex(name);
        this.out[this.pos++] = SPACE;
        this.hex(value);
        this.end();
      }
      chown = false;
    }
    if (!this.begin(0x41 /* A */, location, p, 0)) return;
    this.field(chown ? meta.uid : -1);
    this.field(chown ? meta.gid : -1);
    this.field(perm);
    if (Number.isNaN(meta.aSec) || Number.isNaN(meta.mSec)) {
      this.out[this.pos++] = SPACE;
      this.out[this.pos++] = MINUS;
    } else {
      this.field(meta.aSec);
      this.field(meta.aNsec);
      this.field(meta.mSec);
      this.field(meta.mNsec);
      this.field(symlink ? AT_SYMLINK_NOFOLLOW : 0);
    }
    this.end();
  }

  async flush(): Promise<FsOpError[]> {
    if (!this.dead) {
      const seq = this.seq++;
      const done = new Promise<void>((resolve) => this.waiters.set(seq, resolve));
      this.marker(seq);
      this.write(0);
      await done;
    }
    if (this.dead) {
      for (const location of this.tags.values()) {
        this.errors.push({
          op: "metadata",
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
function microSeconds(sec: number, nsec: number): number {
  return sec + (Math.floor(nsec / 1000) + 0.5) / 1e6;
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
  private runOn(p: Buffer, argv: (name: string) => string[], create: boolean): void {
    if (isUtf8(p)) {
      run(argv(p.toString("utf8")));
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
        run(argv(`/proc/self/fd/3/${tmpName}`), dirFd);
      } finally {
        if (create) {
          if (fs.existsSync(tmp)) fs.renameSync(tmp, p);
        } else fs.renameSync(tmp, p);
      }
    } finally {
      fs.closeSync(dirFd);
    }
  }

  mknod(location: string, p: Buffer, kind: SpecialKind, rdev: bigint): void {
    try {
      if (kind === "fifo") {
        this.runOn(p, (n) => ["mkfifo", "-m", "0600", "--", n], true);
      } else {
        const { major, minor } = devMajorMinor(rdev);
        const t = kind === "chardev" ? "c" : "b";
        this.runOn(
          p,
          (n) => ["mknod", "-m", "0600", "--", n, t, String(major), String(minor)],
          true,
        );
      }
    } catch (err) {
      this.record("mknod", location, err);
    }
  }

  setMetadata(
    location: string,
    p: Buffer,
    meta: NodeMetadata,
    perm: number,
    symlink: boolean,
  ): void {
    if (meta.uid !== -1 || meta.gid !== -1) {
      try {
        fs.lchownSync(p, meta.uid, meta.gid);
      } catch (err) {
        this.record("lchown", location, err);
      }
    }
    for (const a of meta.xattrs ?? []) this.lsetxattr(location, p, a.name, a.value);
    if (perm >= 0) {
      try {
        fs.chmodSync(p, perm);
      } catch (err) {
        this.record("chmod", location, err);
      }
    }
    if (Number.isNaN(meta.aSec) || Number.isNaN(meta.mSec)) return;
    try {
      const a = microSeconds(meta.aSec, meta.aNsec);
      const m = microSeconds(meta.mSec, meta.mNsec);
      if (symlink) fs.lutimesSync(p, a, m);
      else fs.utimesSync(p, a, m);
    } catch (err) {
      this.record("utimes", location, err);
    }
  }

  private lsetxattr(location: string, p: Buffer, name: string, value: Uint8Array | null): void {
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
      this.runOn(p, (n) => ["setfattr", "-h", "-n", name, "-v", hex, "--", n], false);
    } catch (err) {
      this.record("lsetxattr", location, err);
    }
  }

  backlog(): undefined {
    return undefined;
  }

  async flush(): Promise<FsOpError[]> {
    const errs = this.errors;
    this.errors = [];
    return errs;
  }

  async close(): Promise<void> {}
}

/** Run a program to its end; throws when it fails (EPERM when it says so). */
function run(argv: string[], dirFd?: number): void {
  const stdio: ("ignore" | "pipe" | number)[] = ["ignore", "ignore", "pipe"];
  if (dirFd !== undefined) stdio.push(dirFd);
  const r = spawnSync(argv[0], argv.slice(1), { stdio, encoding: "utf8" });
  if (r.error) throw r.error;
  if (r.status === 0) return;
  const stderr = (r.stderr ?? "").trim();
  const err = new Error(`${argv[0]} failed: ${stderr || `exit code ${r.status}`}`);
  (err as NodeJS.ErrnoException).code = /Operation not permitted/.test(stderr) ? "EPERM" : "EIO";
  throw err;
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
