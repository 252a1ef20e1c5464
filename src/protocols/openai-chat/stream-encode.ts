/**
 * Canonical stream parts → Chat Completions chunks (docs/protocols.md#chat-streaming, docs/protocols.md#chat-and-responses).
 * Every chunk carries the same id/created/model; the first carries the role;
 * `tool_calls[].index` is the tool's ordinal in this answer (not a block index);
 * the finish_reason goes out once, on a chunk of its own after the content; the
 * `choices:[]` usage chunk follows only when the client asked
 * `stream_options.include_usage`; then the literal `[DONE]`. An error part
 * becomes an `{error:{…}}` chunk and ends the stream (no `[DONE]`).
 */
import type { FinishReason, StreamPart } from "../../canonical/stream.js";
import type { Usage } from "../../canonical/usage.js";
import type { OutboundEvent, StreamEncoder, TranslationContext } from "../codec.js";
import { wantsUsageChunk } from "./decode-request.js";
import { encodeChatStreamError } from "./errors.js";
import { canonicalToChatFinish } from "./finish-reason.js";
import { canonicalToChatUsage } from "./usage.js";
import type { ChatChunk, ChatDelta, ChatFinishReason } from "./wire.js";

interface ToolOut {
  ordinal: number;
  sent: string;
}

export interface ChatStreamEncoderOptions {
  /** Emit the trailing usage chunk; defaults to what the client's request asked. */
  includeUsage?: boolean;
}

export class ChatStreamEncoder implements StreamEncoder {
  private id = "";
  private created: number;
  private started = false;
  private terminated = false;
  private finishSent = false;
  private finish: FinishReason | undefined;
  private usage: Usage | undefined;
  private readonly tools = new Map<string, ToolOut>();
  private readonly includeUsage: boolean;
  /** Every chunk's members before `choices` (`base`), as JSON without the closing brace (`text`); made with the first. */
  private head: string | undefined;

  constructor(
    private readonly ctx: TranslationContext,
    opts: ChatStreamEncoderOptions = {},
  ) {
    this.created = ctx.now;
    this.includeUsage = opts.includeUsage ?? wantsUsageChunk(ctx.clientRequest);
  }

  push(part: StreamPart): OutboundEvent[] {
    if (this.terminated) return [];
    const out: OutboundEvent[] = [];
    switch (part.type) {
      case "response-start":
        if (!this.started) {
          this.id = part.meta.id;
          this.created = part.meta.created || this.ctx.now;
        }
        this.ensureStarted(out);
        break;
      case "text-delta":
        if (part.delta !== "") this.text("content", part.delta, out);
        break;
      case "reasoning-delta":
        // Non-standard but widely read field (docs/protocols.md#chat-streaming).
        if (part.delta !== "") this.text("reasoning_content", part.delta, out);
        break;
      case "tool-call-start": {
        const tool: ToolOut = { ordinal: this.tools.size, sent: "" };
        this.tools.set(part.id, tool);
        this.content({ tool_calls: [{ index: tool.ordinal, id: part.callId, type: "function", function: { name: part.name, arguments: "" } }] }, out);
        break;
      }
      case "tool-call-delta": {
        const tool = this.tools.get(part.id);
        if (!tool || part.delta === "") break;
        tool.sent += part.delta;
        this.content({ tool_calls: [{ index: tool.ordinal, function: { arguments: part.delta } }] }, out);
        break;
      }
      case "tool-call-end": {
        const tool = this.tools.get(part.id);
        if (!tool) break;
        // Send what the deltas did not (some upstreams only give the final arguments).
        const rest = part.arguments.startsWith(tool.sent) ? part.arguments.slice(tool.sent.length) : "";
        if (rest !== "") {
          tool.sent += rest;
          this.content({ tool_calls: [{ index: tool.ordinal, function: { arguments: rest } }] }, out);
        }
        break;
      }
      case "usage":
        this.usage = part.usage;
        break;
      case "finish":
        this.finish = part.reason;
        this.sendFinish(out);
        break;
      case "error":
        this.terminated = true;
        return encodeChatStreamError(part.error);
      default:
        // text/reasoning start and end have no Chat counterpart.
        break;
    }
    return out;
  }

  end(): OutboundEvent[] {
    if (this.terminated) return [];
    this.terminated = true;
    const out: OutboundEvent[] = [];
    this.ensureStarted(out);
    this.sendFinish(out);
    if (this.includeUsage) {
      const u = this.usage ?? { inputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 0, reasoningTokens: 0 };
      out.push({ data: this.base([], canonicalToChatUsage(u)) });
    }
    out.push({ data: "[DONE]" });
    return out;
  }

  /** A chunk with its head; `usage` is set only when given. */
  private base(choices: ChatChunk["choices"], usage?: ChatChunk["usage"]): ChatChunk {
    const chunk: ChatChunk = {
      id: this.id || `chatcmpl-${this.ctx.now}`,
      object: "chat.completion.chunk",
      created: this.created,
      model: this.ctx.clientModel,
      choices,
    };
    if (usage !== undefined) chunk.usage = usage;
    return chunk;
  }

  private chunk(delta: ChatDelta, finish: ChatFinishReason | null): OutboundEvent {
    const chunk = this.base([{ index: 0, delta, finish_reason: finish }]);
    // With include_usage, OpenAI sends `usage: null` on every chunk but the last.
    if (this.includeUsage) chunk.usage = null;
    return { data: chunk, json: undefined };
  }

  /**
   * A chunk of text or reasoning with its JSON written out (OutboundEvent.json): one goes to the
   * client for every token or two of an answer, and the text around its one string is cheaper to
   * write than `JSON.stringify`'s walk of the chunk (npm run bench:codecs, section 3b). Its head
   * (id, created, model) is the same on every chunk, so it is written once. The members are
   * `chunk`'s, in its order, so the text is what `JSON.stringify(data)` gives; a test holds every
   * encoder to that.
   */
  private text(member: "content" | "reasoning_content", text: string, out: OutboundEvent[]): void {
    if (this.finishSent) return;
    this.ensureStarted(out);
    const event = this.chunk({ [member]: text }, null);
    if (this.head === undefined) {
      const c = event.data as ChatChunk;
      this.head = `{"id":${JSON.stringify(c.id)},"object":${JSON.stringify(c.object)},"created":${JSON.stringify(c.created)},"model":${JSON.stringify(c.model)}`;
    }
    event.json = `${this.head},"choices":[{"index":0,"delta":{"${member}":${JSON.stringify(text)}},"finish_reason":null}]${this.includeUsage ? ',"usage":null' : ""}}`;
    out.push(event);
  }

  private ensureStarted(out: OutboundEvent[]): void {
    if (this.started) return;
    this.started = true;
    out.push(this.chunk({ role: "assistant", content: "" }, null));
  }

  private content(delta: ChatDelta, out: OutboundEvent[]): void {
    if (this.finishSent) return;
    this.ensureStarted(out);
    out.push(this.chunk(delta, null));
  }

  private sendFinish(out: OutboundEvent[]): void {
    if (this.finishSent) return;
    this.ensureStarted(out);
    this.finishSent = true;
    let reason = this.finish ?? (this.tools.size > 0 ? "tool-calls" : "stop");
    if (reason === "stop" && this.tools.size > 0) reason = "tool-calls";
    out.push(this.chunk({}, canonicalToChatFinish(reason)));
  }
}

export function createChatStreamEncoder(ctx: TranslationContext): StreamEncoder {
  return new ChatStreamEncoder(ctx);
}
