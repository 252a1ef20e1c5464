/**
 * Responses over WebSocket carried on an upstream socket (`websocket: true`), end to end over real
 * sockets: client → gateway → mock upstream WebSocket (docs/codex.md#upstream-websocket-sessions).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { rm } from "node:fs/promises";
import WebSocket from "ws";
import { sendTurn as turn, type TurnEvent as Ev } from "../testing/responses-turn.js";
import { ACME_KEY, eventually, startStack, type Stack } from "../testing/stack.js";
import { validateResponsesStream } from "../protocols/openai-responses/validate.js";
import { createLogger } from "../observability/logger.js";

const yaml = (mock: string): string => `
server:
  port: 0
  host: 127.0.0.1
  shutdown_grace_ms: 5000
  body_limit_bytes: 200000
log_level: silent
upstreams:
  - name: ws-responses
    protocol: openai-responses
    base_url: ${mock}/v1
    websocket: true
    keys: [ws-key-1]
    models: ["gpt-ws"]
  - name: ws-two-keys
    protocol: openai-responses
    base_url: ${mock}/v1
    websocket: true
    keys: [ws-key-a, ws-key-b]
    models: ["gpt-ws-two"]
  - name: ws-codex
    protocol: codex
    base_url: ${mock}/backend-api/codex
    account_id: acct-ws-1
    websocket: true
    keys: [ws-codex-token]
    models: ["gpt-ws-codex"]
  - name: http-responses
    protocol: openai-responses
    base_url: ${mock}/v1
    keys: [http-key-1]
    models: ["gpt-http"]
accounts:
  - name: acme
    keys: [${ACME_KEY}]
`;

let stack: Stack;
const lines: Array<{ msg: string }> = [];
beforeAll(async () => {
  stack = await startStack({ yaml, logger: createLogger("info", { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string }) }) });
});
afterAll(() => stack.close());
beforeEach(async () => {
  await stack.mock.sockets.dropAll();
  stack.mock.sockets.limitAfterTurns = undefined;
  stack.mock.sockets.hold = undefined;
  stack.fresh();
});

function connect(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${stack.gw.url.replace("http", "ws")}/v1/responses`, {
      headers: { authorization: `Bearer ${ACME_KEY}`, "openai-beta": "responses_websockets=2026-02-06" },
    });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

const tools = [{ type: "function", name: "exec_command", parameters: { type: "object", properties: { cmd: { type: "string" } } }, strict: false }];
const user = (text: string): Ev => ({ type: "message", role: "user", content: [{ type: "input_text", text }] });
const first = (model: string, text: string): Ev => ({ type: "response.create", model, instructions: "be brief", store: false, input: [user(text)], tools });

/** A tool call, its output chained with previous_response_id, then a new user message chained again. */
async function threeTurns(ws: WebSocket, model: string): Promise<{ ids: string[]; callId: string }> {
  const one = await turn(ws, first(model, "run ls [[mock:tool_call]]"));
  expect(validateResponsesStream(one.map((e) => ({ event: e.type, data: e })))).toEqual([]);
  const done1 = one.at(-1)!;
  expect(done1.type).toBe("response.completed");
  const call = one.find((e) => e.type === "response.output_item.done" && e.item.type === "function_call")!.item as Ev;
  const two = await turn(ws, {
    type: "response.create",
    model,
    instructions: "be brief",
    store: false,
    tools,
    previous_response_id: done1.response.id,
    input: [{ type: "function_call_output", call_id: call.call_id, output: "file.txt" }],
  });
  const done2 = two.at(-1)!;
  expect(done2.type).toBe("response.completed");
  const three = await turn(ws, {
    type: "response.create",
    model,
    instructions: "be brief",
    store: false,
    tools,
    previous_response_id: done2.response.id,
    input: [user("thanks")],
  });
  expect(three.at(-1)!.type).toBe("response.completed");
  return { ids: [done1.response.id, done2.response.id, three.at(-1)!.response.id], callId: call.call_id as string };
}

describe("upstream WebSocket sessions", () => {
  for (const model of ["gpt-ws", "gpt-ws-codex"]) {
    it(`carries a previous_response_id conversation on one upstream socket (${model})`, async () => {
      const ws = await connect();
      const { ids } = await threeTurns(ws, model);
      ws.close();
      // One upstream connection, nothing over HTTP, and each follow-up sent incrementally with the upstream's own ids.
      expect(stack.mock.requests.filter((r) => r.method === "POST")).toHaveLength(0);
      expect(stack.mock.sockets.connections).toHaveLength(1);
      const conn = stack.mock.sockets.connections[0]!;
      expect(conn.responseIds).toEqual(ids);
      const frames = conn.frames as Ev[];
      expect(frames.map((f) => f.type)).toEqual(["response.create", "response.create", "response.create"]);
      expect(frames[0]!.previous_response_id).toBeUndefined();
      expect(frames[1]!.previous_response_id).toBe(ids[0]);
      expect(frames[1]!.input).toHaveLength(1);
      expect(frames[1]!.input[0].type).toBe("function_call_output");
      expect(frames[2]!.previous_response_id).toBe(ids[1]);
      expect(frames[2]!.input).toEqual([user("thanks")]);
      // The upgrade carried the pinned key's credential and the beta token, never the client's key.
      expect(conn.headers["openai-beta"]).toContain("responses_websockets=2026-02-06");
      if (model === "gpt-ws") expect(conn.headers.authorization).toBe("Bearer ws-key-1");
      else {
        expect(conn.headers.authorization).toBe("Bearer ws-codex-token");
        expect(conn.headers["chatgpt-account-id"]).toBe("acct-ws-1");
        expect(conn.path).toBe("/backend-api/codex/responses");
      }
      // One usage record per response.create, each with the upstream's usage.
      await eventually(() => stack.usage.length === 3);
      for (const rec of stack.usage) {
        expect(rec.status).toBe(200);
        expect(rec.upstream).toBe(model === "gpt-ws" ? "ws-responses" : "ws-codex");
        expect(rec.usage.inputTokens).toBeGreaterThan(0);
        expect(rec.usage.outputTokens).toBeGreaterThan(0);
      }
    });
  }

  it("reconnects after the upstream socket broke between turns, sending the full input", async () => {
    const ws = await connect();
    const one = await turn(ws, first("gpt-ws", "run ls [[mock:tool_call]]"));
    const call = one.find((e) => e.type === "response.output_item.done" && e.item.type === "function_call")!.item as Ev;
    await stack.mock.sockets.dropAll();
    const two = await turn(ws, {
      type: "response.create",
      model: "gpt-ws",
      previous_response_id: one.at(-1)!.response.id,
      input: [{ type: "function_call_output", call_id: call.call_id, output: "file.txt" }],
    });
    expect(two.at(-1)!.type).toBe("response.completed");
    ws.close();
    expect(stack.mock.sockets.connections).toHaveLength(2);
    const resent = stack.mock.sockets.connections[1]!.frames[0] as Ev;
    // A new socket knows nothing of the old one's responses: the whole conversation, no previous_response_id.
    expect(resent.previous_response_id).toBeUndefined();
    expect(resent.input.map((i: Ev) => i.type)).toEqual(["message", "function_call", "function_call_output"]);
    expect(JSON.stringify(resent.input[0])).toContain("run ls");
    expect(resent.input[1].call_id).toBe(call.call_id);
  });

  it("answers a mid-turn break with an in-band error, and the next turn works", async () => {
    const ws = await connect();
    const broken = await turn(ws, first("gpt-ws", "tell me [[mock:reset_after=6]]"));
    expect(broken.some((e) => e.type === "response.output_text.delta")).toBe(true);
    expect(broken.at(-1)).toMatchObject({ type: "error", status: 502, error: { code: "upstream_stream_broken" } });
    const next = await turn(ws, first("gpt-ws", "again"));
    expect(next.at(-1)!.type).toBe("response.completed");
    ws.close();
    expect(stack.mock.sockets.connections).toHaveLength(2);
    await eventually(() => stack.usage.length === 2);
    expect(stack.usage[0]).toMatchObject({ status: 502, errorCode: "upstream_stream_broken" });
    expect(stack.usage[1]).toMatchObject({ status: 200 });
  });

  it("refuses a second response.create while one is in flight, without sending it upstream", async () => {
    const ws = await connect();
    const events: Ev[] = [];
    const done = new Promise<void>((resolve) =>
      ws.on("message", (d) => {
        const ev = JSON.parse(d.toString()) as Ev;
        events.push(ev);
        if (ev.type === "response.completed") resolve();
      }),
    );
    ws.send(JSON.stringify(first("gpt-ws", "slow [[mock:chunk_delay=5]]")));
    ws.send(JSON.stringify(first("gpt-ws", "second")));
    await done;
    ws.close();
    expect(events.filter((e) => e.type === "error")).toEqual([
      expect.objectContaining({ status: 409, error: expect.objectContaining({ code: "response_already_in_flight" }) }),
    ]);
    expect(stack.mock.sockets.connections[0]!.frames).toHaveLength(1);
  });

  it("records the tokens of a turn whose client left mid-way", async () => {
    // The upstream stops after its first delta until the gateway has seen the client go.
    let release!: () => void;
    stack.mock.sockets.hold = { afterEvents: 5, until: new Promise<void>((resolve) => (release = resolve)) };
    const ws = await connect();
    const firstDelta = new Promise<void>((resolve) =>
      ws.on("message", (d) => {
        if ((JSON.parse(d.toString()) as Ev).type === "response.output_text.delta") resolve();
      }),
    );
    ws.send(JSON.stringify(first("gpt-ws", "long answer")));
    await firstDelta;
    ws.terminate();
    await eventually(() => lines.some((l) => l.msg.startsWith("client left during an upstream socket turn")));
    release();
    await eventually(() => stack.usage.length === 1);
    const rec = stack.usage[0]!;
    expect(rec).toMatchObject({ status: 499, errorCode: "client_closed", aborted: true, upstream: "ws-responses" });
    // The upstream's answer was read to its end, so the record has what the upstream used.
    expect(rec.usage.inputTokens).toBeGreaterThan(0);
    expect(rec.usage.outputTokens).toBeGreaterThan(0);
    // And the upstream socket went with the client.
    await eventually(() => stack.mock.sockets.connections.every((c) => !c.open));
  });

  it("closes the connection on an oversize frame (1009) without opening an upstream socket", async () => {
    const ws = await connect();
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    ws.on("error", () => undefined);
    ws.send(JSON.stringify({ ...first("gpt-ws", "x"), padding: "y".repeat(300_000) }));
    expect(await closed).toBe(1009);
    expect(stack.mock.sockets.connections).toHaveLength(0);
  });

  it("falls back to HTTP for the connection when the upstream refuses the upgrade (426)", async () => {
    let upgrades = 0;
    stack.mock.script({
      match: (r) => r.method === "GET" && r.path === "/v1/responses" && ++upgrades > 0,
      status: 426,
    });
    const ws = await connect();
    const one = await turn(ws, first("gpt-ws", "hello"));
    expect(one.at(-1)!.type).toBe("response.completed");
    const two = await turn(ws, { type: "response.create", model: "gpt-ws", previous_response_id: one.at(-1)!.response.id, input: [user("more")] });
    expect(two.at(-1)!.type).toBe("response.completed");
    ws.close();
    // One refused upgrade, then HTTP for both turns; the second POST holds the rebuilt conversation.
    expect(upgrades).toBe(1);
    const posts = stack.mock.requests.filter((r) => r.method === "POST");
    expect(posts).toHaveLength(2);
    expect(JSON.stringify(posts[1]!.json)).toMatch(/hello.*more/);
    expect((posts[1]!.json as Ev).previous_response_id).toBeUndefined();
  });

  it("fails over to the next key when the upgrade is refused with 429, before the first byte", async () => {
    stack.mock.script({ match: (r) => r.method === "GET", status: 429, times: 1 });
    const ws = await connect();
    const one = await turn(ws, first("gpt-ws-two", "hello"));
    expect(one.at(-1)!.type).toBe("response.completed");
    ws.close();
    await eventually(() => stack.usage.length === 1);
    const rec = stack.usage[0]!;
    expect(rec.attempts).toBe(2);
    expect(rec.attemptTrail.map((a) => a.outcome)).toEqual(["rate_limited", "ok"]);
    expect(rec.attemptTrail[0]!.keyId).not.toBe(rec.attemptTrail[1]!.keyId);
    expect(stack.mock.sockets.connections).toHaveLength(1);
  });

  it("opens a new socket when the upstream reports its connection limit, sending the full input", async () => {
    stack.mock.sockets.limitAfterTurns = 1;
    const ws = await connect();
    const one = await turn(ws, first("gpt-ws", "hello"));
    const two = await turn(ws, { type: "response.create", model: "gpt-ws", previous_response_id: one.at(-1)!.response.id, input: [user("more")] });
    expect(two.at(-1)!.type).toBe("response.completed");
    ws.close();
    expect(stack.mock.sockets.connections).toHaveLength(2);
    const resent = stack.mock.sockets.connections[1]!.frames[0] as Ev;
    expect(resent.previous_response_id).toBeUndefined();
    expect(JSON.stringify(resent.input)).toMatch(/hello.*more/);
  });

  it("leaves upstreams without the setting on HTTP", async () => {
    const ws = await connect();
    const one = await turn(ws, first("gpt-http", "hello"));
    expect(one.at(-1)!.type).toBe("response.completed");
    ws.close();
    expect(stack.mock.sockets.connections).toHaveLength(0);
    expect(stack.mock.requests.filter((r) => r.method === "POST")).toHaveLength(1);
  });
});

describe("upstream WebSocket sessions at shutdown", () => {
  it("stops a socket turn that outlives the grace with an error frame, recorded as server_shutting_down", async () => {
    const own = await startStack({ yaml });
    try {
      let release!: () => void;
      own.mock.sockets.hold = { afterEvents: 5, until: new Promise<void>((resolve) => (release = resolve)) };
      const ws = await new Promise<WebSocket>((resolve, reject) => {
        const c = new WebSocket(`${own.gw.url.replace("http", "ws")}/v1/responses`, { headers: { authorization: `Bearer ${ACME_KEY}` } });
        c.once("open", () => resolve(c));
        c.once("error", reject);
      });
      const events: Ev[] = [];
      const firstDelta = new Promise<void>((resolve) =>
        ws.on("message", (d) => {
          const ev = JSON.parse(d.toString()) as Ev;
          events.push(ev);
          if (ev.type === "response.output_text.delta") resolve();
        }),
      );
      ws.on("error", () => undefined);
      ws.send(JSON.stringify(first("gpt-ws", "held")));
      await firstDelta;
      await own.gw.close(200);
      release();
      expect(events.at(-1)).toMatchObject({ type: "error", status: 503, error: { code: "server_shutting_down" } });
      expect(own.usage).toEqual([expect.objectContaining({ status: 503, errorCode: "server_shutting_down", aborted: false })]);
    } finally {
      // The gateway is closed already; the rest of what the stack holds.
      await own.mock.close();
      await rm(own.dataDir, { recursive: true, force: true });
    }
  });
});
