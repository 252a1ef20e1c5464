/**
 * GET /v1/models on the README's configuration, whose upstreams declare only patterns:
 * the listing names the well-known models the patterns serve, the exact names an
 * account allows, and only what the key's account chain may use.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../testing/stack.js";
import { KNOWN_MODELS } from "../routing/known-models.js";

const ACME = "sk-test-models-acme-0000000001";
const PLATFORM = "sk-test-models-platform-00002";
const PREVIEW = "sk-test-models-preview-000003";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    yaml: (mock) => `
server: { port: 0, host: 127.0.0.1 }
log_level: silent
upstreams:
  - name: openai
    protocol: openai-responses
    base_url: ${mock}/v1
    keys: [k1]
    models: ["gpt-5*"]
  - name: anthropic
    protocol: anthropic
    base_url: ${mock}
    keys: [k2]
    models: ["claude-*"]
  - name: kimi
    protocol: openai-chat
    base_url: ${mock}/v1
    keys: [k3]
    models: ["kimi-k2", "kimi-*"]
accounts:
  - name: acme
    keys: [${ACME}]
  - name: platform-team
    parent: acme
    models: ["gpt-5*"]
    keys: [${PLATFORM}]
  - name: preview
    parent: acme
    models: ["gpt-5.9-internal-preview", "claude-sonnet-4-5"]
    keys: [${PREVIEW}]
`,
  });
});
afterAll(() => stack.close());

async function ids(key: string, anthropic = false): Promise<string[]> {
  const res = await fetch(`${stack.gw.url}/v1/models`, {
    headers: { authorization: `Bearer ${key}`, ...(anthropic ? { "anthropic-version": "2023-06-01" } : {}) },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
}

describe("GET /v1/models with pattern upstreams", () => {
  it("lists the known models the patterns serve, and the declared exact names", async () => {
    const all = await ids(ACME);
    expect(all).toEqual(expect.arrayContaining(["gpt-5", "gpt-5-codex", "gpt-5.4", "claude-sonnet-4-5", "claude-haiku-4-5-20251001", "kimi-k2"]));
    expect(all).not.toContain("gpt-4o"); // known, but no upstream serves it
    expect(all).toEqual([...all].sort());
    const expected = [...KNOWN_MODELS["openai-responses"].filter((m) => m.startsWith("gpt-5")), ...KNOWN_MODELS.anthropic, "kimi-k2"];
    expect(all.sort()).toEqual([...new Set(expected)].sort());
  });

  it("lists only what the account chain allows, in the Anthropic shape too", async () => {
    const team = await ids(PLATFORM, true);
    expect(team.length).toBeGreaterThan(0);
    expect(team.every((m) => m.startsWith("gpt-5"))).toBe(true);
  });

  it("lists an exact name the account allows and a pattern serves, though no list knows it", async () => {
    expect(await ids(PREVIEW)).toEqual(["claude-sonnet-4-5", "gpt-5.9-internal-preview"]);
  });
});
