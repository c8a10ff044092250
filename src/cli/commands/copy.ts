// `restic-ts copy --from-repo SRC [--from-password-file F] [filters] [ID…]`: copy snapshots
// from SRC into the repository of -r, as restic 0.14 does (snapshots already copied are
// skipped). The source password: --from-password-file, RESTIC_FROM_PASSWORD, or a prompt;
// the source location: --from-repo, --from-repository-file or RESTIC_FROM_REPOSITORY(_FILE).
// Non-exclusive locks on both (the source's skipped with --no-lock).

import { parseRepoUrl } from "../../backends/url.js";
import { ResticTsError } from "../../errors.js";
import { copySnapshots } from "../../repo/copy.js";
import { withLock } from "../../repo/lock.js";
import { Repository } from "../../repo/repository.js";
import {
  type Command,
  type CommandContext,
  type FlagValues,
  promptPassword,
  readTextFile,
  trimPassword,
} from "../command.js";
import { cliLog } from "./prune.js";
import { findFilteredSnapshots, SNAPSHOT_FILTER_OPTIONS, snapshotFilter } from "./snapshot-args.js";

async function openSource(ctx: CommandContext, flags: FlagValues): Promise<Repository> {
  const env = ctx.io.env;
  const flagRepo = flags["from-repo"] as string | undefined;
  const flagFile = flags["from-repository-file"] as string | undefined;
  if (flagRepo !== undefined && flagFile !== undefined) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      "Options --from-repo and --from-repository-file are mutually exclusive, please specify only one",
    );
  }
  let location = flagRepo ?? (flagFile === undefined ? env.RESTIC_FROM_REPOSITORY : undefined);
  const file = flagFile ?? (flagRepo === undefined ? env.RESTIC_FROM_REPOSITORY_FILE : undefined);
  if ((location === undefined || location === "") && file !== undefined && file !== "") {
    location = (await readTextFile(file, "source repository file")).trim();
  }
  if (location === undefined || location === "") {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      "Please specify a source repository location (--from-repo or --from-repository-file)",
    );
  }
  const url = parseRepoUrl(location);
  let password = url.password;
  const pwFile =
    (flags["from-password-file"] as string | undefined) ?? env.RESTIC_FROM_PASSWORD_FILE;
  if (password === undefined && pwFile !== undefined && pwFile !== "") {
    password = trimPassword(await readTextFile(pwFile, "source password file"));
  }
  if (password === undefined || password === "") password = env.RESTIC_FROM_PASSWORD;
  if (password === undefined || password === "") {
    password = await promptPassword(ctx.io, "enter password for source repository: ", false);
  }
  const keyHint = (flags["from-key-hint"] as string | undefined) ?? env.RESTIC_FROM_KEY_HINT;
  return Repository.open(await ctx.openBackend(url), password, { keyHint });
}

export const copyCommand: Command = {
  name: "copy",
  summary: "Copy snapshots from one repository to another",
  usage: "copy --from-repo SOURCE [--from-password-file FILE] [filters] [snapshot ID] [...]",
  options: {
    "from-repo": { type: "string" },
    "from-repository-file": { type: "string" },
    "from-password-file": { type: "string" },
    "from-key-hint": { type: "string" },
    ...SNAPSHOT_FILTER_OPTIONS,
  },
  async run(ctx, args, flags) {
    const src = await openSource(ctx, flags);
    const dst = await ctx.openRepository();
    const filter = snapshotFilter(flags);
    const go = () =>
      withLock(dst, false, async () => {
        const dstSnapshots = await findFilteredSnapshots(ctx, dst, filter, []);
        const srcIndexed = await src.loadIndex();
        const dstIndexed = await dst.loadIndex();
        const snapshots = await findFilteredSnapshots(ctx, src, filter, args);
        await copySnapshots(srcIndexed, dstIndexed, snapshots, dstSnapshots, { log: cliLog(ctx) });
      });
    if (ctx.global["no-lock"] === true) await go();
    else await withLock(src, false, go);
    return 0;
  },
};
