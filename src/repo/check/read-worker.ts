// Entry point of a read-data worker thread: verifies whole packs of a local repository (see
// read-data.ts verifyPack) on the second core while the main thread hands out pack IDs.
// workerData: { root, encrypt, macK, macR }; messages in: { seq, pack }; out: { seq, problems }
// or { seq, error }.

import { LocalBackend } from "../../backends/local.js";
import { masterKeyFromParts } from "../../crypto/master-key.js";
import { ScratchBuffer } from "../pack-stream.js";
import { workerStart } from "../worker-thread.js";
import { type PackToRead, verifyPack } from "./verify-pack.js";

interface Init {
  readonly root: string;
  readonly encrypt: Uint8Array;
  readonly macK: Uint8Array;
  readonly macR: Uint8Array;
}

const { port, data: init } = workerStart<Init>("read-worker");
const backend = new LocalBackend(init.root);
const key = masterKeyFromParts(init.encrypt, init.macK, init.macR);
const buffer = new ScratchBuffer();

port.on("message", (msg: { seq: number; pack: PackToRead }) => {
  verifyPack(backend, key, msg.pack, buffer).then(
    (problems) => port.postMessage({ seq: msg.seq, problems }),
    (err: unknown) => port.postMessage({ seq: msg.seq, error: String(err) }),
  );
});
