// check, step 2 (restic 0.14 checker.Packs): every pack the index lists exists with the size
// the index implies; packs no index lists are orphans (info only). Beyond restic 0.14, the
// header of every pack that exists is read and compared with the index (as read-data does for
// each pack it reads).

import type { FileInfo } from "../../backends/backend.js";
import { mapLimit } from "../../backends/limit.js";
import { open } from "../../crypto/master-key.js";
import type { Id } from "../id.js";
import { readPackHeaderWith } from "../pack.js";
import type { Repository } from "../repository.js";
import { describeError, errorFinding, type Finding } from "./findings.js";
import type { IndexedPack } from "./index-check.js";
import { compareHeader } from "./verify-pack.js";

export interface PackListing {
  /** Actual sizes of every pack file in the repository. */
  readonly actual: ReadonlyMap<Id, number>;
  readonly findings: readonly Finding[];
}

export async function checkPackFiles(
  repo: Repository,
  indexed: ReadonlyMap<Id, IndexedPack>,
): Promise<PackListing> {
  const actual = new Map<Id, number>();
  const findings: Finding[] = [];
  try {
    for await (const fi of repo.backend.list("data") as AsyncIterable<FileInfo>) {
      actual.set(fi.name, fi.size);
    }
  } catch (err) {
    findings.push(errorFinding("pack-read", `listing packs failed: ${describeError(err)}`));
  }
  for (const [id, p] of [...indexed].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const size = actual.get(id);
    if (size === undefined) {
      findings.push(errorFinding("pack-missing", `pack ${id}: does not exist`, { packId: id }));
    } else if (size !== p.size) {
      findings.push(
        errorFinding(
          "pack-size",
          `pack ${id}: unexpected file size: got ${size}, expected ${p.size}`,
          {
            packId: id,
          },
        ),
      );
    }
  }
  for (const id of [...actual.keys()].sort()) {
    if (!indexed.has(id)) {
      findings.push({
        kind: "pack-orphaned",
        severity: "info",
        message: `pack ${id}: not referenced in any index`,
        packId: id,
      });
    }
  }
  return { actual, findings };
}

/** Read the header of every pack that exists with the expected size and compare it with the index. */
export async function checkPackHeaders(
  repo: Repository,
  indexed: ReadonlyMap<Id, IndexedPack>,
  actual: ReadonlyMap<Id, number>,
  concurrency = 8,
): Promise<Finding[]> {
  const todo = [...indexed].filter(([id, p]) => actual.get(id) === p.size).map(([id]) => id);
  todo.sort();
  const results = await mapLimit(todo, concurrency, async (id): Promise<Finding | undefined> => {
    const p = indexed.get(id) as IndexedPack;
    let problems: string[];
    try {
      const info = await readPackHeaderWith(
        (offset, length) => repo.backend.load({ type: "data", name: id }, { offset, length }),
        p.size,
        (sealed) => open(repo.masterKey, sealed),
        true,
      );
      problems = compareHeader(info.blobs, info.headerSize, p.blobs);
    } catch (err) {
      problems = [`cannot read the pack header: ${describeError(err)}`];
    }
    if (problems.length === 0) return undefined;
    return errorFinding(
      "pack-header",
      `pack ${id}: header does not match the index (${problems.length} problems)`,
      { packId: id, details: problems },
    );
  });
  return results.filter((f): f is Finding => f !== undefined);
}
