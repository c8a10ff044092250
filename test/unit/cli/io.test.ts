// The process's own CLI output (io.ts processIo), in a child process running the build: text
// is gathered into few writes, yet comes out complete and in order with bytes and standard
// error; a reader that goes away (`| head`) ends the program quietly.

import { spawnSync } from "node:child_process";
import path from "node:path";
import { describe, expect, it } from "vitest";

const IO = path.resolve(import.meta.dirname, "..", "..", "..", "dist", "src", "cli", "io.js");

function node(script: string, shell?: string) {
  const program = `import { processIo } from ${JSON.stringify(IO)}; const io = processIo(); ${script}`;
  const args = ["--input-type=module", "-e", program];
  const r =
    shell === undefined
      ? spawnSync(process.execPath, args, { encoding: "utf8" })
      : spawnSync("sh", ["-c", `"$0" "$@" ${shell}`, process.execPath, ...args], {
          encoding: "utf8",
        });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("processIo", () => {
  it("keeps text, bytes and standard error in order", () => {
    const script = `io.write("a"); io.writeBytes(new TextEncoder().encode("b")); io.write("c");
      io.error("E"); io.write("d"); setTimeout(() => io.write("e"), 5);`;
    const merged = node(script, "2>&1");
    expect(merged.code).toBe(0);
    expect(merged.stdout).toBe("abcEde");
    const apart = node(script);
    expect(apart.stdout).toBe("abcde");
    expect(apart.stderr).toBe("E");
  });

  it("writes every line of a long listing, through awaits and past the 64 KiB batch", () => {
    const script = `for (let i = 0; i < 50000; i++) { io.write("line " + i + "\\n"); if (i % 1000 === 0) await null; }`;
    const r = node(script);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines).toHaveLength(50001);
    expect(lines[49999]).toBe("line 49999");
    expect(lines.every((l, i) => i === 50000 || l === `line ${i}`)).toBe(true);
  });

  it("ends quietly when the reader goes away", () => {
    const script = `for (let i = 0; i < 1e6; i++) { io.write("line " + i + "\\n"); if (i % 5000 === 0) await new Promise((r) => setImmediate(r)); }`;
    const r = node(script, "| head -n 1");
    expect(r.stdout).toBe("line 0\n");
    expect(r.stderr).toBe("");
  });
});
