import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./load.js";

describe("parseConfig", () => {
  it("runs on embedded defaults with no file", () => {
    const c = parseConfig("{}", "x", {});
    expect(c.server.port).toBe(8080);
    expect(c.data_dir).toBe("./data");
    expect(c.upstreams).toEqual([]);
  });

  it("reads upstreams and accounts, with ${ENV} interpolation and env overrides", () => {
    const c = parseConfig(
      `
upstreams:
  - name: openai
    protocol: openai-responses
    base_url: https://api.openai.com/v1
    keys: ["\${OPENAI_KEY}", { name: backup, key: "sk-\${MISSING:-fallback}" }]
    models: [gpt-5*]
accounts:
  - name: acme
    keys: [sk-acme-0123456789abcdef]
`,
      "f.yaml",
      { OPENAI_KEY: "sk-real", PORT: "9090", DATABASE_URL: "postgres://db/x" },
    );
    expect(c.upstreams[0]!.keys).toEqual(["sk-real", { name: "backup", key: "sk-fallback" }]);
    expect(c.server.port).toBe(9090);
    expect(c.database_url).toBe("postgres://db/x");
    expect(c.accounts[0]!.name).toBe("acme");
  });

  it("has request deadlines by default, and refuses a head deadline past the request's", () => {
    const c = parseConfig("{}", "x", {});
    expect(c.server).toMatchObject({ headers_timeout_ms: 60_000, request_timeout_ms: 300_000, drain_delay_ms: 0 });
    expect(() => parseConfig("server:\n  headers_timeout_ms: 5000\n  request_timeout_ms: 1000\n", "t.yaml", {})).toThrow(
      /server\.headers_timeout_ms: must not exceed server\.request_timeout_ms/,
    );
  });

  it("names the field and the problem for a bad file", () => {
    const bad = `
upstreams:
  - name: x
    protocol: grpc
    base_url: not-a-url
    models: []
    colour: blue
`;
    let message = "";
    try {
      parseConfig(bad, "bad.yaml", {});
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toContain("bad.yaml");
    expect(message).toMatch(/upstreams\[0\]\.protocol: .*"openai-responses"/);
    expect(message).toContain("upstreams[0].base_url: must be an http(s) URL");
    expect(message).toContain("upstreams[0].models: list at least one model");
    expect(message).toMatch(/upstreams\[0\]: .*colour/);
  });

  it("takes an upstream's forward_headers and refuses a name that is not a header name", () => {
    const yaml = (names: string) => `
upstreams:
  - name: strict
    protocol: openai-chat
    base_url: https://api.example.com/v1
    models: [m]
    forward_headers: { mode: allow, names: ${names} }
`;
    expect(parseConfig(yaml('[x-team, "x-tenant-*"]'), "f.yaml", {}).upstreams[0]!.forward_headers).toEqual({ mode: "allow", names: ["x-team", "x-tenant-*"] });
    expect(() => parseConfig(yaml('["x team"]'), "f.yaml", {})).toThrow(/upstreams\[0\]\.forward_headers\.names\[0\]: must be a header name/);
  });

  it("reports YAML syntax errors and unset variables", () => {
    expect(() => parseConfig("a: [1, 2", "s.yaml", {})).toThrow(/s\.yaml: invalid YAML/);
    expect(() => parseConfig("database_url: ${NOPE}", "e.yaml", {})).toThrow(/database_url: environment variable NOPE is not set/);
  });
});
