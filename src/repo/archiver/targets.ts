// How restic 0.14 turns backup targets into the snapshot's top-level tree
// (internal/archiver/tree.go and resolveRelativeTargets in archiver.go): a target with no
// path components ("." or "/") stands for its entries; every other target becomes a chain of
// directories named by its components ("/home/u/x" → home/u/x, "a/b" → a/b), whose nodes take
// their metadata from the real directories; two different roots giving the same first name
// get "-1", "-2" suffixes; a target inside another target's directory merges with it.

import { readdirSync } from "node:fs";
import path from "node:path";
import { ResticTsError } from "../../errors.js";
import { bytesToGoString, goStringToBytes } from "../gostring.js";
import { goPathClean } from "../walk.js";

export interface VTree {
  /** Children by name. */
  nodes: Map<string, VTree>;
  /** Set for a leaf: the path to back up (as given, relative to the working directory). */
  path?: string;
  /** For an inner node: the directory its metadata comes from. */
  fileInfoPath?: string;
  /** The root the first component hangs from ("/", ".", "..", …); for name conflicts. */
  root?: string;
}

function components(p: string, includeRelative: boolean): string[] {
  let q = p;
  if (!q.startsWith("/") && !includeRelative) q = `/${q}`;
  q = goPathClean(q);
  const out: string[] = [];
  for (;;) {
    const dir = path.posix.dirname(q);
    if (q === dir || q === ".") break;
    out.push(path.posix.basename(q));
    q = dir;
  }
  return out.reverse();
}

function rootDirectory(target: string): string {
  if (target.startsWith("/")) return "/";
  let rel = ".";
  for (const c of components(goPathClean(target), true))
    if (c === "..") rel = path.posix.join(rel, c);
  return rel;
}

/** A Go-string path as the file system wants it (bytes when it holds non-UTF-8 bytes). */
export function fsPath(goPath: string): string | Buffer {
  return /[\udc80-\udcff]/.test(goPath) ? Buffer.from(goStringToBytes(goPath)) : goPath;
}

function readNames(dir: string, cwd: string): string[] {
  return readdirSync(fsPath(path.resolve(cwd, dir)), { encoding: "buffer" })
    .sort(Buffer.compare)
    .map(bytesToGoString);
}

/** restic's resolveRelativeTargets: "." and "/" (no components) become their entries. */
export function resolveTargets(targets: readonly string[], cwd: string): string[] {
  const out: string[] = [];
  for (let t of targets) {
    t = goPathClean(t);
    if (components(t, false).length > 0) {
      out.push(t);
      continue;
    }
    for (const name of readNames(t, cwd)) out.push(path.posix.join(t, name));
  }
  return out;
}

function addInner(t: VTree, target: string, root: string, pc: string[]): void {
  const name = pc[0];
  if (pc.length === 1) {
    const existing = t.nodes.get(name);
    if (existing === undefined) t.nodes.set(name, { nodes: new Map(), path: target });
    else if (existing.path !== undefined) {
      throw new ResticTsError("INVALID_ARGUMENT", `path is already set for target ${target}`);
    } else existing.path = target;
    return;
  }
  const sub = t.nodes.get(name) ?? { nodes: new Map<string, VTree>() };
  const subroot = path.posix.join(root, name);
  sub.fileInfoPath = subroot;
  addInner(sub, target, subroot, pc.slice(1));
  t.nodes.set(name, sub);
}

function add(t: VTree, target: string): void {
  const pc = components(target, false);
  if (pc.length === 0)
    throw new ResticTsError("INVALID_ARGUMENT", "invalid path (no path components)");
  const root = rootDirectory(target);
  let name = pc[0];
  let tree: VTree = { nodes: new Map(), root };
  for (let i = 1; ; i++) {
    const other = t.nodes.get(name);
    if (other === undefined) break;
    if (other.root === root) {
      tree = other;
      break;
    }
    name = `${pc[0]}-${i}`;
  }
  if (pc.length > 1) {
    const subroot = path.posix.join(root, pc[0]);
    addInner(tree, target, subroot, pc.slice(1));
    tree.fileInfoPath = subroot;
  } else tree.path = target;
  t.nodes.set(name, tree);
}

function unroll(t: VTree, cwd: string): void {
  if (t.path !== undefined && t.nodes.size > 0) {
    for (const entry of readNames(t.path, cwd)) {
      const joined = path.posix.join(t.path, entry);
      const node = t.nodes.get(entry);
      if (node !== undefined) {
        if (node.path === undefined) node.path = joined;
        else if (node.path !== joined) {
          throw new ResticTsError(
            "INVALID_ARGUMENT",
            `tree unrollTree: collision on path ${joined}`,
          );
        }
        continue;
      }
      t.nodes.set(entry, { nodes: new Map(), path: joined });
    }
    t.path = undefined;
  }
  for (const sub of t.nodes.values()) unroll(sub, cwd);
}

/** The top-level tree for `targets` (already resolved with resolveTargets). */
export function buildTargetTree(targets: readonly string[], cwd: string): VTree {
  const tree: VTree = { nodes: new Map() };
  const seen = new Set<string>();
  for (let t of targets) {
    t = goPathClean(t);
    if (seen.has(t)) continue;
    seen.add(t);
    add(tree, t);
  }
  unroll(tree, cwd);
  return tree;
}
