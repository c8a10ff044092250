// The public library API of restic-ts.

export type { Backend, ByteRange, FileInfo, FileType, Handle } from "./backends/backend.js";
export { LocalBackend } from "./backends/local.js";
export { MemoryBackend } from "./backends/mem.js";
export { openBackend } from "./backends/open.js";
export {
  isResticRoot,
  parseRepoUrl,
  parseResticRoot,
  type RepoLocation,
  type RepoUrl,
} from "./backends/url.js";
export * from "./container/index.js";
export type { KdfParams } from "./crypto/kdf.js";
export type { MasterKey } from "./crypto/master-key.js";
export { type ErrorCode, isResticTsError, ResticTsError, redact } from "./errors.js";
export {
  type BackupOptions as RepoBackupOptions,
  type BackupResult,
  backup,
} from "./repo/archiver.js";
export { type Config, DEFAULT_REPO_VERSION, type RepositoryVersion } from "./repo/config.js";
export { IndexedRepository } from "./repo/indexed.js";
export { Lock } from "./repo/lock.js";
export {
  type AddKeyOptions,
  type InitOptions,
  type KeyInfo,
  type OpenOptions,
  Repository,
} from "./repo/repository.js";
export { type RestoreOptions, type RestoreResult, restoreTree } from "./repo/restorer.js";
export { findSnapshot, listSnapshots, type SnapshotFilter } from "./repo/snapshots.js";
