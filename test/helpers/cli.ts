// Run the restic-ts CLI in-process with captured output (stdout as text and as bytes), an
// environment of the test's choosing and the given standard input (not a terminal).

import { PassThrough } from "node:stream";
import type { CliIo } from "../../src/cli/io.js";
import { run } from "../../src/cli/main.js";

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly bytes: Buffer;
  readonly stderr: string;
}

export async function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  stdinText = "",
): Promise<CliResult> {
  const out: Buffer[] = [];
  let stderr = "";
  const stdin = new PassThrough();
  stdin.end(stdinText);
  const io: CliIo & { stdoutIsTTY: boolean } = {
    env,
    stdin,
    stdoutIsTTY: false,
    write: (t) => {
      out.push(Buffer.from(t));
    },
    writeBytes: (b) => {
      out.push(Buffer.from(b));
    },
    error: (t) => {
      stderr += t;
    },
  };
  const code = await run(args, io);
  const bytes = Buffer.concat(out);
  return { code, stdout: bytes.toString(), bytes, stderr };
}
