// The write path's public face: `backup()` (restic's archiver, see archiver/archiver.ts) with
// its options, result, progress events and restic's exclude rules.

export {
  type BackupError,
  type BackupOptions,
  type BackupResult,
  backup,
  type ExtraFile,
  prestartBackupWorkers,
} from "./archiver/archiver.js";
export {
  CACHEDIR_TAG,
  parseSize,
  readPatternFiles,
} from "./archiver/excludes.js";
export {
  type BackupEvent,
  BackupStatus,
  type BackupSummary,
  type ItemAction,
  summaryJson,
} from "./archiver/progress.js";
export type { SelectOptions } from "./archiver/select.js";
