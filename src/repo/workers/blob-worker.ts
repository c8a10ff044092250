// Entry point of a blob worker thread (see protocol.ts): runs a BlobEngine on the jobs the
// main thread posts, and blocks on a shared counter (Atomics.wait) while it waits for claim
// answers and pack buffers, which arrive on a second port read synchronously. A job's claim
// is answered while the worker reads the next job already queued, if any: the worker waits
// for the main thread only when it has nothing else to do.

import { once } from "node:events";
import { type MessagePort, receiveMessageOnPort } from "node:worker_threads";
import { workerStart } from "../worker-thread.js";
import { BlobEngine, type EngineHost, type ReadFiles } from "./engine.js";
import type { EngineConfig, FromWorker, SyncReply, ToWorker } from "./protocol.js";

interface WorkerInit {
  readonly config: EngineConfig;
  readonly ctl: SharedArrayBuffer;
  readonly sync: MessagePort;
}

const started = workerStart<WorkerInit | undefined>("blob-worker");
const port = started.port;
// A worker started ahead of its pool (pool.ts prestartBlobWorkers) gets its start data later.
const init = started.data ?? ((await once(port, "message"))[0] as WorkerInit);
const ctl = new Int32Array(init.ctl);
const spare: ArrayBuffer[] = [];
/** Claim answers that came while the worker waited for something else. */
const answers: Uint8Array[] = [];

function post(msg: FromWorker, transfer?: ArrayBuffer[]): void {
  port.postMessage(msg, transfer);
}

function nextReply(): SyncReply {
  for (;;) {
    const seen = Atomics.load(ctl, 0);
    const m = receiveMessageOnPort(init.sync);
    if (m !== undefined) return m.message as SyncReply;
    Atomics.wait(ctl, 0, seen);
  }
}

/** Wait for a reply of kind `t`, keeping the claim answers and buffers that come first. */
function waitFor<T extends SyncReply["t"]>(t: T): Extract<SyncReply, { t: T }> {
  for (;;) {
    const r = nextReply();
    if (r.t === t) return r as Extract<SyncReply, { t: T }>;
    if (r.t === "claimed") answers.push(r.store);
    else if (r.t === "buffer") spare.push(r.buffer);
    else throw new Error(`blob-worker: unexpected ${r.t} answer`);
  }
}

const host: EngineHost = {
  claim(ids, bytesRead) {
    post({ t: "claim", ids, bytesRead });
  },
  claimed() {
    return answers.shift() ?? waitFor("claimed").store;
  },
  takeBuffer() {
    const have = spare.pop();
    if (have !== undefined) return have;
    post({ t: "buffer?" });
    return waitFor("buffer").buffer;
  },
  takeFile() {
    post({ t: "file?" });
    const r = waitFor("file");
    if (r.fd < 0) throw new Error("blob-worker: no temp file for a pack");
    return { path: r.path, fd: r.fd };
  },
  packFinished(pack) {
    post({ t: "pack", pack }, "buffer" in pack ? [pack.buffer] : []);
  },
};

const engine = await BlobEngine.create(init.config, host);

/** The last job read, whose claim may still be unanswered. */
let open: { job: number; read: ReadFiles } | undefined;

function finishOpen(): void {
  if (open === undefined) return;
  const { job, read } = open;
  open = undefined;
  post({ t: "done", job, results: engine.finishFiles(read) });
}

function handle(msg: ToWorker): void {
  switch (msg.t) {
    case "job": {
      // The next job is read while the main thread answers the last one's claim.
      const read = engine.readFiles(msg.files);
      finishOpen();
      open = { job: msg.job, read };
      break;
    }
    case "flush":
      finishOpen();
      engine.flush();
      post({ t: "flushed", job: msg.job });
      break;
    case "exit":
      finishOpen();
      port.close();
      init.sync.close();
      break;
  }
}

port.on("message", (first: ToWorker) => {
  try {
    handle(first);
    // jobs already queued are taken at once, to overlap with the open claim
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
      handle(m.message as ToWorker);
    }
    finishOpen();
  } catch (err) {
    open = undefined;
    post({ t: "fatal", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
post({ t: "ready" });
