import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import WebSocket from "ws";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";
import { captureUrl } from "../testing/real-clients.js";
import { validateResponsesStream } from "../protocols/openai-responses/validate.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.mock.clear();
  stack.mock.reset();
});

type Ev = { type: string; [k: string]: any };

function connect(headers: Record<string, string> = { authorization: `Bearer ${ACME_KEY}` }): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${stack.gw.url.replace("http", "ws")}/v1/responses`, { headers, perMessageDeflate: true });
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

/** Sends one frame and collects events until a terminal one; every event must come as a text frame, as Codex CLI reads them. */
function turn(ws: WebSocket, frame: unknown): Promise<Ev[]> {
  return new Promise((resolve, reject) => {
    const events: Ev[] = [];
    const stop = (): void => {
      ws.off("message", onMessage);
      ws.off("close", onClose);
    };
    // A text frame that is not UTF-8 makes the client drop the connection.
    const onClose = (code: number): void => {
      stop();
      reject(new Error(`the connection closed (${code}) after ${events.length} events`));
    };
    const onMessage = (data: WebSocket.RawData, isBinary: boolean): void => {
      if (isBinary) {
        stop();
        reject(new Error(`a binary frame after ${events.length} events`));
        return;
      }
      const ev = JSON.parse(data.toString()) as Ev;
      events.push(ev);
      if (["response.completed", "response.failed", "response.incomplete", "error"].includes(ev.type)) {
        stop();
        resolve(events);
      }
    };
    ws.on("message", onMessage);
    ws.once("close", onClose);
    ws.send(JSON.stringify(frame));
  });
}

const tools = [{ type: "function", name: "exec_command", parameters: { type: "object", properties: { cmd: { type: "string" } } }, strict: false }];

describe("Responses over WebSocket", () => {
  it("refuses an upgrade without a valid key", async () => {
    await expect(connect({})).rejects.toThrow("HTTP 401");
  });

  it("sends an event whose bytes are not UTF-8 as a text frame, the bad bytes replaced as a decode replaces them", async () => {
    const resp = { id: "resp_bad", object: "response", created_at: 1, model: "gpt-5", status: "in_progress", output: [] };
    const frame = (type: string, payload: object): string => `event: ${type}\ndata: ${JSON.stringify({ type, ...payload })}\n\n`;
    const at = { item_id: "msg_1", output_index: 0, content_index: 0 };
    const message = { id: "msg_1", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "ok \ufffd" }] };
    const body = Buffer.concat([
      Buffer.from(
        frame("response.created", { response: resp }) +
          frame("response.output_item.added", { output_index: 0, item: { ...message, status: "in_progress", content: [] } }) +
          frame("response.content_part.added", { ...at, part: { type: "output_text", text: "" } }),
      ),
      Buffer.from(
        `event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"msg_1","output_index":0,"content_index":0,"delta":"ok `,
      ),
      Buffer.from([0xff]),
      Buffer.from(
        `"}\n\n` +
          frame("response.output_item.done", { output_index: 0, item: message }) +
          frame("response.completed", { response: { ...resp, status: "completed", output: [message], usage: { input_tokens: 1, output_tokens: 2 } } }),
      ),
    ]);
    stack.mock.script({ status: 200, body, headers: { "content-type": "text/event-stream" }, times: 1 });
    const ws = await connect();
    const events = await turn(ws, { type: "response.create", model: "gpt-5", instructions: "", store: false, input: "hi" });
    expect(events.find((e) => e.type === "response.output_text.delta")?.delta).toBe("ok \ufffd");
    expect(events.at(-1)?.type).toBe("response.completed");
    ws.close();
  });

  for (const model of ["gpt-5", "gpt-5-codex", "claude-ws"]) {
    it(`streams a turn as JSON frames and chains the next with previous_response_id (${model})`, async () => {
      const ws = await connect();
      const first = await turn(ws, {
        type: "response.create",
        model,
        // Long enough that a Responses upstream's completed event, which repeats it, is read off the bytes.
        instructions: "You are a careful coding agent. ".repeat(100),
        store: false,
        input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "run ls [[mock:tool_call]]" }] }],
        tools,
      });
      expect(validateResponsesStream(first.map((e) => ({ event: e.type, data: e })))).toEqual([]);
      const done = first.at(-1)!;
      expect(done.type).toBe("response.completed");
      const call = (done.response.output as Ev[]).find((o) => o.type === "function_call")!;
      expect(call.name).toBe("exec_command");

      const second = await turn(ws, {
        type: "response.create",
        previous_response_id: done.response.id,
        input: [{ type: "function_call_output", call_id: call.call_id, output: "file.txt" }],
      });
      expect(second.at(-1)!.type).toBe("response.completed");
      // The upstream got the whole conversation: first input, the call, and its output.
      const sent = stack.mock.requests.at(-1)!.json as Record<string, any>;
      const text = JSON.stringify(sent);
      expect(text).toContain("run ls");
      // The call itself (from the first turn's output) as well as its output.
      expect(text.split(call.call_id).length - 1).toBeGreaterThanOrEqual(2);
      expect(text).toContain("file.txt");
      ws.close();
    });
  }

  it("answers an unknown previous_response_id and a bad frame with in-band errors", async () => {
    const ws = await connect();
    const r = await turn(ws, { type: "response.create", model: "gpt-5", previous_response_id: "resp_nope", input: [] });
    expect(r.at(-1)).toMatchObject({ type: "error", status: 400, error: { code: "previous_response_not_found" } });
    const bad = await turn(ws, { type: "nonsense" });
    expect(bad.at(-1)).toMatchObject({ type: "error", error: { code: "unsupported_frame" } });
    const denied = await turn(ws, { type: "response.create", model: "no-such-model", input: "x" });
    expect(denied.at(-1)).toMatchObject({ type: "error", status: 404, error: { code: "model_not_found" } });
    ws.close();
  });

  it("warms up with generate:false and chains from the warm-up id", async () => {
    const ws = await connect();
    const warm = await turn(ws, { type: "response.create", model: "gpt-5", generate: false, input: [{ role: "user", content: "hello" }] });
    expect(warm.at(-1)!.type).toBe("response.completed");
    expect(stack.mock.requests).toHaveLength(0);
    const next = await turn(ws, { type: "response.create", previous_response_id: warm.at(-1)!.response.id, input: [{ role: "user", content: "again" }] });
    expect(next.at(-1)!.type).toBe("response.completed");
    expect(JSON.stringify(stack.mock.requests.at(-1)!.json)).toMatch(/hello.*again/);
    ws.close();
  });

  it("accepts the handshake Codex CLI sends", async () => {
    const fixture = JSON.parse(readFileSync(captureUrl("codex-websocket/001-GET-v1_responses-upgrade.json"), "utf8")) as { headers: Record<string, string> };
    const keep = Object.entries(fixture.headers).filter(
      ([k]) => !["host", "connection", "upgrade", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "authorization"].includes(k),
    );
    const ws = await connect({ ...Object.fromEntries(keep), authorization: `Bearer ${ACME_KEY}` });
    const r = await turn(ws, {
      type: "response.create",
      model: "gpt-5-codex",
      instructions: "",
      store: false,
      stream: true,
      input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }],
    });
    expect(r.at(-1)!.type).toBe("response.completed");
    // The upstream is spoken to over HTTP: nothing describing the client's WebSocket reaches it.
    const sent = stack.mock.requests.at(-1)!.headers;
    expect(Object.keys(sent).filter((k) => k.startsWith("sec-websocket-"))).toEqual([]);
    expect(sent["openai-beta"] ?? "").not.toContain("responses_websockets");
    expect(sent.originator).toBe("codex_exec");
    ws.close();
  });
});
