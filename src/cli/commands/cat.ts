// `restic-ts cat config|masterkey|key ID|snapshot ID|index ID|lock ID|pack ID`: print one
// repository file's decrypted content (JSON indented like restic; pack bytes raw).

import { masterKeyToJSON } from "../../crypto/master-key.js";
import { ResticTsError } from "../../errors.js";
import { formatConfig } from "../../repo/config.js";
import type { Command } from "../command.js";

const TYPES = ["config", "masterkey", "key", "snapshot", "index", "lock", "pack"] as const;

export const catCommand: Command = {
  name: "cat",
  summary: "Print internal objects to stdout",
  usage: `cat ${TYPES.join("|")} [ID]`,
  options: {},
  async run(ctx, args) {
    const [type, idArg] = args;
    const needsId = type !== "config" && type !== "masterkey";
    if (type === undefined || (needsId ? args.length !== 2 : args.length !== 1)) {
      throw new ResticTsError("INVALID_ARGUMENT", "type or ID not specified");
    }
    if (!(TYPES as readonly string[]).includes(type)) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `invalid type "${type}": use one of ${TYPES.join(", ")}`,
      );
    }
    const repo = await ctx.openRepository();
    const decoder = new TextDecoder();
    const indent = (bytes: Uint8Array) =>
      JSON.stringify(JSON.parse(decoder.decode(bytes)), null, 2);
    switch (type) {
      case "config":
        ctx.print(formatConfig(repo.config));
        return 0;
      case "masterkey":
        ctx.print(JSON.stringify(masterKeyToJSON(repo.masterKey), null, 2));
        return 0;
      case "key": {
        const id = await repo.resolveId("key", idArg);
        ctx.print(indent(await repo.backend.load({ type: "key", name: id })));
        return 0;
      }
      case "snapshot":
      case "lock": {
        const id = await repo.resolveId(type, idArg);
        ctx.print(indent(await repo.loadUnpacked(type, id)));
        return 0;
      }
      case "index": {
        const id = await repo.resolveId("index", idArg);
        ctx.print(decoder.decode(await repo.loadUnpacked("index", id)));
        return 0;
      }
      case "pack": {
        const id = await repo.resolveId("data", idArg);
        ctx.io.writeBytes(await repo.backend.load({ type: "data", name: id }));
        return 0;
      }
    }
    return 0;
  },
};
