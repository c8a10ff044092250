// The container layer's public API: creation config, runtime adapter, the reference runc
// runtime, jobs, the snapshot-store seam and the manager that ties them together.

export {
  type ContainerConfig,
  configForRestore,
  decodeMeta,
  encodeMeta,
  isDynamicNic,
  NIC_TYPES,
  type Nic,
  type NicConfig,
  type NicType,
  redactConfig,
  validateConfig,
} from "./config.js";
export {
  Job,
  type JobContext,
  type JobEvents,
  type JobPhase,
  type JobProgress,
  type JobStatus,
} from "./jobs.js";
export {
  type BackupOptions,
  ContainerManager,
  type ContainerManagerOptions,
  type CreateOptions,
} from "./manager.js";
export { ResticSnapshotStore } from "./restic-store.js";
export {
  hostCapabilities,
  type OciMount,
  type OciSpec,
  RuncRuntime,
  type RuncRuntimeOptions,
  resolveInRoot,
  toOciSpec,
} from "./runc.js";
export type {
  ContainerInfo,
  ContainerRuntime,
  ContainerState,
  DeleteOptions,
  StopOptions,
} from "./runtime.js";
export {
  EXCLUDED_TOP_LEVEL,
  type ExtraFile,
  META_PATH,
  type SnapshotProgress,
  type SnapshotStore,
  type StoreBackupOptions,
  type StoreRestoreOptions,
  type StoreRestoreResult,
} from "./store.js";
