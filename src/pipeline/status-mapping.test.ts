/**
 * One status table: whatever an upstream of any protocol answers, each client
 * gets a status and error type its own protocol pairs (OpenAI clients never
 * see Anthropic's 529; Anthropic clients see 529 only with overloaded_error),
 * and an unknown model is the same error on both OpenAI surfaces.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.fresh();
});

const UPSTREAMS = [
  { name: "openai-chat", model: "gpt-4o", path: "/v1/chat/completions" },
  { name: "openai-responses", model: "gpt-5", path: "/v1/responses" },
  { name: "anthropic", model: "claude-test-sonnet", path: "/v1/messages" },
];

const CLIENTS = [
  { name: "openai-chat", path: "/v1/chat/completions", body: (model: string) => ({ model, messages: [{ role: "user", content: "hi" }] }) },
  { name: "openai-responses", path: "/v1/responses", body: (model: string) => ({ model, input: "hi" }) },
  { name: "anthropic-messages", path: "/v1/messages", body: (model: string) => ({ model, max_tokens: 64, messages: [{ role: "user", content: "hi" }] }) },
];

/** What each upstream status class becomes, per client family: [status, OpenAI type, Anthropic status, Anthropic type]. */
const TABLE: Array<{ upstream: number; openai: [number, string]; anthropic: [number, string] }> = [
  { upstream: 400, openai: [400, "invalid_request_error"], anthropic: [400, "invalid_request_error"] },
  { upstream: 401, openai: [502, "server_error"], anthropic: [502, "api_error"] },
  { upstream: 404, openai: [404, "invalid_request_error"], anthropic: [404, "not_found_error"] },
  { upstream: 429, openai: [429, "rate_limit_error"], anthropic: [429, "rate_limit_error"] },
  { upstream: 500, openai: [502, "server_error"], anthropic: [502, "api_error"] },
  { upstream: 503, openai: [503, "server_error"], anthropic: [529, "overloaded_error"] },
  { upstream: 529, openai: [503, "server_error"], anthropic: [529, "overloaded_error"] },
];

async function call(path: string, body: unknown): Promise<{ status: number; type: string; json: Record<string, any> }> {
  const res = await fetch(`${stack.gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, any>;
  return { status: res.status, type: String(json.error?.type), json };
}

for (const row of TABLE) {
  describe(`an upstream answering ${row.upstream}`, () => {
    for (const up of UPSTREAMS) {
      for (const client of CLIENTS) {
        it(`reaches a ${client.name} client from a ${up.name} upstream as its own protocol's pair`, async () => {
          stack.mock.script({ match: (r) => r.path.startsWith(up.path), status: row.upstream });
          const r = await call(client.path, client.body(up.model));
          const [status, type] = client.name === "anthropic-messages" ? row.anthropic : row.openai;
          expect({ status: r.status, type: r.type }, JSON.stringify(r.json)).toEqual({ status, type });
        });
      }
    }
  });
}

describe("an unknown model", () => {
  it("is the same error on both OpenAI surfaces, as OpenAI answers it", async () => {
    const chat = await call("/v1/chat/completions", { model: "no-such-model", messages: [{ role: "user", content: "x" }] });
    const responses = await call("/v1/responses", { model: "no-such-model", input: "x" });
    for (const r of [chat, responses]) {
      expect(r.status).toBe(404);
      expect(r.json.error).toMatchObject({ type: "invalid_request_error", code: "model_not_found", param: "model" });
    }
  });
});
