// The environment the launcher line of main.ts (`#!/usr/bin/env -S …`) starts Node in, for
// what Node and glibc read before any JavaScript runs (bench/RESULTS.md "## start-up"):
//
// - NODE_EXTRA_CA_CERTS is moved to RESTIC_TS_EXTRA_CA_CERTS: Node parses the bundle at every
//   start (~40 ms and ~1.5 MB for a system bundle), and only an https repository needs it
//   (root-certs.ts loads it then);
// - GLIBC_TUNABLES starts with glibc.malloc.hugetlb=1 (the user's own tunables follow and so
//   win; the original is kept in RESTIC_TS_GLIBC_TUNABLES): glibc's malloc then asks for
//   transparent huge pages, and OpenSSL's 32 MiB scrypt table, which every command that opens
//   a repository fills, takes ~16 page faults instead of ~8,200 (Go's runtime does the same
//   for restic's).
//
// `restoreLauncherEnv` puts both back for the child processes this one starts.

/** Where the launcher line keeps NODE_EXTRA_CA_CERTS's value ("" when it was unset). */
export const DEFERRED_EXTRA_CA_CERTS = "RESTIC_TS_EXTRA_CA_CERTS";
/** Where the launcher line keeps the user's GLIBC_TUNABLES ("" when it was unset). */
export const USER_GLIBC_TUNABLES = "RESTIC_TS_GLIBC_TUNABLES";

/**
 * Undo the launcher line's changes in `env` (this process's, for its children). Node and glibc
 * read those variables only at start-up, so this process keeps what the launcher gave it.
 */
export function restoreLauncherEnv(env: Record<string, string | undefined>): void {
  const ca = env[DEFERRED_EXTRA_CA_CERTS];
  if (ca !== undefined && ca !== "" && env.NODE_EXTRA_CA_CERTS === undefined) {
    env.NODE_EXTRA_CA_CERTS = ca;
  }
  const tunables = env[USER_GLIBC_TUNABLES];
  if (tunables !== undefined) {
    if (tunables === "") delete env.GLIBC_TUNABLES;
    else env.GLIBC_TUNABLES = tunables;
    delete env[USER_GLIBC_TUNABLES];
  }
}
