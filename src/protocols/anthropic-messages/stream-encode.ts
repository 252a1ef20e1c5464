/**
 * Canonical stream parts → Anthropic client events (docs/protocols.md#anthropic-streaming, docs/protocols.md#responses-stream-to-messages-stream).
 *
 * Anthropic streams one content block at a time, so canonical blocks that
 * overlap are serialised in start order: the oldest open block streams live,
 * later ones are buffered until it closes. That also keeps tool_use blocks from
 * interleaving with text or thinking (CPA defers the same way).
 * Text and thinking blocks open lazily, on their first content, so empty ones
 * never reach the client; a thinking block's signature goes out as the last
 * delta before its stop. message_delta/message_stop wait for `end()`, because
 * usage may arrive after the finish reason.
 */
import type { FinishReason, ResponseMeta, StreamPart } from "../../canonical/stream.js";
import type { Usage } from "../../canonical/usage.js";
import type { OutboundEvent, StreamEncoder, TranslationContext } from "../codec.js";
import { sanitizeToolUseId } from "../common/tool-names.js";
import { encodeAnthropicStreamError } from "./errors.js";
import { finishToAnthropicStop } from "./stop-reason.js";
import { canonicalToAnthropicUsage } from "./usage.js";
import { DELTA_VALUE_MEMBER, type AnthropicStreamDelta, type AnthropicStreamEvent } from "./wire.js";

type BlockPart = Extract<StreamPart, { type: `text-${string}` | `reasoning-${string}` | `tool-call-${string}` }>;

interface Block {
  id: string;
  /** Parts received while another block held the wire. */
  buffered: BlockPart[];
  /** Wire index once opened. */
  index: number | undefined;
  ended: boolean;
  sentArgs: string;
}

function isBlockPart(p: StreamPart): p is BlockPart {
  return p.type.startsWith("text-") || p.type.startsWith("reasoning-") || p.type.startsWith("tool-call-");
}

function ev(data: AnthropicStreamEvent): OutboundEvent {
  return { event: data.type, data, json: undefined };
}

/**
 * A `content_block_delta` with its JSON written out (OutboundEvent.json): one goes to the client
 * for every token or two of an answer. Its text is the event's fixed members around the one
 * string it carries, and `JSON.stringify` of that string alone is less work than its walk of the
 * event's two objects (npm run bench:codecs, section 3b). The member order is the object's, so
 * the text is what `JSON.stringify(data)` gives (a test holds every encoder to that).
 */
function blockDelta(index: number, delta: AnthropicStreamDelta): OutboundEvent {
  const member = DELTA_VALUE_MEMBER[delta.type];
  // Every kind of delta carries its string in its member (the test of every encoder's JSON holds the text to the data).
  const value = (delta as Partial<Record<typeof member, string>>)[member] ?? "";
  const json = `{"type":"content_block_delta","index":${index},"delta":{"type":"${delta.type}","${member}":${JSON.stringify(value)}}}`;
  return { event: "content_block_delta", data: { type: "content_block_delta", index, delta }, json };
}

export class AnthropicStreamEncoder implements StreamEncoder {
  private started = false;
  private terminated = false;
  private meta: ResponseMeta | undefined;
  private startUsage: Usage | undefined;
  private usage: Usage | undefined;
  private finish: { reason: FinishReason; stopSequence?: string } | undefined;
  private anyTool = false;
  private nextIndex = 0;
  private readonly queue: Block[] = [];
  private readonly blocks = new Map<string, Block>();
  private readonly kinds = new Map<string, "text" | "reasoning" | "tool">();

  constructor(private readonly ctx: TranslationContext) {}

  push(part: StreamPart): OutboundEvent[] {
    if (this.terminated) return [];
    const out: OutboundEvent[] = [];
    switch (part.type) {
      case "response-start":
        this.meta ??= part.meta;
        if (part.usage) this.startUsage = part.usage;
        this.ensureStarted(out);
        return out;
      case "usage":
        this.usage = part.usage;
        return out;
      case "finish":
        this.finish = part.stopSequence === undefined ? { reason: part.reason } : { reason: part.reason, stopSequence: part.stopSequence };
        return out;
      case "error":
        this.terminated = true;
        return encodeAnthropicStreamError(part.error);
    }
    if (!isBlockPart(part)) return out;
    this.ensureStarted(out);
    let block = this.blocks.get(part.id);
    if (!block) {
      // A delta without its start is tolerated for text and reasoning; a tool needs its name.
      if (part.type.startsWith("tool-call-") && part.type !== "tool-call-start") return out;
      block = { id: part.id, buffered: [], index: undefined, ended: false, sentArgs: "" };
      this.blocks.set(part.id, block);
      this.queue.push(block);
    }
    if (block.ended) return out;
    if (this.queue[0] !== block) {
      block.buffered.push(part);
      return out;
    }
    this.apply(block, part, out);
    this.advance(out);
    return out;
  }

  end(): OutboundEvent[] {
    if (this.terminated) return [];
    this.terminated = true;
    const out: OutboundEvent[] = [];
    this.ensureStarted(out);
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      this.replay(head, out);
      if (!head.ended) this.apply(head, this.closing(head), out);
      this.queue.shift();
    }
    let reason = this.finish?.reason ?? (this.anyTool ? "tool-calls" : "stop");
    if (reason === "stop" && this.anyTool) reason = "tool-calls";
    const usage = this.usage ?? this.startUsage;
    out.push(
      ev({
        type: "message_delta",
        delta: { stop_reason: finishToAnthropicStop(reason), stop_sequence: this.finish?.stopSequence ?? null },
        usage: canonicalToAnthropicUsage(usage ?? { inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0 }),
      }),
    );
    out.push(ev({ type: "message_stop" }));
    return out;
  }

  private ensureStarted(out: OutboundEvent[]): void {
    if (this.started) return;
    this.started = true;
    const id = this.meta?.id || `msg_${this.ctx.now}`;
    const usage = canonicalToAnthropicUsage(
      this.startUsage ?? { inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0 },
    );
    out.push(
      ev({
        type: "message_start",
        message: {
          id,
          type: "message",
          role: "assistant",
          model: this.ctx.clientModel,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage,
        },
      }),
    );
  }

  /** The synthetic end for a block still open when the stream ends. */
  private closing(b: Block): BlockPart {
    const kind = this.kindOf(b);
    if (kind === "tool") return { type: "tool-call-end", id: b.id, arguments: b.sentArgs };
    if (kind === "reasoning") return { type: "reasoning-end", id: b.id };
    return { type: "text-end", id: b.id };
  }

  private kindOf(b: Block): "text" | "reasoning" | "tool" {
    return this.kinds.get(b.id) ?? "text";
  }

  private replay(b: Block, out: OutboundEvent[]): void {
    const parts = b.buffered.splice(0);
    for (const p of parts) if (!b.ended) this.apply(b, p, out);
  }

  /** Pops closed blocks off the head and lets the next one catch up. */
  private advance(out: OutboundEvent[]): void {
    while (this.queue[0]?.ended) {
      this.queue.shift();
      const next = this.queue[0];
      if (next) this.replay(next, out);
    }
  }

  private open(b: Block, block: Extract<AnthropicStreamEvent, { type: "content_block_start" }>["content_block"], out: OutboundEvent[]): number {
    if (b.index === undefined) {
      b.index = this.nextIndex++;
      out.push(ev({ type: "content_block_start", index: b.index, content_block: block }));
    }
    return b.index;
  }

  private stop(b: Block, out: OutboundEvent[]): void {
    b.ended = true;
    if (b.index !== undefined) out.push(ev({ type: "content_block_stop", index: b.index }));
  }

  private apply(b: Block, p: BlockPart, out: OutboundEvent[]): void {
    switch (p.type) {
      case "text-start":
        this.kinds.set(b.id, "text");
        return;
      case "text-delta": {
        if (p.delta === "") return;
        const index = this.open(b, { type: "text", text: "" }, out);
        out.push(blockDelta(index, { type: "text_delta", text: p.delta }));
        return;
      }
      case "text-end":
        this.stop(b, out);
        return;
      case "reasoning-start":
        this.kinds.set(b.id, "reasoning");
        return;
      case "reasoning-delta": {
        this.kinds.set(b.id, "reasoning");
        if (p.delta === "") return;
        const index = this.open(b, { type: "thinking", thinking: "", signature: "" }, out);
        out.push(blockDelta(index, { type: "thinking_delta", thinking: p.delta }));
        return;
      }
      case "reasoning-end": {
        if (p.redacted !== undefined && b.index === undefined) {
          this.open(b, { type: "redacted_thinking", data: p.redacted }, out);
        } else if (p.signature) {
          // A summary-less reasoning item still needs a (empty) thinking block so the client replays the signature.
          const index = this.open(b, { type: "thinking", thinking: "", signature: "" }, out);
          out.push(blockDelta(index, { type: "signature_delta", signature: p.signature }));
        }
        this.stop(b, out);
        return;
      }
      case "tool-call-start":
        this.kinds.set(b.id, "tool");
        this.anyTool = true;
        this.open(b, { type: "tool_use", id: sanitizeToolUseId(p.callId), name: p.name, input: {} }, out);
        return;
      case "tool-call-delta": {
        if (p.delta === "" || b.index === undefined) return;
        b.sentArgs += p.delta;
        out.push(blockDelta(b.index, { type: "input_json_delta", partial_json: p.delta }));
        return;
      }
      case "tool-call-end": {
        // Send what the deltas did not (some upstreams only give the final arguments).
        const rest = p.arguments.startsWith(b.sentArgs) ? p.arguments.slice(b.sentArgs.length) : "";
        if (rest !== "" && b.index !== undefined) {
          b.sentArgs += rest;
          out.push(blockDelta(b.index, { type: "input_json_delta", partial_json: rest }));
        }
        this.stop(b, out);
        return;
      }
    }
  }
}

export function createAnthropicStreamEncoder(ctx: TranslationContext): StreamEncoder {
  return new AnthropicStreamEncoder(ctx);
}
