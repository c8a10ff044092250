// Extended attributes through libc's xattr system calls, called in-process via koffi (see
// xattr.ts for the readers around it): restic 0.14's fillExtendedAttributes, every name the
// kernel lists, in its order, with its value. By path without following a symlink
// (llistxattr/lgetxattr: the archiver's walk), or on an open descriptor
// (flistxattr/fgetxattr: the blob workers, which read a regular file's attributes while they
// read its contents, as restic's file savers build the file's node).

import { type CLibrary, type Koffi, koffiModule } from "../../ffi.js";
import type { ExtendedAttribute } from "../node.js";

const ERANGE = 34;
const ZERO = Buffer.from([0]);

/** The listing and one value of an item, as the two system calls give them. */
interface Calls {
  list(buf: Buffer, size: number): number;
  get(name: Buffer, buf: Buffer, size: number): number;
}

type ListCall = (target: Buffer | number, list: Buffer, size: number) => number;
type GetCall = (target: Buffer | number, name: Buffer, value: Buffer, size: number) => number;

export class FfiXattrs {
  private list = Buffer.allocUnsafe(4096);
  private value = Buffer.allocUnsafe(4096);

  private constructor(
    private readonly koffi: Koffi,
    private readonly byPath: { list: ListCall; get: GetCall },
    private readonly byFd: { list: ListCall; get: GetCall },
  ) {}

  /** libc's four calls through koffi; undefined where koffi or a symbol is missing. */
  static load(): FfiXattrs | undefined {
    if (process.platform !== "linux") return undefined;
    try {
      const koffi = koffiModule();
      let lib: CLibrary;
      try {
        lib = koffi.load("libc.so.6");
      } catch {
        lib = koffi.load(null);
      }
      const bind = (list: string, get: string) => {
        const l = lib.func(list);
        const g = lib.func(get);
        return {
          list: ((t, b, s) => Number(l(t, b, s))) as ListCall,
          get: ((t, n, b, s) => Number(g(t, n, b, s))) as GetCall,
        };
      };
      return new FfiXattrs(
        koffi,
        bind(
          "long llistxattr(const uint8_t *path, void *list, size_t size)",
          "long lgetxattr(const uint8_t *path, const uint8_t *name, void *value, size_t size)",
        ),
        bind(
          "long flistxattr(int fd, void *list, size_t size)",
          "long fgetxattr(int fd, const uint8_t *name, void *value, size_t size)",
        ),
      );
    } catch {
      return undefined;
    }
  }

  /** The attributes of the item at `path` (a symlink's own: none are read through it). */
  readPath(path: string | Buffer): ExtendedAttribute[] | undefined {
    const p = Buffer.concat([typeof path === "string" ? Buffer.from(path) : path, ZERO]);
    if (p.indexOf(0) !== p.length - 1) return undefined;
    const { list, get } = this.byPath;
    return this.read({
      list: (buf, size) => list(p, buf, size),
      get: (name, buf, size) => get(p, name, buf, size),
    });
  }

  /** The attributes of the file open as `fd`. */
  readFd(fd: number): ExtendedAttribute[] | undefined {
    const { list, get } = this.byFd;
    return this.read({
      list: (buf, size) => list(fd, buf, size),
      get: (name, buf, size) => get(fd, name, buf, size),
    });
  }

  private read(calls: Calls): ExtendedAttribute[] | undefined {
    let n = calls.list(this.list, this.list.length);
    if (n < 0 && this.koffi.errno() === ERANGE) {
      this.list = Buffer.allocUnsafe(65536);
      n = calls.list(this.list, this.list.length);
    }
    if (n <= 0) return undefined;
    const out: ExtendedAttribute[] = [];
    const list = Buffer.from(this.list.subarray(0, n));
    for (let off = 0; off < n; ) {
      let end = list.indexOf(0, off);
      if (end < 0) end = n;
      const name = list.subarray(off, end + 1);
      off = end + 1;
      if (name.length <= 1) continue;
      let m = calls.get(name, this.value, this.value.length);
      if (m < 0 && this.koffi.errno() === ERANGE) {
        this.value = Buffer.allocUnsafe(65536);
        m = calls.get(name, this.value, this.value.length);
      }
      if (m < 0) continue;
      out.push({
        name: name.subarray(0, name.length - 1).toString("utf8"),
        value: new Uint8Array(this.value.subarray(0, m)),
      });
    }
    return out.length > 0 ? out : undefined;
  }
}
