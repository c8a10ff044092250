// `restic-ts list keys|snapshots|index|packs|locks`: print the IDs of one type of file.

import type { FileType } from "../../backends/backend.js";
import { ResticTsError } from "../../errors.js";
import type { Command } from "../command.js";

const LISTABLE: Record<string, FileType> = {
  keys: "key",
  snapshots: "snapshot",
  index: "index",
  packs: "data",
  locks: "lock",
};

export const listCommand: Command = {
  name: "list",
  summary: "List objects in the repository",
  usage: `list ${Object.keys(LISTABLE).join("|")}`,
  options: {},
  async run(ctx, args) {
    if (args.length !== 1) throw new ResticTsError("INVALID_ARGUMENT", "type not specified");
    const type = LISTABLE[args[0]];
    if (type === undefined) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `invalid type "${args[0]}": use one of ${Object.keys(LISTABLE).join(", ")}`,
      );
    }
    const repo = await ctx.openRepository();
    for (const id of await repo.listIds(type)) ctx.print(id);
    return 0;
  },
};
