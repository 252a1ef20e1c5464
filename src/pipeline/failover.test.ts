/**
 * Failover before the first byte, on every client protocol and both lanes
 * (docs/routing.md#failover): a connection refused or reset, a 500, a 429, a
 * timeout before the head, and an error event inside a 200 stream before any
 * content each move to the next key or upstream, and the client assembles
 * exactly the one answer the serving key sent. An error after content ends the
 * client's stream with its protocol's error event and is never retried. The
 * usage record lists every attempt.
 */
import { createServer } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { ClientProtocol } from "../protocols/codec.js";
import type { RecordedRequest } from "../mock/types.js";
import { readJsonAnswer, readStreamAnswer } from "../testing/client-shapes.js";
import { readSse, validateStream, type ClientEvent } from "../testing/sse-client.js";
import { ACME_KEY, eventually, startStack, type Stack } from "../testing/stack.js";

/** The answer every test asks the mock for: multi-byte characters, longer than one delta (7 code points). */
const ANSWER = "Failover answer: ünïcödé ✓ 🚀 one two three four five six seven";
const TIMEOUT_MS = 600;

/** A port nothing listens on: a connection to it is refused. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/**
 * Per client protocol, a model served natively (passthrough) and one served only by another
 * protocol (translate); `<model>-c` is also served, first, by an upstream that refuses connections.
 */
function yaml(mockUrl: string, dead: string): string {
  const up = (name: string, protocol: string, base: string, keys: string[], models: string[], extra = "") =>
    `  - name: ${name}\n    protocol: ${protocol}\n    base_url: ${base}\n    keys: [${keys.join(", ")}]\n    models: [${models.map((m) => `"${m}"`).join(", ")}]\n${extra}`;
  const timeout = `    timeout_ms: ${TIMEOUT_MS}\n`;
  return `
server:
  port: 0
  host: 127.0.0.1
  shutdown_grace_ms: 5000
  max_attempts: 3
log_level: silent
upstreams:
${up("a-dead-chat", "openai-chat", `${dead}/v1`, ["dead-chat-secret"], ["pt-chat-c", "tr-messages-c"])}
${up("a-dead-anth", "anthropic", dead, ["dead-anth-secret"], ["pt-messages-c", "tr-responses-c"])}
${up("a-dead-resp", "openai-responses", `${dead}/v1`, ["dead-resp-secret"], ["pt-responses-c", "tr-chat-c"])}
${up("chat", "openai-chat", `${mockUrl}/v1`, ["chat-secret-a", "chat-secret-b"], ["pt-chat*", "tr-messages*"], timeout)}
${up("anth", "anthropic", mockUrl, ["anth-secret-a", "anth-secret-b"], ["pt-messages*", "tr-responses*"], timeout)}
${up("resp", "openai-responses", `${mockUrl}/v1`, ["resp-secret-a", "resp-secret-b"], ["pt-responses*", "tr-chat*"], timeout)}
accounts:
  - name: acme
    keys: [${ACME_KEY}]
`;
}

let stack: Stack;
beforeAll(async () => {
  const dead = `http://127.0.0.1:${await deadPort()}`;
  stack = await startStack({ yaml: (mockUrl) => yaml(mockUrl, dead) });
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.fresh();
});

type Client = "chat" | "messages" | "responses" | "responses-ws";
const PROTOCOL: Record<Client, ClientProtocol> = {
  chat: "openai-chat",
  messages: "anthropic-messages",
  responses: "openai-responses",
  "responses-ws": "openai-responses",
};
const PATH: Record<ClientProtocol, string> = {
  "openai-chat": "/v1/chat/completions",
  "anthropic-messages": "/v1/messages",
  "openai-responses": "/v1/responses",
};
const BASE_MODEL: Record<Client, string> = { chat: "chat", messages: "messages", responses: "responses", "responses-ws": "responses" };

interface Seen {
  status: number;
  /** The answer's text as the client assembled it. */
  text: string;
  /** The protocol error event the stream ended with, if any. */
  errorEvent: unknown;
  /** Stream shape problems reported by the protocol's validator (successful streams only). */
  problems: string[];
}

function bodyFor(p: ClientProtocol, model: string, stream: boolean, user: string): Record<string, unknown> {
  if (p === "openai-responses") return { model, stream, input: user };
  if (p === "anthropic-messages") return { model, stream, max_tokens: 256, messages: [{ role: "user", content: user }] };
  return { model, stream, messages: [{ role: "user", content: user }] };
}

function errorEventOf(p: ClientProtocol, events: ClientEvent[]): unknown {
  for (const e of events) {
    const d = e.data as Record<string, unknown>;
    if (p === "openai-chat" && d && typeof d === "object" && "error" in d) return d;
    if (p !== "openai-chat" && (e.event === "error" || e.event === "response.failed")) return d;
  }
  return undefined;
}

async function askHttp(client: Client, model: string, stream: boolean, user: string): Promise<Seen> {
  const p = PROTOCOL[client];
  const res = await fetch(`${stack.gw.url}${PATH[p]}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(bodyFor(p, model, stream, user)),
  });
  if (!stream || res.status !== 200) {
    const json = (await res.json()) as Record<string, unknown>;
    return {
      status: res.status,
      text: res.status === 200 ? readJsonAnswer(p, json).text : "",
      errorEvent: res.status === 200 ? undefined : json,
      problems: [],
    };
  }
  const events = await readSse(res);
  const errorEvent = errorEventOf(p, events);
  return { status: res.status, text: readStreamAnswer(p, events).text, errorEvent, problems: errorEvent ? [] : validateStream(p, events) };
}

/** One Responses turn over WebSocket: frames until a terminal one. */
async function askWs(model: string, user: string): Promise<Seen> {
  const ws = new WebSocket(`${stack.gw.url.replace("http", "ws")}/v1/responses`, { headers: { authorization: `Bearer ${ACME_KEY}` } });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  const frames: Array<Record<string, unknown>> = [];
  await new Promise<void>((resolve) => {
    ws.on("message", (data: WebSocket.RawData) => {
      const f = JSON.parse(data.toString()) as Record<string, unknown>;
      frames.push(f);
      if (["response.completed", "response.failed", "response.incomplete", "error"].includes(f.type as string)) resolve();
    });
    ws.send(JSON.stringify({ type: "response.create", model, input: [{ role: "user", content: user }] }));
  });
  ws.close();
  const text = frames
    .filter((f) => f.type === "response.output_text.delta")
    .map((f) => f.delta as string)
    .join("");
  const errorEvent = frames.find((f) => f.type === "error" || f.type === "response.failed");
  return { status: 200, text, errorEvent, problems: [] };
}

function ask(client: Client, model: string, stream: boolean, user: string): Promise<Seen> {
  return client === "responses-ws" ? askWs(model, user) : askHttp(client, model, stream, user);
}

/** The upstream key secret a recorded request carried. */
function keyOf(r: RecordedRequest): string {
  return r.headers["x-api-key"] ?? r.headers.authorization?.replace(/^Bearer /, "") ?? "";
}

type Fault = "refused" | "reset" | "500" | "429" | "timeout" | "error_event";
/** The first request the mock gets fails this way; `null` for a refused connection (the mock never sees it). */
const FAULTS: Record<Fault, { rule: Parameters<Stack["mock"]["script"]>[0] | null; outcome: string; streamOnly?: boolean }> = {
  refused: { rule: null, outcome: "network" },
  reset: { rule: { times: 1, scenario: "reset_after=0" }, outcome: "network" },
  "500": { rule: { times: 1, status: 500 }, outcome: "server_error" },
  "429": { rule: { times: 1, status: 429, scenario: "retry_after=30" }, outcome: "rate_limited" },
  timeout: { rule: { times: 1, delayMs: TIMEOUT_MS * 5 }, outcome: "timeout" },
  error_event: { rule: { times: 1, scenario: "stream_error,error_after=0" }, outcome: "error_event", streamOnly: true },
};

const LANES = [
  { lane: "passthrough", prefix: "pt" },
  { lane: "translate", prefix: "tr" },
] as const;

const CLIENTS: Client[] = ["chat", "messages", "responses", "responses-ws"];

for (const client of CLIENTS) {
  for (const { lane, prefix } of LANES) {
    const model = `${prefix}-${BASE_MODEL[client]}`;
    const modes = client === "responses-ws" ? [true] : [true, false];
    describe(`${client} client, ${lane} lane`, () => {
      for (const stream of modes) {
        for (const [fault, f] of Object.entries(FAULTS) as Array<[Fault, (typeof FAULTS)[Fault]]>) {
          if (f.streamOnly && !stream) continue;
          it(`fails over after ${fault} (${stream ? "stream" : "non-stream"}): one clean answer`, async () => {
            if (f.rule) stack.mock.script(f.rule);
            const seen = await ask(client, fault === "refused" ? `${model}-c` : model, stream, `hello [[mock:text=${ANSWER}]]`);
            expect(seen.status).toBe(200);
            expect(seen.errorEvent).toBeUndefined();
            expect(seen.problems).toEqual([]);
            // Exactly what the serving key sent: nothing of the failed attempt, nothing twice.
            expect(seen.text).toBe(ANSWER);
            const reqs = stack.mock.requests;
            if (fault === "refused") {
              expect(reqs).toHaveLength(1);
            } else {
              expect(reqs).toHaveLength(2);
              expect(keyOf(reqs[0]!)).not.toBe(keyOf(reqs[1]!));
            }
            await eventually(() => stack.usage.length === 1);
            const rec = stack.usage[0]!;
            expect(rec, JSON.stringify(rec)).toMatchObject({ status: 200, attempts: 2, lane });
            expect(rec.attemptTrail.map((a) => a.outcome)).toEqual([f.outcome, "ok"]);
            expect(rec.attemptTrail[1]).toMatchObject({ upstream: rec.upstream, keyId: rec.upstreamKeyId, httpStatus: 200, tier: 1 });
            // Ids and names only: no secret reaches the record.
            expect(JSON.stringify(rec.attemptTrail)).not.toMatch(/secret/);
          });
        }
      }

      it("ends the stream with a protocol error event after content, and does not retry", async () => {
        stack.mock.script({ times: 1, scenario: "stream_error" });
        const seen = await ask(client, model, true, `hello [[mock:text=${ANSWER}]]`);
        expect(seen.status).toBe(200);
        expect(seen.errorEvent).toBeDefined();
        // The two deltas sent before the error, once each.
        expect(seen.text).toBe(Array.from(ANSWER).slice(0, 14).join(""));
        expect(stack.mock.requests).toHaveLength(1);
        await eventually(() => stack.usage.length === 1);
        const rec = stack.usage[0]!;
        expect(rec.attempts).toBe(1);
        expect(rec.errorCode).toBeDefined();
        expect(rec.attemptTrail.map((a) => a.outcome)).toEqual(["stream_broken"]);
      });
    });
  }
}

describe("the attempt budget and deadline", () => {
  it("stops at server.max_attempts and answers with the last failure", async () => {
    stack.mock.script({ status: 500 });
    // pt-chat-c: the refused upstream, then both keys of the chat upstream: three attempts.
    const seen = await ask("chat", "pt-chat-c", false, "hello");
    expect(seen.status).toBe(502);
    expect(stack.mock.requests).toHaveLength(2);
    await eventually(() => stack.usage.length === 1);
    expect(stack.usage[0]!.attemptTrail.map((a) => a.outcome)).toEqual(["network", "server_error", "server_error"]);
  });
});
