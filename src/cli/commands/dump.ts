// `restic-ts dump [--archive tar] [--host H] [--tag T] [--path P] SNAPSHOT PATH`: restic
// 0.14's cmd_dump.go — a file's content to standard output, or for a directory (or "/") a tar
// archive of everything below it (files, directories and symlinks; see repo/tar.ts), refused
// when standard output is a terminal. Errors finding the path exit with code 2, as restic's.

import { ResticTsError } from "../../errors.js";
import type { Id } from "../../repo/id.js";
import type { IndexedRepository } from "../../repo/indexed.js";
import type { Node } from "../../repo/node.js";
import { nodeTarHeader, TAR_TRAILER, tarHeader, tarPadding } from "../../repo/tar.js";
import type { Tree } from "../../repo/tree.js";
import { goPathClean, goPathJoin, walkTree } from "../../repo/walk.js";
import { type Command, EXIT } from "../command.js";
import type { CliIo } from "../io.js";
import { stdoutIsTerminal, withReadLock } from "../read-common.js";
import { SNAPSHOT_FILTER_OPTIONS, snapshotFilter, snapshotToRead } from "./snapshot-args.js";

/** Data blobs loaded ahead of the one being written. */
const PREFETCH = 4;
/** Recently written blobs kept for files that repeat them (restic keeps 64 MiB). */
const CACHE_BYTES = 32 * 1024 * 1024;

class BlobCache {
  private readonly map = new Map<Id, Uint8Array>();
  private bytes = 0;
  get(id: Id): Uint8Array | undefined {
    return this.map.get(id);
  }
  add(id: Id, b: Uint8Array): void {
    if (b.length > CACHE_BYTES || this.map.has(id)) return;
    this.map.set(id, b);
    this.bytes += b.length;
    for (const [k, v] of this.map) {
      if (this.bytes <= CACHE_BYTES) break;
      this.map.delete(k);
      this.bytes -= v.length;
    }
  }
}

/** Write a file's content in order, loading a few blobs ahead. Returns the bytes written. */
export async function writeFileContent(
  repo: IndexedRepository,
  content: readonly Id[],
  write: (b: Uint8Array) => void,
  cache: BlobCache = new BlobCache(),
): Promise<number> {
  const pending: Promise<Uint8Array>[] = [];
  let next = 0;
  let written = 0;
  const load = (id: Id) => {
    const hit = cache.get(id);
    const p = hit ? Promise.resolve(hit) : repo.loadBlob("data", id);
    p.catch(() => {});
    return p;
  };
  while (next < content.length && pending.length < PREFETCH) pending.push(load(content[next++]));
  for (let i = 0; i < content.length; i++) {
    const blob = await (pending.shift() as Promise<Uint8Array>);
    if (next < content.length) pending.push(load(content[next++]));
    cache.add(content[i], blob);
    write(blob);
    written += blob.length;
  }
  return written;
}

/** restic's splitPath of a cleaned path: its components ([""] for "/"). */
export function splitDumpPath(p: string): string[] {
  const clean = goPathClean(p);
  if (clean === "/") return [""];
  return clean.split("/").filter((s, i) => !(i === 0 && s === ""));
}

class NotFound extends Error {}

/** Stream a tar of `tree`'s nodes (each at rootPath/name) and everything below them. */
async function dumpTar(
  repo: IndexedRepository,
  tree: Tree,
  rootPath: string,
  io: CliIo,
): Promise<void> {
  const cache = new BlobCache();
  const entry = async (node: Node, path: string, sendAnyType: boolean) => {
    if (!sendAnyType && node.type !== "file" && node.type !== "dir" && node.type !== "symlink") {
      return;
    }
    io.writeBytes(tarHeader(nodeTarHeader(node, path)));
    if (node.type === "dir" || node.type === "symlink") return;
    const n = await writeFileContent(repo, node.content ?? [], (b) => io.writeBytes(b), cache);
    if (n !== node.size) {
      throw new ResticTsError(
        "CORRUPT",
        `${path}: content is ${n} bytes but the node says ${node.size} (archive/tar: ${n > node.size ? "write too long" : `missed writing ${node.size - n} bytes`})`,
      );
    }
    io.writeBytes(tarPadding(n));
  };
  for (const root of tree.nodes) {
    const rp = goPathJoin(rootPath, root.name);
    await entry(root, rp, true);
    if (root.type !== "dir" || root.subtree === undefined) continue;
    await walkTree(repo, root.subtree, async (p, node) => {
      await entry(node, goPathJoin(rp, p), false);
      return undefined;
    });
  }
  io.writeBytes(TAR_TRAILER);
}

export const dumpCommand: Command = {
  name: "dump",
  summary: "Print a backed-up file to stdout",
  usage: "dump [--archive tar] [--host H] [--tag T] [--path P] SNAPSHOT PATH",
  options: {
    ...SNAPSHOT_FILTER_OPTIONS,
    archive: { type: "string", short: "a" },
  },
  async run(ctx, args, flags) {
    if (args.length !== 2) {
      throw new ResticTsError("INVALID_ARGUMENT", "no file and no snapshot ID specified");
    }
    const archive = (flags.archive as string | undefined) ?? "tar";
    if (archive !== "tar") {
      throw new ResticTsError(
        "UNSUPPORTED",
        archive === "zip"
          ? "archive format zip is not supported by restic-ts (use tar)"
          : `unknown archive format "${archive}"`,
      );
    }
    const comps = splitDumpPath(args[1]);
    const repo = await ctx.openRepository();
    return withReadLock(ctx, repo, async () => {
      const entry = await snapshotToRead(ctx, repo, args[0], snapshotFilter(flags));
      if (entry === undefined) return EXIT.fatal;
      if (entry.snapshot.tree === null) {
        throw new ResticTsError("CORRUPT", `snapshot ${entry.id} has no tree`);
      }
      const indexed = await repo.loadIndex();
      const checkStdout = () => {
        if (stdoutIsTerminal(ctx.io)) {
          throw new ResticTsError(
            "INVALID_ARGUMENT",
            "stdout is the terminal, please redirect output",
          );
        }
      };
      const fromTree = async (tree: Tree, prefix: string, parts: string[]): Promise<void> => {
        if (parts[0] === "") {
          checkStdout();
          return dumpTar(indexed, tree, "/", ctx.io);
        }
        const item = goPathJoin(prefix, parts[0]);
        const node = tree.nodes.find((n) => n.name === parts[0]);
        if (node === undefined) throw new NotFound(`path "${item}" not found in snapshot`);
        const isDir = node.type === "dir" && node.subtree !== undefined;
        if (parts.length === 1 && node.type === "file") {
          await writeFileContent(indexed, node.content ?? [], (b) => ctx.io.writeBytes(b));
          return;
        }
        if (parts.length > 1 && isDir) {
          return fromTree(await indexed.loadTree(node.subtree as Id), item, parts.slice(1));
        }
        if (isDir) {
          checkStdout();
          return dumpTar(indexed, await indexed.loadTree(node.subtree as Id), item, ctx.io);
        }
        if (parts.length > 1) {
          throw new NotFound(`"${item}" should be a dir, but is a "${node.type}"`);
        }
        throw new NotFound(`"${item}" should be a file, but is a "${node.type}"`);
      };
      try {
        await fromTree(await indexed.loadTree(entry.snapshot.tree), "/", comps);
      } catch (err) {
        if (
          err instanceof NotFound ||
          (err instanceof ResticTsError && err.code !== "HOSTILE_PATH")
        ) {
          ctx.io.error(`cannot dump file: ${(err as Error).message}\n`);
          return 2;
        }
        throw err;
      }
      return 0;
    });
  },
};
