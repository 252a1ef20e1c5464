import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startMockUpstream } from "./server.js";
import type { MockUpstream } from "./types.js";
import { assertResponsesStream, parseSse } from "./stream-order.js";

let mock: MockUpstream;
beforeAll(async () => {
  mock = await startMockUpstream();
});
afterAll(() => mock.close());
beforeEach(async () => {
  await mock.sockets.dropAll();
  mock.clear();
  mock.reset();
});

type Ev = { type: string; [k: string]: any };

function open(path = "/v1/responses", headers: Record<string, string> = { authorization: "Bearer sk-x" }): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${mock.url.replace("http", "ws")}${path}`, { headers });
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

/** Sends a frame; resolves with the events up to a terminal one, or what arrived before the socket closed. */
function turn(ws: WebSocket, frame: unknown): Promise<{ events: Ev[]; closed: boolean }> {
  return new Promise((resolve) => {
    const events: Ev[] = [];
    const onMessage = (d: WebSocket.RawData): void => {
      const ev = JSON.parse(d.toString()) as Ev;
      events.push(ev);
      if (["response.completed", "response.failed", "response.incomplete", "error"].includes(ev.type)) {
        ws.off("message", onMessage);
        resolve({ events, closed: false });
      }
    };
    ws.on("message", onMessage);
    ws.once("close", () => resolve({ events, closed: true }));
    ws.send(JSON.stringify(frame));
  });
}

const create = (text: string, extra: Record<string, unknown> = {}): Ev => ({
  type: "response.create",
  model: "gpt-5",
  store: false,
  input: [{ role: "user", content: text }],
  ...extra,
});

describe("mock Responses WebSocket", () => {
  it("streams a response as one JSON frame per event, in the HTTP stream's order", async () => {
    const ws = await open();
    const { events } = await turn(ws, create("hello"));
    ws.close();
    const sse = events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join("");
    expect(assertResponsesStream(parseSse(Buffer.from(sse)))[0]).toBe("response.created");
    expect(events.at(-1)!.type).toBe("response.completed");
    expect(mock.sockets.connections[0]!.frames).toEqual([create("hello")]);
  });

  it("chains previous_response_id on the same socket only", async () => {
    const a = await open();
    const one = await turn(a, create("remember [[mock:tool_call]]", { tools: [{ type: "function", name: "f", parameters: { type: "object" } }] }));
    const id = one.events.at(-1)!.response.id as string;
    const two = await turn(a, create("next", { previous_response_id: id }));
    expect(two.events.at(-1)!.type).toBe("response.completed");

    const b = await open();
    const lost = await turn(b, create("next", { previous_response_id: id }));
    expect(lost.events).toEqual([
      {
        type: "error",
        status: 400,
        error: {
          type: "invalid_request_error",
          code: "previous_response_not_found",
          message: `Previous response with id '${id}' not found.`,
          param: "previous_response_id",
        },
      },
    ]);
    a.close();
    b.close();
  });

  it("takes one response at a time", async () => {
    const ws = await open();
    const errors: Ev[] = [];
    const completed = new Promise<void>((resolve) =>
      ws.on("message", (d) => {
        const ev = JSON.parse(d.toString()) as Ev;
        if (ev.type === "error") errors.push(ev);
        if (ev.type === "response.completed") resolve();
      }),
    );
    ws.send(JSON.stringify(create("slow [[mock:chunk_delay=5]]")));
    ws.send(JSON.stringify(create("second")));
    await completed;
    ws.close();
    expect(errors).toEqual([expect.objectContaining({ status: 409, error: expect.objectContaining({ code: "response_already_in_flight" }) })]);
  });

  it("drops the socket mid-turn with reset_after=N", async () => {
    const ws = await open();
    const r = await turn(ws, create("cut [[mock:reset_after=3]]"));
    expect(r.closed).toBe(true);
    expect(r.events.map((e) => e.type)).toEqual(["response.created", "response.in_progress", "response.output_item.added"]);
  });

  it("answers with the connection limit after limitAfterTurns, then closes", async () => {
    mock.sockets.limitAfterTurns = 1;
    const ws = await open();
    await turn(ws, create("one"));
    const r = await turn(ws, create("two"));
    mock.sockets.limitAfterTurns = undefined;
    expect(r.events[0]).toMatchObject({ type: "error", status: 400, error: { code: "websocket_connection_limit_reached" } });
  });

  it("checks the Codex backend's rules and auth, answering in band", async () => {
    const noAuth = await open("/backend-api/codex/responses", {});
    const r = await turn(noAuth, create("x", { instructions: "", stream: true }));
    expect(r.events[0]).toMatchObject({ type: "error", status: 401 });
    noAuth.close();
    const ws = await open("/backend-api/codex/responses", { authorization: "Bearer t", "chatgpt-account-id": "acct" });
    const ok = await turn(ws, create("hi", { instructions: "", input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }] }));
    expect(ok.events.at(-1)!.type).toBe("response.completed");
    expect(mock.sockets.connections[1]!.turnState).toMatch(/^ts_\d+$/);
    ws.close();
  });

  it("refuses the upgrade when a script rule says so", async () => {
    mock.script({ match: (r) => r.method === "GET" && r.path === "/v1/responses", status: 426, times: 1 });
    await expect(open()).rejects.toThrow("HTTP 426");
    expect(mock.sockets.connections).toHaveLength(0);
  });
});
