#!/usr/bin/env node
// restic-ts command line: restic's commands and global flags over the restic-ts library.

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isResticTsError, redact } from "../errors.js";
import {
  type Command,
  CommandContext,
  EXIT,
  exitCodeFor,
  type FlagValues,
  GLOBAL_OPTIONS,
  type OptionSpec,
} from "./command.js";
import { backupCommand } from "./commands/backup.js";
import { catCommand } from "./commands/cat.js";
import { checkCommand } from "./commands/check.js";
import { containerCommand } from "./commands/container.js";
import { copyCommand } from "./commands/copy.js";
import { demoCommand } from "./commands/demo.js";
import { diffCommand } from "./commands/diff.js";
import { dumpCommand } from "./commands/dump.js";
import { findCommand } from "./commands/find.js";
import { forgetCommand } from "./commands/forget.js";
import { initCommand } from "./commands/init.js";
import { keyCommand } from "./commands/key.js";
import { listCommand } from "./commands/list.js";
import { lsCommand } from "./commands/ls.js";
import { pruneCommand } from "./commands/prune.js";
import { rebuildIndexCommand } from "./commands/rebuild-index.js";
import { restoreCommand } from "./commands/restore.js";
import { snapshotsCommand } from "./commands/snapshots.js";
import { statsCommand } from "./commands/stats.js";
import { tagCommand } from "./commands/tag.js";
import { unlockCommand } from "./commands/unlock.js";
import { type CliIo, processIo } from "./io.js";

export const VERSION = "0.1.0";

const versionCommand: Command = {
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

export const COMMANDS: readonly Command[] = [
  initCommand,
  backupCommand,
  keyCommand,
  catCommand,
  listCommand,
  snapshotsCommand,
  lsCommand,
  restoreCommand,
  dumpCommand,
  findCommand,
  diffCommand,
  unlockCommand,
  checkCommand,
  forgetCommand,
  pruneCommand,
  rebuildIndexCommand,
  statsCommand,
  copyCommand,
  tagCommand,
  containerCommand,
  demoCommand,
  versionCommand,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "restic-ts: restic-compatible backups in TypeScript",
    "",
    "Usage: restic-ts [global flags] COMMAND [flags] [args]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Global flags:",
    "  -r, --repo REPO              repository (or RESTIC_REPOSITORY); e.g. /srv/repo, file:///srv/repo?password=PW",
    "      --repository-file FILE   read the repository from FILE (or RESTIC_REPOSITORY_FILE)",
    "  -p, --password-file FILE     read the password from FILE (or RESTIC_PASSWORD_FILE, RESTIC_PASSWORD)",
    "      --key-hint ID            try this key first (or RESTIC_KEY_HINT)",
    "      --json                   machine-readable output",
    "  -q, --quiet                  do not print progress or informational messages",
    "",
  ].join("\n");
}

function allOptions(): OptionSpec {
  const merged: OptionSpec = { ...GLOBAL_OPTIONS };
  for (const c of COMMANDS) Object.assign(merged, c.options);
  return merged;
}

/** Run the CLI with `argv` (without node and script); resolves to the exit code. */
export async function run(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  try {
    // First pass: find the command among flags of any command, so `-r X init` and `init -r X` both work.
    const probe = parseArgs({
      args: [...argv],
      options: allOptions(),
      allowPositionals: true,
      strict: false,
    });
    const name = probe.positionals[0];
    if (name === undefined || name === "help") {
      io.write(usage());
      return name === undefined && probe.values.help !== true ? EXIT.fatal : EXIT.ok;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (command === undefined) {
      io.error(`Fatal: unknown command "${name}"\n\n${usage()}`);
      return EXIT.fatal;
    }
    const parsed = parseArgs({
      args: [...argv],
      options: { ...GLOBAL_OPTIONS, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    const values = parsed.values as FlagValues;
    if (values.help === true) {
      io.write(`Usage: restic-ts ${command.usage}\n\n${command.summary}\n`);
      return EXIT.ok;
    }
    const ctx = new CommandContext(io, values);
    return (await command.run(ctx, parsed.positionals.slice(1), values)) ?? EXIT.ok;
  } catch (err) {
    if (isResticTsError(err)) {
      io.error(`Fatal: ${err.message}\n`);
    } else if (
      err instanceof TypeError &&
      (err as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS")
    ) {
      io.error(`Fatal: ${err.message}\n`);
    } else {
      io.error(`${redact(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`);
    }
    return exitCodeFor(err);
  }
}

function isMain(): boolean {
  try {
    return realpathSync(process.argv[1] ?? "") === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${redact(String(err))}\n`);
      process.exitCode = EXIT.fatal;
    },
  );
}
