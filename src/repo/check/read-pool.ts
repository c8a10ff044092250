// Worker threads for check --read-data on a local repository: each worker verifies one whole
// pack at a time (reading, hashing, decrypting on its own core) as the main thread asks it
// to. Under a TypeScript test runner the compiled worker script is taken from dist/ when a
// build exists; without one there are no workers and the main thread does all the work.

import { Worker } from "node:worker_threads";
import type { MasterKey } from "../../crypto/master-key.js";
import { ResticTsError } from "../../errors.js";
import { keepAfterWorkerStart } from "../../small-heaps.js";
import { workerScript } from "../worker-thread.js";
import type { PackProblem, PackToRead } from "./verify-pack.js";

interface Reply {
  readonly seq: number;
  readonly problems?: PackProblem[];
  readonly error?: string;
}

export class ReadPool {
  private readonly pending = new Map<number, (r: Reply) => void>();
  private seq = 0;

  private constructor(private readonly workers: Worker[]) {
    for (const w of workers) {
      w.on("message", (m: Reply) => {
        const done = this.pending.get(m.seq);
        this.pending.delete(m.seq);
        done?.(m);
      });
      w.on("error", (err) => {
        for (const [seq, done] of this.pending) done({ seq, error: String(err) });
        this.pending.clear();
      });
    }
  }

  /** Start `threads` workers for the repository at `root`, or undefined if none can run. */
  static start(root: string, key: MasterKey, threads: number): ReadPool | undefined {
    const script = workerScript("check/read-worker.js");
    if (script === undefined || threads < 1) return undefined;
    const data = { root, encrypt: key.encrypt, macK: key.macK, macR: key.macR };
    return new ReadPool(
      Array.from({ length: threads }, () =>
        keepAfterWorkerStart(new Worker(script, { workerData: data })),
      ),
    );
  }

  get size(): number {
    return this.workers.length;
  }

  /** Verify one pack on worker `w` (one pack per worker at a time). */
  verify(w: number, pack: PackToRead): Promise<PackProblem[]> {
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, (r) => {
        if (r.error !== undefined) reject(new ResticTsError("IO", `read-data worker: ${r.error}`));
        else resolve(r.problems ?? []);
      });
      this.workers[w].postMessage({ seq, pack });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
