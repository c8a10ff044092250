// `restic-ts version`: the program and runtime versions.

import type { Command } from "../command.js";

export const VERSION = "0.1.0";

export const versionCommand: Command = {
  name: "version",
  summary: "Print version information",
  usage: "version",
  options: {},
  async run(ctx) {
    if (ctx.json)
      ctx.printJSON({ message_type: "version", version: VERSION, node_version: process.version });
    else
      ctx.print(
        `restic-ts ${VERSION} on Node.js ${process.version} ${process.platform}/${process.arch}`,
      );
    return 0;
  },
};
