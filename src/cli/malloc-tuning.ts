// Process-wide glibc malloc tuning for the data-heavy CLI commands (backup, restore, check,
// prune, copy, dump). In VMs that hand freed pages back to the host, touching a fresh page
// costs ~15 µs (bench/RESULTS.md "## crypto"): a 16 MiB buffer that glibc serves by mmap and
// returns by munmap is faulted in again page by page every time, which turned 4 GB/s AES into
// ~0.4 GB/s. Keeping buffers up to 32 MiB in the heap and not trimming it makes glibc reuse
// the same warm pages; this is what GLIBC_TUNABLES=glibc.malloc.mmap_threshold=…:
// glibc.malloc.trim_threshold=… does, set from inside the process with mallopt(3) through
// koffi (no re-exec). Not done when the user set GLIBC_TUNABLES; musl's mallopt is a stub that
// returns 0, so there it is reported as not applied.

import { type ModuleLoader, processLibrary, requireModule } from "../ffi.js";

/** mallopt(3) parameters (glibc's malloc.h). */
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;
/** glibc's largest mmap threshold on 64-bit systems (HEAP_MAX_SIZE / 2). */
const MMAP_THRESHOLD = 32 * 1024 * 1024;
/** Return heap memory to the OS only above 1 GiB of free top (int-sized). */
const TRIM_THRESHOLD = 1024 * 1024 * 1024;

let applied: boolean | undefined;

/**
 * Apply the tuning once per process; true if glibc accepted it. Never throws: without glibc,
 * koffi or mallopt the process simply runs with the defaults.
 */
export function tuneMallocForThroughput(load: ModuleLoader = requireModule): boolean {
  if (applied !== undefined) return applied;
  applied = false;
  if (process.env.GLIBC_TUNABLES || process.platform !== "linux") return applied;
  try {
    const mallopt = processLibrary(load).func("int mallopt(int param, int value)");
    applied =
      mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) === 1 &&
      mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) === 1;
  } catch {
    applied = false;
  }
  return applied;
}
