// What `check` reports: one Finding per problem, never an exception. Severities follow
// restic 0.14's cmd_check.go: "error" makes the check fail (exit status 1); "hint" is printed
// but non-critical (duplicate packs, old index format, mixed packs); "info" is an orphaned pack
// (restic prints it only verbosely and suggests `prune`).

import type { Id } from "../id.js";

export type FindingKind =
  | "config" // the config does not parse or is damaged
  | "key" // a key file does not parse
  | "index-load" // an index file cannot be loaded
  | "index-old-format" // an index file in the legacy format
  | "index-duplicate-pack" // one pack listed in several index files
  | "mixed-pack" // a pack holding both data and tree blobs
  | "pack-missing" // an indexed pack does not exist
  | "pack-size" // a pack's size differs from what the index implies
  | "pack-orphaned" // a pack no index references
  | "pack-header" // a pack header disagrees with the index or cannot be read
  | "snapshot-load" // a snapshot file cannot be loaded
  | "tree-load" // a tree blob cannot be loaded (missing, damaged)
  | "tree" // a tree's nodes are inconsistent or reference unindexed blobs
  | "pack-read" // a pack cannot be read in full
  | "pack-hash" // a pack's content does not hash to its name
  | "pack-index-layout" // the index gives a pack's blobs gaps or overlaps
  | "blob"; // a blob fails authentication, decompression or its hash

export type Severity = "error" | "hint" | "info";

export interface Finding {
  readonly kind: FindingKind;
  readonly severity: Severity;
  /** One line for people, in restic's wording where restic has one. */
  readonly message: string;
  readonly packId?: Id;
  readonly indexId?: Id;
  readonly snapshotId?: Id;
  readonly treeId?: Id;
  readonly blobId?: Id;
  /** For tree findings: the path (in the first snapshot that reached the tree) of the tree. */
  readonly path?: string;
  /** Further lines (e.g. every problem of one tree or pack). */
  readonly details?: readonly string[];
}

export function errorFinding(
  kind: FindingKind,
  message: string,
  extra: Omit<Finding, "kind" | "severity" | "message"> = {},
): Finding {
  return { kind, severity: "error", message, ...extra };
}

/** A message for an unknown thrown value. */
export function describeError(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
