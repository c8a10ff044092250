// The command seam of the CLI: global flags shared by every command (restic's names), the
// context a command runs in (repository location, password, output), and exit codes.

import { readFile } from "node:fs/promises";
import type { ParseArgsConfig } from "node:util";
import type { Backend } from "../backends/backend.js";
import { backendOptionsFromExtended, openBackend } from "../backends/open.js";
import { parseRepoUrl, type RepoUrl } from "../backends/url.js";
import { isResticTsError, ResticTsError } from "../errors.js";
import { type KeyFileOpening, startKeyFileOpening } from "../repo/key-file.js";
import type { Repository } from "../repo/repository.js";
import { type CliIo, readPassword } from "./io.js";

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;
export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export const GLOBAL_OPTIONS = {
  repo: { type: "string", short: "r" },
  "repository-file": { type: "string" },
  "password-file": { type: "string", short: "p" },
  "key-hint": { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  verbose: { type: "boolean", short: "v", multiple: true },
  "no-lock": { type: "boolean" },
  option: { type: "string", short: "o", multiple: true },
  cacert: { type: "string", multiple: true },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpec;

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: OptionSpec;
  /** Returns the exit code (0 when omitted). */
  run(ctx: CommandContext, args: string[], flags: FlagValues): Promise<number | undefined>;
}

/** restic's exit codes: 1 fatal, 3 incomplete backup, 10 no repository, 11 locked, 12 wrong password. */
export const EXIT = {
  ok: 0,
  fatal: 1,
  incomplete: 3,
  noRepository: 10,
  locked: 11,
  wrongPassword: 12,
} as const;

export function exitCodeFor(err: unknown): number {
  if (isResticTsError(err, "NO_REPOSITORY")) return EXIT.noRepository;
  if (isResticTsError(err, "LOCKED")) return EXIT.locked;
  if (isResticTsError(err, "WRONG_PASSWORD")) return EXIT.wrongPassword;
  return EXIT.fatal;
}

/**
 * The opening of a command's repository, begun before the command's modules load: its key
 * files listed and the first one's scrypt running (~0.5 s of a thread-pool thread with restic's
 * parameters), so loading the program overlaps it. Only for a local repository whose password
 * needs no prompt (nothing is connected or asked before the command runs). `openRepository`
 * uses it when the repository, password and key hint it finds are the ones it was begun with.
 */
export interface EarlyOpening {
  readonly location: string;
  readonly password: string;
  readonly keyHint: string | undefined;
  readonly backend: Backend;
  readonly keys: Promise<KeyFileOpening>;
}

/**
 * Begin opening the repository of `global` flags and `io`'s environment; undefined when that
 * is not possible without side effects. Never throws: an error here is reported, if it still
 * applies, by the command's own `openRepository`.
 */
export async function beginEarlyOpening(
  io: CliIo,
  global: FlagValues,
): Promise<EarlyOpening | undefined> {
  try {
    const ctx = new CommandContext(io, global);
    const url = await ctx.repoUrl();
    if (url.location.kind !== "local") return undefined;
    const password = await ctx.passwordWithoutPrompt(url);
    if (password === undefined || password === "") return undefined;
    const backend = await ctx.openBackend(url);
    const keyHint = ctx.keyHint();
    const keys = startKeyFileOpening(backend, password, keyHint);
    keys.catch(() => {}); // reported by openRepository, if it is still wanted
    return { location: JSON.stringify(url.location), password, keyHint, backend, keys };
  } catch {
    return undefined;
  }
}

export class CommandContext {
  private cachedPassword: string | undefined;

  constructor(
    readonly io: CliIo,
    readonly global: FlagValues,
    private early?: Promise<EarlyOpening | undefined>,
  ) {}

  get json(): boolean {
    return this.global.json === true;
  }

  get quiet(): boolean {
    return this.global.quiet === true;
  }

  /** Print a line of normal output (suppressed by --quiet, like restic's Verbosef). */
  verbose(text: string): void {
    if (!this.quiet) this.io.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  print(text: string): void {
    this.io.write(text.endsWith("\n") ? text : `${text}\n`);
  }

  printJSON(value: unknown): void {
    this.io.write(`${JSON.stringify(value)}\n`);
  }

  /** The repository from -r/--repo, --repository-file or RESTIC_REPOSITORY / RESTIC_REPOSITORY_FILE. */
  async repoUrl(): Promise<RepoUrl> {
    let repo = this.global.repo as string | undefined;
    const repoFile =
      (this.global["repository-file"] as string | undefined) ?? this.io.env.RESTIC_REPOSITORY_FILE;
    if (repo === undefined && repoFile !== undefined && this.global.repo === undefined) {
      repo = (await readTextFile(repoFile, "repository file")).trim();
    }
    repo ??= this.io.env.RESTIC_REPOSITORY;
    if (repo === undefined || repo === "") {
      throw new ResticTsError(
        "INVALID_ARGUMENT",
        "Please specify repository location (-r or --repository-file, or RESTIC_REPOSITORY)",
      );
    }
    return parseRepoUrl(repo);
  }

  /**
   * The password, from (in order) the URL's ?password=, --password-file, RESTIC_PASSWORD_FILE,
   * RESTIC_PASSWORD, or a prompt (terminal; asked twice with `confirm`) / one line of stdin.
   */
  async password(
    url?: RepoUrl,
    opts: { prompt?: string; confirm?: boolean } = {},
  ): Promise<string> {
    if (this.cachedPassword !== undefined) return this.cachedPassword;
    let pw = await this.passwordWithoutPrompt(url);
    pw ??= await promptPassword(
      this.io,
      opts.prompt ?? "enter password for repository: ",
      opts.confirm ?? false,
    );
    if (pw === "") throw new ResticTsError("EMPTY_PASSWORD", "an empty password is not allowed");
    this.cachedPassword = pw;
    return pw;
  }

  /** The password from the URL, --password-file or the environment; undefined if none is set. */
  async passwordWithoutPrompt(url?: RepoUrl): Promise<string | undefined> {
    const file =
      (this.global["password-file"] as string | undefined) ?? this.io.env.RESTIC_PASSWORD_FILE;
    if (url?.password !== undefined) return url.password;
    if (file !== undefined) return trimPassword(await readTextFile(file, "password file"));
    return this.io.env.RESTIC_PASSWORD;
  }

  /** --key-hint or RESTIC_KEY_HINT. */
  keyHint(): string | undefined {
    return (this.global["key-hint"] as string | undefined) ?? this.io.env.RESTIC_KEY_HINT;
  }

  /** The backend for `url`, with `-o key=value` options and this environment's SSH settings. */
  async openBackend(url: RepoUrl): Promise<Backend> {
    const extended: Record<string, string> = {};
    for (const o of (this.global.option as string[] | undefined) ?? []) {
      const eq = o.indexOf("=");
      if (eq <= 0) throw new ResticTsError("INVALID_ARGUMENT", `-o needs key=value, got "${o}"`);
      extended[o.slice(0, eq)] = o.slice(eq + 1);
    }
    const { sftp, rest } = backendOptionsFromExtended(extended);
    let ca: string[] | undefined;
    if (url.location.kind === "rest" && url.location.url.startsWith("https:")) {
      const { httpsTrustedRoots } = await import("./root-certs.js");
      ca = await httpsTrustedRoots(this.global.cacert as string[] | undefined, this.io.env, (m) =>
        this.io.error(`${m}\n`),
      );
    }
    return openBackend(url.location, {
      sftp,
      rest: ca === undefined ? rest : { ...rest, tls: { ...rest?.tls, ca } },
      env: this.io.env,
    });
  }

  /**
   * Whether the repository is known, before its key, to hold no snapshot (the early opening's
   * listing of a local repository); false when it holds one or that is not known.
   */
  async knownWithoutSnapshots(): Promise<boolean> {
    const early = await this.early;
    if (early === undefined) return false;
    try {
      for await (const _ of early.backend.list("snapshot")) return false;
      return true;
    } catch {
      return false;
    }
  }

  /** Open the repository (through the early opening when it was begun for the same one). */
  async openRepository(): Promise<Repository> {
    const { Repository } = await import("../repo/repository.js");
    const url = await this.repoUrl();
    const early = await this.early;
    this.early = undefined;
    const same = early !== undefined && early.location === JSON.stringify(url.location);
    const backend = same ? early.backend : await this.openBackend(url);
    const password = await this.password(url);
    const keyHint = this.keyHint();
    const opening =
      same && early.password === password && early.keyHint === keyHint ? early.keys : undefined;
    return Repository.open(backend, password, { keyHint, opening });
  }
}

/** restic trims surrounding white space from a password file's content. */
export function trimPassword(text: string): string {
  return text.trim();
}

/** Ask for a password; on a terminal ask twice when `confirm` and require both to match. */
export async function promptPassword(io: CliIo, prompt: string, confirm: boolean): Promise<string> {
  const pw = await readPassword(io, prompt);
  if (confirm && io.stdin.isTTY && (await readPassword(io, "enter password again: ")) !== pw) {
    throw new ResticTsError("INVALID_ARGUMENT", "passwords do not match");
  }
  return pw;
}

export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new ResticTsError(
      "NOT_FOUND",
      `${what} ${path} cannot be read: ${(err as Error).message}`,
      {},
      { cause: err },
    );
  }
}
