// Backups over SFTP and REST on loopback by restic-ts and by restic 0.14 in one run, and the
// raw throughput of restic-ts's remote backends beside the transport's ceiling.
//
//   npm run build && node dist/bench/backends.js [--files N] [--rounds R] [--backup-mib M]
//
// Servers: OpenSSH's sshd (test/helpers/sshd.ts) and `rclone serve restic`
// (test/helpers/rest-server.ts) on 127.0.0.1, both writing to the local disk.
//
// Part 1, raw backend throughput. N (default 16) files of 16 MiB random bytes — restic's pack
// size — held in memory by us and written to a temp directory for the command-line tools.
// Each round (default 3), interleaved so load from other processes hits all alike:
//  - sftp save: SftpBackend.save of all files, 5 in flight (restic's default connections),
//    with fsync (our default) and without (what restic does) — vs `scp` of the same files (one
//    OpenSSH client process: the ssh transport's ceiling);
//  - sftp load: SftpBackend.load of all files — vs `scp` of them back;
//  - rest save: RestBackend.save of all files, 5 in flight — vs `curl` POSTing them, 5 in
//    parallel (`curl -Z --parallel-max 5`);
//  - rest load: RestBackend.load of all files — vs `curl` GETting them, 5 in parallel;
//  - fresh buffers: copying the files into newly allocated 16 MiB buffers, as every load must
//    return one — on this VM fresh pages cost ~15 µs each to fault in, so this is a second
//    ceiling for loads (curl writes to /dev/null and never touches new memory).
// MB/s = 10^6 bytes per second of wall time; medians of the rounds; ratio = ours / ceiling.
// "Node CPU s/GiB": user + system CPU seconds of this process per GiB moved (median) — the
// share of a core the transport takes from the rest of a backup running in the same process
// (restic's sftp backend leaves SSH's cipher work to a separate `ssh` process).
// scp runs over an OpenSSH master connection (ControlMaster) opened before the clock starts,
// as our backends are connected before it starts: neither side pays for a login.
//
// Part 2 (unless --backup-mib 0), backups: M MiB (default 1024) of random data in 64 MiB files,
// backed up by `restic backup` and by the restic-ts CLI (dist/src/cli/main.js, found next to
// this file) into fresh repositories (made by `restic init`) over sftp, over rest and in a local
// directory, interleaved per round; wall seconds, medians; ratio = restic-ts / restic. restic
// reaches the sshd through its `ssh` command (`-o sftp.command=…`), restic-ts through its own
// SSH client with RESTIC_TS_SSH_KEY and RESTIC_TS_SSH_KNOWN_HOSTS.
//
// Run it also with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (transparent huge pages for malloc):
// it cuts the page faults of both our loads and ssh2's packet buffers.

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { Backend, Handle } from "../src/backends/backend.js";
import { RestBackend } from "../src/backends/rest.js";
import { SftpBackend } from "../src/backends/sftp.js";
import { type RestServer, startRestServer } from "../test/helpers/rest-server.js";
import { type SshdServer, startSshd } from "../test/helpers/sshd.js";
import { BUILT_CLI, cliCommand } from "./measure.js";

const run = promisify(execFile);
const MiB = 1024 * 1024;
const FILE_SIZE = 16 * MiB;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const FILES = arg("--files", 16);
const ROUNDS = arg("--rounds", 3);
const BACKUP_MIB = arg("--backup-mib", 1024);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** CPU seconds (user + system) this process spent in the last `timed` call. */
let lastCpu = 0;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const cpu = process.cpuUsage();
  const t = performance.now();
  await fn();
  const used = process.cpuUsage(cpu);
  lastCpu = (used.user + used.system) / 1e6;
  return (performance.now() - t) / 1000;
}

const results = new Map<string, number[]>();
const cpuResults = new Map<string, number[]>();
function record(name: string, seconds: number): void {
  const list = results.get(name) ?? [];
  list.push(seconds);
  results.set(name, list);
  cpuResults.set(name, [...(cpuResults.get(name) ?? []), lastCpu]);
}

function mbps(name: string, bytes: number): number {
  return bytes / 1e6 / median(results.get(name) ?? [Number.NaN]);
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), "restic-ts-bench-backends-"));
  let sshd: SshdServer | undefined;
  let rest: RestServer | undefined;
  const open: Backend[] = [];
  let stopMaster: () => Promise<void> = async () => {};
  try {
    console.error(`generating ${FILES} x 16 MiB …`);
    const srcDir = path.join(work, "src");
    await mkdir(srcDir);
    const files = Array.from({ length: FILES }, () => ({
      name: randomBytes(32).toString("hex"),
      data: new Uint8Array(randomBytes(FILE_SIZE)),
    }));
    for (const f of files) await writeFile(path.join(srcDir, f.name), f.data);
    const total = FILES * FILE_SIZE;

    sshd = await startSshd();
    rest = await startRestServer();
    const control = path.join(work, "ssh-control");
    const sshOpts = [
      "-o",
      `ControlPath=${control}`,
      "-i",
      sshd.keyFile,
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "LogLevel=ERROR",
    ];

    // The master connection scp reuses; `ssh -O exit` ends it in `finally`.
    await run("ssh", [
      "-M",
      "-N",
      "-f",
      "-o",
      "ControlPersist=no",
      "-p",
      String(sshd.port),
      ...sshOpts,
      `${sshd.user}@127.0.0.1`,
    ]);
    stopMaster = () =>
      run("ssh", [
        "-O",
        "exit",
        "-p",
        String(sshd!.port),
        ...sshOpts,
        `${sshd!.user}@127.0.0.1`,
      ]).then(
        () => {},
        () => {},
      );

    for (let round = 0; round < ROUNDS; round++) {
      console.error(`round ${round + 1}/${ROUNDS}`);
      // --- sftp ---
      for (const fsync of [true, false]) {
        const dir = path.join(sshd.dataDir, `ours-${round}-${fsync}`);
        const b = new SftpBackend({
          host: sshd.host,
          port: sshd.port,
          user: sshd.user,
          path: dir,
          identityFile: sshd.keyFile,
          agent: false,
          knownHostsFile: sshd.knownHostsFile,
          fsync,
        });
        open.push(b);
        await b.create();
        const hs: Handle[] = files.map((f) => ({ type: "data", name: f.name }));
        record(
          `sftp save${fsync ? "" : " (no fsync)"}`,
          await timed(() => Promise.all(files.map((f, i) => b.save(hs[i], f.data)))),
        );
        if (fsync) {
          record("sftp load", await timed(() => Promise.all(hs.map((h) => b.load(h)))));
        }
        await b.close();
        await rm(dir, { recursive: true, force: true });
      }
      const scpDir = path.join(sshd.dataDir, `scp-${round}`);
      await mkdir(scpDir);
      const srcPaths = files.map((f) => path.join(srcDir, f.name));
      record(
        "scp upload",
        await timed(() =>
          run("scp", [
            "-q",
            "-P",
            String(sshd!.port),
            ...sshOpts,
            ...srcPaths,
            `${sshd!.user}@127.0.0.1:${scpDir}/`,
          ]),
        ),
      );
      const backDir = path.join(work, `back-${round}`);
      await mkdir(backDir);
      record(
        "scp download",
        await timed(() =>
          run("scp", [
            "-q",
            "-P",
            String(sshd!.port),
            ...sshOpts,
            `${sshd!.user}@127.0.0.1:${scpDir}/*`,
            `${backDir}/`,
          ]),
        ),
      );
      await rm(scpDir, { recursive: true, force: true });
      await rm(backDir, { recursive: true, force: true });

      // --- memory: what filling fresh 16 MiB buffers costs here (every load returns one) ---
      record(
        "fresh buffers",
        await timed(async () => {
          const kept: Buffer[] = [];
          for (const f of files) {
            const buf = Buffer.allocUnsafe(FILE_SIZE);
            buf.set(f.data);
            kept.push(buf);
          }
          return kept.length;
        }),
      );

      // --- rest ---
      const repoName = `ours-${round}`;
      const rb = new RestBackend({ url: rest.repoUrl(repoName) });
      open.push(rb);
      await rb.create();
      const hs: Handle[] = files.map((f) => ({ type: "data", name: f.name }));
      record(
        "rest save",
        await timed(() => Promise.all(files.map((f, i) => rb.save(hs[i], f.data)))),
      );
      record("rest load", await timed(() => Promise.all(hs.map((h) => rb.load(h)))));
      await rb.close();
      const curlName = `curl-${round}`;
      const curlUrl = (name: string) => `${rest!.repoUrl(curlName)}data/${name}`;
      const up = files.flatMap((f) => ["-T", path.join(srcDir, f.name), curlUrl(f.name)]);
      record(
        "curl upload",
        await timed(() =>
          run(
            "curl",
            [
              "-sSf",
              "-Z",
              "--parallel-max",
              "5",
              "-X",
              "POST",
              "-H",
              "Content-Type: application/octet-stream",
              ...up,
            ],
            {
              maxBuffer: 64 * MiB,
            },
          ),
        ),
      );
      const down = files.flatMap((f) => ["-o", "/dev/null", curlUrl(f.name)]);
      record(
        "curl download",
        await timed(() =>
          run("curl", ["-sSf", "-Z", "--parallel-max", "5", ...down], { maxBuffer: 64 * MiB }),
        ),
      );
      await rm(path.join(rest.dir, repoName), { recursive: true, force: true });
      await rm(path.join(rest.dir, curlName), { recursive: true, force: true });
    }

    const rows: [string, string, string][] = [
      ["sftp save (fsync, our default)", "sftp save", "scp upload"],
      ["sftp save (no fsync, like restic)", "sftp save (no fsync)", "scp upload"],
      ["sftp load", "sftp load", "scp download"],
      ["rest save", "rest save", "curl upload"],
      ["rest load", "rest load", "curl download"],
      ["rest load", "rest load", "fresh buffers"],
      ["sftp load", "sftp load", "fresh buffers"],
    ];
    console.log(
      `\n${FILES} x 16 MiB, ${ROUNDS} rounds, medians (MB/s = 10^6 B/s); Node ${process.version}\n`,
    );
    console.log("| operation | restic-ts MB/s | Node CPU s/GiB | ceiling | ceiling MB/s | ratio |");
    console.log("|---|---:|---:|---|---:|---:|");
    for (const [label, ours, ceiling] of rows) {
      const a = mbps(ours, total);
      const c = mbps(ceiling, total);
      const cpu = median(cpuResults.get(ours) ?? [Number.NaN]) / (total / (1024 * MiB));
      console.log(
        `| ${label} | ${a.toFixed(0)} | ${cpu.toFixed(1)} | ${ceiling} | ${c.toFixed(0)} | ${(a / c).toFixed(2)}x |`,
      );
    }
    console.log(
      `\nrounds (s): ${JSON.stringify(Object.fromEntries([...results].map(([k, v]) => [k, v.map((x) => +x.toFixed(2))])))}`,
    );

    if (BACKUP_MIB > 0) await backups(work, sshd, rest);
  } finally {
    for (const b of open) await b.close().catch(() => {});
    await stopMaster();
    await sshd?.stop();
    await rest?.stop();
    await rm(work, { recursive: true, force: true });
  }
}

const [oursCmd, oursPre] = cliCommand(BUILT_CLI);

async function backups(work: string, sshd: SshdServer, rest: RestServer): Promise<void> {
  console.error(`backups of ${BACKUP_MIB} MiB …`);
  const src = path.join(work, "backup-src");
  await mkdir(src);
  for (let done = 0; done < BACKUP_MIB; done += 64) {
    await writeFile(path.join(src, `f${done}`), randomBytes(Math.min(64, BACKUP_MIB - done) * MiB));
  }
  const env = {
    ...process.env,
    RESTIC_PASSWORD: "bench",
    RESTIC_TS_SSH_KEY: sshd.keyFile,
    RESTIC_TS_SSH_KNOWN_HOSTS: sshd.knownHostsFile,
  };
  const sftpCommand = ["-o", `sftp.command=${sshd.sshCommand}`];
  const tool = (which: "restic" | "restic-ts", repo: string, args: string[]) =>
    which === "restic"
      ? run(
          "restic",
          [
            "--no-cache",
            "-q",
            "-r",
            repo,
            ...(repo.startsWith("sftp:") ? sftpCommand : []),
            ...args,
          ],
          {
            env,
            cwd: src,
            maxBuffer: 64 * MiB,
          },
        )
      : run(oursCmd, [...oursPre, "-q", "-r", repo, ...args], {
          env,
          cwd: src,
          maxBuffer: 64 * MiB,
        });
  const times = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of ["sftp", "rest", "local"] as const) {
      for (const which of ["restic", "restic-ts"] as const) {
        const name = `backup-${round}-${which}`;
        const dir = path.join(
          target === "sftp" ? sshd.dataDir : target === "rest" ? rest.dir : work,
          name,
        );
        const repo =
          target === "sftp"
            ? `sftp://${sshd.user}@127.0.0.1:${sshd.port}/${dir}`
            : target === "rest"
              ? `rest:${rest.repoUrl(name)}`
              : dir;
        // Both back up into a fresh repository restic made (sftp: restic needs its own URL form).
        await tool("restic", target === "sftp" ? `sftp:${sshd.user}@127.0.0.1:${dir}` : repo, [
          "init",
        ]);
        const t = await timed(() => tool(which, repo, ["backup", "."]));
        times.set(`${target} ${which}`, [...(times.get(`${target} ${which}`) ?? []), t]);
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  console.log(
    `\nbackup of ${BACKUP_MIB} MiB random into a fresh repository, wall s, medians of ${ROUNDS}:\n`,
  );
  console.log("| target | restic s | restic-ts s | time ratio (restic-ts / restic) |");
  console.log("|---|---:|---:|---:|");
  for (const target of ["sftp", "rest", "local"]) {
    const a = median(times.get(`${target} restic`) ?? [Number.NaN]);
    const b = median(times.get(`${target} restic-ts`) ?? [Number.NaN]);
    console.log(`| ${target} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(b / a).toFixed(2)}x |`);
  }
  console.log(
    `\nrounds (s): ${JSON.stringify(Object.fromEntries([...times].map(([k, v]) => [k, v.map((x) => +x.toFixed(2))])))}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
