// The committed WebAssembly modules are their .wat sources assembled: each .wat is assembled
// here with wabt as bench/build-wasm.ts does, for comparison with the committed base64.

import { readFileSync } from "node:fs";
import wabtInit from "wabt";

/** The bytes wabt makes of the .wat at `path` (features as in bench/build-wasm.ts). */
export async function assembleWat(path: string): Promise<Buffer> {
  const wabt = await wabtInit();
  const mod = wabt.parseWat(path, readFileSync(path, "utf8"), { simd: true });
  try {
    mod.validate();
    return Buffer.from(mod.toBinary({}).buffer);
  } finally {
    mod.destroy();
  }
}
