// Entry point of a blob worker thread (see protocol.ts): runs a BlobEngine on the jobs the
// main thread posts, and blocks on a shared counter (Atomics.wait) while it waits for claim
// answers and pack buffers, which arrive on a second port read synchronously.

import { once } from "node:events";
import { type MessagePort, receiveMessageOnPort } from "node:worker_threads";
import { workerStart } from "../worker-thread.js";
import { BlobEngine, type EngineHost } from "./engine.js";
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

const host: EngineHost = {
  claim(ids, bytesRead) {
    post({ t: "claim", ids, bytesRead });
    for (;;) {
      const r = nextReply();
      if (r.t === "claimed") return r.store;
      if (r.t === "buffer") spare.push(r.buffer);
      else throw new Error(`blob-worker: unexpected ${r.t} answer`);
    }
  },
  read(bytes) {
    if (bytes > 0) post({ t: "read", bytes });
  },
  takeBuffer() {
    const have = spare.pop();
    if (have !== undefined) return have;
    post({ t: "buffer?" });
    for (;;) {
      const r = nextReply();
      if (r.t === "buffer") return r.buffer;
      throw new Error(`blob-worker: unexpected ${r.t} answer`);
    }
  },
  takeFile() {
    post({ t: "file?" });
    for (;;) {
      const r = nextReply();
      if (r.t === "buffer") spare.push(r.buffer);
      else if (r.t === "file") {
        if (r.fd < 0) throw new Error("blob-worker: no temp file for a pack");
        return { path: r.path, fd: r.fd };
      } else throw new Error(`blob-worker: unexpected ${r.t} answer`);
    }
  },
  packFinished(pack) {
    post({ t: "pack", pack }, "buffer" in pack ? [pack.buffer] : []);
  },
};

const engine = await BlobEngine.create(init.config, host);

port.on("message", (msg: ToWorker) => {
  try {
    switch (msg.t) {
      case "job":
        post({ t: "done", job: msg.job, results: engine.processFiles(msg.files) });
        break;
      case "known":
        engine.setKnown(msg.blobs);
        break;
      case "flush":
        engine.flush();
        post({ t: "flushed", job: msg.job });
        break;
      case "exit":
        port.close();
        init.sync.close();
        break;
    }
  } catch (err) {
    post({ t: "fatal", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
});
post({ t: "ready" });
