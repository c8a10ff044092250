import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ContainerConfig,
  configForRestore,
  decodeMeta,
  encodeMeta,
  isDynamicNic,
  redactConfig,
  validateConfig,
} from "../../src/container/config.js";
import { isResticTsError } from "../../src/errors.js";

const FULL: ContainerConfig = {
  root: "restic:sftp:backup@host:/srv/repo?password=s3cret#abcdef12",
  mount: { "/srv/data": "/data" },
  nics: [
    { type: "default", hwaddr: "02:00:00:00:00:01" },
    {
      type: "bridge",
      id: "br0",
      hwaddr: "02:00:00:00:00:02",
      config: { dhcp: true, cidr: "10.1.0.7/24", gateway: "10.1.0.1", dns: ["1.1.1.1"] },
    },
    {
      type: "vlan",
      id: "100",
      name: "eth2",
      hwaddr: "02:00:00:00:00:03",
      config: { cidr: "192.168.100.5/24", gateway: "192.168.100.1", dns: ["192.168.100.1"] },
    },
  ],
  port: { "8080": 80 },
  privileged: false,
  hostname: "web-1",
  name: "web",
  tags: ["prod"],
  env: { MODE: "prod" },
  config: { "/etc/app.conf": "x=1\n" },
  entrypoint: ["/bin/sh", "-c", "sleep 1"],
};

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isResticTsError(err) ? err.code : "not a ResticTsError";
  }
  return undefined;
}

describe("validateConfig", () => {
  it("accepts a full config and returns it in canonical order", () => {
    const shuffled = Object.fromEntries(Object.entries(FULL).reverse());
    const valid = validateConfig(shuffled);
    expect(valid).toEqual(FULL);
    expect(Object.keys(valid)).toEqual(Object.keys(FULL));
  });

  it("normalises MACs and port keys", () => {
    const v = validateConfig({
      root: "/r",
      nics: [{ type: "default", hwaddr: "02:AB:00:00:00:01" }],
      port: { "08080": "80" },
    });
    expect(v.nics?.[0].hwaddr).toBe("02:ab:00:00:00:01");
    expect(v.port).toEqual({ "8080": 80 });
  });

  it.each([
    ["not an object", "x"],
    ["no root", {}],
    ["empty root", { root: "" }],
    ["unknown field", { root: "/r", rooot: 1 }],
    ["relative mount target", { root: "/r", mount: { "/a": "data" } }],
    ["two mounts on one target", { root: "/r", mount: { "/a": "/d", "/b": "/d" } }],
    ["bad nic type", { root: "/r", nics: [{ type: "wifi", id: "x" }] }],
    ["bridge without id", { root: "/r", nics: [{ type: "bridge" }] }],
    ["bad mac", { root: "/r", nics: [{ type: "default", hwaddr: "zz" }] }],
    ["bad cidr", { root: "/r", nics: [{ type: "bridge", id: "b", config: { cidr: "10.0.0.1" } }] }],
    [
      "cidr prefix too long",
      { root: "/r", nics: [{ type: "bridge", id: "b", config: { cidr: "10.0.0.1/33" } }] },
    ],
    ["bad gateway", { root: "/r", nics: [{ type: "bridge", id: "b", config: { gateway: "gw" } }] }],
    ["host network with nics", { root: "/r", host_network: true, nics: [{ type: "default" }] }],
    ["port out of range", { root: "/r", port: { "70000": 80 } }],
    ["bad hostname", { root: "/r", hostname: "a b" }],
    ["env key with =", { root: "/r", env: { "A=B": "c" } }],
    ["relative config file", { root: "/r", config: { "etc/x": "" } }],
    ["config file with ..", { root: "/r", config: { "/etc/../x": "" } }],
    ["empty entrypoint", { root: "/r", entrypoint: [] }],
    ["privileged not boolean", { root: "/r", privileged: "yes" }],
  ])("refuses %s with INVALID_ARGUMENT", (_what, input) => {
    expect(code(() => validateConfig(input))).toBe("INVALID_ARGUMENT");
  });

  it("never puts a value in the error message", () => {
    try {
      validateConfig({ root: "/r", mount: { "file:///x?password=hunter2": "relative" } });
      expect.fail("should throw");
    } catch (err) {
      expect(String((err as Error).message)).not.toContain("hunter2");
    }
  });
});

describe("redactConfig", () => {
  it("removes passwords from root and mount sources, nothing else", () => {
    const cfg = validateConfig({ ...FULL, mount: { "rest:https://u:pw2@host/x": "/x" } });
    const r = redactConfig(cfg);
    expect(r.root).toBe("restic:sftp:backup@host:/srv/repo?password=***#abcdef12");
    expect(Object.keys(r.mount ?? {})).toEqual(["rest:https://u:***@host/x"]);
    expect({ ...r, root: cfg.root, mount: cfg.mount }).toEqual(cfg);
    expect(JSON.stringify(r)).not.toMatch(/s3cret|pw2/);
    expect(redactConfig(r)).toEqual(r);
  });

  it("never shows a ?password= value, whatever it is", () => {
    fc.assert(
      fc.property(
        fc
          .string({ minLength: 4, maxLength: 20 })
          .filter((s) => /^[A-Za-z0-9%._~!$'()*+,;:-]+$/.test(s)),
        (pw) => {
          const cfg = validateConfig({
            root: `restic:file:///r?password=${pw}#abc`,
            mount: { [`file:///m?password=${pw}`]: "/m" },
          });
          const text = JSON.stringify(redactConfig(cfg));
          expect(text).not.toContain(`password=${pw}`);
          expect(new TextDecoder().decode(encodeMeta(cfg))).not.toContain(`password=${pw}`);
        },
      ),
    );
  });
});

describe("configForRestore", () => {
  it("drops MACs and leased addresses on default and DHCP NICs, keeps static ones", () => {
    const r = configForRestore(validateConfig(FULL));
    expect(r.nics).toEqual([
      { type: "default" },
      { type: "bridge", id: "br0", config: { dhcp: true, dns: ["1.1.1.1"] } },
      FULL.nics?.[2],
    ]);
    const { nics: _a, ...restored } = r;
    const { nics: _b, ...original } = FULL;
    expect(restored).toEqual(original);
    expect(FULL.nics?.map(isDynamicNic)).toEqual([true, true, false]);
  });

  it("keeps configs without NICs as they are", () => {
    const cfg = validateConfig({ root: "/r", host_network: true, port: { "80": 80 } });
    expect(configForRestore(cfg)).toEqual(cfg);
  });
});

describe("meta", () => {
  it("round-trips through /.corex.meta bytes, redacted", () => {
    const back = decodeMeta(encodeMeta(FULL));
    expect(back).toEqual(redactConfig(FULL));
  });

  it("refuses damaged meta", () => {
    expect(code(() => decodeMeta(new TextEncoder().encode("{")))).toBe("CORRUPT");
    expect(code(() => decodeMeta(new TextEncoder().encode('{"root":1}')))).toBe("INVALID_ARGUMENT");
  });
});
