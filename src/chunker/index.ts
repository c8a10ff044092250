// Public API of the chunker: restic's content-defined chunking (Rabin fingerprints over a
// random irreducible polynomial of degree 53, the config's `chunker_polynomial`).

export {
  deg,
  derivePolynomial,
  divMod,
  formatPolynomial,
  gcd,
  irreducible,
  mod,
  mul,
  mulMod,
  POLYNOMIAL_DEGREE,
  parsePolynomial,
  randomPolynomial,
} from "./polynomial.js";
export {
  AVERAGE_BITS,
  type ChunkBoundary,
  Chunker,
  type ChunkerOptions,
  chunkBoundaries,
  MAX_SIZE,
  MIN_SIZE,
  WINDOW_SIZE,
} from "./rabin.js";
export { type ChunkFileOptions, chunkFile, chunkStream, READ_SIZE } from "./stream.js";
