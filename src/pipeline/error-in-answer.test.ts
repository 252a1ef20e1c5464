/**
 * An upstream error never reaches a client as a success: a 2xx answer that
 * carries an error envelope is a failed attempt on every lane and protocol
 * pair; the next key may still answer, and when none does the client gets an
 * error in its own format and the usage record says so.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ACME_KEY, eventually, startStack, type Stack } from "../testing/stack.js";
import type { JsonValue } from "../mock/types.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.fresh();
});

const UPSTREAMS: Array<{ name: string; model: string; path: string; body: JsonValue }> = [
  {
    name: "openai-chat",
    model: "gpt-4o",
    path: "/v1/chat/completions",
    body: { error: { message: "quota exceeded", type: "insufficient_quota", code: "insufficient_quota" } },
  },
  {
    name: "openai-responses",
    model: "gpt-5",
    path: "/v1/responses",
    body: { id: "resp_1", object: "response", status: "failed", error: { code: "server_error", message: "boom" }, output: [] },
  },
  { name: "anthropic", model: "claude-test-sonnet", path: "/v1/messages", body: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } },
];

const CLIENTS = [
  { name: "chat", path: "/v1/chat/completions", body: (model: string) => ({ model, messages: [{ role: "user", content: "hi" }] }) },
  { name: "responses", path: "/v1/responses", body: (model: string) => ({ model, input: "hi" }) },
  { name: "messages", path: "/v1/messages", body: (model: string) => ({ model, max_tokens: 64, messages: [{ role: "user", content: "hi" }] }) },
];

function call(path: string, body: unknown): Promise<Response> {
  return fetch(`${stack.gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(body),
  });
}

for (const up of UPSTREAMS) {
  for (const client of CLIENTS) {
    describe(`${client.name} client, ${up.name} upstream answering 200 with an error`, () => {
      it("is an error for the client and in the usage record", async () => {
        stack.mock.script({ match: (r) => r.path.startsWith(up.path), status: 200, body: up.body });
        const res = await call(client.path, client.body(up.model));
        const json = (await res.json()) as Record<string, any>;
        expect(res.status, JSON.stringify(json)).toBe(502);
        if (client.name === "messages") expect(json).toMatchObject({ type: "error", error: { type: "api_error" } });
        else expect(json).toMatchObject({ error: { code: "upstream_error" } });
        await eventually(() => stack.usage.length === 1);
        expect(stack.usage[0]).toMatchObject({ status: 502, errorCode: "upstream_error" });
      });

      it("moves on to the next attempt, which answers", async () => {
        // The Chat upstream has two keys; the others are reached through the next upstream or key only when one exists.
        stack.mock.script({ match: (r) => r.path.startsWith(up.path), status: 200, body: up.body, times: 1 });
        const res = await call(client.path, client.body(up.model));
        const keys = stack.gw.catalog.snapshot.upstreams.find((t) => t.protocol === up.name)!.pool.keys.length;
        expect(res.status).toBe(keys > 1 ? 200 : 502);
      });
    });
  }
}
