import { afterEach, describe, expect, it } from "vitest";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";
import { readSse, validateStream } from "../testing/sse-client.js";

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

function slowStream(s: Stack): Promise<Response> {
  return fetch(`${s.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o", stream: true, messages: [{ role: "user", content: "slow [[mock:chunk_delay=60]]" }] }),
  });
}

describe("graceful shutdown", () => {
  it("stops accepting and lets an in-flight stream finish", async () => {
    stack = await startStack();
    const url = stack.gw.url;
    const res = await slowStream(stack);
    expect(res.status).toBe(200);
    const closing = stack.gw.close(10_000);
    let closed = false;
    void closing.then(() => (closed = true));
    // New connections are refused while the stream drains.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    const events = await readSse(res);
    expect(validateStream("openai-chat", events)).toEqual([]);
    expect(events.at(-1)!.data).toBe("[DONE]");
    await closing;
    expect(closed).toBe(true);
  });

  it("cuts streams that outlive the grace period", async () => {
    stack = await startStack();
    const res = await fetch(`${stack.gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o", stream: true, messages: [{ role: "user", content: "very slow [[mock:chunk_delay=2000]]" }] }),
    });
    await stack.gw.close(200);
    // The connection was cut at the grace period: the body never completes.
    await expect(res.text()).rejects.toThrow();
  });
});
