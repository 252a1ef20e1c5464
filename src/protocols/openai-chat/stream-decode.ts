/**
 * Upstream Chat Completions chunks → canonical stream parts (docs/protocols.md#chat-streaming).
 * - Only choice 0 is read (the gateway never asks for n > 1).
 * - `reasoning_content` (and `reasoning`, as vLLM/OpenRouter name it) becomes
 *   reasoning parts; content closes an open reasoning block and vice versa.
 * - Tool call fragments are joined by `index`; a call starts once its name is
 *   known and closes at `finish_reason`. Names are mapped back through ctx.toolNames.
 * - `{error:{…}}` inside a 200 stream is an error part.
 * - A stream that ends with neither a finish_reason nor `[DONE]` is an error;
 *   either one alone counts as complete (some compatible servers omit `[DONE]`).
 */
import type { StreamPart } from "../../canonical/stream.js";
import type { InboundEvent, StreamDecoder, TranslationContext } from "../codec.js";
import { chatErrorPayloadToStreamError } from "./errors.js";
import { chatFinishToCanonical } from "./finish-reason.js";
import { isRecord, tryParseJson, type JsonObject } from "../common/guards.js";
import { readChatUsage } from "./meter.js";
import { RepeatedChunks } from "./repeated-chunk.js";

interface ToolState {
  id: string;
  callId: string | undefined;
  name: string | undefined;
  /** Arguments received before the name was known. */
  pending: string;
  args: string;
  started: boolean;
}

export class ChatStreamDecoder implements StreamDecoder {
  private started = false;
  private done = false;
  private finished = false;
  private text: string | undefined;
  private reasoning: string | undefined;
  private blockSeq = 0;
  private readonly tools = new Map<number, ToolState>();
  private readonly repeats = new RepeatedChunks();

  constructor(private readonly ctx: TranslationContext) {}

  push(ev: InboundEvent): StreamPart[] {
    if (this.done) return [];
    const raw = ev.data.trim();
    if (raw === "[DONE]") {
      this.done = true;
      // [DONE] without a finish_reason: close what is open and finish plainly.
      return this.finished ? [] : this.finish(null);
    }
    if (raw === "") return [];
    // Most chunks of an answer repeat the one before but for their text (repeated-chunk.ts).
    const repeated = this.started ? this.repeats.read(raw) : undefined;
    if (repeated !== undefined) {
      const out: StreamPart[] = [];
      if (!this.finished) this.delta(repeated.member === "content" ? { content: repeated.text } : { reasoning_content: repeated.text }, out);
      return out;
    }
    const chunk = tryParseJson(raw);
    if (!isRecord(chunk)) return this.fail("upstream sent a chunk that is not a JSON object");
    this.repeats.learn(raw, chunk);
    if (chunk.error !== undefined && chunk.error !== null) {
      this.done = true;
      return [{ type: "error", error: chatErrorPayloadToStreamError(chunk) }];
    }
    const out: StreamPart[] = [];
    if (!this.started) {
      this.started = true;
      out.push({
        type: "response-start",
        meta: {
          id: typeof chunk.id === "string" ? chunk.id : "",
          model: typeof chunk.model === "string" ? chunk.model : "",
          created: typeof chunk.created === "number" ? chunk.created : this.ctx.now,
        },
      });
    }
    const choice = Array.isArray(chunk.choices) ? chunk.choices.find((c) => isRecord(c) && (c.index ?? 0) === 0) : undefined;
    if (isRecord(choice) && !this.finished) {
      if (isRecord(choice.delta)) this.delta(choice.delta, out);
      if (typeof choice.finish_reason === "string") out.push(...this.finish(choice.finish_reason));
    }
    const usage = readChatUsage(chunk.usage);
    if (usage) out.push({ type: "usage", usage });
    return out;
  }

  end(): StreamPart[] {
    if (this.done) return [];
    this.done = true;
    if (this.finished) return [];
    return [{ type: "error", error: { kind: "upstream", message: "The upstream stream ended before a finish_reason or [DONE].", code: "stream_truncated" } }];
  }

  private fail(message: string): StreamPart[] {
    this.done = true;
    return [{ type: "error", error: { kind: "upstream", message, code: "bad_chunk" } }];
  }

  private nextId(prefix: string): string {
    return `${prefix}${this.blockSeq++}`;
  }

  private closeText(out: StreamPart[]): void {
    if (this.text === undefined) return;
    out.push({ type: "text-end", id: this.text });
    this.text = undefined;
  }

  private closeReasoning(out: StreamPart[]): void {
    if (this.reasoning === undefined) return;
    out.push({ type: "reasoning-end", id: this.reasoning });
    this.reasoning = undefined;
  }

  private delta(d: JsonObject, out: StreamPart[]): void {
    const reasoning = typeof d.reasoning_content === "string" ? d.reasoning_content : typeof d.reasoning === "string" ? d.reasoning : "";
    if (reasoning !== "") {
      this.closeText(out);
      this.reasoning ??= this.open("reasoning-start", "r", out);
      out.push({ type: "reasoning-delta", id: this.reasoning, delta: reasoning });
    }
    const content = typeof d.content === "string" ? d.content : typeof d.refusal === "string" ? d.refusal : "";
    if (content !== "") {
      this.closeReasoning(out);
      this.text ??= this.open("text-start", "t", out);
      out.push({ type: "text-delta", id: this.text, delta: content });
    }
    if (Array.isArray(d.tool_calls)) {
      d.tool_calls.forEach((raw, k) => {
        if (isRecord(raw)) this.toolDelta(raw, k, out);
      });
    }
  }

  private open(type: "text-start" | "reasoning-start", prefix: string, out: StreamPart[]): string {
    const id = this.nextId(prefix);
    out.push({ type, id });
    return id;
  }

  private toolDelta(raw: JsonObject, position: number, out: StreamPart[]): void {
    const index = typeof raw.index === "number" ? raw.index : position;
    let tool = this.tools.get(index);
    if (!tool) {
      this.closeText(out);
      this.closeReasoning(out);
      tool = { id: this.nextId("c"), callId: undefined, name: undefined, pending: "", args: "", started: false };
      this.tools.set(index, tool);
    }
    const fn = isRecord(raw.function) ? raw.function : {};
    if (typeof raw.id === "string" && raw.id !== "" && tool.callId === undefined) tool.callId = raw.id;
    if (typeof fn.name === "string" && fn.name !== "" && tool.name === undefined) tool.name = fn.name;
    const args = typeof fn.arguments === "string" ? fn.arguments : "";
    if (!tool.started && tool.name !== undefined) this.startTool(tool, index, out);
    if (args === "") return;
    if (tool.started) {
      tool.args += args;
      out.push({ type: "tool-call-delta", id: tool.id, delta: args });
    } else {
      tool.pending += args;
    }
  }

  private startTool(tool: ToolState, index: number, out: StreamPart[]): void {
    tool.started = true;
    const name = tool.name ?? "";
    out.push({ type: "tool-call-start", id: tool.id, callId: tool.callId ?? `call_missing_${index}`, name: this.ctx.toolNames.get(name) ?? name });
    if (tool.pending !== "") {
      tool.args = tool.pending;
      out.push({ type: "tool-call-delta", id: tool.id, delta: tool.pending });
      tool.pending = "";
    }
  }

  private finish(reason: string | null): StreamPart[] {
    this.finished = true;
    const out: StreamPart[] = [];
    this.closeText(out);
    this.closeReasoning(out);
    for (const [index, tool] of this.tools) {
      if (!tool.started) this.startTool(tool, index, out);
      out.push({ type: "tool-call-end", id: tool.id, arguments: tool.args === "" ? "{}" : tool.args });
    }
    let finish = chatFinishToCanonical(reason);
    // Some servers say "stop" after tool calls; the client must still run them.
    if (finish === "stop" && this.tools.size > 0) finish = "tool-calls";
    out.push({ type: "finish", reason: finish });
    return out;
  }
}

export function createChatStreamDecoder(ctx: TranslationContext): StreamDecoder {
  return new ChatStreamDecoder(ctx);
}
