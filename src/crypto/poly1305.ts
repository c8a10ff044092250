// Poly1305 for restic's MAC (Poly1305-AES, see master-key.ts): the one-time key is r || s,
// where r is clamped by the implementation itself (Bernstein's "r" rules: top four bits of
// bytes 3, 7, 11, 15 and bottom two bits of bytes 4, 8, 12 cleared) and s = AES-128_k(nonce).
//
// Providers, fastest first (bench/RESULTS.md "## crypto" has the figures):
//   - "sodium-native": libsodium's native poly1305 through N-API (~4 GB/s here);
//   - "noble":         @noble/ciphers' pure-JS poly1305 (~0.2-0.35 GB/s), always available.
// If sodium-native fails to load (no prebuild for the platform, a broken install), the module
// silently falls back to noble; `activePoly1305().name` says which one is in use. libsodium's
// WASM build (~2 GB/s) is not in the chain: it needs an async init, and seal/open are sync.

import { createRequire } from "node:module";
import { Poly1305 as NoblePoly1305, poly1305 as noblePoly1305 } from "@noble/ciphers/_poly1305.js";
import { ResticTsError } from "../errors.js";

export const POLY1305_TAG_SIZE = 16;
export const POLY1305_KEY_SIZE = 32;

export type Poly1305ProviderName = "sodium-native" | "noble";

/** An incremental Poly1305 computation; `finish` may be called once. */
export interface Poly1305Stream {
  update(data: Uint8Array): void;
  /** Write the 16-byte tag to `out[offset..offset+16)`. */
  finish(out: Uint8Array, offset?: number): void;
}

/** One Poly1305 implementation. `key` is the 32-byte one-time key r || s (r unclamped is fine). */
export interface Poly1305Provider {
  readonly name: Poly1305ProviderName;
  /** The 16-byte tag of `msg`. */
  mac(msg: Uint8Array, key: Uint8Array): Uint8Array;
  /** Start an incremental computation (same result as `mac` over the concatenated updates). */
  stream(key: Uint8Array): Poly1305Stream;
}

/** The subset of sodium-native's API used here (the package ships no types). */
interface SodiumNative {
  crypto_onetimeauth(out: Uint8Array, input: Uint8Array, key: Uint8Array): void;
  crypto_onetimeauth_init(state: Uint8Array, key: Uint8Array): void;
  crypto_onetimeauth_update(state: Uint8Array, input: Uint8Array): void;
  crypto_onetimeauth_final(state: Uint8Array, out: Uint8Array): void;
  crypto_onetimeauth_STATEBYTES: number;
  crypto_onetimeauth_BYTES: number;
  crypto_onetimeauth_KEYBYTES: number;
}

function checkKey(key: Uint8Array): void {
  if (key.length !== POLY1305_KEY_SIZE) {
    throw new ResticTsError("INVALID_ARGUMENT", `poly1305 key must be 32 bytes, got ${key.length}`);
  }
}

function checkOut(out: Uint8Array, offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || out.length - offset < POLY1305_TAG_SIZE) {
    throw new ResticTsError("INVALID_ARGUMENT", "poly1305: no room for the 16-byte tag");
  }
}

/** The pure-JS provider from @noble/ciphers; always available. */
export const noblePoly1305Provider: Poly1305Provider = Object.freeze({
  name: "noble" as const,
  mac(msg: Uint8Array, key: Uint8Array): Uint8Array {
    checkKey(key);
    return noblePoly1305(msg, key);
  },
  stream(key: Uint8Array): Poly1305Stream {
    checkKey(key);
    const h = new NoblePoly1305(key);
    return {
      update(data: Uint8Array): void {
        h.update(data);
      },
      finish(out: Uint8Array, offset = 0): void {
        checkOut(out, offset);
        out.set(h.digest(), offset);
      },
    };
  },
});

/** Wrap a loaded sodium-native module as a provider (checks the sizes it reports). */
function sodiumNativeProvider(sodium: SodiumNative): Poly1305Provider {
  if (
    typeof sodium.crypto_onetimeauth !== "function" ||
    typeof sodium.crypto_onetimeauth_init !== "function" ||
    sodium.crypto_onetimeauth_BYTES !== POLY1305_TAG_SIZE ||
    sodium.crypto_onetimeauth_KEYBYTES !== POLY1305_KEY_SIZE
  ) {
    throw new Error("sodium-native lacks a usable crypto_onetimeauth");
  }
  const stateBytes = sodium.crypto_onetimeauth_STATEBYTES;
  return Object.freeze({
    name: "sodium-native" as const,
    mac(msg: Uint8Array, key: Uint8Array): Uint8Array {
      checkKey(key);
      const out = new Uint8Array(POLY1305_TAG_SIZE);
      sodium.crypto_onetimeauth(out, msg, key);
      return out;
    },
    stream(key: Uint8Array): Poly1305Stream {
      checkKey(key);
      // sodium-native wants the state as a Buffer of exactly STATEBYTES.
      const state = Buffer.alloc(stateBytes);
      sodium.crypto_onetimeauth_init(state, key);
      let done = false;
      return {
        update(data: Uint8Array): void {
          if (done) throw new ResticTsError("INVALID_ARGUMENT", "poly1305: update after finish");
          sodium.crypto_onetimeauth_update(state, data);
        },
        finish(out: Uint8Array, offset = 0): void {
          if (done) throw new ResticTsError("INVALID_ARGUMENT", "poly1305: finish called twice");
          checkOut(out, offset);
          done = true;
          if (offset === 0 && out.length === POLY1305_TAG_SIZE) {
            sodium.crypto_onetimeauth_final(state, out);
          } else {
            sodium.crypto_onetimeauth_final(
              state,
              out.subarray(offset, offset + POLY1305_TAG_SIZE),
            );
          }
          state.fill(0);
        },
      };
    },
  });
}

/**
 * Try to load sodium-native with `load` (normally `require`); returns null (never throws) if
 * the module is missing, fails to load its native part, or does not compute Poly1305 correctly
 * on a known answer.
 */
export function loadSodiumNativeProvider(
  load: (id: string) => unknown = createRequire(import.meta.url),
): Poly1305Provider | null {
  try {
    const provider = sodiumNativeProvider(load("sodium-native") as SodiumNative);
    // Known answer: RFC 8439 section 2.5.2.
    const key = Buffer.from(
      "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b",
      "hex",
    );
    const msg = Buffer.from("Cryptographic Forum Research Group", "latin1");
    const tag = Buffer.from(provider.mac(msg, key)).toString("hex");
    return tag === "a8061dc1305136c6c22b8baf0c0127a9" ? provider : null;
  } catch {
    return null;
  }
}

const loadedSodium = loadSodiumNativeProvider();
let active: Poly1305Provider = loadedSodium ?? noblePoly1305Provider;

/** Every provider that loaded in this process, fastest first. */
export function availablePoly1305Providers(): readonly Poly1305Provider[] {
  return loadedSodium ? [loadedSodium, noblePoly1305Provider] : [noblePoly1305Provider];
}

/** The provider seal/open use: the fastest one that loaded. */
export function activePoly1305(): Poly1305Provider {
  return active;
}

/**
 * Choose the provider seal/open use (tests, benchmarks, or to avoid the native module);
 * returns the previous one. INVALID_ARGUMENT if that provider did not load.
 */
export function setPoly1305Provider(name: Poly1305ProviderName): Poly1305Provider {
  const next = availablePoly1305Providers().find((p) => p.name === name);
  if (!next) {
    throw new ResticTsError("INVALID_ARGUMENT", `poly1305 provider ${name} is not available`, {
      name,
    });
  }
  const previous = active;
  active = next;
  return previous;
}
