// `restic-ts container create|backup|restore|list|inspect|start|stop|delete`: the agent's
// container operations from the shell, over the reference runc runtime and a state directory.
// IDs are printed exactly as the library returns them.

import { readFile } from "node:fs/promises";
import { validateConfig } from "../../container/config.js";
import type { Job } from "../../container/jobs.js";
import { ContainerManager } from "../../container/manager.js";
import { ResticSnapshotStore } from "../../container/restic-store.js";
import { RuncRuntime } from "../../container/runc.js";
import { ResticTsError } from "../../errors.js";
import type { Command, CommandContext, FlagValues } from "../command.js";
import { formatTable } from "../table.js";

const SUBCOMMANDS = ["create", "backup", "restore", "list", "inspect", "start", "stop", "delete"];

export const containerCommand: Command = {
  name: "container",
  summary: "Create, back up and restore containers (runc reference runtime)",
  usage: [
    "container create (--config FILE|JSON) [--start]",
    "container backup ID URL [--tag T]... [--init] [--host H]",
    "container restore URL#SNAPSHOT [--start]",
    "container list | inspect ID | start ID | stop ID | delete ID [--force]",
    "  (all: [--state-dir DIR] [--timeout SECONDS])",
  ].join("\n       restic-ts "),
  options: {
    "state-dir": { type: "string" },
    config: { type: "string" },
    start: { type: "boolean" },
    tag: { type: "string", multiple: true },
    init: { type: "boolean" },
    host: { type: "string" },
    force: { type: "boolean" },
    timeout: { type: "string" },
  },
  async run(ctx, args, flags) {
    const [sub, ...rest] = args;
    if (sub === undefined || !SUBCOMMANDS.includes(sub)) {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        `container: use one of ${SUBCOMMANDS.join(", ")}`,
      );
    }
    const runtime = new RuncRuntime({ stateDir: flags["state-dir"] as string | undefined });
    const manager = new ContainerManager({ runtime, store: new ResticSnapshotStore() });
    const arg = (i: number, what: string) => {
      const v = rest[i];
      if (v === undefined)
        throw new ResticTsError("INVALID_ARGUMENT", `container ${sub}: missing ${what}`);
      return v;
    };
    switch (sub) {
      case "create": {
        const config = validateConfig(await readConfig(flags));
        return printResult(
          ctx,
          await wait(ctx, flags, manager.create(config, { start: flags.start === true })),
        );
      }
      case "backup": {
        const job = manager.backup(arg(0, "container ID"), arg(1, "repository URL"), {
          tags: (flags.tag as string[] | undefined) ?? [],
          init: flags.init === true,
          host: flags.host as string | undefined,
        });
        return printResult(ctx, await wait(ctx, flags, job));
      }
      case "restore":
        return printResult(
          ctx,
          await wait(
            ctx,
            flags,
            manager.restore(arg(0, "URL#SNAPSHOT"), { start: flags.start === true }),
          ),
        );
      case "list": {
        const all = await manager.list();
        if (ctx.json) ctx.printJSON(all);
        else
          ctx.print(
            formatTable(
              ["ID", "State", "Name", "Root"],
              all.map((c) => [c.id, c.state, c.config.name ?? "", c.config.root]),
            ).trimEnd(),
          );
        return 0;
      }
      case "inspect":
        ctx.print(JSON.stringify(await manager.inspect(arg(0, "container ID")), null, 2));
        return 0;
      case "start":
        await runtime.start(arg(0, "container ID"));
        return 0;
      case "stop":
        await runtime.stop(arg(0, "container ID"));
        return 0;
      case "delete":
        await runtime.delete(arg(0, "container ID"), { force: flags.force === true });
        return 0;
    }
    return 0;
  },
};

async function readConfig(flags: FlagValues): Promise<unknown> {
  const spec = flags.config as string | undefined;
  if (spec === undefined)
    throw new ResticTsError("INVALID_ARGUMENT", "container create needs --config FILE or JSON");
  const text = spec.trimStart().startsWith("{") ? spec : await readFile(spec, "utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ResticTsError(
      "INVALID_ARGUMENT",
      `--config is not valid JSON: ${(err as Error).message}`,
    );
  }
}

/** Wait for a job, showing its progress on stderr when asked for; --timeout cancels it. */
async function wait(ctx: CommandContext, flags: FlagValues, job: Job<string>): Promise<string> {
  const timeout = flags.timeout === undefined ? undefined : Number(flags.timeout) * 1000;
  if (timeout !== undefined && !(timeout > 0))
    throw new ResticTsError("INVALID_ARGUMENT", "--timeout must be a positive number of seconds");
  if (!ctx.quiet && !ctx.json) {
    job.on("progress", (p) =>
      ctx.io.error(`\r${p.phase}: ${p.files} files, ${(p.bytes / 1e6).toFixed(1)} MB`.padEnd(60)),
    );
  }
  try {
    return await job.get(timeout);
  } catch (err) {
    if (err instanceof ResticTsError && err.code === "TIMEOUT") await job.cancel();
    throw err;
  } finally {
    if (!ctx.quiet && !ctx.json) ctx.io.error("\n");
  }
}

function printResult(ctx: CommandContext, id: string): number {
  if (ctx.json) ctx.printJSON({ id });
  else ctx.print(id);
  return 0;
}
