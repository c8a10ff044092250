// `restic-ts init [--repository-version 1|2|latest|stable]`: create a repository.

import { ResticTsError } from "../../errors.js";
import { Repository } from "../../repo/repository.js";
import type { Command } from "../command.js";

export const initCommand: Command = {
  name: "init",
  summary: "Initialize a new repository",
  usage: "init [--repository-version 1|2|stable|latest]",
  options: { "repository-version": { type: "string" } },
  async run(ctx, _args, flags) {
    const version = parseVersion((flags["repository-version"] as string | undefined) ?? "stable");
    const url = await ctx.repoUrl();
    const password = await ctx.password(url, {
      prompt: "enter password for new repository: ",
      confirm: true,
    });
    const repo = await Repository.init(await ctx.openBackend(url), password, { version });
    if (ctx.json) {
      ctx.printJSON({ message_type: "initialized", id: repo.config.id, repository: url.display });
      return 0;
    }
    ctx.verbose(`created restic repository ${repo.config.id.slice(0, 10)} at ${url.display}`);
    ctx.verbose("");
    ctx.verbose("Please note that knowledge of your password is required to access");
    ctx.verbose("the repository. Losing your password means that your data is");
    ctx.verbose("irrecoverably lost.");
    return 0;
  },
};

function parseVersion(text: string): number {
  if (text === "stable" || text === "latest") return 2;
  if (!/^\d+$/.test(text)) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `invalid repository version "${text}": use 1, 2, stable or latest`,
    );
  }
  return Number(text);
}
