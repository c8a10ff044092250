// A Backend over restic's REST protocol (doc/REST_backend.rst; restic's
// internal/backend/rest), as served by rest-server and `rclone serve restic`: `POST
// {path}?create=true` creates a repository, files live at `{path}/config` and
// `{path}/{data,keys,locks,snapshots,index}/{id}` (no data/ subdirectories in URLs), `POST`
// saves, `GET` with a `Range` header loads, `HEAD` stats, `DELETE` removes, and
// `GET {path}/{type}/` lists — as `[{name, size}]` under API v2 (`Accept:
// application/vnd.x.restic.rest.v2`), or as names under v1, each then stat'ed.
//
// Basic-auth credentials come from the URL's userinfo and are sent only in the Authorization
// header: the location, every message and every error show `user:***@`. Requests go through
// node:http(s) with a keep-alive agent; at most `connections` (restic's default 5) are in
// flight. Transient failures (reset or refused connections, timeouts, 5xx, 408, 429) are IO
// errors RetryBackend retries; 401/403 and other 4xx are permanent.

import http from "node:http";
import https from "node:https";
import { ResticTsError, redact } from "../errors.js";
import type { Backend, ByteRange, FileInfo, FileType, Handle } from "./backend.js";
import {
  checkHandle,
  checkRange,
  checkType,
  describeHandle,
  isValidName,
  resolveRange,
  TYPE_DIRS,
} from "./layout.js";
import { mapLimit, Semaphore } from "./limit.js";

export const REST_V1 = "application/vnd.x.restic.rest.v1";
export const REST_V2 = "application/vnd.x.restic.rest.v2";
export const DEFAULT_REST_CONNECTIONS = 5;

export interface RestOptions {
  /** The repository URL (http or https), optionally with `user:password@`. */
  readonly url: string | URL;
  /** Requests in flight at once (restic's `-o rest.connections`, default 5). */
  readonly connections?: number;
  /** Fail a request whose connection is idle this long (default 120 s); a TIMEOUT error. */
  readonly timeoutMs?: number;
  /** Extra TLS options for https (e.g. `ca` for a private certificate authority). */
  readonly tls?: Pick<https.AgentOptions, "ca" | "cert" | "key" | "rejectUnauthorized">;
}

interface Response {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

/** `url` with any password shown as `***` (restic's StripPassword). */
export function stripPassword(url: URL): string {
  if (url.password === "") return url.toString();
  const copy = new URL(url.toString());
  copy.password = "***";
  return redact(copy.toString());
}

export class RestBackend implements Backend {
  readonly location: string;
  readonly connections: number;
  /** The base URL without credentials, ending in `/`. */
  readonly #base: URL;
  readonly #auth: string | undefined;
  readonly #agent: http.Agent;
  readonly #sem: Semaphore;
  readonly #timeoutMs: number;
  readonly #client: typeof http | typeof https;
  #closed = false;

  constructor(opts: RestOptions) {
    let url: URL;
    try {
      url = new URL(opts.url.toString());
    } catch {
      throw new ResticTsError("INVALID_URL", `rest: not a URL: ${redact(opts.url.toString())}`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new ResticTsError(
        "INVALID_URL",
        `rest: need an http or https URL, got ${url.protocol}`,
      );
    }
    this.location = `rest:${stripPassword(url)}`;
    if (url.username !== "" || url.password !== "") {
      const user = decodeURIComponent(url.username);
      const pass = decodeURIComponent(url.password);
      this.#auth = `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
    }
    const base = new URL(url.toString());
    base.username = "";
    base.password = "";
    base.search = "";
    base.hash = "";
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    this.#base = base;
    this.connections = opts.connections ?? DEFAULT_REST_CONNECTIONS;
    this.#sem = new Semaphore(this.connections);
    this.#timeoutMs = opts.timeoutMs ?? 120_000;
    this.#client = base.protocol === "https:" ? https : http;
    this.#agent =
      base.protocol === "https:"
        ? new https.Agent({ keepAlive: true, maxSockets: this.connections, ...opts.tls })
        : new http.Agent({ keepAlive: true, maxSockets: this.connections });
  }

  /** The URL of a file (`{path}/config`, `{path}/{dir}/{id}`) or of a type's directory. */
  #url(h: Handle | FileType): URL {
    if (typeof h === "string") {
      return new URL(h === "config" ? "config" : `${TYPE_DIRS[h]}/`, this.#base);
    }
    checkHandle(h);
    return new URL(h.type === "config" ? "config" : `${TYPE_DIRS[h.type]}/${h.name}`, this.#base);
  }

  /** One HTTP request holding a `connections` token; the whole body is read. */
  #request(
    method: string,
    url: URL,
    what: string,
    opts: { body?: Uint8Array; headers?: http.OutgoingHttpHeaders } = {},
  ): Promise<Response> {
    if (this.#closed) {
      return Promise.reject(
        new ResticTsError("IO", `${this.location}: backend is closed`, { permanent: true }),
      );
    }
    return this.#sem.run(
      () =>
        new Promise<Response>((resolve, reject) => {
          const headers: http.OutgoingHttpHeaders = { Accept: REST_V2, ...opts.headers };
          if (this.#auth !== undefined) headers.Authorization = this.#auth;
          if (opts.body !== undefined) {
            headers["Content-Type"] = "application/octet-stream";
            headers["Content-Length"] = opts.body.byteLength;
          }
          let settled = false;
          const fail = (err: ResticTsError) => {
            if (settled) return;
            settled = true;
            req.destroy();
            reject(err);
          };
          const req = this.#client.request(url, { method, headers, agent: this.#agent }, (res) => {
            const lengthHeader = res.headers["content-length"];
            const expected = lengthHeader === undefined ? undefined : Number(lengthHeader);
            let body: Buffer | undefined =
              expected !== undefined && Number.isSafeInteger(expected) && method !== "HEAD"
                ? Buffer.allocUnsafe(expected)
                : undefined;
            const chunks: Buffer[] = [];
            let got = 0;
            res.on("data", (chunk: Buffer) => {
              if (body !== undefined && got + chunk.length <= body.length) body.set(chunk, got);
              else {
                if (body !== undefined) {
                  chunks.push(body.subarray(0, got));
                  body = undefined;
                }
                chunks.push(chunk);
              }
              got += chunk.length;
            });
            res.on("aborted", () =>
              fail(this.#ioError(`${what}: connection lost while reading the response`)),
            );
            res.on("error", (err) => fail(this.#netError(err, what)));
            res.on("close", () => {
              if (!res.complete) fail(this.#ioError(`${what}: connection closed mid-response`));
            });
            res.on("end", () => {
              if (settled) return;
              if (expected !== undefined && method !== "HEAD" && got !== expected) {
                fail(
                  this.#ioError(
                    `${what}: response body has ${got} bytes, Content-Length said ${expected}`,
                  ),
                );
                return;
              }
              settled = true;
              const full = body !== undefined ? body.subarray(0, got) : Buffer.concat(chunks);
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body: full });
            });
          });
          req.setTimeout(this.#timeoutMs, () =>
            fail(
              new ResticTsError(
                "TIMEOUT",
                `${this.location}: ${what}: no answer for ${this.#timeoutMs} ms`,
                { timeoutMs: this.#timeoutMs },
              ),
            ),
          );
          req.on("error", (err) => fail(this.#netError(err, what)));
          if (opts.body !== undefined) {
            req.end(Buffer.from(opts.body.buffer, opts.body.byteOffset, opts.body.byteLength));
          } else {
            req.end();
          }
        }),
    );
  }

  #ioError(message: string, data: Record<string, unknown> = {}, cause?: unknown): ResticTsError {
    return new ResticTsError("IO", `${this.location}: ${message}`, data, { cause });
  }

  #netError(err: Error & { code?: unknown }, what: string): ResticTsError {
    const code = typeof err.code === "string" ? err.code : undefined;
    // A name that does not resolve, or a certificate that does not verify, will not get better.
    const permanent =
      code === "ENOTFOUND" ||
      code === "ERR_INVALID_URL" ||
      (code !== undefined && /CERT|SELF_SIGNED|ERR_TLS/.test(code));
    return this.#ioError(`${what}: ${redact(err.message)}`, { errno: code, permanent }, err);
  }

  /** The error for an unexpected status; 404 is NOT_FOUND only where `notFound` says so. */
  #statusError(res: Response, what: string, h?: Handle): ResticTsError {
    const text = `${res.status} ${http.STATUS_CODES[res.status] ?? ""}`.trim();
    if (res.status === 404 && h !== undefined) {
      return new ResticTsError("NOT_FOUND", `${describeHandle(h)}: not found`, {
        type: h.type,
        name: h.type === "config" ? "" : h.name,
      });
    }
    if (res.status === 401 || res.status === 403) {
      return new ResticTsError(
        "ACCESS_DENIED",
        `${this.location}: ${what}: the server refused access (${text})`,
        { status: res.status, reason: res.status === 401 ? "auth" : "forbidden", permanent: true },
      );
    }
    const transient = res.status >= 500 || res.status === 408 || res.status === 429;
    const detail =
      res.body.length > 0 && res.body.length < 200 ? `: ${res.body.toString("utf8").trim()}` : "";
    return this.#ioError(`${what}: unexpected server response ${text}${redact(detail)}`, {
      status: res.status,
      permanent: !transient,
    });
  }

  async create(): Promise<void> {
    const url = new URL(this.#base.toString());
    url.search = "?create=true";
    const res = await this.#request("POST", url, "create repository", { body: new Uint8Array(0) });
    if (res.status !== 200) throw this.#statusError(res, "create repository");
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    const url = this.#url(h);
    const what = `save ${describeHandle(h)}`;
    const res = await this.#request("POST", url, what, { body: data });
    if (res.status < 200 || res.status > 299) throw this.#statusError(res, what);
  }

  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    const url = this.#url(h);
    checkRange(range);
    const what = `load ${describeHandle(h)}`;
    if (range === undefined || (range.offset === 0 && range.length === undefined)) {
      const res = await this.#request("GET", url, what);
      if (res.status !== 200) throw this.#statusError(res, what, h);
      return new Uint8Array(res.body.buffer, res.body.byteOffset, res.body.length);
    }
    if (range.length === 0) {
      // HTTP cannot ask for zero bytes: check that the range is inside the file.
      const { size } = await this.stat(h);
      resolveRange(h, size, range);
      return new Uint8Array(0);
    }
    const last = range.length === undefined ? "" : String(range.offset + range.length - 1);
    const res = await this.#request("GET", url, what, {
      headers: { Range: `bytes=${range.offset}-${last}` },
    });
    if (res.status === 404) throw this.#statusError(res, what, h);
    if (res.status === 416) {
      // Not satisfiable: past the end (CORRUPT), or an empty tail at the end.
      const total = contentRangeTotal(res.headers["content-range"]) ?? (await this.stat(h)).size;
      resolveRange(h, total, range);
      return new Uint8Array(0);
    }
    if (res.status === 200) {
      // The server ignored the range and sent the whole file.
      const { start, end } = resolveRange(h, res.body.length, range);
      return new Uint8Array(res.body.buffer, res.body.byteOffset + start, end - start);
    }
    if (res.status !== 206) throw this.#statusError(res, what, h);
    const total = contentRangeTotal(res.headers["content-range"]);
    let want: number;
    if (total !== undefined) {
      const { start, end } = resolveRange(h, total, range);
      want = end - start;
    } else {
      want = range.length ?? res.body.length;
    }
    if (res.body.length !== want) {
      throw new ResticTsError("CORRUPT", `${describeHandle(h)}: short read`, {
        type: h.type,
        name: h.name,
        offset: range.offset,
        want,
        got: res.body.length,
      });
    }
    return new Uint8Array(res.body.buffer, res.body.byteOffset, res.body.length);
  }

  async stat(h: Handle): Promise<FileInfo> {
    const url = this.#url(h);
    const what = `stat ${describeHandle(h)}`;
    const res = await this.#request("HEAD", url, what);
    if (res.status !== 200) throw this.#statusError(res, what, h);
    const size = Number(res.headers["content-length"]);
    if (!Number.isSafeInteger(size) || size < 0) {
      throw this.#ioError(`${what}: the server sent no valid Content-Length`, { permanent: true });
    }
    return { name: h.type === "config" ? "" : h.name, size };
  }

  async *list(type: FileType): AsyncGenerator<FileInfo> {
    checkType(type);
    if (type === "config") {
      try {
        const fi = await this.stat({ type: "config", name: "" });
        yield fi;
      } catch (err) {
        if ((err as ResticTsError).code !== "NOT_FOUND") throw err;
      }
      return;
    }
    const what = `list ${TYPE_DIRS[type]}`;
    const res = await this.#request("GET", this.#url(type), what);
    if (res.status === 404) return; // never created
    if (res.status !== 200) throw this.#statusError(res, what);
    let parsed: unknown;
    try {
      parsed = JSON.parse(res.body.toString("utf8"));
    } catch (err) {
      throw this.#ioError(`${what}: the server's answer is not JSON`, { permanent: true }, err);
    }
    if (!Array.isArray(parsed)) {
      throw this.#ioError(`${what}: the server's answer is not a JSON array`, { permanent: true });
    }
    const v2 = String(res.headers["content-type"] ?? "").startsWith(REST_V2);
    if (v2) {
      for (const item of parsed as unknown[]) {
        const { name, size } = (item ?? {}) as { name?: unknown; size?: unknown };
        if (typeof name !== "string" || !isValidName(name)) continue;
        if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) continue;
        yield { name, size };
      }
      return;
    }
    // API v1: names only; stat each.
    const names = (parsed as unknown[]).filter(
      (n): n is string => typeof n === "string" && isValidName(n),
    );
    const infos = await mapLimit(names, this.connections, async (name) => {
      try {
        return await this.stat({ type, name });
      } catch (err) {
        if ((err as ResticTsError).code === "NOT_FOUND") return undefined; // removed meanwhile
        throw err;
      }
    });
    for (const fi of infos) if (fi !== undefined) yield fi;
  }

  async remove(h: Handle): Promise<void> {
    const url = this.#url(h);
    const what = `remove ${describeHandle(h)}`;
    const res = await this.#request("DELETE", url, what);
    if (res.status !== 200 && res.status !== 204) throw this.#statusError(res, what, h);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#agent.destroy();
  }
}

/** The total size in a Content-Range header (`bytes a-b/total`, or `bytes *` + `/total`). */
function contentRangeTotal(header: string | undefined): number | undefined {
  const m = /^bytes\s+(?:\d+-\d+|\*)\/(\d+)\s*$/i.exec(header ?? "");
  if (m === null) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}
