/**
 * Faults leave a trace: the access line says how a request really ended (a
 * stream cut after its 200 head is a 502 with the failure's code, not a 200),
 * the requests metric counts it under that status, and every failed upstream
 * attempt's line says whether another attempt followed.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { createLogger } from "../observability/logger.js";
import { ACME_KEY, eventually, startStack, type Stack } from "../testing/stack.js";

type Line = Record<string, unknown>;
const lines: Line[] = [];
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ logger: createLogger("info", { write: (s: string) => void lines.push(JSON.parse(s) as Line) }) });
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.mock.clear();
  stack.mock.reset();
  for (const t of stack.gw.catalog.snapshot.upstreams)
    for (const k of t.pool.keys) Object.assign(k, { coolingUntil: 0, failures: 0, removed: false, health: undefined });
});

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${stack.gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(body),
  });
}

async function accessLine(requestId: string): Promise<Line> {
  await eventually(() => lines.some((l) => l.msg === "request" && l.requestId === requestId));
  return lines.find((l) => l.msg === "request" && l.requestId === requestId)!;
}

async function requestsTotal(route: string, status: number): Promise<number> {
  const text = await (await fetch(`${stack.gw.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`switchyard_requests_total{route="${route}",status="${status}"}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

async function tokensTotal(model: string, kind: string): Promise<number> {
  const text = await (await fetch(`${stack.gw.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`switchyard_tokens_total{model="${model}",kind="${kind}"}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

async function firstBytes(route: string): Promise<number> {
  const text = await (await fetch(`${stack.gw.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`switchyard_time_to_first_byte_seconds_count{route="${route}"}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

describe("the time to first byte", () => {
  it("is counted once for each answered request, streamed, not streamed or refused", async () => {
    const route = "/v1/chat/completions";
    const before = await firstBytes(route);
    const streamed = await post(route, { model: "gpt-4o", stream: true, messages: [{ role: "user", content: "hi" }] });
    await streamed.text();
    const whole = await post(route, { model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    await whole.text();
    const refused = await post(route, { stream: true, messages: [] });
    await refused.text();
    expect([streamed.status, whole.status, refused.status]).toEqual([200, 200, 400]);
    expect(await firstBytes(route)).toBe(before + 3);
  });
});

describe("the access line says how the response really ended", () => {
  it("a passthrough stream cut after its 200 head: outcome 502 upstream_stream_broken, counted as 502", async () => {
    const before = await requestsTotal("/v1/chat/completions", 502);
    const res = await post("/v1/chat/completions", { model: "gpt-4o", stream: true, messages: [{ role: "user", content: "cut [[mock:reset_after=3]]" }] });
    expect(res.status).toBe(200);
    await res.text();
    const id = res.headers.get("x-request-id")!;
    expect(await accessLine(id)).toMatchObject({ status: 200, outcome: 502, errorCode: "upstream_stream_broken", attempts: 1 });
    expect(await requestsTotal("/v1/chat/completions", 502)).toBe(before + 1);
    // The attempt's own line: after the head nothing can move on, so it is final.
    expect(lines.find((l) => l.requestId === id && l.msg === "upstream answer broke after its head")).toMatchObject({ outcome: "final", upstream: "chat" });
  });

  it("a translated stream cut after its 200 head: outcome 502 upstream_stream_broken", async () => {
    const res = await post("/v1/chat/completions", {
      model: "claude-test-sonnet",
      stream: true,
      // Cut after two text deltas: a cut before any content would be a failed attempt instead.
      messages: [{ role: "user", content: "cut [[mock:reset_after=5]]" }],
    });
    expect(res.status).toBe(200);
    await res.text();
    expect(await accessLine(res.headers.get("x-request-id")!)).toMatchObject({ status: 200, outcome: 502, errorCode: "upstream_stream_broken", attempts: 1 });
  });

  it("a stream carrying the upstream's error event: outcome 502", async () => {
    const res = await post("/v1/messages", {
      model: "claude-test-sonnet",
      max_tokens: 20,
      stream: true,
      messages: [{ role: "user", content: "[[mock:stream_error]]" }],
    });
    expect(res.status).toBe(200);
    await res.text();
    expect(await accessLine(res.headers.get("x-request-id")!)).toMatchObject({ status: 200, outcome: 502, errorCode: "upstream_error" });
  });

  it("a complete answer: outcome equals status, no error code", async () => {
    const res = await post("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    await res.text();
    const line = await accessLine(res.headers.get("x-request-id")!);
    expect(line).toMatchObject({ status: 200, outcome: 200, attempts: 1 });
    expect(line.errorCode).toBeUndefined();
  });

  it("a settled answer's tokens are counted under its model, by kind", async () => {
    const before = { input: await tokensTotal("gpt-4o", "input"), output: await tokensTotal("gpt-4o", "output") };
    const res = await post("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "count these tokens" }] });
    const usage = ((await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } }).usage;
    expect(usage.prompt_tokens).toBeGreaterThan(0);
    // Counted when the request settles, which may follow the answer's last byte.
    let output = await tokensTotal("gpt-4o", "output");
    for (let i = 0; i < 100 && output === before.output; i++) output = await new Promise((r) => setTimeout(r, 10)).then(() => tokensTotal("gpt-4o", "output"));
    expect(output).toBe(before.output + usage.completion_tokens);
    expect(await tokensTotal("gpt-4o", "input")).toBe(before.input + usage.prompt_tokens);
  });

  it("failed attempts say whether another followed, and the access line counts them", async () => {
    // The Chat upstream has two keys and is the only one serving gpt-4o: two attempts, both failing.
    const res = await post("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "fail [[mock:error=500]]" }] });
    expect(res.status).toBe(502);
    const id = res.headers.get("x-request-id")!;
    expect(await accessLine(id)).toMatchObject({ status: 502, outcome: 502, errorCode: "upstream_error", attempts: 2 });
    const failed = lines.filter((l) => l.requestId === id && l.msg === "upstream attempt failed");
    expect(failed.map((l) => [l.attempt, l.outcome, l.cls])).toEqual([
      [1, "next_attempt", "server_error"],
      [2, "final", "server_error"],
    ]);
    expect(new Set(failed.map((l) => l.key)).size).toBe(2);
  });

  it("a WebSocket turn cut after its first event: the turn's line says 502 upstream_stream_broken", async () => {
    const ws = new WebSocket(`${stack.gw.url.replace("http", "ws")}/v1/responses`, { headers: { authorization: `Bearer ${ACME_KEY}` } });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const before = lines.length;
    const events: Array<{ type: string }> = [];
    const done = new Promise<void>((resolve) =>
      ws.on("message", (d) => {
        const ev = JSON.parse(d.toString()) as { type: string };
        events.push(ev);
        if (["response.completed", "response.failed", "error"].includes(ev.type)) resolve();
      }),
    );
    ws.send(JSON.stringify({ type: "response.create", model: "gpt-5", input: "cut [[mock:reset_after=3]]", store: false }));
    await done;
    ws.close();
    await eventually(() => lines.slice(before).some((l) => l.msg === "request" && l.method === "WS"));
    expect(lines.slice(before).find((l) => l.msg === "request" && l.method === "WS")).toMatchObject({
      outcome: 502,
      errorCode: "upstream_stream_broken",
      attempts: 1,
    });
  });
});
