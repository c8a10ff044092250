import { describe, expect, it } from "vitest";
import { MemoryBackend } from "../../../src/backends/mem.js";
import { startKeyFileOpening } from "../../../src/repo/key-file.js";
import { Repository } from "../../../src/repo/repository.js";

const FAST = { N: 1024, r: 8, p: 1 };
const POL = 0x3da3358b4dc173n;
const enc = (s: string) => new TextEncoder().encode(s);

async function fresh(version = 2) {
  const backend = new MemoryBackend();
  const repo = await Repository.init(backend, "secret", {
    version,
    kdf: FAST,
    chunkerPolynomial: POL,
  });
  return { backend, repo };
}

describe("Repository", () => {
  it("init writes a config and one key; open with the password reads the same config", async () => {
    const { backend, repo } = await fresh();
    expect(repo.config.version).toBe(2);
    expect(repo.config.chunkerPolynomial).toBe(POL);
    const opened = await Repository.open(backend, "secret");
    expect(opened.config).toEqual(repo.config);
    expect(opened.keyId).toBe(repo.keyId);
    expect(await opened.listIds("key")).toEqual([repo.keyId]);
  });

  it("generates a random polynomial and a random ID when none is given", async () => {
    const a = await Repository.init(new MemoryBackend(), "pw", { kdf: FAST });
    const b = await Repository.init(new MemoryBackend(), "pw", { kdf: FAST });
    expect(a.config.id).not.toBe(b.config.id);
    expect(a.config.chunkerPolynomial).not.toBe(b.config.chunkerPolynomial);
    expect(a.config.chunkerPolynomial >> 53n).toBe(1n);
  });

  it("refuses a wrong password, an empty one, and a location without a repository", async () => {
    const { backend } = await fresh();
    await expect(Repository.open(backend, "nope")).rejects.toMatchObject({
      code: "WRONG_PASSWORD",
    });
    await expect(Repository.open(backend, "")).rejects.toMatchObject({ code: "EMPTY_PASSWORD" });
    await expect(Repository.open(new MemoryBackend(), "secret")).rejects.toMatchObject({
      code: "NO_REPOSITORY",
    });
  });

  it("refuses to init twice, with an empty password, or an unknown version, writing nothing", async () => {
    const { backend } = await fresh();
    await expect(Repository.init(backend, "x", { kdf: FAST })).rejects.toMatchObject({
      code: "ALREADY_EXISTS",
    });
    const empty = new MemoryBackend();
    await expect(Repository.init(empty, "", { kdf: FAST })).rejects.toMatchObject({
      code: "EMPTY_PASSWORD",
    });
    await expect(Repository.init(empty, "x", { version: 3, kdf: FAST })).rejects.toMatchObject({
      code: "UNSUPPORTED",
    });
    expect(await empty.isEmpty()).toBe(true);
  });

  it.each([1, 2])(
    "saves and loads unpacked files (v%i), named by the SHA-256 of the stored bytes",
    async (v) => {
      const { repo } = await fresh(v);
      const body = enc(JSON.stringify({ hello: "world".repeat(100) }));
      const id = await repo.saveUnpacked("snapshot", body);
      expect(await repo.loadUnpacked("snapshot", id)).toEqual(body);
      const stored = await repo.backend.load({ type: "snapshot", name: id });
      // v2 compresses: the stored file is smaller than the plaintext plus the seal overhead.
      if (v === 2) expect(stored.length).toBeLessThan(body.length);
      else expect(stored.length).toBe(body.length + 32);
    },
  );

  it("detects a stored file whose content does not match its name, and tampering", async () => {
    const { backend, repo } = await fresh();
    const id = await repo.saveUnpacked("index", enc('{"packs":[]}'));
    const stored = await backend.load({ type: "index", name: id });
    stored[20] ^= 1;
    await backend.save({ type: "index", name: id }, stored);
    await expect(repo.loadUnpacked("index", id)).rejects.toMatchObject({ code: "CORRUPT" });
  });

  it("manages keys: add, open with either, refuse removing the current one, passwd", async () => {
    const { backend, repo } = await fresh();
    const second = await repo.addKey("other", { kdf: FAST, username: "u2", hostname: "h2" });
    expect((await repo.listKeys()).map((k) => [k.id, k.current]).sort()).toEqual(
      [
        [repo.keyId, true],
        [second, false],
      ].sort(),
    );
    const viaSecond = await Repository.open(backend, "other");
    expect(viaSecond.keyId).toBe(second);
    expect(viaSecond.masterKey).toEqual(repo.masterKey);
    await expect(viaSecond.removeKey(second.slice(0, 8))).rejects.toMatchObject({
      code: "KEY_IN_USE",
    });
    expect(await viaSecond.removeKey(repo.keyId.slice(0, 10))).toBe(repo.keyId);
    await expect(Repository.open(backend, "secret")).rejects.toMatchObject({
      code: "WRONG_PASSWORD",
    });
    const third = await viaSecond.changePassword("newpw", { kdf: FAST });
    expect(await viaSecond.listIds("key")).toEqual([third]);
    await expect(Repository.open(backend, "other")).rejects.toMatchObject({
      code: "WRONG_PASSWORD",
    });
    expect((await Repository.open(backend, "newpw")).keyId).toBe(third);
  });

  it("uses the key hint first and skips damaged key files", async () => {
    const { backend, repo } = await fresh();
    await backend.save({ type: "key", name: "f".repeat(64) }, enc("garbage"));
    const opened = await Repository.open(backend, "secret", { keyHint: repo.keyId.slice(0, 6) });
    expect(opened.keyId).toBe(repo.keyId);
  });

  it("reports a damaged config as CORRUPT, not as a wrong password", async () => {
    const { backend } = await fresh();
    const cfg = await backend.load({ type: "config", name: "" });
    cfg[cfg.length - 1] ^= 0xff;
    await backend.save({ type: "config", name: "" }, cfg);
    await expect(Repository.open(backend, "secret")).rejects.toMatchObject({ code: "CORRUPT" });
  });

  it("opens through a key file opening begun earlier, trying the other keys after the first", async () => {
    const { backend, repo } = await fresh();
    const second = await repo.addKey("other", { kdf: FAST });
    // begun with the hint on the first key: its scrypt runs before open is called
    const opening = startKeyFileOpening(backend, "other", repo.keyId);
    expect((await opening).ids).toEqual([repo.keyId, second]);
    const opened = await Repository.open(backend, "other", { opening });
    expect(opened.keyId).toBe(second);
    expect(opened.config).toEqual(repo.config);
    const direct = await Repository.open(backend, "other", {
      opening: startKeyFileOpening(backend, "other", second.slice(0, 8)),
    });
    expect(direct.keyId).toBe(second);
    await expect(
      Repository.open(backend, "nope", { opening: startKeyFileOpening(backend, "nope") }),
    ).rejects.toMatchObject({ code: "WRONG_PASSWORD", data: { keys: 2 } });
  });

  it("reports a missing repository before a failed opening, and the opening's own errors", async () => {
    const empty = new MemoryBackend();
    await expect(
      Repository.open(empty, "secret", { opening: startKeyFileOpening(empty, "secret") }),
    ).rejects.toMatchObject({ code: "NO_REPOSITORY" });
    const { backend } = await fresh();
    await expect(
      Repository.open(backend, "secret", {
        opening: startKeyFileOpening(backend, "secret", "0".repeat(10)),
      }),
    ).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
