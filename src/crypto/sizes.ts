// Sizes of restic's sealed format (doc/design.rst "Keys, Encryption and MAC"): IV (16 bytes) ‖
// AES-256-CTR ciphertext ‖ Poly1305-AES MAC (16 bytes). Apart from master-key.ts so that code
// checking sizes before a key's scrypt (key-file.ts, master-index.ts) does not load the ciphers.

export const IV_SIZE = 16;
export const MAC_SIZE = 16;
/** Bytes a sealed message is longer than its plaintext: IV + MAC. */
export const SEAL_OVERHEAD = IV_SIZE + MAC_SIZE;
