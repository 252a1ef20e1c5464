/**
 * The two lanes bill the same answer alike, checked where it matters: the
 * relay's own wiring of the protocol meters, and whole requests through a real
 * gateway in front of the mock upstream (passthrough route vs translate routes
 * to the same upstream, cache reads, cache writes and reasoning included).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Usage } from "../canonical/usage.js";
import { emptyUsage } from "../canonical/usage.js";
import { newTranslationContext, type ClientProtocol, type UpstreamProtocol } from "../protocols/codec.js";
import { UPSTREAM_CODECS } from "../protocols/registry.js";
import { SseParser } from "../transport/sse.js";
import { ACME_KEY, eventually, startStack, type Stack } from "../testing/stack.js";
import { relayStream } from "./passthrough-lane.js";

/* ------------------------------------------------------------------ relay */

/** The stream a review found metered 10/0/0/0 (input/cached/write/reasoning) by the relay and 17/5/2/3 by the translate lane. */
const ANTHROPIC_STREAM = [
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"cache_read_input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":1}}}',
  'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
  'event: ping\ndata: {"type":"ping"}',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}',
  // Newer API versions repeat input_tokens here; this server left the cache counts out.
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":10,"output_tokens":20,"output_tokens_details":{"thinking_tokens":3}}}',
  'event: message_stop\ndata: {"type":"message_stop"}',
];

/** The Chat stream whose cache writes one lane metered as 0 and the other as 30. */
const CHAT_STREAM = [
  'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"usage":null}',
  'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}',
  'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":9,"total_tokens":109,"prompt_tokens_details":{"cached_tokens":40,"cache_write_tokens":30},"completion_tokens_details":{"reasoning_tokens":4}}}',
  "data: [DONE]",
];

async function relayed(protocol: UpstreamProtocol, client: ClientProtocol, chunks: Buffer[]) {
  const body = (async function* () {
    yield* chunks;
  })();
  return relayStream(protocol, client, body, async () => undefined, new AbortController().signal);
}

function translated(protocol: UpstreamProtocol, bytes: Buffer): Usage {
  const parser = new SseParser();
  const decoder = UPSTREAM_CODECS[protocol].createStreamDecoder(newTranslationContext("m"));
  const usage = emptyUsage();
  for (const ev of [...parser.push(bytes), ...parser.end()]) for (const p of decoder.push(ev)) if (p.type === "usage") Object.assign(usage, p.usage);
  return usage;
}

describe("the relay meters as the translate lane does", () => {
  const cases: Array<[UpstreamProtocol, ClientProtocol, string[], Usage]> = [
    ["anthropic", "anthropic-messages", ANTHROPIC_STREAM, { inputTokens: 17, cachedInputTokens: 5, cacheWriteTokens: 2, outputTokens: 20, reasoningTokens: 3 }],
    ["openai-chat", "openai-chat", CHAT_STREAM, { inputTokens: 100, cachedInputTokens: 40, cacheWriteTokens: 30, outputTokens: 9, reasoningTokens: 4 }],
  ];
  for (const [protocol, client, events, want] of cases) {
    it(`${protocol}: the review's stream, however it is chunked, with either line ending`, async () => {
      const lf = Buffer.from(events.map((e) => e + "\n\n").join(""));
      const crlf = Buffer.from(events.map((e) => e.replaceAll("\n", "\r\n") + "\r\n\r\n").join(""));
      for (const bytes of [lf, crlf]) await meteredAlike(bytes);
    });
    const meteredAlike = async (bytes: Buffer): Promise<void> => {
      expect(translated(protocol, bytes)).toEqual(want);
      await fc.assert(
        fc.asyncProperty(fc.array(fc.nat({ max: bytes.length }), { maxLength: 8 }), async (cuts) => {
          const points = [...new Set([...cuts, bytes.length])].sort((a, b) => a - b);
          const chunks = points.map((p, i) => bytes.subarray(i === 0 ? 0 : points[i - 1]!, p)).filter((c) => c.length > 0);
          const result = await relayed(protocol, client, chunks);
          expect(result).toEqual({ usage: want, completed: true, failed: false });
        }),
        { numRuns: 30 },
      );
    };
  }
});

/* ------------------------------------------------------------ end to end */

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.mock.clear();
  stack.mock.reset();
  stack.usage.length = 0;
});

const PROMPT = "[[mock:reasoning,cached=5,cache_write=7]] What is metered?";

/** One request in a client protocol's own shape, asking for reasoning so every upstream reports some. */
function send(client: ClientProtocol, model: string, stream: boolean): Promise<Response> {
  const url = stack.gw.url;
  switch (client) {
    case "anthropic-messages":
      return fetch(`${url}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": ACME_KEY, "anthropic-version": "2023-06-01" },
        body: JSON.stringify({
          model,
          max_tokens: 4096,
          thinking: { type: "enabled", budget_tokens: 1024 },
          stream,
          messages: [{ role: "user", content: PROMPT }],
        }),
      });
    case "openai-chat":
      return fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ACME_KEY}` },
        body: JSON.stringify({ model, reasoning_effort: "low", stream, messages: [{ role: "user", content: PROMPT }] }),
      });
    case "openai-responses":
      return fetch(`${url}/v1/responses`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ACME_KEY}` },
        body: JSON.stringify({ model, reasoning: { effort: "low" }, stream, input: PROMPT }),
      });
  }
}

const CLIENTS: ClientProtocol[] = ["anthropic-messages", "openai-chat", "openai-responses"];
const UPSTREAMS: Array<{ protocol: UpstreamProtocol; model: string; native: ClientProtocol; streamOnly?: boolean }> = [
  { protocol: "anthropic", model: "claude-test-sonnet", native: "anthropic-messages" },
  { protocol: "openai-chat", model: "gpt-4o", native: "openai-chat" },
  { protocol: "openai-responses", model: "gpt-5", native: "openai-responses" },
  { protocol: "codex", model: "gpt-5-codex", native: "openai-responses", streamOnly: true },
];

describe("through the gateway, every route to one upstream records the same usage", () => {
  for (const up of UPSTREAMS) {
    for (const stream of up.streamOnly ? [true] : [true, false]) {
      it(`${up.protocol} upstream, ${stream ? "streamed" : "not streamed"}`, async () => {
        const records: Array<{ client: ClientProtocol; lane: string | undefined; usage: Usage; promptTokens: number }> = [];
        for (const client of CLIENTS) {
          const res = await send(client, up.model, stream);
          expect(res.status, `${client} → ${up.protocol}`).toBe(200);
          await res.arrayBuffer();
          await eventually(() => stack.usage.length === records.length + 1);
          const rec = stack.usage.at(-1)!;
          // The mock counts a prompt as ceil(body bytes / 4); the bodies differ by route, the rest must not.
          records.push({ client, lane: rec.lane, usage: rec.usage, promptTokens: Math.ceil(stack.mock.requests.at(-1)!.body.length / 4) });
        }
        expect(records.find((r) => r.client === up.native)?.lane).toBe(stream ? "passthrough" : up.protocol === "codex" ? "translate" : "passthrough");
        expect(records.filter((r) => r.lane === "translate").length).toBeGreaterThanOrEqual(2);
        const [first] = records;
        expect(first!.usage.reasoningTokens).toBeGreaterThan(0);
        for (const r of records) {
          expect(r.usage, `${r.client} via ${r.lane}`).toEqual({
            inputTokens: r.promptTokens,
            cachedInputTokens: 5,
            cacheWriteTokens: 7,
            outputTokens: first!.usage.outputTokens,
            reasoningTokens: first!.usage.reasoningTokens,
          });
        }
      });
    }
  }
});
