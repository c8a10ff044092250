// fast-check arbitraries for index files (index-file.test.ts, index-scan.test.ts): random
// IDs, both blob types, offsets and lengths across uint32 (its ends included), compressed or
// not, with or without superseded files.

import fc from "fast-check";
import type { IndexFile } from "../../../src/repo/index-file.js";

export const idArb = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => Buffer.from(b).toString("hex"));

const u32 = fc.oneof(fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(0, 0xffff_ffff));

export const blobArb = fc
  .record({
    id: idArb,
    type: fc.constantFrom("data" as const, "tree" as const),
    offset: u32,
    length: u32,
    uncompressedLength: fc.option(fc.integer({ min: 1, max: 0xffff_ffff }), { nil: undefined }),
  })
  .map((b) => {
    if (b.uncompressedLength === undefined) delete b.uncompressedLength;
    return b;
  });

/** Index files of up to 5 packs of `minBlobs`-5 blobs each. */
export function indexArb(minBlobs = 0): fc.Arbitrary<IndexFile> {
  return fc.record({
    supersedes: fc.array(idArb, { maxLength: 3 }),
    packs: fc.array(
      fc.record({ id: idArb, blobs: fc.array(blobArb, { minLength: minBlobs, maxLength: 5 }) }),
      { maxLength: 5 },
    ),
  });
}
