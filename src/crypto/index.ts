// Public API of restic-ts's crypto layer: restic's authenticated encryption (AES-256-CTR +
// Poly1305-AES), master keys and their JSON form, the scrypt KDF, key files, SHA-256 IDs and
// randomness. Pure: no I/O besides the OS random generator.

export {
  type AesCtrProviderName,
  activeAesCtr,
  setAesCtrProvider,
} from "./aes-ctr.js";
export { fromBase64, toBase64 } from "./base64.js";
export { fromHex, sha256, toHex } from "./hash.js";
export {
  DEFAULT_KDF_PARAMS,
  deriveKey,
  deriveKeyPortable,
  KDF_OUTPUT_LENGTH,
  type KdfParams,
  MAX_KDF_MEMORY,
  MAX_KDF_WORK,
  SALT_LENGTH,
  scryptRaw,
  scryptRawPortable,
  userKeyFromKdfOutput,
  validateKdfParams,
} from "./kdf.js";
export {
  clampPoly1305R,
  decodeMasterKey,
  encodeMasterKey,
  IV_SIZE,
  MAC_SIZE,
  type MasterKey,
  type MasterKeyJSON,
  masterKeyFromJSON,
  masterKeyFromParts,
  masterKeyToJSON,
  newMasterKey,
  open,
  openEach,
  openInPlace,
  openInto,
  plaintextLength,
  poly1305Aes,
  poly1305AesKey,
  SEAL_OVERHEAD,
  seal,
  sealInto,
  sealIntoWithIV,
  sealWithIV,
} from "./master-key.js";
export {
  activePoly1305,
  availablePoly1305Providers,
  type Poly1305Choice,
  type Poly1305Provider,
  type Poly1305ProviderName,
  type Poly1305Stream,
  poly1305For,
  setPoly1305Provider,
} from "./poly1305.js";
export {
  openPortable,
  poly1305AesPortable,
  sealPortable,
  sealWithIVPortable,
} from "./portable.js";
export { randomBytes, randomPublicBytes } from "./random.js";
