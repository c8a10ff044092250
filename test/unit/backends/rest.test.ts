// The REST backend against an in-process fake of the protocol, to reach what a real server
// rarely does: API v1 listings, ignored or unsatisfiable ranges, 5xx, cut-off bodies, stalls.
// The conformance suite runs against the fake too (in its v1 mode), besides the real server
// in test/backends/rest.test.ts.

import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Handle } from "../../../src/backends/backend.js";
import { RestBackend, stripPassword } from "../../../src/backends/rest.js";
import { withRetry } from "../../../src/backends/retry.js";
import { isResticTsError } from "../../../src/errors.js";
import {
  collect,
  describeBackend,
  expectCode,
  randomData,
  randomId,
} from "../../backends/suite.js";

interface Knobs {
  v1: boolean;
  ignoreRange: boolean;
  /** Answer ranges past the end with 416 (like a strict server), else clamp like rclone. */
  strict416: boolean;
  fail500: number;
  truncate: number;
  stallMs: number;
  requireAuth?: string;
}

class FakeRestServer {
  readonly files = new Map<string, Buffer>();
  readonly seen: { method: string; url: string; range?: string; auth?: string; accept?: string }[] =
    [];
  knobs: Knobs = {
    v1: false,
    ignoreRange: false,
    strict416: true,
    fail500: 0,
    truncate: 0,
    stallMs: 0,
  };
  inFlight = 0;
  peak = 0;
  #server = http.createServer((req, res) => this.#handle(req, res));
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((r) => this.#server.listen(0, "127.0.0.1", r));
    this.port = (this.#server.address() as AddressInfo).port;
  }
  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((r) => this.#server.close(r));
  }
  reset(): void {
    this.files.clear();
    this.seen.length = 0;
    this.knobs = {
      v1: false,
      ignoreRange: false,
      strict416: true,
      fail500: 0,
      truncate: 0,
      stallMs: 0,
    };
    this.peak = 0;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      this.inFlight++;
      this.peak = Math.max(this.peak, this.inFlight);
      try {
        if (this.knobs.stallMs > 0) await new Promise((r) => setTimeout(r, this.knobs.stallMs));
        this.#answer(req, res, Buffer.concat(chunks));
      } finally {
        this.inFlight--;
      }
    });
  }

  #answer(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    const url = new URL(req.url ?? "/", "http://x");
    this.seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      range: req.headers.range,
      auth: req.headers.authorization,
      accept: req.headers.accept,
    });
    if (
      this.knobs.requireAuth !== undefined &&
      req.headers.authorization !== this.knobs.requireAuth
    ) {
      res.writeHead(401).end("unauthorized");
      return;
    }
    if (this.knobs.fail500 > 0) {
      this.knobs.fail500--;
      res.writeHead(503).end("busy");
      return;
    }
    const p = url.pathname;
    if (req.method === "POST" && url.search === "?create=true") {
      res.writeHead(200).end();
      return;
    }
    if (req.method === "GET" && p.endsWith("/")) {
      const names = [...this.files.keys()]
        .filter((k) => k.startsWith(p))
        .map((k) => k.slice(p.length));
      if (this.knobs.v1) {
        res.writeHead(200, { "Content-Type": "application/vnd.x.restic.rest.v1" });
        res.end(JSON.stringify(names));
      } else {
        res.writeHead(200, { "Content-Type": "application/vnd.x.restic.rest.v2" });
        res.end(
          JSON.stringify(names.map((name) => ({ name, size: this.files.get(p + name)!.length }))),
        );
      }
      return;
    }
    const file = this.files.get(p);
    switch (req.method) {
      case "POST":
        this.files.set(p, body);
        res.writeHead(200).end();
        return;
      case "HEAD":
        if (file === undefined) res.writeHead(404).end();
        else res.writeHead(200, { "Content-Length": file.length }).end();
        return;
      case "DELETE":
        if (file === undefined) res.writeHead(404).end();
        else {
          this.files.delete(p);
          res.writeHead(200).end();
        }
        return;
      case "GET": {
        if (file === undefined) {
          res.writeHead(404).end("not found");
          return;
        }
        if (this.knobs.truncate > 0) {
          this.knobs.truncate--;
          res.writeHead(200, { "Content-Length": file.length });
          res.write(file.subarray(0, Math.floor(file.length / 2)));
          setTimeout(() => res.destroy(), 5);
          return;
        }
        const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
        if (m === null || this.knobs.ignoreRange) {
          res.writeHead(200, { "Content-Length": file.length }).end(file);
          return;
        }
        const start = Number(m[1]);
        const end = m[2] === "" ? file.length - 1 : Math.min(Number(m[2]), file.length - 1);
        if (start >= file.length && this.knobs.strict416) {
          res.writeHead(416, { "Content-Range": `bytes */${file.length}` }).end();
          return;
        }
        const part = file.subarray(start, end + 1);
        res.writeHead(206, {
          "Content-Length": part.length,
          "Content-Range": `bytes ${start}-${end}/${file.length}`,
        });
        res.end(part);
        return;
      }
    }
    res.writeHead(405).end();
  }
}

const fake = new FakeRestServer();
let repoCounter = 0;
beforeAll(() => fake.start());
afterAll(() => fake.stop());

for (const mode of ["v2, strict 416", "v1, clamped ranges", "ignores ranges"] as const) {
  describeBackend(
    `rest (fake server: ${mode})`,
    async () => {
      fake.knobs = {
        v1: mode.startsWith("v1"),
        ignoreRange: mode === "ignores ranges",
        strict416: mode.includes("416"),
        fail500: 0,
        truncate: 0,
        stallMs: 0,
      };
      return {
        backend: new RestBackend({ url: `http://127.0.0.1:${fake.port}/r${++repoCounter}` }),
        cleanup: async () => {},
      };
    },
    { largeSize: 300_000, concurrency: 20, propertyRuns: 15 },
  );
}

describe("RestBackend protocol details", () => {
  let url: string;
  beforeEach(async () => {
    // A stalled request of an earlier test may still be running on the server.
    while (fake.inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    fake.reset();
    url = `http://127.0.0.1:${fake.port}/repo/`;
  });

  it("speaks restic's paths, methods and headers", async () => {
    const b = new RestBackend({ url: `http://127.0.0.1:${fake.port}/repo` });
    const id = randomId("ab");
    await b.create();
    await b.save({ type: "data", name: id }, randomData(100));
    await b.load({ type: "data", name: id }, { offset: 10, length: 20 });
    await b.load({ type: "data", name: id }, { offset: 10 });
    await b.stat({ type: "data", name: id });
    await collect(b.list("data"));
    await b.remove({ type: "data", name: id });
    await b.save({ type: "config", name: "" }, randomData(3));
    expect(fake.seen.map((r) => [r.method, r.url, r.range])).toEqual([
      ["POST", "/repo/?create=true", undefined],
      ["POST", `/repo/data/${id}`, undefined],
      ["GET", `/repo/data/${id}`, "bytes=10-29"],
      ["GET", `/repo/data/${id}`, "bytes=10-"],
      ["HEAD", `/repo/data/${id}`, undefined],
      ["GET", "/repo/data/", undefined],
      ["DELETE", `/repo/data/${id}`, undefined],
      ["POST", "/repo/config", undefined],
    ]);
    expect(new Set(fake.seen.map((r) => r.accept))).toEqual(
      new Set(["application/vnd.x.restic.rest.v2"]),
    );
    await b.close();
  });

  it("sends basic auth from the URL, percent-decoded, and shows the password nowhere", async () => {
    fake.knobs.requireAuth = `Basic ${Buffer.from("u s:p@ss:w/rd").toString("base64")}`;
    const b = new RestBackend({ url: `http://u%20s:p%40ss%3Aw%2Frd@127.0.0.1:${fake.port}/repo/` });
    expect(b.location).toBe(`rest:http://u%20s:***@127.0.0.1:${fake.port}/repo/`);
    await b.create();
    await b.save({ type: "key", name: randomId() }, randomData(5));
    const wrong = new RestBackend({ url: `http://u%20s:nope-pw-42@127.0.0.1:${fake.port}/repo/` });
    const err = await wrong.stat({ type: "config", name: "" }).catch((e: unknown) => e);
    expect(isResticTsError(err, "ACCESS_DENIED")).toBe(true);
    expect(JSON.stringify(err)).not.toContain("nope-pw-42");
    expect(String(err)).not.toContain("nope-pw-42");
    await b.close();
    await wrong.close();
    expect(stripPassword(new URL("https://a:b@h/x"))).toBe("https://a:***@h/x");
    expect(stripPassword(new URL("https://a@h/x"))).toBe("https://a@h/x");
  });

  it("maps 503 to a transient IO error that RetryBackend retries", async () => {
    const inner = new RestBackend({ url });
    const h: Handle = { type: "snapshot", name: randomId() };
    fake.knobs.fail500 = 1;
    const err = await inner.save(h, randomData(5)).catch((e: unknown) => e);
    expect(isResticTsError(err, "IO")).toBe(true);
    expect((err as { data: Record<string, unknown> }).data).toMatchObject({
      status: 503,
      permanent: false,
    });
    fake.knobs.fail500 = 3;
    const b = withRetry(inner, { initialDelayMs: 1 });
    await b.save(h, randomData(5));
    expect((await b.stat(h)).size).toBe(5);
    await b.close();
  });

  it("treats a body cut short as a transient IO error, and retries it", async () => {
    const inner = new RestBackend({ url });
    const h: Handle = { type: "index", name: randomId() };
    const data = randomData(200_000);
    await inner.save(h, data);
    fake.knobs.truncate = 1;
    const err = await inner.load(h).catch((e: unknown) => e);
    expect(isResticTsError(err, "IO"), String(err)).toBe(true);
    fake.knobs.truncate = 2;
    const b = withRetry(inner, { initialDelayMs: 1 });
    expect(Buffer.from(await b.load(h)).equals(Buffer.from(data))).toBe(true);
    await b.close();
  });

  it("gives TIMEOUT when the server stalls", async () => {
    const b = new RestBackend({ url, timeoutMs: 50 });
    fake.knobs.stallMs = 300;
    await expectCode(b.stat({ type: "config", name: "" }), "TIMEOUT");
    await b.close();
  });

  it("keeps at most `connections` requests in flight", async () => {
    const b = new RestBackend({ url, connections: 3 });
    fake.knobs.stallMs = 10;
    await Promise.all(
      Array.from({ length: 20 }, () => b.save({ type: "lock", name: randomId() }, randomData(10))),
    );
    expect(fake.peak).toBeLessThanOrEqual(3);
    expect(fake.peak).toBeGreaterThan(1);
    await b.close();
  });

  it("lists nothing where the server has no such directory (404)", async () => {
    const b = new RestBackend({ url: `http://127.0.0.1:${fake.port}/missing/` });
    // The fake lists "/missing/keys/" as empty; a 404 must be empty too.
    const orig = fake.knobs;
    fake.knobs = { ...orig, requireAuth: undefined };
    const server404 = http.createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((r) => server404.listen(0, "127.0.0.1", r));
    const port = (server404.address() as AddressInfo).port;
    const b404 = new RestBackend({ url: `http://127.0.0.1:${port}/` });
    expect(await collect(b404.list("key"))).toEqual([]);
    await expectCode(b404.load({ type: "key", name: randomId() }), "NOT_FOUND");
    await b404.close();
    server404.closeAllConnections();
    await new Promise((r) => server404.close(r));
    await b.close();
  });

  it("refuses non-http URLs", () => {
    expect(() => new RestBackend({ url: "ftp://h/" })).toThrow(/http/);
    expect(() => new RestBackend({ url: "not a url" })).toThrow(/not a URL/);
  });
});
