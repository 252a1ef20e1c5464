import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startMockUpstream, type MockUpstream } from "./server.js";
import { realtimeSessions } from "./realtime.js";

type Ev = { type: string; [k: string]: any };

let mock: MockUpstream;
beforeAll(async () => {
  mock = await startMockUpstream();
});
afterAll(() => mock.close());
beforeEach(() => {
  mock.reset();
  mock.clear();
});

interface Conn {
  ws: WebSocket;
  events: Ev[];
  next(type: string, n?: number): Promise<Ev[]>;
  closed: Promise<number>;
}

function open(headers: Record<string, string> = { authorization: "Bearer sk-up" }, query = "?model=gpt-realtime"): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${mock.url.replace("http", "ws")}/v1/realtime${query}`, { headers });
    const events: Ev[] = [];
    const waiters: Array<() => void> = [];
    ws.on("message", (data, isBinary) => {
      if (!isBinary) events.push(JSON.parse(data.toString()) as Ev);
      for (const w of waiters.splice(0)) w();
    });
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    const next = async (type: string, n = 1): Promise<Ev[]> => {
      for (;;) {
        const found = events.filter((e) => e.type === type);
        if (found.length >= n) return found;
        await new Promise<void>((r) => waiters.push(r));
      }
    };
    ws.once("open", () => resolve({ ws, events, next, closed }));
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once("error", reject);
  });
}

const say = (text: string): string =>
  JSON.stringify({ type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text }] } });

describe("mock Realtime endpoint", () => {
  it("refuses an upgrade without a bearer key (401), without a model (400), and as a script rule says", async () => {
    await expect(open({})).rejects.toThrow("HTTP 401");
    await expect(open(undefined, "")).rejects.toThrow("HTTP 400");
    mock.script({ match: (r) => r.path === "/v1/realtime", status: 429, times: 1 });
    await expect(open()).rejects.toThrow("HTTP 429");
    expect(mock.requests.filter((r) => r.path === "/v1/realtime")).toHaveLength(3);
  });

  it("greets with session.created and streams a text response in the beta interface's order, with usage", async () => {
    const c = await open({ authorization: "Bearer sk-up", "openai-beta": "realtime=v1" });
    const [created] = await c.next("session.created");
    expect(created!.session).toMatchObject({ object: "realtime.session", model: "gpt-realtime", modalities: ["text", "audio"] });
    c.ws.send(JSON.stringify({ type: "session.update", session: { modalities: ["text"] } }));
    await c.next("session.updated");
    c.ws.send(say("hi [[mock:text=Two words.]]"));
    c.ws.send(JSON.stringify({ type: "response.create" }));
    const [done] = await c.next("response.done");
    const types = c.events.map((e) => e.type).slice(c.events.findIndex((e) => e.type === "response.created"));
    expect(types).toEqual([
      "response.created",
      "response.output_item.added",
      "conversation.item.created",
      "response.content_part.added",
      "response.text.delta",
      "response.text.delta",
      "response.text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.done",
    ]);
    expect(c.events.every((e) => typeof e.event_id === "string")).toBe(true);
    const usage = done!.response.usage;
    expect(done!.response.status).toBe("completed");
    expect(usage.input_tokens).toBe(usage.input_token_details.text_tokens + usage.input_token_details.audio_tokens);
    expect(usage.output_tokens).toBe(usage.output_token_details.text_tokens);
    expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens);
    expect(realtimeSessions(mock).at(-1)!.usages).toEqual([usage]);
    c.ws.close();
  });

  it("answers in audio by default (GA names), counts committed input audio, and caches the previous input", async () => {
    const c = await open();
    await c.next("session.created");
    c.ws.send(JSON.stringify({ type: "input_audio_buffer.append", audio: Buffer.alloc(9600).toString("base64") }));
    c.ws.send(JSON.stringify({ type: "input_audio_buffer.commit" }));
    await c.next("input_audio_buffer.committed");
    c.ws.send(JSON.stringify({ type: "response.create" }));
    const [first] = await c.next("response.done");
    expect(c.events.some((e) => e.type === "response.output_audio.delta")).toBe(true);
    expect(c.events.some((e) => e.type === "response.output_audio_transcript.delta")).toBe(true);
    expect(first!.response.usage.input_token_details.audio_tokens).toBe(2);
    expect(first!.response.usage.output_token_details.audio_tokens).toBeGreaterThan(0);
    c.ws.send(JSON.stringify({ type: "response.create" }));
    const done = await c.next("response.done", 2);
    expect(done[1]!.response.usage.input_token_details.cached_tokens).toBe(first!.response.usage.input_tokens);
    c.ws.close();
  });

  it("cancels a response under way: response.done is cancelled and counts only what was sent", async () => {
    const c = await open();
    await c.next("session.created");
    c.ws.send(say("[[mock:stall_after=6,text=a b c d]]"));
    c.ws.send(JSON.stringify({ type: "response.create" }));
    await c.next("response.output_audio_transcript.delta");
    c.ws.send(JSON.stringify({ type: "response.cancel" }));
    const [done] = await c.next("response.done");
    expect(done!.response.status).toBe("cancelled");
    expect(done!.response.output[0].content[0].transcript).toBe("a ");
    c.ws.send(JSON.stringify({ type: "response.cancel" }));
    const [err] = await c.next("error");
    expect(err!.error.code).toBe("response_cancel_not_active");
    c.ws.close();
  });

  it("answers a binary frame, bad JSON and an unknown directive with error events, and keeps the session", async () => {
    const c = await open();
    await c.next("session.created");
    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    c.ws.send("{nope");
    c.ws.send(say("[[mock:no_such_thing]]"));
    c.ws.send(JSON.stringify({ type: "response.create" }));
    const errors = await c.next("error", 3);
    expect(errors.map((e) => e.error.code)).toEqual(["invalid_value", "invalid_json", "unknown_mock_directive"]);
    expect(realtimeSessions(mock).at(-1)!.received[0]).toEqual({ data: Buffer.from([1, 2, 3]), isBinary: true });
    c.ws.close();
  });

  it("drops the connection after N events, and closes with a code on `close=`", async () => {
    const a = await open();
    await a.next("session.created");
    a.ws.send(say("[[mock:drop_after=2]]"));
    a.ws.send(JSON.stringify({ type: "response.create" }));
    expect(await a.closed).toBe(1006);
    expect(a.events.filter((e) => e.type.startsWith("response."))).toHaveLength(2);
    const b = await open();
    await b.next("session.created");
    b.ws.send(say("[[mock:close=1011]]"));
    b.ws.send(JSON.stringify({ type: "response.create" }));
    expect(await b.closed).toBe(1011);
  });
});
