// Fuzzing repository URLs (src/backends/url.ts) with fast-check: random strings, and every
// URL form with a password in it (`?password=`, REST userinfo, a refused SSH password) with
// junk around it and hostile characters inside the password. Property: a parsed location or
// INVALID_URL / UNSUPPORTED — and the password never appears in an error's message or data,
// nor in the `display` of what parsed.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isResticRoot, parseRepoUrl, parseResticRoot } from "../../src/backends/url.js";
import { ResticTsError } from "../../src/errors.js";
import { attempt, runs } from "./fuzz-helpers.js";

const CODES = ["INVALID_URL", "UNSUPPORTED"] as const;

/** Parse `input` as a repository URL and, when it says so, as a restic root. */
async function parseBoth(input: string) {
  const url = await attempt(CODES, () => parseRepoUrl(input));
  const root = isResticRoot(input) ? await attempt(CODES, () => parseResticRoot(input)) : undefined;
  return { url, root };
}

/** The message and data of what `f` throws ("" when it returns). */
function thrownText(f: () => unknown): string {
  try {
    f();
    return "";
  } catch (err) {
    expect(err).toBeInstanceOf(ResticTsError);
    const e = err as ResticTsError;
    return `${e.message}\n${JSON.stringify(e.data)}\n${String(e)}`;
  }
}

const alnum = fc.string({
  unit: fc.constantFrom(..."abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"),
  minLength: 8,
  maxLength: 8,
});
/** Characters that mean something in URLs, quoting or shells. */
const special = fc.constantFrom(
  ..."@:/?#&=%;+ '\"\\[]{}<>|~`!$*,\t".split(""),
  "%zz",
  "%40",
  "\u00e9",
  "",
);
/** A password of two 8-character random runs joined by hostile characters. */
const password = fc
  .tuple(alnum, fc.array(special, { maxLength: 3 }), alnum)
  .map(([a, mid, b]) => ({ text: `${a}${mid.join("")}${b}`, runs: [a, b] }));

/** Junk that does not touch the URL's structure: path and host characters. */
const junk = fc.string({ unit: fc.constantFrom(..."abcxyz019-_.~/ "), maxLength: 12 });

const forms: readonly ((pw: string, j: string, enc: string) => string)[] = [
  (pw, j) => `file:///srv/${j}repo?password=${pw}`,
  (_pw, j, enc) => `file:///srv/${j}repo?password=${enc}`,
  (pw, j) => `/srv/${j}repo?password=${pw}#latest`,
  (pw, j) => `local:/srv/${j}?password=${pw}#zz${j}`,
  (pw, j) => `rest:https://user:${pw}@host.example:8000/${j}`,
  (pw, j) => `rest:http://user:${pw}@[::1]:${j}/`,
  (pw, j) => `sftp://user:${pw}@host/${j}`,
  (pw, j) => `sftp:user:${pw}@host:/srv/${j}`,
  (pw, j) => `restic:file:///srv/${j}?password=${pw}`,
  (pw, j) => `restic:rest:https://u:${pw}@h/${j}#deadbeef`,
  (pw, j) => `s3:https://key:${pw}@s3.example/${j}`,
  (pw, j) => `unknown+scheme://user:${pw}@host/${j}?password=${pw}`,
  (pw, j) => `file://${j}?password=${pw}`,
];

describe("repository URLs", () => {
  it("random strings: a location or INVALID_URL / UNSUPPORTED", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 80 }),
          fc.string({ unit: "binary", maxLength: 40 }),
          fc
            .tuple(
              fc.constantFrom(
                "",
                "restic:",
                "file:",
                "file://",
                "local:",
                "sftp:",
                "sftp://",
                "rest:",
                "s3:",
              ),
              fc.string({ unit: fc.constantFrom(..."@:/?#&=%[]a0."), maxLength: 30 }),
            )
            .map(([a, b]) => a + b),
        ),
        async (s) => {
          const { url } = await parseBoth(s);
          if (url.ok) {
            expect(["local", "sftp", "rest"]).toContain(url.value.location.kind);
            expect(typeof url.value.display).toBe("string");
          }
        },
      ),
      { numRuns: runs(1000) },
    );
  });

  it("the password never appears in an error message, error data or a display", async () => {
    // the leaks this property found first (each fixed in url.ts), tried on every run
    const secret = (a: string, mid: string, b: string) => ({
      text: `${a}${mid}${b}`,
      runs: [a, b],
    });
    const found: [number, { text: string; runs: string[] }, string][] = [
      [0, secret("aaaaaaaa", "&", "bbbbbbbb"), ""], // "&": the tail read as a parameter name
      [0, secret("aaaaaaaa", "?", "bbbbbbbb"), ""], // "?": the query split inside the password
      [0, secret("aaaaaaaa", "#", "zzzzzzzz"), ""], // "#": the tail read as a snapshot fragment
      [9, secret("aaaaaaaa", "", "bbbbbbbb"), ""], // restic: prefix: a "local path" displayed as is
      [7, secret("aaaaaaaa", "/", "bbbbbbbb"), ""], // sftp short form, "/" in the password
      [7, secret("aaaaaaaa", "@:", "bbbbbbbb"), ""], // sftp short form, "@" and ":" in it
      [4, secret("aaaaaaaa", "@?", "bbbbbbbb"), ""], // rest: "?" after an "@" in the password
      [4, secret("aaaaaaaa", "@\u00e9/", "bbbbbbbb"), ""], // rest: "/" ended the authority early
      [4, secret("aaaaaaaa", "'", "bbbbbbbb"), ""], // rest: "'" stopped redact()'s pattern
      [9, secret("aaaaaaaa", "@+#", "bbbbbbbb"), ""], // rest: "#" before the snapshot's "#"
      [4, secret("aaaaaaaa", "@+#", "bbbbbbbb"), ""], // rest: the tail read as a URL fragment
    ];
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: forms.length - 1 }), password, junk, async (form, pw, j) => {
        const input = forms[form](pw.text, j, encodeURIComponent(pw.text));
        const { url, root } = await parseBoth(input);
        const texts = [
          thrownText(() => parseRepoUrl(input)),
          isResticRoot(input) ? thrownText(() => parseResticRoot(input)) : "",
        ];
        if (url.ok) texts.push(url.value.display);
        if (root?.ok) texts.push(root.value.display);
        for (const t of texts) {
          for (const run of pw.runs) expect(t).not.toContain(run);
        }
        // a percent-encoded ?password= always parses, to exactly the password given
        if (form === 1) expect(url.ok && url.value.password).toBe(pw.text);
      }),
      { numRuns: runs(1500), examples: found },
    );
  });
});
