// Progress of a backup as events (the library's stream) and as restic 0.14's counters
// (internal/ui/backup: Progress, JSONProgress): totals from the scanner, files and bytes done,
// errors, the items being read, and the final summary with restic's field names.

export type ItemAction = "new" | "unchanged" | "modified";

export type BackupEvent =
  /** The scanner's totals so far (`done` when it finished). */
  | {
      readonly type: "scan";
      readonly files: number;
      readonly dirs: number;
      readonly bytes: number;
      readonly done: boolean;
    }
  /** Bytes of file content read (or reused unread from the parent). */
  | { readonly type: "bytes"; readonly bytes: number }
  /** A file is being read. */
  | { readonly type: "start-file"; readonly item: string }
  /** An item is finished. */
  | {
      readonly type: "item";
      readonly kind: "file" | "dir";
      readonly action: ItemAction;
      readonly item: string;
      readonly dataSize: number;
      readonly durationMs: number;
    }
  /** An item could not be read and was left out (the backup goes on; exit code 3). */
  | {
      readonly type: "error";
      readonly item: string;
      readonly message: string;
      readonly during: string;
    }
  /** A warning that does not make the backup incomplete. */
  | { readonly type: "warning"; readonly message: string }
  | { readonly type: "done"; readonly summary: BackupSummary };

/** restic's backup summary (the `--json` "summary" message, in camel case). */
export interface BackupSummary {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  dataBlobs: number;
  treeBlobs: number;
  /** Plaintext bytes of the new data and tree blobs. */
  dataAdded: number;
  /** Stored bytes of the new packs (after compression and encryption). */
  dataAddedPacked: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
  totalDurationMs: number;
  snapshotId: string | undefined;
  dryRun: boolean;
}

export function emptySummary(): BackupSummary {
  return {
    filesNew: 0,
    filesChanged: 0,
    filesUnmodified: 0,
    dirsNew: 0,
    dirsChanged: 0,
    dirsUnmodified: 0,
    dataBlobs: 0,
    treeBlobs: 0,
    dataAdded: 0,
    dataAddedPacked: 0,
    totalFilesProcessed: 0,
    totalBytesProcessed: 0,
    totalDurationMs: 0,
    snapshotId: undefined,
    dryRun: false,
  };
}

/** Counters a renderer keeps from the events (restic's Progress). */
export class BackupStatus {
  readonly start = Date.now();
  totalFiles = 0;
  totalBytes = 0;
  scanDone = false;
  filesDone = 0;
  bytesDone = 0;
  errors = 0;
  readonly current = new Set<string>();

  /** Feed one event. */
  update(e: BackupEvent): void {
    switch (e.type) {
      case "scan":
        this.totalFiles = e.files;
        this.totalBytes = e.bytes;
        this.scanDone = e.done;
        break;
      case "bytes":
        this.bytesDone += e.bytes;
        break;
      case "start-file":
        this.current.add(e.item);
        break;
      case "item":
        if (e.kind === "file") {
          this.filesDone++;
          this.current.delete(e.item);
        }
        break;
      case "error":
        this.errors++;
        this.current.delete(e.item);
        break;
    }
  }

  /** Seconds left, from the bytes rate so far (0 when unknown). */
  eta(now = Date.now()): number {
    const secs = (now - this.start) / 1000;
    if (!this.scanDone || this.bytesDone === 0 || secs <= 0) return 0;
    const left = Math.max(0, this.totalBytes - this.bytesDone);
    return Math.round(left / (this.bytesDone / secs));
  }

  /** restic's `--json` "status" message. */
  statusJson(now = Date.now()): Record<string, unknown> {
    const out: Record<string, unknown> = { message_type: "status" };
    const elapsed = Math.floor((now - this.start) / 1000);
    if (elapsed > 0) out.seconds_elapsed = elapsed;
    const eta = this.eta(now);
    if (eta > 0) out.seconds_remaining = eta;
    out.percent_done = this.totalBytes > 0 ? Math.min(1, this.bytesDone / this.totalBytes) : 0;
    if (this.totalFiles > 0) out.total_files = this.totalFiles;
    if (this.filesDone > 0) out.files_done = this.filesDone;
    if (this.totalBytes > 0) out.total_bytes = this.totalBytes;
    if (this.bytesDone > 0) out.bytes_done = this.bytesDone;
    if (this.errors > 0) out.error_count = this.errors;
    if (this.current.size > 0) out.current_files = [...this.current].sort();
    return out;
  }
}

/** restic's `--json` "summary" message. */
export function summaryJson(s: BackupSummary): Record<string, unknown> {
  const out: Record<string, unknown> = {
    message_type: "summary",
    files_new: s.filesNew,
    files_changed: s.filesChanged,
    files_unmodified: s.filesUnmodified,
    dirs_new: s.dirsNew,
    dirs_changed: s.dirsChanged,
    dirs_unmodified: s.dirsUnmodified,
    data_blobs: s.dataBlobs,
    tree_blobs: s.treeBlobs,
    data_added: s.dataAdded,
    total_files_processed: s.totalFilesProcessed,
    total_bytes_processed: s.totalBytesProcessed,
    total_duration: s.totalDurationMs / 1000,
    snapshot_id: s.snapshotId?.slice(0, 8) ?? "",
  };
  if (s.dryRun) out.dry_run = true;
  return out;
}
