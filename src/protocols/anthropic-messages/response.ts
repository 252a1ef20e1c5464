/**
 * Non-streamed Anthropic messages (docs/protocols.md#anthropic-response-and-usage): upstream body →
 * CanonicalResponse, CanonicalResponse → client body, and the fold of an
 * Anthropic event stream into the message it describes.
 */
import type { ContentPart } from "../../canonical/request.js";
import type { CanonicalResponse } from "../../canonical/response.js";
import { GatewayError } from "../../canonical/errors.js";
import type { TranslationContext } from "../codec.js";
import { sanitizeToolUseId } from "../common/tool-names.js";
import { isRecord, tryParseJson, type JsonObject } from "../common/guards.js";
import { anthropicStopToFinish, finishToAnthropicStop } from "./stop-reason.js";
import { anthropicUsageFromJson, emptyAnthropicUsage, mergeAnthropicUsage } from "./meter.js";
import { canonicalToAnthropicUsage } from "./usage.js";
import type { AnthropicMessage, AnthropicResponseBlock } from "./wire.js";
import { withMembers } from "../../canonical/shared-shape.js";

export function decodeAnthropicResponse(body: unknown, ctx: TranslationContext): CanonicalResponse {
  if (!isRecord(body) || !Array.isArray(body.content)) {
    throw new GatewayError("upstream", "upstream_bad_answer", "The Anthropic upstream answered with something that is not a message.");
  }
  const content: ContentPart[] = [];
  for (const raw of body.content) {
    if (!isRecord(raw)) continue;
    if (raw.type === "text" && typeof raw.text === "string") {
      content.push({ type: "text", text: raw.text });
    } else if (raw.type === "thinking" && typeof raw.thinking === "string") {
      content.push(
        typeof raw.signature === "string" && raw.signature !== ""
          ? { type: "reasoning", text: raw.thinking, signature: raw.signature }
          : { type: "reasoning", text: raw.thinking },
      );
    } else if (raw.type === "redacted_thinking" && typeof raw.data === "string") {
      content.push({ type: "reasoning", text: "", redacted: raw.data });
    } else if (raw.type === "tool_use" && typeof raw.name === "string") {
      content.push({
        type: "tool-call",
        callId: typeof raw.id === "string" ? raw.id : "",
        name: ctx.toolNames.get(raw.name) ?? raw.name,
        arguments: JSON.stringify(isRecord(raw.input) ? raw.input : {}),
      });
    } else {
      ctx.warnings.push({ code: "content_block_dropped", message: `Anthropic block "${String(raw.type)}" has no canonical form; dropped.` });
    }
  }
  const res: CanonicalResponse = {
    meta: {
      id: typeof body.id === "string" ? body.id : "",
      model: typeof body.model === "string" ? body.model : "",
      created: ctx.now,
    },
    content,
    finishReason: anthropicStopToFinish(body.stop_reason),
    usage: anthropicUsageFromJson(body),
  };
  if (typeof body.stop_sequence === "string") res.stopSequence = body.stop_sequence;
  return res;
}

function encodeBlock(p: ContentPart, ctx: TranslationContext): AnthropicResponseBlock | undefined {
  switch (p.type) {
    case "text":
      return p.text === "" ? undefined : { type: "text", text: p.text };
    case "reasoning":
      if (p.redacted !== undefined) return { type: "redacted_thinking", data: p.redacted };
      if (p.text === "" && !p.signature) return undefined;
      return { type: "thinking", thinking: p.text, signature: p.signature ?? "" };
    case "tool-call": {
      const parsed = p.arguments.trim() === "" ? {} : tryParseJson(p.arguments);
      if (!isRecord(parsed))
        ctx.warnings.push({ code: "tool_arguments_invalid", message: `Tool call ${p.callId} arguments are not a JSON object; sent as {}.` });
      return { type: "tool_use", id: sanitizeToolUseId(p.callId), name: p.name, input: isRecord(parsed) ? parsed : {} };
    }
    default:
      return undefined;
  }
}

export function encodeAnthropicResponse(res: CanonicalResponse, ctx: TranslationContext): AnthropicMessage {
  const content: AnthropicResponseBlock[] = [];
  for (const p of res.content) {
    const b = encodeBlock(p, ctx);
    if (b) content.push(b);
  }
  const hasTool = content.some((b) => b.type === "tool_use");
  const reason = res.finishReason === "stop" && hasTool ? "tool-calls" : res.finishReason;
  return {
    id: res.meta.id || `msg_${ctx.now}`,
    type: "message",
    role: "assistant",
    model: ctx.clientModel,
    content,
    stop_reason: finishToAnthropicStop(reason),
    stop_sequence: res.stopSequence ?? null,
    usage: canonicalToAnthropicUsage(res.usage),
  };
}

/**
 * Folds Anthropic stream events (already parsed `data` objects) into the
 * message they describe — what the same answer looks like non-streamed.
 */
export function foldAnthropicStream(events: readonly unknown[]): AnthropicMessage | undefined {
  let msg: AnthropicMessage | undefined;
  let usage = emptyAnthropicUsage();
  const blocks: JsonObject[] = [];
  const json = new Map<number, string>();
  for (const e of events) {
    if (!isRecord(e)) continue;
    if (e.type === "message_start" && isRecord(e.message)) {
      usage = mergeAnthropicUsage(usage, e.message.usage);
      msg = withMembers(e.message as unknown as AnthropicMessage, { content: [] });
    } else if (e.type === "content_block_start" && typeof e.index === "number" && isRecord(e.content_block)) {
      blocks[e.index] = { ...e.content_block };
    } else if (e.type === "content_block_delta" && typeof e.index === "number" && isRecord(e.delta)) {
      const b = blocks[e.index];
      const d = e.delta;
      if (!b) continue;
      if (d.type === "text_delta") b.text = String(b.text ?? "") + String(d.text);
      else if (d.type === "thinking_delta") b.thinking = String(b.thinking ?? "") + String(d.thinking);
      else if (d.type === "signature_delta") b.signature = d.signature;
      else if (d.type === "input_json_delta") json.set(e.index, (json.get(e.index) ?? "") + String(d.partial_json));
    } else if (e.type === "content_block_stop" && typeof e.index === "number") {
      const b = blocks[e.index];
      const text = json.get(e.index);
      if (b && b.type === "tool_use") b.input = text === undefined || text === "" ? {} : (tryParseJson(text) ?? {});
    } else if (e.type === "message_delta" && msg) {
      usage = mergeAnthropicUsage(usage, e.usage);
      if (isRecord(e.delta)) {
        msg.stop_reason = (e.delta.stop_reason ?? null) as AnthropicMessage["stop_reason"];
        msg.stop_sequence = typeof e.delta.stop_sequence === "string" ? e.delta.stop_sequence : null;
      }
    }
  }
  if (!msg) return undefined;
  msg.content = blocks.filter((b) => b !== undefined) as unknown as AnthropicResponseBlock[];
  msg.usage = usage;
  return msg;
}
