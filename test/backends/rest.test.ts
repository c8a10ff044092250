// The REST backend against a real restic REST server on loopback (`rclone serve restic`,
// test/helpers/rest-server.ts): the conformance suite, basic auth, and what the server's
// answers map to. Interop with the real restic is in rest-restic.test.ts.

import { readdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Handle } from "../../src/backends/backend.js";
import { RestBackend } from "../../src/backends/rest.js";
import { withRetry } from "../../src/backends/retry.js";
import { isResticTsError } from "../../src/errors.js";
import { type RestServer, startRestServer } from "../helpers/rest-server.js";
import { hasTool } from "../helpers/tools.js";
import { collect, describeBackend, expectCode, randomData, randomId } from "./suite.js";

const haveRclone = hasTool("rclone");

let server: RestServer | undefined;
let counter = 0;

async function getServer(): Promise<RestServer> {
  server ??= await startRestServer();
  return server;
}

afterAll(async () => {
  await server?.stop();
  server = undefined;
});

describe.runIf(haveRclone)("rest", () => {
  describeBackend(
    "rest (rclone serve restic)",
    async () => {
      const srv = await getServer();
      return {
        backend: new RestBackend({ url: srv.repoUrl(`repo-${++counter}`) }),
        cleanup: async () => {},
      };
    },
    { propertyRuns: 20 },
  );

  describe("RestBackend against rclone serve restic", () => {
    let srv: RestServer;
    beforeAll(async () => {
      srv = await getServer();
    });

    it("creates the repository on the server, which keeps packs in data/xx/", async () => {
      const name = `layout-${++counter}`;
      const b = new RestBackend({ url: srv.repoUrl(name) });
      try {
        await b.create();
        const h: Handle = { type: "data", name: randomId("c3") };
        await b.save(h, randomData(1000));
        const dir = path.join(srv.dir, name);
        expect((await readdir(dir)).sort()).toEqual([
          "data",
          "index",
          "keys",
          "locks",
          "snapshots",
        ]);
        expect(await readdir(path.join(dir, "data", "c3"))).toEqual([h.name]);
        expect(b.location).toBe(`rest:${srv.repoUrl(name)}`);
      } finally {
        await b.close();
      }
    });

    it("accepts a URL without a trailing slash", async () => {
      const name = `noslash-${++counter}`;
      const b = new RestBackend({ url: srv.repoUrl(name).replace(/\/$/, "") });
      try {
        await b.create();
        await b.save({ type: "config", name: "" }, new Uint8Array([7]));
        expect(await readdir(path.join(srv.dir, name))).toContain("config");
      } finally {
        await b.close();
      }
    });

    it("does not keep the process alive while idle (keep-alive sockets are unref'd)", async () => {
      const sockets = () =>
        process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;
      await new Promise((r) => setTimeout(r, 100));
      const before = sockets();
      const b = new RestBackend({ url: srv.repoUrl(`idle-${++counter}`) });
      try {
        await b.create();
        const saving = b.save({ type: "key", name: randomId() }, randomData(3_000_000));
        await new Promise((r) => setTimeout(r, 1));
        expect(sockets()).toBeGreaterThan(before);
        await saving;
        await collect(b.list("key"));
        expect(sockets()).toBe(before);
      } finally {
        await b.close();
      }
    });

    it("gives a transient IO error when nothing listens", async () => {
      const b = new RestBackend({ url: "http://127.0.0.1:1/repo/" });
      try {
        const err = await b.stat({ type: "config", name: "" }).catch((e: unknown) => e);
        expect(isResticTsError(err, "IO"), String(err)).toBe(true);
        expect((err as { data: { permanent: boolean } }).data.permanent).toBe(false);
      } finally {
        await b.close();
      }
    });
  });

  describe("RestBackend with basic auth", () => {
    let authServer: RestServer;
    beforeAll(async () => {
      authServer = await startRestServer({ user: "alice", pass: "s3cr3t/p@ss" });
    });
    afterAll(async () => {
      await authServer.stop();
    });

    it("authenticates with the URL's userinfo and never shows the password", async () => {
      const url = authServer.repoUrl("authed");
      expect(url).toContain("s3cr3t");
      const b = new RestBackend({ url });
      try {
        expect(b.location).toBe(`rest:http://alice:***@127.0.0.1:${authServer.port}/authed/`);
        await b.create();
        const h: Handle = { type: "snapshot", name: randomId() };
        await b.save(h, randomData(100));
        expect((await collect(b.list("snapshot"))).map((f) => f.name)).toEqual([h.name]);
      } finally {
        await b.close();
      }
    });

    it("fails permanently with a wrong password, without retrying and without the password", async () => {
      const url = authServer.repoUrl("authed").replace("s3cr3t%2Fp%40ss", "wrong-pw-987");
      expect(url).toContain("wrong-pw-987");
      let reports = 0;
      const b = withRetry(new RestBackend({ url }), { initialDelayMs: 1, report: () => reports++ });
      try {
        const err = await b.stat({ type: "config", name: "" }).catch((e: unknown) => e);
        expect(isResticTsError(err, "ACCESS_DENIED"), String(err)).toBe(true);
        const e = err as Error & { data: Record<string, unknown> };
        expect(e.data).toMatchObject({ status: 401, reason: "auth", permanent: true });
        expect(e.message).toContain("401");
        expect(e.message).not.toContain("wrong-pw-987");
        expect(JSON.stringify(e)).not.toContain("wrong-pw-987");
        expect(b.location).not.toContain("wrong-pw-987");
        expect(reports).toBe(0);
      } finally {
        await b.close();
      }
    });

    it("fails without credentials", async () => {
      const b = new RestBackend({ url: `http://127.0.0.1:${authServer.port}/authed/` });
      try {
        await expectCode(b.save({ type: "key", name: randomId() }, randomData(1)), "ACCESS_DENIED");
      } finally {
        await b.close();
      }
    });
  });
});
