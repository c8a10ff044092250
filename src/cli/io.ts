// The CLI's view of the process: output streams, environment and password input, injected so
// commands run in-process in tests exactly as they do from the shell.

import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { redact } from "../errors.js";

export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdin: Readable & { isTTY?: boolean };
  write(text: string): void;
  writeBytes(bytes: Uint8Array): void;
  error(text: string): void;
}

export function processIo(): CliIo {
  // `restic-ts ls … | head`: a closed pipe ends the program quietly, as it does for restic.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  return {
    env: process.env,
    stdin: process.stdin,
    write: (text) => process.stdout.write(text),
    writeBytes: (bytes) => process.stdout.write(bytes),
    error: (text) => process.stderr.write(redact(text)),
  };
}

const stdinLines = new WeakMap<Readable, AsyncIterator<string>>();

/**
 * Read one password: from the terminal without echo, or one line of standard input when it is
 * not a terminal (as restic does, so `echo pw | restic-ts …` works).
 */
export async function readPassword(io: CliIo, prompt: string): Promise<string> {
  if (!io.stdin.isTTY) {
    let lines = stdinLines.get(io.stdin);
    if (lines === undefined) {
      lines = createInterface({ input: io.stdin, terminal: false })[Symbol.asyncIterator]();
      stdinLines.set(io.stdin, lines);
    }
    const next = await lines.next();
    return next.done ? "" : next.value;
  }
  process.stderr.write(prompt);
  const rl = createInterface({ input: io.stdin, output: process.stderr, terminal: true });
  // Mute the echo of typed characters.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
  try {
    return await new Promise<string>((resolve) => rl.question("", resolve));
  } finally {
    rl.close();
    process.stderr.write("\n");
  }
}
