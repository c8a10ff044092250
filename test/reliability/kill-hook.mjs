// Preloaded into the built CLI by the kill tests (`node --import kill-hook.mjs
// dist/src/cli/main.js ...`): counts the local backend's operations (save, load, stat, list,
// remove, in call order, 1-based; saveTemp, a streamed pack renamed into place, is a save) by
// wrapping LocalBackend's prototype methods, appends each one as a line `N op type/name
// epoch-ms` to KILL_OP_LOG, and SIGKILLs its own process right at operation KILL_AT_OP:
// before it is delegated (KILL_WHEN=before, the default) or as soon as it has settled
// (KILL_WHEN=after). Without KILL_AT_OP it only counts. Test-only: the CLI
// itself has no such seam.

import { appendFileSync } from "node:fs";
import { LocalBackend } from "../../dist/src/backends/local.js";

const killAt = Number(process.env.KILL_AT_OP ?? "0");
const killAfter = process.env.KILL_WHEN === "after";
const opLog = process.env.KILL_OP_LOG;
let calls = 0;

function die() {
  process.kill(process.pid, "SIGKILL");
}

/** Count one call; kill before it when it is the chosen one. Returns its number. */
function enter(op, h) {
  const n = ++calls;
  if (opLog !== undefined) {
    const what = typeof h === "string" ? h : `${h.type}/${h.name.slice(0, 12)}`;
    appendFileSync(opLog, `${n} ${op} ${what} ${Date.now()}\n`);
  }
  if (n === killAt && !killAfter) die();
  return n;
}

function leave(n) {
  if (n === killAt && killAfter) die();
}

// saveTemp (a pack streamed to a temp file, renamed into place) counts as a save
for (const [method, op] of [
  ["save", "save"],
  ["saveTemp", "save"],
  ["load", "load"],
  ["stat", "stat"],
  ["remove", "remove"],
]) {
  const orig = LocalBackend.prototype[method];
  LocalBackend.prototype[method] = async function (h, ...rest) {
    const n = enter(op, h);
    try {
      return await orig.call(this, h, ...rest);
    } finally {
      leave(n);
    }
  };
}

const origList = LocalBackend.prototype.list;
LocalBackend.prototype.list = async function* (type) {
  const n = enter("list", type);
  try {
    yield* origList.call(this, type);
  } finally {
    leave(n);
  }
};
