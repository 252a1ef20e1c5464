/**
 * Upstream Anthropic SSE events → canonical stream parts (docs/protocols.md#anthropic-streaming;
 * https://docs.anthropic.com/en/docs/build-with-claude/streaming).
 * Keys off `data.type` (the `event:` line carries the same name). Block ids are
 * the Anthropic block indexes. Usage in `message_delta` is cumulative.
 */
import type { StreamPart } from "../../canonical/stream.js";
import type { InboundEvent, StreamDecoder, TranslationContext } from "../codec.js";
import { anthropicErrorPayloadToStreamError } from "./errors.js";
import { isRecord, tryParseJson, type JsonObject } from "../common/guards.js";
import { readBlockDelta } from "./delta-event.js";
import { anthropicStopToFinish } from "./stop-reason.js";
import { AnthropicUsageFold } from "./meter.js";

type OpenBlock =
  | { kind: "text" }
  | { kind: "reasoning"; signature?: string }
  | { kind: "redacted"; data: string }
  | { kind: "tool"; args: string; initial: string }
  /** Server-tool and other blocks with no canonical part: their events are skipped. */
  | { kind: "ignored" };

export class AnthropicStreamDecoder implements StreamDecoder {
  private readonly blocks = new Map<number, OpenBlock>();
  private readonly usage = new AnthropicUsageFold();
  private started = false;
  private done = false;

  constructor(private readonly ctx: TranslationContext) {}

  push(ev: InboundEvent): StreamPart[] {
    if (this.done) return [];
    // Most events of an answer are deltas, read off their text when in Anthropic's shape (delta-event.ts).
    const data = readBlockDelta(ev.data) ?? tryParseJson(ev.data);
    if (!isRecord(data)) {
      if (ev.data.trim() === "") return [];
      return this.fail("upstream sent an event that is not a JSON object", "bad_event");
    }
    const type = typeof data.type === "string" ? data.type : ev.event;
    switch (type) {
      case "message_start":
        return this.messageStart(data);
      case "content_block_start":
        return this.blockStart(data);
      case "content_block_delta":
        return this.blockDelta(data);
      case "content_block_stop":
        return this.blockStop(data);
      case "message_delta":
        return this.messageDelta(data);
      case "message_stop":
        this.done = true;
        return [];
      case "error": {
        this.done = true;
        return [{ type: "error", error: anthropicErrorPayloadToStreamError(data) }];
      }
      default:
        // ping and event types added later carry nothing the canonical stream needs.
        return [];
    }
  }

  end(): StreamPart[] {
    if (this.done) return [];
    this.done = true;
    return [{ type: "error", error: { kind: "upstream", message: "The upstream stream ended before message_stop.", code: "stream_truncated" } }];
  }

  private fail(message: string, code: string): StreamPart[] {
    this.done = true;
    return [{ type: "error", error: { kind: "upstream", message, code } }];
  }

  private messageStart(data: JsonObject): StreamPart[] {
    if (this.started) return [];
    this.started = true;
    const msg = isRecord(data.message) ? data.message : {};
    const usage = this.usage.update(msg.usage);
    // The usage part too, so a stream that fails later is still metered for its prompt.
    return [
      {
        type: "response-start",
        meta: {
          id: typeof msg.id === "string" ? msg.id : "",
          model: typeof msg.model === "string" ? msg.model : "",
          created: this.ctx.now,
        },
        usage,
      },
      { type: "usage", usage },
    ];
  }

  private blockStart(data: JsonObject): StreamPart[] {
    const index = data.index;
    const block = data.content_block;
    if (typeof index !== "number" || !isRecord(block)) return this.fail("malformed content_block_start", "bad_event");
    const id = String(index);
    switch (block.type) {
      case "text": {
        this.blocks.set(index, { kind: "text" });
        const out: StreamPart[] = [{ type: "text-start", id }];
        if (typeof block.text === "string" && block.text !== "") out.push({ type: "text-delta", id, delta: block.text });
        return out;
      }
      case "thinking": {
        this.blocks.set(index, { kind: "reasoning" });
        const out: StreamPart[] = [{ type: "reasoning-start", id }];
        if (typeof block.thinking === "string" && block.thinking !== "") out.push({ type: "reasoning-delta", id, delta: block.thinking });
        return out;
      }
      case "redacted_thinking":
        this.blocks.set(index, { kind: "redacted", data: typeof block.data === "string" ? block.data : "" });
        return [{ type: "reasoning-start", id }];
      case "tool_use": {
        const name = typeof block.name === "string" ? block.name : "";
        const callId = typeof block.id === "string" ? block.id : `toolu_${index}`;
        // Some upstreams put the whole input here and send no deltas.
        const initial = isRecord(block.input) && Object.keys(block.input).length > 0 ? JSON.stringify(block.input) : "";
        this.blocks.set(index, { kind: "tool", args: "", initial });
        return [{ type: "tool-call-start", id, callId, name: this.ctx.toolNames.get(name) ?? name }];
      }
      default:
        this.blocks.set(index, { kind: "ignored" });
        return [];
    }
  }

  private blockDelta(data: JsonObject): StreamPart[] {
    const index = data.index;
    const delta = data.delta;
    if (typeof index !== "number" || !isRecord(delta)) return this.fail("malformed content_block_delta", "bad_event");
    const block = this.blocks.get(index);
    const id = String(index);
    if (!block) return [];
    if (block.kind === "text" && delta.type === "text_delta" && typeof delta.text === "string") {
      return delta.text === "" ? [] : [{ type: "text-delta", id, delta: delta.text }];
    }
    if (block.kind === "reasoning") {
      if (delta.type === "thinking_delta" && typeof delta.thinking === "string" && delta.thinking !== "") {
        return [{ type: "reasoning-delta", id, delta: delta.thinking }];
      }
      if (delta.type === "signature_delta" && typeof delta.signature === "string") block.signature = delta.signature;
      return [];
    }
    if (block.kind === "tool" && delta.type === "input_json_delta" && typeof delta.partial_json === "string") {
      block.args += delta.partial_json;
      return delta.partial_json === "" ? [] : [{ type: "tool-call-delta", id, delta: delta.partial_json }];
    }
    // citations_delta and deltas of ignored blocks.
    return [];
  }

  private blockStop(data: JsonObject): StreamPart[] {
    const index = data.index;
    if (typeof index !== "number") return this.fail("malformed content_block_stop", "bad_event");
    const block = this.blocks.get(index);
    this.blocks.delete(index);
    const id = String(index);
    switch (block?.kind) {
      case "text":
        return [{ type: "text-end", id }];
      case "reasoning":
        return [block.signature === undefined ? { type: "reasoning-end", id } : { type: "reasoning-end", id, signature: block.signature }];
      case "redacted":
        return [{ type: "reasoning-end", id, redacted: block.data }];
      case "tool": {
        const args = block.args !== "" ? block.args : block.initial !== "" ? block.initial : "{}";
        const out: StreamPart[] = [];
        if (block.args === "" && block.initial !== "") out.push({ type: "tool-call-delta", id, delta: block.initial });
        out.push({ type: "tool-call-end", id, arguments: args });
        return out;
      }
      default:
        return [];
    }
  }

  private messageDelta(data: JsonObject): StreamPart[] {
    const out: StreamPart[] = [{ type: "usage", usage: this.usage.update(data.usage) }];
    const delta = isRecord(data.delta) ? data.delta : {};
    if (typeof delta.stop_reason === "string") {
      const finish: StreamPart = { type: "finish", reason: anthropicStopToFinish(delta.stop_reason) };
      if (typeof delta.stop_sequence === "string") finish.stopSequence = delta.stop_sequence;
      out.push(finish);
    }
    return out;
  }
}

export function createAnthropicStreamDecoder(ctx: TranslationContext): StreamDecoder {
  return new AnthropicStreamDecoder(ctx);
}
