/**
 * An upstream's `forward_headers` from the YAML file reaches the catalog: the
 * mock upstream sees only the client headers the policy lets through.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    extraUpstreamsYaml: `  - name: strict-chat
    protocol: openai-chat
    base_url: MOCK/v1
    keys: [mock-strict-key]
    models: ["strict-*"]
    headers: { x-gateway: switchyard }
    forward_headers: { mode: allow, names: [x-team, "x-tenant-*"] }
`,
  });
});
afterAll(() => stack.close());

async function headersSeen(model: string): Promise<Record<string, string>> {
  stack.mock.clear();
  const res = await fetch(`${stack.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${ACME_KEY}`,
      "content-type": "application/json",
      "x-team": "platform",
      "x-tenant-id": "t1",
      "x-trace-id": "abc",
      "openai-organization": "org-of-the-client",
    },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  expect(res.status, await res.text()).toBe(200);
  return stack.mock.requests[0]!.headers as Record<string, string>;
}

it("an upstream with an allow list gets only the named client headers, plus the operator's own", async () => {
  const seen = await headersSeen("strict-model");
  expect(seen).toMatchObject({ "x-team": "platform", "x-tenant-id": "t1", "x-gateway": "switchyard", authorization: "Bearer mock-strict-key" });
  expect(seen).not.toHaveProperty("x-trace-id");
  expect(seen).not.toHaveProperty("openai-organization");
});

it("an upstream without the setting keeps the default policy, which never forwards the client's OpenAI organisation", async () => {
  const seen = await headersSeen("gpt-4o");
  expect(seen).toMatchObject({ "x-team": "platform", "x-trace-id": "abc" });
  expect(seen).not.toHaveProperty("openai-organization");
});
