// Extended attributes for tree nodes (restic 0.14's fillExtendedAttributes: every name
// listxattr(2) returns, in the kernel's order, with its value; none for symlinks; a file
// system without xattr support means none). Node.js has no xattr API, so this uses the
// optional native package `@napi-rs/xattr` when it is installed; else libc's llistxattr(2) and
// lgetxattr(2) called in-process through the koffi FFI (which the crypto layer loads for
// OpenSSL's Poly1305 anyway, xattr-ffi.ts); else one long-lived perl co-process (perl-base is essential in Debian) that answers llistxattr/lgetxattr through
// perl's `syscall` for NUL-separated paths on its stdin, one line per path, in kernel order;
// as a last resort Debian's `getfattr`, once per batch of paths (it sorts the names, so with
// more than one attribute the order can differ from restic's).

import { isUtf8 } from "node:buffer";
import {
  type ChildProcessWithoutNullStreams,
  execFile,
  spawn,
  spawnSync,
} from "node:child_process";
import { requireModule } from "../../ffi.js";
import type { ExtendedAttribute } from "../node.js";
import { FfiXattrs } from "./xattr-ffi.js";

export interface XattrReader {
  /** The item's attributes (undefined for none); never rejects. */
  read(path: string | Buffer): Promise<ExtendedAttribute[] | undefined>;
  readonly kind: "native" | "getfattr" | "none";
  /** Stop helper processes. */
  close?(): void;
}

interface NativeXattr {
  listAttributesSync(path: string): string[];
  getAttributeSync(path: string, name: string): Uint8Array | null;
}

function loadNative(): NativeXattr | undefined {
  try {
    const name = "@napi-rs/xattr";
    return requireModule(name) as NativeXattr;
  } catch {
    return undefined;
  }
}

class NativeReader implements XattrReader {
  readonly kind = "native";
  constructor(private readonly x: NativeXattr) {}

  async read(path: string | Buffer): Promise<ExtendedAttribute[] | undefined> {
    if (typeof path !== "string") return undefined;
    try {
      const names = this.x.listAttributesSync(path);
      if (names.length === 0) return undefined;
      const out: ExtendedAttribute[] = [];
      for (const name of names) {
        const v = this.x.getAttributeSync(path, name);
        out.push({ name, value: v === null ? new Uint8Array(0) : new Uint8Array(v) });
      }
      return out;
    } catch {
      return undefined;
    }
  }
}

/** Undo getfattr's escaping of file names (\ooo octal, \\). */
function unescapeName(s: string): Buffer {
  const bytes: number[] = [];
  const raw = Buffer.from(s, "utf8");
  for (let i = 0; i < raw.length; i++) {
    if (
      raw[i] === 0x5c &&
      i + 3 < raw.length + 1 &&
      /^[0-7]{3}$/.test(raw.subarray(i + 1, i + 4).toString())
    ) {
      bytes.push(Number.parseInt(raw.subarray(i + 1, i + 4).toString(), 8));
      i += 3;
    } else if (raw[i] === 0x5c && raw[i + 1] === 0x5c) {
      bytes.push(0x5c);
      i++;
    } else bytes.push(raw[i]);
  }
  return Buffer.from(bytes);
}

/** Parse `getfattr -d -e base64 --absolute-names` output: file (bytes, hex) → attributes. */
export function parseGetfattr(text: string): Map<string, ExtendedAttribute[]> {
  const out = new Map<string, ExtendedAttribute[]>();
  let current: ExtendedAttribute[] | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("# file: ")) {
      current = [];
      out.set(unescapeName(line.slice(8)).toString("hex"), current);
      continue;
    }
    if (current === undefined || line === "") continue;
    const eq = line.indexOf("=");
    const name = eq < 0 ? line : line.slice(0, eq);
    let value: Uint8Array = new Uint8Array(0);
    if (eq >= 0) {
      const v = line.slice(eq + 1);
      if (v.startsWith("0s")) value = new Uint8Array(Buffer.from(v.slice(2), "base64"));
      else if (v.startsWith("0x")) value = new Uint8Array(Buffer.from(v.slice(2), "hex"));
      else if (v.startsWith('"') && v.endsWith('"'))
        value = new Uint8Array(Buffer.from(v.slice(1, -1)));
    }
    current.push({ name: unescapeName(name).toString("utf8"), value });
  }
  return out;
}

class GetfattrReader implements XattrReader {
  readonly kind = "getfattr";
  private batch: { path: Buffer; resolve: (v: ExtendedAttribute[] | undefined) => void }[] = [];
  private scheduled = false;

  read(path: string | Buffer): Promise<ExtendedAttribute[] | undefined> {
    const bytes = typeof path === "string" ? Buffer.from(path) : path;
    // process arguments are UTF-8 strings: a name that is not UTF-8 cannot be passed
    if (typeof path !== "string" && !isUtf8(bytes)) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.batch.push({ path: bytes, resolve });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.run());
      }
    });
  }

  private run(): void {
    this.scheduled = false;
    const all = this.batch;
    this.batch = [];
    for (let i = 0; i < all.length; i += 500) {
      const part = all.slice(i, i + 500);
      execFile(
        "getfattr",
        [
          "-d",
          "-m",
          "-",
          "-e",
          "base64",
          "--absolute-names",
          "-h",
          "--",
          ...part.map((p) => p.path.toString("utf8")),
        ],
        { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
        (_err, stdout) => {
          // getfattr exits non-zero when some item has no attribute support: use what it printed
          const found = parseGetfattr(stdout ?? "");
          for (const p of part) p.resolve(found.get(p.path.toString("hex")));
        },
      );
    }
  }
}

const PERL_SCRIPT = `use strict; $/ = "\\0"; $| = 1; my ($L, $G) = @ARGV;
while (defined(my $p = <STDIN>)) { chomp $p; my $buf = "\\0" x 65536; my $n = syscall($L, $p, $buf, 65536);
 if ($n < 0) { print "-\\n"; next; } my $out = "";
 for my $name (split /\\0/, substr($buf, 0, $n)) { my $v = "\\0" x 65536; my $m = syscall($G, $p, $name, $v, 65536);
  next if $m < 0; $out .= unpack("H*", $name) . ":" . unpack("H*", substr($v, 0, $m)) . " "; }
 print "$out\\n"; }`;

/** llistxattr and lgetxattr syscall numbers. */
const SYSCALLS: Partial<Record<string, [number, number]>> = { x64: [195, 192], arm64: [12, 9] };

/** Parse one answer line of the perl helper. */
export function parsePerlLine(line: string): ExtendedAttribute[] | undefined {
  if (line === "-" || line.trim() === "") return undefined;
  const out: ExtendedAttribute[] = [];
  for (const pair of line.trim().split(" ")) {
    const [n, v] = pair.split(":");
    out.push({
      name: Buffer.from(n, "hex").toString("utf8"),
      value: new Uint8Array(Buffer.from(v ?? "", "hex")),
    });
  }
  return out;
}

class PerlReader implements XattrReader {
  readonly kind = "native";
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: ((v: ExtendedAttribute[] | undefined) => void)[] = [];
  private buffered = "";
  private dead = false;
  private out: Buffer[] = [];
  private scheduled = false;

  constructor(nums: [number, number]) {
    this.child = spawn("perl", ["-e", PERL_SCRIPT, String(nums[0]), String(nums[1])], {
      stdio: "pipe",
    });
    this.child.stdout.setEncoding("latin1");
    this.child.stdout.on("data", (d: string) => {
      this.buffered += d;
      let nl = this.buffered.indexOf("\n");
      while (nl >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.waiting.shift()?.(parsePerlLine(line));
        nl = this.buffered.indexOf("\n");
      }
    });
    const stop = () => {
      this.dead = true;
      for (const w of this.waiting.splice(0)) w(undefined);
    };
    this.child.on("error", stop);
    this.child.on("exit", stop);
    this.child.stdin.on("error", stop);
    this.child.unref();
    (this.child.stdout as unknown as { unref?: () => void }).unref?.();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
  }

  read(path: string | Buffer): Promise<ExtendedAttribute[] | undefined> {
    if (this.dead) return Promise.resolve(undefined);
    const bytes = typeof path === "string" ? Buffer.from(path) : path;
    if (bytes.includes(0)) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.out.push(bytes, ZERO);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          const out = this.out;
          this.out = [];
          this.child.stdin.write(Buffer.concat(out));
        });
      }
    });
  }

  close(): void {
    this.child.stdin.end();
  }
}

/** llistxattr/lgetxattr through koffi: a system call each, no helper process. */
class FfiReader implements XattrReader {
  readonly kind = "native";
  constructor(private readonly calls: FfiXattrs) {}

  async read(path: string | Buffer): Promise<ExtendedAttribute[] | undefined> {
    return this.calls.readPath(path);
  }
}

function perlWorks(): boolean {
  try {
    return spawnSync("perl", ["-e", "exit 0"], { stdio: "ignore" }).status === 0;
  } catch {
    return false;
  }
}

const ZERO = Buffer.from([0]);

const NONE: XattrReader = { kind: "none", read: async () => undefined };

/** The best reader available here (`off`: never read attributes). */
export function createXattrReader(mode: "auto" | "getfattr" | "off" = "auto"): XattrReader {
  if (mode === "off") return NONE;
  const native = mode === "auto" ? loadNative() : undefined;
  if (native !== undefined) return new NativeReader(native);
  const ffi = mode === "auto" ? FfiXattrs.load() : undefined;
  if (ffi !== undefined) return new FfiReader(ffi);
  const nums = SYSCALLS[process.arch];
  if (mode === "auto" && process.platform === "linux" && nums !== undefined && perlWorks())
    return new PerlReader(nums);
  return new GetfattrReader();
}
