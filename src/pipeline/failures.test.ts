import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { ACME_KEY, TEAM_KEY, eventually, startStack, type Stack } from "../testing/stack.js";
import { SseParser } from "../transport/sse.js";

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.fresh();
});

async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${stack.gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function sseEvents(res: Response): Promise<Array<{ event: string | undefined; data: string }>> {
  const parser = new SseParser();
  const out = parser.push(Buffer.from(await res.arrayBuffer()));
  return [...out, ...parser.end()];
}

describe("errors in the client's own protocol", () => {
  it("rejects a missing or wrong key with each protocol's envelope", async () => {
    const chat = await fetch(`${stack.gw.url}/v1/chat/completions`, { method: "POST", body: "{}" });
    expect(chat.status).toBe(401);
    expect(await chat.json()).toMatchObject({ error: { type: "authentication_error", code: "missing_api_key" } });
    const msg = await post("/v1/messages", { model: "claude-test-sonnet" }, { authorization: "Bearer nope-nope-nope-nope" });
    expect(msg.status).toBe(401);
    expect(await msg.json()).toMatchObject({ type: "error", error: { type: "authentication_error" } });
    expect(msg.headers.get("x-request-id")).toMatch(/^req_/);
  });

  it("lets the official SDKs parse gateway errors", async () => {
    const openai = new OpenAI({ apiKey: ACME_KEY, baseURL: `${stack.gw.url}/v1`, maxRetries: 0 });
    await expect(openai.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] })).rejects.toMatchObject({
      status: 404,
      code: "model_not_found",
    });
    const anthropic = new Anthropic({ apiKey: ACME_KEY, baseURL: stack.gw.url, maxRetries: 0 });
    await expect(anthropic.messages.create({ model: "nope", max_tokens: 5, messages: [{ role: "user", content: "x" }] })).rejects.toMatchObject({
      status: 404,
      error: { type: "error", error: { type: "not_found_error" } },
    });
  });

  it("names invalid JSON and a missing model", async () => {
    const bad = await post("/v1/chat/completions", '{"model": "gpt-4o", "messages": [');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: "invalid_json", type: "invalid_request_error" } });
    const noModel = await post("/v1/responses", { input: "x" });
    expect(noModel.status).toBe(400);
    expect(await noModel.json()).toMatchObject({ error: { code: "missing_model", param: "model" } });
  });

  it("enforces the account's model permissions, inherited down the tree", async () => {
    const res = await post("/v1/responses", { model: "gpt-5", input: "x" }, { authorization: `Bearer ${TEAM_KEY}` });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: "model_not_allowed", type: "permission_error" } });
    const ok = await post("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "x" }] }, { authorization: `Bearer ${TEAM_KEY}` });
    expect(ok.status).toBe(200);
  });

  it("rejects an unknown content type in the client's format, naming the field, before any upstream call", async () => {
    const res = await post(
      "/v1/messages",
      { model: "gpt-5-codex", max_tokens: 50, messages: [{ role: "user", content: [{ type: "hologram", data: "x" }] }] },
      { "anthropic-version": "2023-06-01" },
    );
    expect(res.status).toBe(400);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    expect(body).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    expect(body.error.message).toContain("messages[0].content[0]");
    const chat = await post("/v1/chat/completions", { model: "claude-test-sonnet", messages: [{ role: "user", content: [{ type: "hologram" }] }] });
    expect(chat.status).toBe(400);
    expect(await chat.json()).toMatchObject({ error: { type: "invalid_request_error", param: "messages[0].content[0].type" } });
    expect(stack.mock.requests).toHaveLength(0);
  });

  it("passes an upstream 400 through unchanged", async () => {
    stack.mock.script({ status: 400, times: 1 });
    const res = await post("/v1/messages", { model: "claude-test-sonnet", max_tokens: 5, messages: [{ role: "user", content: "x" }] });
    expect(res.status).toBe(400);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });
    // The gateway's request id, the same as in the header, not the upstream's.
    expect(body.request_id).toBe(res.headers.get("x-request-id"));
    expect(stack.mock.requests.length).toBe(1);
  });
});

describe("usage records", () => {
  it("stores one attributed record per request, failures included", async () => {
    const acme = (await stack.gw.store.accounts.getByName("acme"))!;
    const ok = await post("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "x" }] });
    const okId = ok.headers.get("x-request-id")!;
    const missing = await post("/v1/chat/completions", { model: "no-such-model", messages: [] });
    const missingId = missing.headers.get("x-request-id")!;
    let rows = await stack.gw.store.usage.listByAccount(acme.id, { limit: 10_000 });
    // Wait for these two rows themselves: earlier tests' records may still be arriving, so a count proves nothing.
    const written = (): boolean => [okId, missingId].every((id) => rows.some((r) => r.requestId === id));
    for (let i = 0; i < 100 && !written(); i++) {
      await new Promise((r) => setTimeout(r, 50));
      rows = await stack.gw.store.usage.listByAccount(acme.id, { limit: 10_000 });
    }
    const okRow = rows.find((r) => r.requestId === okId);
    expect(okRow).toMatchObject({
      model: "gpt-4o",
      status: "ok",
      httpStatus: 200,
      clientProtocol: "openai-chat",
      upstreamProtocol: "openai-chat",
      attempts: 1,
    });
    expect(okRow!.inputTokens).toBeGreaterThan(0);
    expect(okRow!.upstreamKeyId).toBeTruthy();
    expect(rows.find((r) => r.requestId === missingId)).toMatchObject({ status: "error", httpStatus: 404, errorCode: "model_not_found", attempts: 0 });
  });
});

describe("failover before the first byte", () => {
  it("moves to the next key when the upstream rate-limits one", async () => {
    stack.mock.script({ status: 429, times: 1 });
    const res = await post("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "x" }] });
    expect(res.status).toBe(200);
    const keys = stack.mock.requests.map((r) => r.headers.authorization);
    expect(keys).toHaveLength(2);
    expect(keys[0]).not.toBe(keys[1]);
  });

  it("answers 429 with retry-after once every key is rate limited", async () => {
    stack.mock.script({ status: 429, headers: {}, scenario: "retry_after=7" });
    const res = await post("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "x" }] });
    expect(res.status).toBe(429);
    expect(res.headers.get("retry-after")).toBe("7");
    expect(await res.json()).toMatchObject({ error: { code: "upstream_rate_limited" } });
  });

  it("retries a 5xx and a reset connection on another key", async () => {
    stack.mock.script({ status: 503, times: 1 });
    expect((await post("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "x" }] })).status).toBe(200);
    stack.mock.clear();
    stack.mock.script({ scenario: "reset_after=0", times: 1 });
    const res = await post("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "x" }], stream: true });
    expect(res.status).toBe(200);
    expect((await res.text()).trim().endsWith("data: [DONE]")).toBe(true);
    expect(stack.mock.requests).toHaveLength(2);
  });
});

describe("failures after the first byte", () => {
  it("ends a broken Anthropic stream with a protocol error event", async () => {
    const res = await post("/v1/messages", {
      model: "claude-test-sonnet",
      max_tokens: 50,
      stream: true,
      // Cut after two text deltas: a cut before any content would be a failed attempt instead.
      messages: [{ role: "user", content: "x [[mock:reset_after=5]]" }],
    });
    expect(res.status).toBe(200);
    const events = await sseEvents(res);
    expect(events[0]!.event).toBe("message_start");
    expect(events.at(-1)!.event).toBe("error");
    expect(JSON.parse(events.at(-1)!.data)).toMatchObject({ type: "error", error: { type: "api_error" } });
    // Every event the client got is whole, valid JSON.
    for (const e of events) expect(() => JSON.parse(e.data)).not.toThrow();
  });

  it("ends a broken Responses stream with an error event", async () => {
    const res = await post("/v1/responses", { model: "gpt-5", stream: true, input: "x [[mock:reset_after=6]]" });
    const events = await sseEvents(res);
    expect(events.at(-1)!.event).toBe("error");
    expect(events.some((e) => e.event === "response.completed")).toBe(false);
  });

  it("aborts the upstream request when the client disconnects", async () => {
    const ac = new AbortController();
    const res = await post("/v1/chat/completions", { model: "gpt-4o", stream: true, messages: [{ role: "user", content: "x [[mock:chunk_delay=300]]" }] }, {});
    // Read one chunk, then walk away.
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    ac.abort();
    await eventually(() => stack.usage.length === 1, 2000);
    expect(stack.usage[0]!.aborted).toBe(true);
    const pool = stack.gw.catalog.snapshot.upstreams.find((t) => t.upstream.name === "chat")!.pool;
    await eventually(() => pool.keys.every((k) => k.inFlight === 0), 2000);
  });
});

describe("what a client learns of the topology", () => {
  it("gets a stable code and a generic message, never an upstream's name", async () => {
    stack.mock.script({ status: 503, times: 10 });
    const res = await post("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "x" }] });
    const text = await res.text();
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(JSON.parse(text)).toMatchObject({ error: { code: "upstream_error" } });
    for (const name of stack.gw.catalog.snapshot.upstreams.map((t) => t.upstream.name)) expect(text).not.toContain(`'${name}'`);
    stack.mock.reset();
    const cut = await post("/v1/messages", { model: "claude-test-sonnet", max_tokens: 10, messages: [{ role: "user", content: "x [[mock:reset_after=0]]" }] });
    const cutText = await cut.text();
    expect(cut.status).toBeGreaterThanOrEqual(500);
    expect(cutText).not.toContain("anthropic'");
  });
});
