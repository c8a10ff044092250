// Loads fixtures/go-vectors.json: outputs of go1.19.8 (the Go restic 0.14.0 is built with) made
// by fixtures/gen-go-vectors.go.
import { readFileSync } from "node:fs";

export interface GoVectors {
  isPrintRanges: [number, number][];
  quote: { in: string; quoted: string; json: string }[];
  unquote: { in: string; ok: boolean; out: string }[];
  timeFormat: { sec: number; nsec: number; offset: number; text: string }[];
  timeParse: { in: string; ok: boolean; norm: string; sec: number; nsec: number }[];
  nodes: { json: string }[];
}

export const goVectors: GoVectors = JSON.parse(
  readFileSync(new URL("./fixtures/go-vectors.json", import.meta.url), "utf8"),
);

export function hexBytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, "hex"));
}
