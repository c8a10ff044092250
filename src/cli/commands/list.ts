// `restic-ts list keys|snapshots|index|packs|locks`: print the IDs of one type of file;
// `list blobs`: every entry of the loaded index as "<type> <id>", as restic 0.14 prints them.

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
  usage: `list blobs|${Object.keys(LISTABLE).join("|")}`,
  options: {},
  async run(ctx, args) {
    if (args.length !== 1) throw new ResticTsError("INVALID_ARGUMENT", "type not specified");
    const type = LISTABLE[args[0]];
    if (type === undefined && args[0] !== "blobs") {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `invalid type "${args[0]}": use one of blobs, ${Object.keys(LISTABLE).join(", ")}`,
      );
    }
    const repo = await ctx.openRepository();
    if (type === undefined) {
      const { index } = await repo.loadIndex();
      let out = "";
      for (const e of index.entries()) {
        out += `${e.type} ${e.id}\n`;
        if (out.length >= 65536) {
          ctx.io.write(out);
          out = "";
        }
      }
      if (out !== "") ctx.io.write(out);
      return 0;
    }
    for (const id of await repo.listIds(type)) ctx.print(id);
    return 0;
  },
};
