// Poly1305 for restic's MAC (Poly1305-AES, see master-key.ts): the one-time key is r || s,
// where r is clamped by the implementation itself (Bernstein's "r" rules: top four bits of
// bytes 3, 7, 11, 15 and bottom two bits of bytes 4, 8, 12 cleared) and s = AES-128_k(nonce).
//
// Providers, fastest first (bench/RESULTS.md "## crypto" has the figures):
//   - "openssl":       the Poly1305 of the OpenSSL that Node itself runs on (statically linked
//                      into official Node builds, libcrypto.so.3 for distribution builds),
//                      called through the koffi FFI: its AVX2/AVX-512 IFMA code runs at
//                      ~12 GB/s here. Node's crypto API has no raw Poly1305, hence the FFI.
//                      The low-level Poly1305_Init/Update/Final when the process exports them
//                      (official builds), else EVP_MAC "POLY1305" (any OpenSSL 3).
//   - "sodium-native": libsodium's native poly1305 through N-API (~4 GB/s here);
//   - "noble":         @noble/ciphers' pure-JS poly1305 (~0.2-0.35 GB/s), always available.
// Each native provider must pass known answers when it loads, or it is not used; if none
// loads, the module silently falls back to noble. They load when first worth it: OpenSSL with
// the first long message, sodium-native after SHORT_MESSAGES_BEFORE_NATIVE short ones.
// `activePoly1305().name` says which one large messages use. libsodium's WASM build (~2 GB/s)
// is not in the chain: it needs an async init, and seal/open are sync.

import { Poly1305 as NoblePoly1305, poly1305 as noblePoly1305 } from "@noble/ciphers/_poly1305.js";
import { ResticTsError } from "../errors.js";
import { type CLibrary, type ModuleLoader, processLibrary, requireModule } from "../ffi.js";

export const POLY1305_TAG_SIZE = 16;
export const POLY1305_KEY_SIZE = 32;

export type Poly1305ProviderName = "openssl" | "sodium-native" | "noble";

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

/** One OpenSSL Poly1305 computation over a native state; `final` ends it. */
interface OpenSslMac {
  update(data: Uint8Array): void;
  final(tag: Uint8Array): void;
}

type OpenSslBindings = (key: Uint8Array) => OpenSslMac;

/** The low-level Poly1305_* functions that official (statically linked) Node builds export. */
function bindLowLevelPoly1305(self: CLibrary): OpenSslBindings | null {
  let ctxSize: () => unknown;
  let init: (...a: unknown[]) => unknown;
  let update: (...a: unknown[]) => unknown;
  let final: (...a: unknown[]) => unknown;
  try {
    ctxSize = self.func("size_t Poly1305_ctx_size(void)");
    init = self.func("void Poly1305_Init(void *ctx, const uint8_t *key)");
    update = self.func("void Poly1305_Update(void *ctx, const uint8_t *inp, size_t len)");
    final = self.func("void Poly1305_Final(void *ctx, uint8_t *mac)");
  } catch {
    return null; // not exported: a Node linked against a shared libcrypto
  }
  const size = Number(ctxSize());
  if (!Number.isSafeInteger(size) || size <= 0 || size > 4096) return null;
  return (key) => {
    const ctx = Buffer.alloc(size);
    init(ctx, key);
    return {
      update: (data) => update(ctx, data, data.length),
      final: (tag) => {
        final(ctx, tag);
        ctx.fill(0);
      },
    };
  };
}

/** EVP_MAC "POLY1305": the public OpenSSL 3 interface, present in every libcrypto 3. */
function bindEvpMacPoly1305(self: CLibrary): OpenSslBindings | null {
  let mac: unknown;
  let ctxNew: (...a: unknown[]) => unknown;
  let init: (...a: unknown[]) => unknown;
  let update: (...a: unknown[]) => unknown;
  let final: (...a: unknown[]) => unknown;
  let ctxFree: (...a: unknown[]) => unknown;
  try {
    const fetch = self.func(
      "void *EVP_MAC_fetch(void *libctx, const char *algorithm, const char *properties)",
    );
    ctxNew = self.func("void *EVP_MAC_CTX_new(void *mac)");
    init = self.func(
      "int EVP_MAC_init(void *ctx, const uint8_t *key, size_t keylen, const void *params)",
    );
    update = self.func("int EVP_MAC_update(void *ctx, const uint8_t *data, size_t datalen)");
    final = self.func("int EVP_MAC_final(void *ctx, uint8_t *out, uint8_t *outl, size_t outsize)");
    ctxFree = self.func("void EVP_MAC_CTX_free(void *ctx)");
    mac = fetch(null, "POLY1305", null);
  } catch {
    return null;
  }
  if (!mac) return null;
  const failed = (what: string) =>
    new ResticTsError("INTERNAL", `poly1305: OpenSSL ${what} failed`);
  return (key) => {
    const ctx = ctxNew(mac);
    if (!ctx) throw failed("EVP_MAC_CTX_new");
    if (init(ctx, key, key.length, null) !== 1) {
      ctxFree(ctx);
      throw failed("EVP_MAC_init");
    }
    return {
      update: (data) => {
        if (update(ctx, data, data.length) !== 1) throw failed("EVP_MAC_update");
      },
      final: (tag) => {
        const written = Buffer.alloc(8);
        const ok = final(ctx, tag, written, POLY1305_TAG_SIZE);
        ctxFree(ctx);
        if (ok !== 1) throw failed("EVP_MAC_final");
      },
    };
  };
}

/** A provider over OpenSSL bindings. */
function openSslProvider(begin: OpenSslBindings): Poly1305Provider {
  return Object.freeze({
    name: "openssl" as const,
    mac(msg: Uint8Array, key: Uint8Array): Uint8Array {
      checkKey(key);
      const out = new Uint8Array(POLY1305_TAG_SIZE);
      const m = begin(key);
      m.update(msg);
      m.final(out);
      return out;
    },
    stream(key: Uint8Array): Poly1305Stream {
      checkKey(key);
      const m = begin(key);
      let done = false;
      return {
        update(data: Uint8Array): void {
          if (done) throw new ResticTsError("INVALID_ARGUMENT", "poly1305: update after finish");
          m.update(data);
        },
        finish(out: Uint8Array, offset = 0): void {
          if (done) throw new ResticTsError("INVALID_ARGUMENT", "poly1305: finish called twice");
          checkOut(out, offset);
          done = true;
          m.final(out.subarray(offset, offset + POLY1305_TAG_SIZE));
        },
      };
    },
  });
}

/** Known answer: RFC 8439 section 2.5.2. */
const KAT_KEY = "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b";
const KAT_MSG = "Cryptographic Forum Research Group";
const KAT_TAG = "a8061dc1305136c6c22b8baf0c0127a9";

/** Tag of LONG_KAT_LENGTH bytes of longKatMessage() under KAT_KEY (computed with noble). */
const LONG_KAT_LENGTH = 20_011;
const LONG_KAT_TAG = "5e4e50d8871885a920b1bf4a7f040987";

/** A deterministic message long enough for the vector code paths (they only run on long ones). */
function longKatMessage(): Uint8Array {
  const long = new Uint8Array(LONG_KAT_LENGTH);
  for (let i = 0; i < long.length; i++) long[i] = (i * 131 + (i >> 7)) & 0xff;
  return long;
}

/**
 * Whether `provider` computes Poly1305 correctly: the RFC 8439 answer, and the known tag of a
 * long message, in one call and in uneven streamed pieces. (The tests check that noble gives
 * the same long tag.)
 */
function passesKnownAnswers(provider: Poly1305Provider): boolean {
  const key = Buffer.from(KAT_KEY, "hex");
  if (Buffer.from(provider.mac(Buffer.from(KAT_MSG, "latin1"), key)).toString("hex") !== KAT_TAG) {
    return false;
  }
  const long = longKatMessage();
  const stream = provider.stream(key);
  stream.update(long.subarray(0, 3));
  stream.update(long.subarray(3, 4099));
  stream.update(long.subarray(4099));
  const streamed = new Uint8Array(POLY1305_TAG_SIZE);
  stream.finish(streamed);
  const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
  return hex(provider.mac(long, key)) === LONG_KAT_TAG && hex(streamed) === LONG_KAT_TAG;
}

/** The known answers the native providers must reproduce (for the tests). */
export const POLY1305_KNOWN_ANSWERS = Object.freeze({
  key: KAT_KEY,
  longTag: LONG_KAT_TAG,
  longMessage: longKatMessage,
});

/**
 * Try to load sodium-native with `load` (normally `require`); returns null (never throws) if
 * the module is missing, fails to load its native part, or does not compute Poly1305 correctly.
 */
export function loadSodiumNativeProvider(
  load: ModuleLoader = requireModule,
): Poly1305Provider | null {
  try {
    const provider = sodiumNativeProvider(load("sodium-native") as SodiumNative);
    return passesKnownAnswers(provider) ? provider : null;
  } catch {
    return null;
  }
}

/** OpenSSL's two ways in: the low-level Poly1305_* functions, or EVP_MAC. */
export type OpenSslInterface = "low-level" | "evp-mac";

/**
 * Try to bind OpenSSL's Poly1305 in this process through koffi (`load` normally `require`),
 * trying `interfaces` in order; returns null (never throws) if koffi or the symbols are
 * missing or the answers are wrong.
 */
export function loadOpenSslProvider(
  load: ModuleLoader = requireModule,
  interfaces: readonly OpenSslInterface[] = ["low-level", "evp-mac"],
): Poly1305Provider | null {
  try {
    const self = processLibrary(load);
    let bindings: OpenSslBindings | null = null;
    for (const i of interfaces) {
      bindings ??= i === "low-level" ? bindLowLevelPoly1305(self) : bindEvpMacPoly1305(self);
    }
    if (!bindings) return null;
    const provider = openSslProvider(bindings);
    return passesKnownAnswers(provider) ? provider : null;
  } catch {
    return null;
  }
}

/**
 * Messages shorter than this go to sodium-native when it loaded: each koffi call costs about
 * 0.4 µs, and three per message outweigh OpenSSL's speed below ~8 KiB (tree blobs, key files).
 */
export const OPENSSL_MIN_BYTES = 8192;

/**
 * Short messages MACed before sodium-native is loaded for them. Loading it costs ~30 ms of CPU
 * and ~6 MB (koffi for OpenSSL as much), more than noble spends on a few hundred short messages
 * (a key file, the config, locks, snapshots): until then they go to OpenSSL if a long message
 * loaded it already, else to noble, so a command that MACs little loads no native module.
 */
export const SHORT_MESSAGES_BEFORE_NATIVE = 256;

// Each native provider is loaded on first use (~30 ms each).
let openSsl: Poly1305Provider | null | undefined;
let sodiumNative: Poly1305Provider | null | undefined;
let shortMessages = 0;

function openSslLoaded(): Poly1305Provider | null {
  if (openSsl === undefined) openSsl = loadOpenSslProvider();
  return openSsl;
}

function sodiumNativeLoaded(): Poly1305Provider | null {
  if (sodiumNative === undefined) sodiumNative = loadSodiumNativeProvider();
  return sodiumNative;
}

/** Which provider seal/open use: "auto" (the fastest for each length) or one by name. */
export type Poly1305Choice = Poly1305ProviderName | "auto";
let choice: Poly1305Choice = "auto";
let chosen: Poly1305Provider | undefined;

/** Every provider that loads in this process, fastest first. */
export function availablePoly1305Providers(): readonly Poly1305Provider[] {
  return [openSslLoaded(), sodiumNativeLoaded(), noblePoly1305Provider].filter(
    (p): p is Poly1305Provider => p !== null,
  );
}

/** The provider for a message of `length` bytes: the chosen one, or the fastest for it. */
export function poly1305For(length: number): Poly1305Provider {
  if (chosen) return chosen;
  if (length >= OPENSSL_MIN_BYTES) {
    const o = openSslLoaded();
    if (o) return o;
  }
  if (sodiumNative === undefined && shortMessages < SHORT_MESSAGES_BEFORE_NATIVE) {
    shortMessages++;
    return openSsl ?? noblePoly1305Provider;
  }
  return sodiumNativeLoaded() ?? openSslLoaded() ?? noblePoly1305Provider;
}

/** The provider large messages use (the one that sets seal/open throughput). */
export function activePoly1305(): Poly1305Provider {
  return poly1305For(Number.POSITIVE_INFINITY);
}

/**
 * Choose the provider seal/open use (tests, benchmarks, or to avoid a native module), or
 * "auto" again; returns the previous choice. INVALID_ARGUMENT if that provider did not load.
 */
export function setPoly1305Provider(next: Poly1305Choice): Poly1305Choice {
  let provider: Poly1305Provider | undefined;
  if (next !== "auto") {
    provider = availablePoly1305Providers().find((p) => p.name === next);
    if (!provider) {
      throw new ResticTsError("INVALID_ARGUMENT", `poly1305 provider ${next} is not available`, {
        name: next,
      });
    }
  }
  const previous = choice;
  choice = next;
  chosen = provider;
  return previous;
}
