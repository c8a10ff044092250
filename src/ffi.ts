// The koffi FFI (a prebuilt Node addon that calls C functions by their prototype), shared by the
// native fast paths: OpenSSL's AES-CTR, Poly1305 and SHA-256 in this process (src/crypto),
// libzstd (repo/zstd-native.ts), libc's xattr calls (repo/archiver/xattr.ts) and mallopt
// (cli/malloc-tuning.ts). Every user has a fallback for when koffi or a C symbol is missing.

import { createRequire } from "node:module";

/** A bound C function; `async` runs it on libuv's thread pool with a Node-style callback. */
export type CFunction = ((...args: unknown[]) => unknown) & {
  async(...args: unknown[]): void;
};

/** A loaded shared library (or this process's own symbols). */
export interface CLibrary {
  /** Bind a C function by its prototype; throws if the symbol is missing. */
  func(prototype: string): CFunction;
}

/** The subset of koffi's API restic-ts uses. */
export interface Koffi {
  /** A shared library by file name, or (null) the symbols of this process itself. */
  load(path: string | null): CLibrary;
  /** errno of the last C call on this thread. */
  errno(): number;
}

/** Loads a module by name: `require` normally; tests pass fakes. */
export type ModuleLoader = (id: string) => unknown;

export const requireModule: ModuleLoader = createRequire(import.meta.url);

/** koffi through `load`; throws when it is not installed or its addon does not load. */
export function koffiModule(load: ModuleLoader = requireModule): Koffi {
  return load("koffi") as Koffi;
}

/** The symbols of this process (Node's own OpenSSL, libc) through koffi; throws without it. */
export function processLibrary(load: ModuleLoader = requireModule): CLibrary {
  return koffiModule(load).load(null);
}
