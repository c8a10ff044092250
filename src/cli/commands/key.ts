// `restic-ts key list|add|remove ID|passwd`: manage the key files that open the master key.

import { ResticTsError } from "../../errors.js";
import { withLock } from "../../repo/lock.js";
import {
  type Command,
  type CommandContext,
  type FlagValues,
  promptPassword,
  readTextFile,
  trimPassword,
} from "../command.js";
import { formatLocalTime, formatTable } from "../table.js";

export const keyCommand: Command = {
  name: "key",
  summary: "Manage keys (passwords)",
  usage:
    "key list | key add | key remove ID | key passwd   [--new-password-file FILE] [--user U] [--host H]",
  options: {
    "new-password-file": { type: "string" },
    user: { type: "string" },
    host: { type: "string" },
  },
  async run(ctx, args, flags) {
    const [sub, ...rest] = args;
    if (sub === undefined || (sub === "remove" ? rest.length !== 1 : rest.length !== 0)) {
      throw new ResticTsError("INVALID_ARGUMENT", "wrong number of arguments");
    }
    const repo = await ctx.openRepository();
    // Like restic: list and add under a shared lock, remove and passwd under an exclusive one.
    return withLock(repo, sub === "remove" || sub === "passwd", async () => {
      switch (sub) {
        case "list": {
          const keys = await repo.listKeys();
          if (ctx.json) {
            ctx.printJSON(
              keys.map((k) => ({
                current: k.current,
                id: k.id.slice(0, 8),
                userName: k.username,
                hostName: k.hostname,
                created: formatLocalTime(new Date(k.created)),
              })),
            );
            return 0;
          }
          const rows = keys.map((k) => [
            `${k.current ? "*" : " "}${k.id.slice(0, 8)}`,
            k.username,
            k.hostname,
            formatLocalTime(new Date(k.created)),
          ]);
          ctx.print(formatTable([" ID", "User", "Host", "Created"], rows).trimEnd());
          return 0;
        }
        case "add": {
          const id = await repo.addKey(await newPassword(ctx, flags), keyOwner(flags));
          ctx.verbose(`saved new key as ${id}`);
          return 0;
        }
        case "remove": {
          const id = await repo.removeKey(rest[0]);
          ctx.verbose(`removed key ${id}`);
          return 0;
        }
        case "passwd": {
          const id = await repo.changePassword(await newPassword(ctx, flags), keyOwner(flags));
          ctx.verbose(`saved new key as ${id}`);
          return 0;
        }
        default:
          throw new ResticTsError(
            "INVALID_ARGUMENT",
            `unknown key subcommand "${sub}": use list, add, remove or passwd`,
          );
      }
    });
  },
};

function keyOwner(flags: FlagValues): { username?: string; hostname?: string } {
  return { username: flags.user as string | undefined, hostname: flags.host as string | undefined };
}

async function newPassword(ctx: CommandContext, flags: FlagValues): Promise<string> {
  const file = flags["new-password-file"] as string | undefined;
  const pw =
    file !== undefined
      ? trimPassword(await readTextFile(file, "new password file"))
      : await promptPassword(ctx.io, "enter new password: ", true);
  if (pw === "") throw new ResticTsError("EMPTY_PASSWORD", "an empty password is not allowed");
  return pw;
}
