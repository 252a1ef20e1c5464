/**
 * Strict event-order checks for the three stream dialects, used by the mock's
 * own tests. Each throws on the first violation and otherwise returns the
 * sequence of event types, so a test can also assert the exact order.
 */
import { SseParser, type SseEvent } from "../transport/sse.js";

export interface ParsedEvent {
  event: string | undefined;
  /** Raw data text ("[DONE]" stays a string). */
  data: string;
  json: Record<string, unknown> | undefined;
}

export function parseSse(bytes: Uint8Array): ParsedEvent[] {
  const p = new SseParser();
  const raw: SseEvent[] = [...p.push(bytes), ...p.end()];
  return raw.map((e) => {
    let json: Record<string, unknown> | undefined;
    if (e.data !== "[DONE]") {
      const v: unknown = JSON.parse(e.data);
      if (typeof v === "object" && v !== null && !Array.isArray(v)) json = v as Record<string, unknown>;
    }
    return { event: e.event, data: e.data, json };
  });
}

function fail(msg: string, i: number): never {
  throw new Error(`stream order violation at event ${i}: ${msg}`);
}

function rec(v: unknown): Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/**
 * OpenAI Chat: data-only frames, one id, role first, a single finish_reason on
 * the last choice chunk, optional `choices:[]` usage chunk, then `[DONE]`.
 * A stream may instead end with an `{error}` chunk and no `[DONE]`.
 */
export function assertChatStream(events: ParsedEvent[]): string[] {
  const kinds: string[] = [];
  let id: unknown;
  let finished = false;
  let sawUsage = false;
  events.forEach((e, i) => {
    if (e.event !== undefined) fail(`unexpected event: line "${e.event}"`, i);
    if (e.data === "[DONE]") {
      if (i !== events.length - 1) fail("[DONE] is not last", i);
      if (!finished) fail("[DONE] before finish_reason", i);
      kinds.push("[DONE]");
      return;
    }
    const c = e.json ?? fail("non-JSON data", i);
    if (c.error !== undefined) {
      if (i !== events.length - 1) fail("error chunk is not last", i);
      kinds.push("error");
      return;
    }
    if (c.object !== "chat.completion.chunk") fail("object is not chat.completion.chunk", i);
    if (id === undefined) id = c.id;
    else if (c.id !== id) fail("chunk id changed", i);
    const choices = Array.isArray(c.choices) ? c.choices : fail("choices missing", i);
    if (choices.length === 0) {
      if (!finished || sawUsage) fail("usage chunk out of place", i);
      if (c.usage === null || c.usage === undefined) fail("choices:[] chunk without usage", i);
      sawUsage = true;
      kinds.push("usage");
      return;
    }
    if (finished) fail("choice chunk after finish_reason", i);
    if ("usage" in c && c.usage !== null) fail("usage on a choice chunk must be null", i);
    const choice = rec(choices[0]);
    const delta = rec(choice.delta);
    if (i === 0 && delta.role !== "assistant") fail("first chunk lacks role", i);
    if (choice.finish_reason !== null && choice.finish_reason !== undefined) {
      finished = true;
      kinds.push(`finish:${String(choice.finish_reason)}`);
    } else if (delta.tool_calls !== undefined) kinds.push("tool_calls");
    else if (delta.reasoning_content !== undefined) kinds.push("reasoning");
    else if (delta.role !== undefined) kinds.push("role");
    else kinds.push("content");
  });
  return kinds;
}

const RESPONSE_TERMINAL = new Set(["response.completed", "response.incomplete", "response.failed"]);

/**
 * OpenAI Responses: `event:` equals data.type, sequence_number 0,1,2…,
 * created → in_progress first, each output item opened before its deltas and
 * closed once, content parts and summary parts balanced, a terminal event
 * last, and no `[DONE]`. A leading `codex.rate_limits` is allowed.
 */
export function assertResponsesStream(events: ParsedEvent[]): string[] {
  const kinds: string[] = [];
  const open = new Map<number, string>();
  const closed = new Set<number>();
  const parts = new Set<string>();
  let seq = 0;
  let terminal = false;
  events.forEach((e, i) => {
    const d = e.json ?? fail(`non-JSON data ${e.data}`, i);
    if (e.event !== d.type) fail(`event line ${String(e.event)} != type ${String(d.type)}`, i);
    const type = String(d.type);
    kinds.push(type);
    if (type === "codex.rate_limits") {
      if (seq !== 0) fail("codex.rate_limits after response events", i);
      return;
    }
    if (terminal) fail("event after the terminal event", i);
    if (d.sequence_number !== seq) fail(`sequence_number ${String(d.sequence_number)} != ${seq}`, i);
    seq++;
    if (seq === 1 && type !== "response.created") fail("first event is not response.created", i);
    if (seq === 2 && type !== "response.in_progress") fail("second event is not response.in_progress", i);
    if (RESPONSE_TERMINAL.has(type)) {
      if (open.size > 0 && type !== "response.failed") fail("terminal event with open items", i);
      terminal = true;
      return;
    }
    const oi = typeof d.output_index === "number" ? d.output_index : undefined;
    if (type === "response.output_item.added") {
      if (oi === undefined || open.has(oi) || closed.has(oi)) fail("output_item.added reused an index", i);
      if (oi !== open.size + closed.size) fail("output_index not consecutive", i);
      open.set(oi, String(rec(d.item).id));
    } else if (type === "response.output_item.done") {
      if (oi === undefined || !open.has(oi)) fail("output_item.done for an item not open", i);
      if ([...parts].some((p) => p.startsWith(`${oi}:`))) fail("output_item.done with an open part", i);
      open.delete(oi);
      closed.add(oi);
    } else if (oi !== undefined) {
      if (!open.has(oi)) fail(`${type} for an item not open`, i);
      if (d.item_id !== open.get(oi)) fail(`${type} item_id mismatch`, i);
      const partKey = `${oi}:${String(d.content_index ?? `s${String(d.summary_index)}`)}`;
      if (type.endsWith("part.added")) {
        if (parts.has(partKey)) fail("part opened twice", i);
        parts.add(partKey);
      } else if (type.endsWith("part.done")) {
        if (!parts.delete(partKey)) fail("part closed but not open", i);
      } else if ((type.includes("output_text") || type.includes("summary_text")) && !parts.has(partKey)) {
        fail(`${type} outside its part`, i);
      }
    }
  });
  if (!terminal) fail("stream ended without a terminal event", events.length);
  return kinds;
}

/**
 * Anthropic Messages: `event:` equals data.type, message_start first,
 * content blocks opened in index order and never overlapping, deltas only in
 * the open block and of its kind, message_delta after the last block, then
 * message_stop. `ping` anywhere; an `error` event ends the stream.
 */
export function assertAnthropicStream(events: ParsedEvent[]): string[] {
  const kinds: string[] = [];
  let openIndex: number | undefined;
  let openType = "";
  let nextIndex = 0;
  let state: "start" | "blocks" | "delta" | "stopped" | "error" = "start";
  const deltaFor: Record<string, string[]> = {
    text: ["text_delta"],
    thinking: ["thinking_delta", "signature_delta"],
    tool_use: ["input_json_delta"],
  };
  events.forEach((e, i) => {
    const d = e.json ?? fail("non-JSON data", i);
    if (e.event !== d.type) fail(`event line ${String(e.event)} != type ${String(d.type)}`, i);
    const type = String(d.type);
    kinds.push(type);
    if (state === "stopped" || state === "error") fail(`${type} after the end`, i);
    if (type === "ping") return;
    if (type === "error") {
      state = "error";
      return;
    }
    if (state === "start") {
      if (type !== "message_start") fail("first event is not message_start", i);
      state = "blocks";
      return;
    }
    switch (type) {
      case "content_block_start":
        if (state !== "blocks" || openIndex !== undefined) fail("block started while another is open", i);
        if (d.index !== nextIndex) fail(`block index ${String(d.index)} != ${nextIndex}`, i);
        openIndex = nextIndex++;
        openType = String(rec(d.content_block).type);
        break;
      case "content_block_delta": {
        if (openIndex === undefined || d.index !== openIndex) fail("delta outside the open block", i);
        const dt = String(rec(d.delta).type);
        if (!(deltaFor[openType] ?? []).includes(dt)) fail(`${dt} in a ${openType} block`, i);
        break;
      }
      case "content_block_stop":
        if (openIndex === undefined || d.index !== openIndex) fail("stop for a block not open", i);
        openIndex = undefined;
        break;
      case "message_delta":
        if (openIndex !== undefined || state !== "blocks") fail("message_delta with an open block or twice", i);
        state = "delta";
        break;
      case "message_stop":
        if (state !== "delta") fail("message_stop before message_delta", i);
        state = "stopped";
        break;
      default:
        fail(`unknown event ${type}`, i);
    }
  });
  // `state` is mutated inside the callback, which TypeScript's narrowing cannot see.
  const end: string = state;
  if (end !== "stopped" && end !== "error") fail("stream ended without message_stop", events.length);
  return kinds;
}
