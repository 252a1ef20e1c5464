/** Helpers shared by this folder's tests (and the codex folder's). Not used at runtime. */
import { readFileSync } from "node:fs";
import type { StreamPart } from "../../canonical/stream.js";
import { newTranslationContext, type InboundEvent, type OutboundEvent, type TranslationContext } from "../codec.js";
import { ResponsesStreamDecoder } from "./stream-decode.js";
import { ResponsesStreamEncoder } from "./stream-encode.js";

export const NOW = 1_700_000_000;

export function testCtx(model = "gpt-test"): TranslationContext {
  return newTranslationContext(model, NOW);
}

/** One upstream SSE event as the transport hands it over. */
export function sse(type: string, payload: Record<string, unknown> = {}): InboundEvent {
  return { event: type, data: JSON.stringify({ type, ...payload }) };
}

export function decodeEvents(events: InboundEvent[], ctx: TranslationContext = testCtx()): StreamPart[] {
  const d = new ResponsesStreamDecoder(ctx);
  return [...events.flatMap((e) => d.push(e)), ...d.end()];
}

export function encodeParts(parts: StreamPart[], ctx: TranslationContext = testCtx()): OutboundEvent[] {
  const e = new ResponsesStreamEncoder(ctx);
  return [...parts.flatMap((p) => e.push(p)), ...e.end()];
}

/** What a client (or the next hop) reads back off an encoded stream. */
export function asInbound(events: OutboundEvent[]): InboundEvent[] {
  return events.map((e) => ({ event: e.event, data: JSON.stringify(e.data) }));
}

export function types(events: OutboundEvent[]): string[] {
  return events.map((e) => String((e.data as { type: string }).type));
}

/** A Codex CLI capture committed beside this codec (see __fixtures__/README.md). */
export function fixtureUrl(rel: string): URL {
  return new URL(`./__fixtures__/${rel}`, import.meta.url);
}

export function loadFixtureBody(rel: string): Record<string, unknown> {
  const capture = JSON.parse(readFileSync(fixtureUrl(rel), "utf8")) as { body: Record<string, unknown> };
  return capture.body;
}

/** A typical upstream stream: reasoning (2 summary parts), a text message, usage. */
export function upstreamTextStream(): InboundEvent[] {
  const resp = { id: "resp_abc123", object: "response", created_at: 1_700_000_100, model: "gpt-5", status: "in_progress", output: [] };
  return [
    sse("response.created", { sequence_number: 0, response: resp }),
    sse("response.in_progress", { sequence_number: 1, response: resp }),
    sse("response.output_item.added", { output_index: 0, item: { id: "rs_1", type: "reasoning", summary: [] } }),
    sse("response.reasoning_summary_part.added", { item_id: "rs_1", output_index: 0, summary_index: 0, part: { type: "summary_text", text: "" } }),
    sse("response.reasoning_summary_text.delta", { item_id: "rs_1", output_index: 0, summary_index: 0, delta: "Think" }),
    sse("response.reasoning_summary_text.delta", { item_id: "rs_1", output_index: 0, summary_index: 0, delta: "ing." }),
    sse("response.reasoning_summary_text.done", { item_id: "rs_1", output_index: 0, summary_index: 0, text: "Thinking." }),
    sse("response.reasoning_summary_part.done", { item_id: "rs_1", output_index: 0, summary_index: 0, part: { type: "summary_text", text: "Thinking." } }),
    sse("response.reasoning_summary_part.added", { item_id: "rs_1", output_index: 0, summary_index: 1, part: { type: "summary_text", text: "" } }),
    sse("response.reasoning_summary_text.delta", { item_id: "rs_1", output_index: 0, summary_index: 1, delta: "More." }),
    sse("response.output_item.done", {
      output_index: 0,
      item: {
        id: "rs_1",
        type: "reasoning",
        summary: [
          { type: "summary_text", text: "Thinking." },
          { type: "summary_text", text: "More." },
        ],
        encrypted_content: "gAAAAblob",
      },
    }),
    sse("response.output_item.added", { output_index: 1, item: { id: "msg_1", type: "message", role: "assistant", status: "in_progress", content: [] } }),
    sse("response.content_part.added", { item_id: "msg_1", output_index: 1, content_index: 0, part: { type: "output_text", text: "", annotations: [] } }),
    sse("response.output_text.delta", { item_id: "msg_1", output_index: 1, content_index: 0, delta: "Hel", obfuscation: "xx" }),
    sse("response.output_text.delta", { item_id: "msg_1", output_index: 1, content_index: 0, delta: "lo" }),
    sse("response.output_text.done", { item_id: "msg_1", output_index: 1, content_index: 0, text: "Hello" }),
    sse("response.content_part.done", { item_id: "msg_1", output_index: 1, content_index: 0, part: { type: "output_text", text: "Hello" } }),
    sse("response.output_item.done", {
      output_index: 1,
      item: { id: "msg_1", type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: "Hello" }] },
    }),
    sse("codex.rate_limits", { rate_limits: { primary: { used_percent: 3 } } }),
    sse("response.completed", {
      response: {
        ...resp,
        status: "completed",
        usage: {
          input_tokens: 1200,
          input_tokens_details: { cached_tokens: 1024 },
          output_tokens: 300,
          output_tokens_details: { reasoning_tokens: 200 },
          total_tokens: 1500,
        },
      },
    }),
  ];
}

/** An upstream function call whose name was shortened on the way up. */
export function upstreamToolCallStream(name: string, args: string[]): InboundEvent[] {
  const full = args.join("");
  return [
    sse("response.created", { response: { id: "resp_tc", model: "gpt-5", created_at: 1_700_000_200, output: [] } }),
    sse("response.output_item.added", { output_index: 0, item: { id: "fc_1", type: "function_call", call_id: "call_1", name, arguments: "" } }),
    ...args.map((delta) => sse("response.function_call_arguments.delta", { item_id: "fc_1", output_index: 0, delta })),
    sse("response.function_call_arguments.done", { item_id: "fc_1", output_index: 0, arguments: full, name }),
    sse("response.output_item.done", {
      output_index: 0,
      item: { id: "fc_1", type: "function_call", call_id: "call_1", name, arguments: full, status: "completed" },
    }),
    sse("response.completed", { response: { id: "resp_tc", status: "completed", output: [], usage: { input_tokens: 10, output_tokens: 5 } } }),
  ];
}
