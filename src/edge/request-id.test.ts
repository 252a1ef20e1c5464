/**
 * Every answer names its request in exactly one `x-request-id` header, whoever writes the head: a
 * lane (a JSON answer, a stream), the edge (an error it renders, a health check, an unknown path),
 * the admin API. The id is written into the head by the response itself (edge/gateway-messages.ts),
 * not set beforehand, so node's writeHead keeps to its fast path.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const ID = /^req_[0-9a-f]{32}$/;

async function idOf(res: Response): Promise<string> {
  await res.arrayBuffer();
  // fetch joins repeated headers with ", ": a second x-request-id would not match.
  const id = res.headers.get("x-request-id") ?? "";
  expect(id).toMatch(ID);
  return id;
}

function post(path: string, body: unknown, key = ACME_KEY): Promise<Response> {
  return fetch(`${stack.gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

describe("x-request-id", () => {
  it("is on every head, once, and different for every request", async () => {
    const messages = [{ role: "user", content: "hi" }];
    const answers = [
      await post("/v1/chat/completions", { model: "gpt-4o", messages }),
      await post("/v1/chat/completions", { model: "gpt-4o", messages, stream: true }),
      await post("/v1/chat/completions", { model: "gpt-4o", messages }, "not-a-key-not-a-key"),
      await post("/v1/chat/completions", { model: "no-such-model", messages }),
      await fetch(`${stack.gw.url}/healthz`),
      await fetch(`${stack.gw.url}/no/such/path`),
      await fetch(`${stack.gw.url}/admin/v1/accounts`),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 200, 401, 404, 200, 404, 401]);
    const ids = await Promise.all(answers.map(idOf));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
