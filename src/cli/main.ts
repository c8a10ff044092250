#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS RESTIC_TS_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} RESTIC_TS_GLIBC_TUNABLES=${GLIBC_TUNABLES} GLIBC_TUNABLES=glibc.malloc.hugetlb=1:${GLIBC_TUNABLES} node
// restic-ts command line: restic's commands and global flags over the restic-ts library.
// The launcher line sets what Node and glibc read at start-up: see launcher.ts.

import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { isResticTsError, redact } from "../errors.js";
import {
  beginEarlyOpening,
  type Command,
  CommandContext,
  EXIT,
  exitCodeFor,
  type FlagValues,
  GLOBAL_OPTIONS,
} from "./command.js";
import { type CliIo, processIo } from "./io.js";
import { restoreLauncherEnv } from "./launcher.js";

/**
 * Every command, loaded on demand: a command's module (and what it imports: ssh2, workers,
 * containers…) is only loaded when that command runs, keeping start-up short.
 */
const COMMAND_MODULES: Readonly<Record<string, () => Promise<Command>>> = {
  init: async () => (await import("./commands/init.js")).initCommand,
  backup: async () => (await import("./commands/backup.js")).backupCommand,
  key: async () => (await import("./commands/key.js")).keyCommand,
  cat: async () => (await import("./commands/cat.js")).catCommand,
  list: async () => (await import("./commands/list.js")).listCommand,
  snapshots: async () => (await import("./commands/snapshots.js")).snapshotsCommand,
  ls: async () => (await import("./commands/ls.js")).lsCommand,
  restore: async () => (await import("./commands/restore.js")).restoreCommand,
  dump: async () => (await import("./commands/dump.js")).dumpCommand,
  find: async () => (await import("./commands/find.js")).findCommand,
  diff: async () => (await import("./commands/diff.js")).diffCommand,
  unlock: async () => (await import("./commands/unlock.js")).unlockCommand,
  check: async () => (await import("./commands/check.js")).checkCommand,
  forget: async () => (await import("./commands/forget.js")).forgetCommand,
  prune: async () => (await import("./commands/prune.js")).pruneCommand,
  "rebuild-index": async () => (await import("./commands/rebuild-index.js")).rebuildIndexCommand,
  stats: async () => (await import("./commands/stats.js")).statsCommand,
  copy: async () => (await import("./commands/copy.js")).copyCommand,
  tag: async () => (await import("./commands/tag.js")).tagCommand,
  container: async () => (await import("./commands/container.js")).containerCommand,
  demo: async () => (await import("./commands/demo.js")).demoCommand,
  version: async () => (await import("./commands/version.js")).versionCommand,
};

export const COMMAND_NAMES: readonly string[] = Object.keys(COMMAND_MODULES);

/**
 * The commands that open the repository of the global flags (`ctx.openRepository`): its opening
 * (the scrypt of its key) begins before the command's modules load, to overlap them.
 */
const OPENS_REPOSITORY: ReadonlySet<string> = new Set([
  "backup",
  "cat",
  "check",
  "copy",
  "diff",
  "dump",
  "find",
  "forget",
  "key",
  "list",
  "ls",
  "prune",
  "rebuild-index",
  "restore",
  "snapshots",
  "stats",
  "tag",
  "unlock",
]);

async function usage(): Promise<string> {
  const commands = await Promise.all(COMMAND_NAMES.map((name) => COMMAND_MODULES[name]()));
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "restic-ts: restic-compatible backups in TypeScript",
    "",
    "Usage: restic-ts [global flags] COMMAND [flags] [args]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Global flags:",
    "  -r, --repo REPO              repository (or RESTIC_REPOSITORY); e.g. /srv/repo, file:///srv/repo?password=PW",
    "      --repository-file FILE   read the repository from FILE (or RESTIC_REPOSITORY_FILE)",
    "  -p, --password-file FILE     read the password from FILE (or RESTIC_PASSWORD_FILE, RESTIC_PASSWORD)",
    "      --key-hint ID            try this key first (or RESTIC_KEY_HINT)",
    "      --cacert FILE            trust only these CA certificates for https (or RESTIC_CACERT)",
    "      --json                   machine-readable output",
    "  -q, --quiet                  do not print progress or informational messages",
    "",
  ].join("\n");
}

/** Run the CLI with `argv` (without node and script); resolves to the exit code. */
export async function run(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  try {
    // First pass: find the command after the global flags (`-r X init`; `init -r X` works too).
    const probe = parseArgs({
      args: [...argv],
      options: GLOBAL_OPTIONS,
      allowPositionals: true,
      strict: false,
    });
    const name = probe.positionals[0];
    if (name === undefined || name === "help") {
      io.write(await usage());
      return name === undefined && probe.values.help !== true ? EXIT.fatal : EXIT.ok;
    }
    const load = Object.hasOwn(COMMAND_MODULES, name) ? COMMAND_MODULES[name] : undefined;
    if (load === undefined) {
      io.error(`Fatal: unknown command "${name}"\n\n${await usage()}`);
      return EXIT.fatal;
    }
    const early =
      OPENS_REPOSITORY.has(name) && probe.values.help !== true
        ? beginEarlyOpening(io, probe.values as FlagValues)
        : undefined;
    const command = await load();
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
    const ctx = new CommandContext(io, values, early);
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
  restoreLauncherEnv(process.env);
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
