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
  // Text is gathered and written when the event loop next turns (setImmediate), or every 64 KiB:
  // `ls` of 20,000 files makes ~20 write(2) calls instead of 20,000 (~90 ms here). Bytes and
  // standard error flush it first, so everything still comes out in order.
  let pending: string[] = [];
  let pendingLength = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending.length === 1 ? pending[0] : pending.join("");
    pending = [];
    pendingLength = 0;
    process.stdout.write(text);
  };
  return {
    env: process.env,
    stdin: process.stdin,
    write: (text) => {
      pending.push(text);
      pendingLength += text.length;
      if (pendingLength >= 64 * 1024) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    writeBytes: (bytes) => {
      flush();
      process.stdout.write(bytes);
    },
    error: (text) => {
      flush();
      process.stderr.write(redact(text));
    },
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
