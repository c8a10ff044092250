// Large buffers on transparent huge pages. Pack buffers, read buffers and zstd windows are
// megabytes each and written front to back once; on virtual machines every fresh 4 KiB page
// costs a fault (15-100 µs measured in this project's VM, see bench/RESULTS.md), so filling a
// fresh 16 MiB pack costs 100-200 ms in faults alone. With THP in "madvise" mode (the common
// default), madvise(MADV_HUGEPAGE) lets the kernel back the buffer's aligned interior with
// 2 MiB pages: one fault per 2 MiB. libc's madvise through koffi (src/ffi.ts); where either is
// missing, or the kernel refuses, buffers are plain and nothing else changes.

import { type CFunction, processLibrary } from "./ffi.js";

const HUGE_PAGE = 2 * 1024 * 1024;
const MADV_HUGEPAGE = 14;

interface Binding {
  /** The address of a buffer's first byte (memcpy of zero bytes returns its destination). */
  address: CFunction;
  madvise: CFunction;
}

let binding: Binding | null | undefined;

function bind(): Binding | null {
  if (binding !== undefined) return binding;
  binding = null;
  if (process.platform !== "linux" || process.env.RESTIC_TS_HUGE_PAGES === "0") return binding;
  try {
    const libc = processLibrary();
    binding = {
      address: libc.func("uintptr_t memcpy(void *dst, const void *src, size_t n)"),
      madvise: libc.func("int madvise(uintptr_t addr, size_t len, int advice)"),
    };
  } catch {
    binding = null;
  }
  return binding;
}

/**
 * Ask for huge pages under the 2 MiB-aligned interior of `buf` (call before its first write:
 * pages already touched stay small). Buffers under 4 MiB are left alone. Returns the number of
 * bytes advised (0 when not available).
 */
export function adviseHugePages(buf: ArrayBuffer | Uint8Array): number {
  if (buf.byteLength < 2 * HUGE_PAGE) return 0;
  const b = bind();
  if (b === null) return 0;
  const view = buf instanceof Uint8Array ? buf : new Uint8Array(buf);
  const start = Number(b.address(view, view, 0));
  const first = Math.ceil(start / HUGE_PAGE) * HUGE_PAGE;
  const last = Math.floor((start + view.byteLength) / HUGE_PAGE) * HUGE_PAGE;
  if (last <= first) return 0;
  return Number(b.madvise(first, last - first, MADV_HUGEPAGE)) === 0 ? last - first : 0;
}

/** A new zero-filled ArrayBuffer of `size` bytes, on huge pages where available. */
export function largeArrayBuffer(size: number): ArrayBuffer {
  const buf = new ArrayBuffer(size);
  adviseHugePages(buf);
  return buf;
}
