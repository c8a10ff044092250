// `restic-ts rebuild-index [--read-all-packs]`: write fresh index files from what the index
// says about packs that exist with the right size plus the headers of all other packs (of
// every pack with --read-all-packs), superseding and then deleting the old index files.
// Exclusive lock, as restic's.

import { ResticTsError } from "../../errors.js";
import { withLock } from "../../repo/lock.js";
import { rebuildIndex } from "../../repo/rebuild-index.js";
import type { Command } from "../command.js";
import { cliLog } from "./prune.js";

export const rebuildIndexCommand: Command = {
  name: "rebuild-index",
  summary: "Build a new index",
  usage: "rebuild-index [--read-all-packs]",
  options: { "read-all-packs": { type: "boolean" } },
  async run(ctx, args, flags) {
    if (args.length !== 0) {
      throw new ResticTsError("INVALID_ARGUMENT", "the rebuild-index command expects no arguments");
    }
    const repo = await ctx.openRepository();
    await withLock(repo, true, async () => {
      await rebuildIndex(repo, {
        readAllPacks: flags["read-all-packs"] === true,
        log: cliLog(ctx),
      });
      ctx.verbose("done");
    });
    return 0;
  },
};
