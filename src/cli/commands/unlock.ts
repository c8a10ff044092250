// `restic-ts unlock [--remove-all]`: remove stale locks (or every lock).

import { removeLocks } from "../../repo/lock.js";
import type { Command } from "../command.js";

export const unlockCommand: Command = {
  name: "unlock",
  summary: "Remove locks other processes created",
  usage: "unlock [--remove-all]",
  options: { "remove-all": { type: "boolean" } },
  async run(ctx, _args, flags) {
    const repo = await ctx.openRepository();
    const removed = await removeLocks(repo, { all: flags["remove-all"] === true });
    if (removed.length > 0) ctx.verbose("successfully removed locks");
    return 0;
  },
};
