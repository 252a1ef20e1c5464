/**
 * Responses SSE events → canonical stream parts (docs/protocols.md#responses-streaming).
 * One message content part = one text block, one reasoning item = one reasoning
 * block (summary parts joined by "\n\n"), one function_call or custom_tool_call item
 * = one tool-call block (a custom call's text becomes `{"input": text}`, sent whole
 * when the item is done). Blocks are keyed by output_index, falling back to item_id.
 */
import type { ResponseMeta, StreamError, StreamPart } from "../../canonical/stream.js";
import { statusToKind } from "../../canonical/errors.js";
import type { InboundEvent, StreamDecoder, StreamEventMembers, TranslationContext } from "../codec.js";
import { finishFromResponse, kindForErrorCode } from "./finish-reason.js";
import { isObject, num, str, type JsonObject } from "./guards.js";
import { upstreamNameToCanonical } from "./tool-call-names.js";
import { freeformArguments } from "../common/freeform-tools.js";
import { readResponsesUsage } from "./meter.js";
import { readDeltaEvent } from "./delta-event.js";
import { withMembers } from "../../canonical/shared-shape.js";

interface TextBlock {
  id: string;
  open: boolean;
  text: string;
}

interface ItemState {
  kind: "message" | "function_call" | "custom_tool_call" | "reasoning" | "other";
  blockId: string;
  open: boolean;
  /** message: content_index → block. */
  parts: Map<number, TextBlock>;
  /** function_call: arguments sent so far; reasoning: text sent so far. */
  sent: string;
  summaryParts: number;
  /** reasoning: text of the current summary part so far. */
  partSent: string;
  /** custom_tool_call: the input text so far. */
  input: string;
}

/**
 * What push reads of the response-level events: their type, and of the response object its id,
 * model, creation time, status, incomplete details, usage and error (start, complete, usage,
 * failedError, finishFromResponse). These events repeat the request's instructions and tools
 * (https://platform.openai.com/docs/api-reference/responses-streaming/response/created), which
 * the decoder never reads.
 */
export const RESPONSE_EVENT_MEMBERS: StreamEventMembers = {
  events: new Set([
    "response.created",
    "response.in_progress",
    "response.queued",
    "response.completed",
    "response.done",
    "response.incomplete",
    "response.failed",
  ]),
  members: {
    type: true,
    response: { id: true, model: true, created_at: true, status: true, incomplete_details: true, usage: true, error: true },
  },
};

/** The response-level events that carry what `response.created` did, and nothing more the decoder reads. */
const RESTATING_EVENTS: ReadonlySet<string> = new Set(["response.created", "response.in_progress", "response.queued"]);

export class ResponsesStreamDecoder implements StreamDecoder {
  private meta: ResponseMeta | undefined;
  private readonly items = new Map<number, ItemState>();
  private readonly indexById = new Map<string, number>();
  private sawToolCall = false;
  private terminal = false;

  constructor(private readonly ctx: TranslationContext) {}

  push(ev: InboundEvent): StreamPart[] {
    if (this.terminal) return [];
    // Once the response has started, an event that only says it again (`response.in_progress`
    // follows every `response.created`) has nothing for start() to read, and its data repeats the
    // request's instructions and tools: it is not read at all, not even projected (slim-event.ts).
    if (this.meta !== undefined && ev.event !== undefined && RESTATING_EVENTS.has(ev.event)) return [];
    const raw = ev.data.trim();
    if (raw === "" || raw === "[DONE]") return [];
    let data: unknown;
    try {
      // Most events of an answer are deltas, read off their text when in OpenAI's shape (delta-event.ts).
      data = readDeltaEvent(raw) ?? JSON.parse(raw);
    } catch {
      return this.fail({ kind: "upstream", message: "Upstream sent an event that is not JSON.", code: "invalid_event" });
    }
    if (!isObject(data)) return [];
    const type = str(data.type) ?? ev.event;
    const out: StreamPart[] = [];
    switch (type) {
      case "response.created":
      case "response.in_progress":
      case "response.queued":
        this.start(out, data.response);
        break;
      case "response.output_item.added":
        this.itemAdded(out, data);
        break;
      case "response.content_part.added":
        this.textBlock(out, data);
        break;
      case "response.output_text.delta":
      case "response.refusal.delta":
        this.textDelta(out, data, str(data.delta) ?? "");
        break;
      case "response.output_text.done":
        this.textDone(out, data, str(data.text));
        break;
      case "response.refusal.done":
        this.textDone(out, data, str(data.refusal));
        break;
      case "response.content_part.done":
        this.textDone(out, data, partText(data.part));
        break;
      case "response.function_call_arguments.delta":
        this.argsDelta(out, data);
        break;
      case "response.function_call_arguments.done":
        this.argsDone(out, this.item(data), str(data.arguments));
        break;
      case "response.custom_tool_call_input.delta": {
        const item = this.item(data);
        if (item?.kind === "custom_tool_call") item.input += str(data.delta) ?? "";
        break;
      }
      case "response.custom_tool_call_input.done": {
        const item = this.item(data);
        if (item?.kind === "custom_tool_call") item.input = str(data.input) ?? item.input;
        break;
      }
      case "response.reasoning_summary_part.added":
        this.summaryPart(out, data);
        break;
      case "response.reasoning_summary_text.delta":
      case "response.reasoning_text.delta":
        this.reasoningDelta(out, this.item(data), str(data.delta) ?? "");
        break;
      case "response.reasoning_summary_text.done":
        this.summaryDone(out, this.item(data), str(data.text));
        break;
      case "response.output_item.done":
        this.itemDone(out, data);
        break;
      case "response.completed":
      case "response.done":
      case "response.incomplete":
        this.complete(out, data.response);
        break;
      case "response.failed":
        // A failed response may still report the tokens it consumed; they are billed.
        this.usage(out, data.response);
        return [...out, ...this.fail(failedError(data.response))];
      case "error":
        return this.errorEvent(data);
      default:
        // codex.rate_limits, web_search_call.*, annotations, audio …: nothing canonical to say.
        break;
    }
    return out;
  }

  end(): StreamPart[] {
    if (this.terminal) return [];
    return this.fail({ kind: "upstream", message: "Upstream stream ended before response.completed.", code: "stream_truncated" });
  }

  private fail(error: StreamError): StreamPart[] {
    this.terminal = true;
    return [{ type: "error", error }];
  }

  private errorEvent(data: JsonObject): StreamPart[] {
    // The Codex WebSocket wraps the error and adds an HTTP status (docs/protocols.md#codex-cli-over-websocket).
    const inner = isObject(data.error) ? data.error : data;
    const code = str(inner.code) ?? str(inner.type);
    const status = typeof data.status === "number" ? data.status : undefined;
    const error: StreamError = {
      kind: status !== undefined && status >= 400 ? statusToKind(status) : kindForErrorCode(code),
      message: str(inner.message) ?? "Upstream reported an error.",
    };
    if (code !== undefined) error.code = code;
    return this.fail(error);
  }

  private start(out: StreamPart[], response: unknown): void {
    if (this.meta) return;
    const r = isObject(response) ? response : {};
    this.meta = { id: str(r.id) ?? "", model: str(r.model) ?? this.ctx.clientModel, created: num(r.created_at) || this.ctx.now };
    out.push({ type: "response-start", meta: this.meta });
  }

  private index(data: JsonObject): number | undefined {
    if (typeof data.output_index === "number") return data.output_index;
    const id = str(data.item_id);
    return id === undefined ? undefined : this.indexById.get(id);
  }

  private item(data: JsonObject): ItemState | undefined {
    const i = this.index(data);
    return i === undefined ? undefined : this.items.get(i);
  }

  private itemAdded(out: StreamPart[], data: JsonObject): ItemState | undefined {
    const i = this.index(data);
    const item = isObject(data.item) ? data.item : {};
    if (i === undefined) return undefined;
    this.start(out, undefined);
    const id = str(item.id);
    if (id !== undefined) this.indexById.set(id, i);
    const t = item.type;
    const kind: ItemState["kind"] = t === "message" || t === "function_call" || t === "custom_tool_call" || t === "reasoning" ? t : "other";
    const state: ItemState = { kind, blockId: `${kind}-${i}`, open: false, parts: new Map(), sent: "", summaryParts: 0, partSent: "", input: "" };
    this.items.set(i, state);
    if (kind === "custom_tool_call") {
      this.sawToolCall = true;
      const name = upstreamNameToCanonical(str(item.name) ?? "", str(item.namespace), this.ctx.toolNames);
      out.push({ type: "tool-call-start", id: state.blockId, callId: str(item.call_id) ?? "", name });
      state.open = true;
      state.input = str(item.input) ?? "";
    } else if (kind === "function_call") {
      this.sawToolCall = true;
      const name = upstreamNameToCanonical(str(item.name) ?? "", str(item.namespace), this.ctx.toolNames);
      out.push({ type: "tool-call-start", id: state.blockId, callId: str(item.call_id) ?? "", name });
      state.open = true;
      const initial = str(item.arguments);
      if (initial) this.argsDelta(out, withMembers(data, { delta: initial }));
    } else if (kind === "reasoning") {
      out.push({ type: "reasoning-start", id: state.blockId });
      state.open = true;
    }
    return state;
  }

  private textBlock(out: StreamPart[], data: JsonObject): TextBlock | undefined {
    const item = this.item(data);
    if (item?.kind !== "message") return undefined;
    const ci = typeof data.content_index === "number" ? data.content_index : 0;
    let block = item.parts.get(ci);
    if (!block) {
      block = { id: `text-${this.index(data)}-${ci}`, open: true, text: "" };
      item.parts.set(ci, block);
      out.push({ type: "text-start", id: block.id });
    }
    return block;
  }

  private textDelta(out: StreamPart[], data: JsonObject, delta: string): void {
    const block = this.textBlock(out, data);
    if (!block?.open || delta === "") return;
    block.text += delta;
    out.push({ type: "text-delta", id: block.id, delta });
  }

  /** Emits what the deltas did not carry (some backends send only the done events), then closes. */
  private textDone(out: StreamPart[], data: JsonObject, full: string | undefined): void {
    const block = this.textBlock(out, data);
    if (!block?.open) return;
    closeText(out, block, full);
  }

  private argsDelta(out: StreamPart[], data: JsonObject): void {
    const item = this.item(data);
    const delta = str(data.delta) ?? "";
    if (item?.kind !== "function_call" || !item.open || delta === "") return;
    item.sent += delta;
    out.push({ type: "tool-call-delta", id: item.blockId, delta });
  }

  private argsDone(out: StreamPart[], item: ItemState | undefined, full: string | undefined): void {
    if ((item?.kind !== "function_call" && item?.kind !== "custom_tool_call") || !item.open) return;
    const final = full ?? item.sent;
    if (final.startsWith(item.sent) && final.length > item.sent.length) {
      out.push({ type: "tool-call-delta", id: item.blockId, delta: final.slice(item.sent.length) });
    }
    item.open = false;
    out.push({ type: "tool-call-end", id: item.blockId, arguments: final });
  }

  private summaryPart(out: StreamPart[], data: JsonObject): void {
    const item = this.item(data);
    if (item?.kind !== "reasoning") return;
    // docs/protocols.md#responses-stream-to-messages-stream: one reasoning item stays one block; parts are separated by a blank line.
    if (item.summaryParts > 0 && item.sent !== "") this.reasoningDelta(out, item, "\n\n");
    item.summaryParts++;
    item.partSent = "";
  }

  private summaryDone(out: StreamPart[], item: ItemState | undefined, full: string | undefined): void {
    if (item?.kind !== "reasoning" || full === undefined) return;
    if (full.startsWith(item.partSent) && full.length > item.partSent.length) this.reasoningDelta(out, item, full.slice(item.partSent.length));
  }

  private reasoningDelta(out: StreamPart[], item: ItemState | undefined, delta: string): void {
    if (item?.kind !== "reasoning" || !item.open || delta === "") return;
    item.sent += delta;
    item.partSent += delta;
    out.push({ type: "reasoning-delta", id: item.blockId, delta });
  }

  private itemDone(out: StreamPart[], data: JsonObject): void {
    const item = isObject(data.item) ? data.item : {};
    const state = this.item(data) ?? this.itemAdded(out, withMembers(data, { item: withMembers(item, { arguments: "" }) }));
    if (!state) return;
    if (state.kind === "message") {
      const content = Array.isArray(item.content) ? item.content : [];
      content.forEach((p: unknown, ci) => {
        const text = partText(p);
        if (!state.parts.has(ci) && !text) return;
        const block = this.textBlock(out, withMembers(data, { content_index: ci }));
        if (block?.open) closeText(out, block, text);
      });
      for (const block of state.parts.values()) if (block.open) closeText(out, block, undefined);
    } else if (state.kind === "function_call") {
      this.argsDone(out, state, str(item.arguments));
    } else if (state.kind === "custom_tool_call") {
      this.argsDone(out, state, freeformArguments(str(item.input) ?? state.input));
    } else if (state.kind === "reasoning" && state.open) {
      if (state.sent === "") this.reasoningDelta(out, state, summaryText(item.summary));
      const end: StreamPart = { type: "reasoning-end", id: state.blockId };
      const blob = str(item.encrypted_content);
      if (blob) end.signature = blob;
      state.open = false;
      out.push(end);
    }
  }

  private usage(out: StreamPart[], response: unknown): void {
    const usage = readResponsesUsage(isObject(response) ? response.usage : undefined);
    if (usage) out.push({ type: "usage", usage });
  }

  private complete(out: StreamPart[], response: unknown): void {
    this.start(out, response);
    for (const i of [...this.items.keys()].sort((a, b) => a - b)) {
      const state = this.items.get(i);
      if (!state) continue;
      for (const block of state.parts.values()) if (block.open) closeText(out, block, undefined);
      if (state.kind === "function_call") this.argsDone(out, state, undefined);
      if (state.kind === "custom_tool_call") this.argsDone(out, state, freeformArguments(state.input));
      if (state.kind === "reasoning" && state.open) {
        state.open = false;
        out.push({ type: "reasoning-end", id: state.blockId });
      }
    }
    this.usage(out, response);
    out.push({ type: "finish", reason: finishFromResponse(response, this.sawToolCall) });
    this.terminal = true;
  }
}

function closeText(out: StreamPart[], block: TextBlock, full: string | undefined): void {
  if (full !== undefined && full.startsWith(block.text) && full.length > block.text.length) {
    out.push({ type: "text-delta", id: block.id, delta: full.slice(block.text.length) });
    block.text = full;
  }
  block.open = false;
  out.push({ type: "text-end", id: block.id });
}

function partText(part: unknown): string | undefined {
  if (!isObject(part)) return undefined;
  return str(part.text) ?? str(part.refusal);
}

function summaryText(summary: unknown): string {
  if (!Array.isArray(summary)) return "";
  return summary
    .map((s: unknown) => (isObject(s) ? (str(s.text) ?? "") : ""))
    .filter((t) => t !== "")
    .join("\n\n");
}

function failedError(response: unknown): StreamError {
  const err = isObject(response) && isObject(response.error) ? response.error : {};
  const code = str(err.code);
  const out: StreamError = { kind: kindForErrorCode(code), message: str(err.message) ?? "Upstream response failed." };
  if (code !== undefined) out.code = code;
  return out;
}
