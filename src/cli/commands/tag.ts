// `restic-ts tag [--set t[,t…]] [--add t[,t…]] [--remove t[,t…]] [filters] [ID…]`: change the
// tags of snapshots as restic 0.14 does (a new snapshot file with `original`, the old one
// removed). Exclusive lock (none with --no-lock).

import { ResticTsError } from "../../errors.js";
import { withLock } from "../../repo/lock.js";
import { splitTagList } from "../../repo/snapshots.js";
import { tagSnapshot } from "../../repo/tag.js";
import type { Command, FlagValues } from "../command.js";
import { flagList } from "../read-common.js";
import { findFilteredSnapshots, SNAPSHOT_FILTER_OPTIONS, snapshotFilter } from "./snapshot-args.js";

/** restic's TagLists.Flatten: every tag of every list, empty ones dropped. */
function flatten(flags: FlagValues, name: string): string[] {
  return flagList(flags, name)
    .flatMap(splitTagList)
    .filter((t) => t !== "");
}

export const tagCommand: Command = {
  name: "tag",
  summary: "Modify tags on snapshots",
  usage: "tag [--set tags | --add tags --remove tags] [--host h] [--tag t] [--path p] [ID...]",
  options: {
    set: { type: "string", multiple: true },
    add: { type: "string", multiple: true },
    remove: { type: "string", multiple: true },
    ...SNAPSHOT_FILTER_OPTIONS,
  },
  async run(ctx, args, flags) {
    const given = (n: string) => flagList(flags, n).length > 0;
    if (!given("set") && !given("add") && !given("remove")) {
      throw new ResticTsError("INVALID_ARGUMENT", "nothing to do!");
    }
    if (given("set") && (given("add") || given("remove"))) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        "--set and --add/--remove cannot be given at the same time",
      );
    }
    const change = {
      set: flatten(flags, "set"),
      add: flatten(flags, "add"),
      remove: flatten(flags, "remove"),
    };
    const repo = await ctx.openRepository();
    const go = async () => {
      let changed = 0;
      for (const e of await findFilteredSnapshots(ctx, repo, snapshotFilter(flags), args)) {
        try {
          if ((await tagSnapshot(repo, e, change)) !== undefined) changed++;
        } catch (err) {
          ctx.io.error(
            `unable to modify the tags for snapshot ID "${e.id}", ignoring: ${(err as Error).message}\n`,
          );
        }
      }
      ctx.verbose(
        changed === 0 ? "no snapshots were modified" : `modified tags on ${changed} snapshots`,
      );
    };
    if (ctx.global["no-lock"] === true) await go();
    else {
      ctx.verbose("create exclusive lock for repository");
      await withLock(repo, true, go);
    }
    return 0;
  },
};
