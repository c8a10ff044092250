// Shared pieces of the parser fuzz tests: a time-boxed "value or coded error" check, byte and
// JSON mutators for structure-aware fuzzing of valid encodings.

import fc from "fast-check";
import { expect, vi } from "vitest";
import { type ErrorCode, ResticTsError } from "../../src/errors.js";

/** Runs per property: FUZZ_RUNS overrides (e.g. FUZZ_RUNS=20000 for a long local session). */
export function runs(n: number): number {
  const env = Number(process.env.FUZZ_RUNS);
  return Number.isSafeInteger(env) && env > 0 ? env : n;
}

// a long session (FUZZ_RUNS set) may take hours: lift the per-test timeout for it
if (process.env.FUZZ_RUNS) vi.setConfig({ testTimeout: 24 * 3_600_000 });

/** Longest a single parser call may take on hostile input (generous: a shared CI machine). */
export const CALL_BUDGET_MS = 5_000;

export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly code: ErrorCode };

/**
 * Call `f` on hostile input: it must return (a value) or throw a ResticTsError whose code is
 * one of `allowed`, and finish within CALL_BUDGET_MS. Anything else fails the property with
 * the thrown value's type and message.
 */
export async function attempt<T>(
  allowed: readonly ErrorCode[],
  f: () => T | Promise<T>,
  budgetMs = CALL_BUDGET_MS,
): Promise<Outcome<T>> {
  const start = performance.now();
  let outcome: Outcome<T>;
  try {
    outcome = { ok: true, value: await f() };
  } catch (err) {
    if (!(err instanceof ResticTsError)) {
      const name = (err as Error)?.constructor?.name ?? typeof err;
      throw new Error(`non-coded ${name}: ${(err as Error)?.message ?? String(err)}`);
    }
    if (!allowed.includes(err.code)) {
      throw new Error(
        `unexpected code ${err.code} (allowed ${allowed.join(", ")}): ${err.message}`,
      );
    }
    outcome = { ok: false, code: err.code };
  }
  const ms = performance.now() - start;
  if (ms > budgetMs) throw new Error(`parser call took ${ms.toFixed(0)} ms`);
  return outcome;
}

/** `attempt` that also asserts the call failed with `code`. */
export async function expectCode(
  code: ErrorCode,
  f: () => unknown,
  budgetMs = CALL_BUDGET_MS,
): Promise<void> {
  const out = await attempt([code], f, budgetMs);
  expect(out).toEqual({ ok: false, code });
}

// --- byte mutations -------------------------------------------------------------------------

export type ByteEdit =
  | { readonly kind: "flip"; readonly at: number; readonly mask: number }
  | { readonly kind: "set"; readonly at: number; readonly value: number }
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: "delete"; readonly at: number; readonly count: number };

/** 1–4 edits; positions are taken modulo the input length when applied. */
export const byteEdits: fc.Arbitrary<ByteEdit[]> = fc.array(
  fc.oneof(
    fc.record({
      kind: fc.constant("flip" as const),
      at: fc.nat(),
      mask: fc.integer({ min: 1, max: 255 }),
    }),
    fc.record({
      kind: fc.constant("set" as const),
      at: fc.nat(),
      value: fc.constantFrom(0x00, 0xff, 0x7f, 0x80, 0x22, 0x5c, 0x7b, 0x5b, 0x30, 0x2d),
    }),
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat(),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
    }),
    fc.record({
      kind: fc.constant("delete" as const),
      at: fc.nat(),
      count: fc.integer({ min: 1, max: 8 }),
    }),
  ),
  { minLength: 1, maxLength: 4 },
);

export function applyEdits(input: Uint8Array, edits: readonly ByteEdit[]): Uint8Array {
  let b = Uint8Array.from(input);
  for (const e of edits) {
    if (b.length === 0) break;
    const at = e.at % b.length;
    switch (e.kind) {
      case "flip":
        b[at] ^= e.mask;
        break;
      case "set":
        b[at] = e.value;
        break;
      case "truncate":
        b = b.slice(0, at);
        break;
      case "insert": {
        const out = new Uint8Array(b.length + e.bytes.length);
        out.set(b.subarray(0, at));
        out.set(e.bytes, at);
        out.set(b.subarray(at), at + e.bytes.length);
        b = out;
        break;
      }
      case "delete": {
        const count = Math.min(e.count, b.length - at);
        const out = new Uint8Array(b.length - count);
        out.set(b.subarray(0, at));
        out.set(b.subarray(at + count), at);
        b = out;
        break;
      }
    }
  }
  return b;
}

// --- JSON mutations -------------------------------------------------------------------------

const DEEP = 5_000;

/** JSON texts that are valid JSON of the wrong type, out of range, or absurdly nested. */
export const hostileJsonLiterals: readonly string[] = [
  "null",
  "true",
  "false",
  "0",
  "-1",
  "-0",
  "1.5",
  "1e999",
  "-1e999",
  "4294967296",
  "9007199254740993",
  "18446744073709551615",
  "18446744073709551616",
  "123456789012345678901234567890",
  '""',
  '"x"',
  '"\\u0000"',
  '"\\ud800"',
  '"../../etc/passwd"',
  '"0000000000000000000000000000000000000000000000000000000000000000"',
  '"ZZZZ"',
  '"AAAA===="',
  `"${"a".repeat(100_000)}"`,
  "[]",
  "{}",
  "[null]",
  '[""]',
  '{"":null}',
  `${"[".repeat(DEEP)}${"]".repeat(DEEP)}`,
  `${'{"a":'.repeat(DEEP)}1${"}".repeat(DEEP)}`,
  `[${"0,".repeat(20_000)}0]`,
];

/** Paths (keys and indexes) of every value inside `v`, `v` itself excluded. */
function valuePaths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([...prefix, i], ...valuePaths(x, [...prefix, i]));
    });
  } else if (v !== null && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) {
      out.push([...prefix, k], ...valuePaths(x, [...prefix, k]));
    }
  }
  return out;
}

export interface JsonMutation {
  /** Which value to change (index into the document's value paths, modulo their number). */
  readonly pick: number;
  /** What to do there. */
  readonly op: "replace" | "delete" | "duplicate-key";
  /** Index into hostileJsonLiterals. */
  readonly literal: number;
}

export const jsonMutations: fc.Arbitrary<JsonMutation[]> = fc.array(
  fc.record({
    pick: fc.nat(),
    op: fc.constantFrom<JsonMutation["op"]>("replace", "replace", "delete", "duplicate-key"),
    literal: fc.nat({ max: hostileJsonLiterals.length - 1 }),
  }),
  { minLength: 1, maxLength: 3 },
);

/**
 * The text of the JSON document `doc` (a parsed valid encoding) with mutations applied: a
 * value replaced by a hostile literal, a field or element deleted, or a key written a second
 * time with a hostile value (Go's decoder takes the last one).
 */
export function mutateJson(doc: unknown, mutations: readonly JsonMutation[]): string {
  const paths = valuePaths(doc);
  if (paths.length === 0) return hostileJsonLiterals[mutations[0].literal];
  const ops = new Map<string, JsonMutation>();
  for (const m of mutations) ops.set(JSON.stringify(paths[m.pick % paths.length]), m);
  const render = (v: unknown, at: (string | number)[]): string => {
    if (Array.isArray(v)) {
      const parts: string[] = [];
      v.forEach((x, i) => {
        const p = [...at, i];
        const m = ops.get(JSON.stringify(p));
        if (m?.op === "delete") return;
        parts.push(m !== undefined ? hostileJsonLiterals[m.literal] : render(x, p));
      });
      return `[${parts.join(",")}]`;
    }
    if (v !== null && typeof v === "object") {
      const parts: string[] = [];
      for (const [k, x] of Object.entries(v)) {
        const p = [...at, k];
        const m = ops.get(JSON.stringify(p));
        const key = JSON.stringify(k);
        if (m?.op === "delete") continue;
        if (m?.op === "replace") parts.push(`${key}:${hostileJsonLiterals[m.literal]}`);
        else if (m?.op === "duplicate-key")
          parts.push(`${key}:${render(x, p)}`, `${key}:${hostileJsonLiterals[m.literal]}`);
        else parts.push(`${key}:${render(x, p)}`);
      }
      return `{${parts.join(",")}}`;
    }
    return JSON.stringify(v);
  };
  return render(doc, []);
}
