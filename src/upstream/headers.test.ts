import { describe, expect, it } from "vitest";
import { compileHeaderPolicy, DEFAULT_HEADER_POLICY, readForwardHeaders, upstreamHeaders } from "./headers.js";

const CLIENT = {
  host: "gw.example",
  authorization: "Bearer client-key",
  "x-api-key": "client-key",
  cookie: "a=b",
  "openai-organization": "org-client",
  "openai-project": "proj-client",
  "x-forwarded-for": "10.0.0.1",
  "true-client-ip": "10.0.0.1",
  "fastly-client-ip": "10.0.0.1",
  "anthropic-beta": "context-management-2025-06-27",
  "x-claude-code-session-id": "s1",
  "x-codex-turn-metadata": "t",
  "user-agent": "claude-cli/2.0",
  "x-team": "platform",
  "x-trace-id": "abc",
};

const send = (settings: Record<string, unknown>, foreign = false) => upstreamHeaders(CLIENT, { foreign, stream: true, policy: compileHeaderPolicy(settings) });

describe("forwarded headers", () => {
  it("by default pass everything but credentials, account selectors, cookies and the network path", () => {
    const h = upstreamHeaders(CLIENT, { foreign: false, stream: true, policy: DEFAULT_HEADER_POLICY });
    expect(Object.keys(h).sort()).toEqual(
      ["accept", "anthropic-beta", "content-type", "user-agent", "x-claude-code-session-id", "x-codex-turn-metadata", "x-team", "x-trace-id"].sort(),
    );
  });

  it("keep the client vendor's own headers from an upstream of another protocol", () => {
    expect(Object.keys(send({}, true)).sort()).toEqual(["accept", "content-type", "user-agent", "x-team", "x-trace-id"]);
  });

  it("allow: only the named headers and prefixes pass, names in any case", () => {
    const h = send({ forward_headers: { mode: "allow", names: ["X-Team", "anthropic-*"] } });
    expect(Object.keys(h).sort()).toEqual(["accept", "anthropic-beta", "content-type", "x-team"]);
  });

  it("allow never brings back what the fixed rules drop", () => {
    const h = send({ forward_headers: { mode: "allow", names: ["authorization", "cookie", "openai-organization", "x-forwarded-*", "x-codex-*"] } }, true);
    expect(Object.keys(h).sort()).toEqual(["accept", "content-type"]);
  });

  it("deny: the named headers and prefixes are dropped as well", () => {
    const h = send({ forward_headers: { mode: "deny", names: ["x-trace-id", "x-claude-code-*", "user-agent"] } });
    expect(Object.keys(h).sort()).toEqual(["accept", "anthropic-beta", "content-type", "x-codex-turn-metadata", "x-team"]);
  });

  it("the operator's headers are added after the filter, whatever the policy", () => {
    const h = send({ forward_headers: { mode: "allow", names: [] }, headers: { "OpenAI-Organization": "org-operator", "x-team": "gateway" } });
    expect(h).toEqual({ accept: "text/event-stream", "content-type": "application/json", "openai-organization": "org-operator", "x-team": "gateway" });
  });

  it("a stored setting that does not parse forwards no client header at all", () => {
    expect(readForwardHeaders({ mode: "allow-all" })).toEqual({ mode: "allow", names: [] });
    expect(readForwardHeaders({ mode: "deny", names: ["bad name"] })).toEqual({ mode: "allow", names: [] });
    expect(Object.keys(send({ forward_headers: "strict" })).sort()).toEqual(["accept", "content-type"]);
    expect(readForwardHeaders(undefined)).toBeUndefined();
  });
});
