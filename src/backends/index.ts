// The backends layer: the Backend seam, restic's default repository layout, the memory,
// local-directory, SFTP and REST backends, the retrying wrapper, and the repository URL
// grammar with the function that opens a backend for a URL.

export type { Backend, ByteRange, FileInfo, FileType, Handle } from "./backend.js";
export { FILE_TYPES } from "./backend.js";
export {
  findKnownHostKeys,
  type HostKeyVerdict,
  hostLookupName,
  type KnownHostKey,
  verifyHostKey,
} from "./known-hosts.js";
export {
  CONFIG_PATH,
  checkHandle,
  checkRange,
  checkType,
  DATA_SUBDIRS,
  DEFAULT_MODES,
  deriveModes,
  describeHandle,
  handleDir,
  handlePath,
  isDataSubdir,
  isValidName,
  type Modes,
  REPO_DIRS,
  readOnlyMode,
  resolveRange,
  TYPE_DIRS,
  tempPrefix,
} from "./layout.js";
export { mapLimit, Semaphore } from "./limit.js";
export { LocalBackend } from "./local.js";
export { MemoryBackend } from "./mem.js";
export {
  backendOptionsFromExtended,
  type OpenBackendOptions,
  openBackend,
  type RestSettings,
  type SftpSettings,
} from "./open.js";
export { DEFAULT_REST_CONNECTIONS, RestBackend, type RestOptions } from "./rest.js";
export { DEFAULT_RETRY, isTransient, RetryBackend, type RetryOptions, withRetry } from "./retry.js";
export {
  DEFAULT_SFTP_CONNECTIONS,
  defaultIdentityFiles,
  SftpBackend,
  type SftpOptions,
} from "./sftp.js";
export * from "./url.js";
