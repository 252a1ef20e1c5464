/**
 * Non-streamed Chat completions (docs/protocols.md#chat-response-and-usage): upstream body →
 * CanonicalResponse, CanonicalResponse → client body, and the fold of a chunk
 * stream into the completion it describes.
 */
import { GatewayError } from "../../canonical/errors.js";
import type { ContentPart } from "../../canonical/request.js";
import type { CanonicalResponse } from "../../canonical/response.js";
import { emptyUsage } from "../../canonical/usage.js";
import type { TranslationContext } from "../codec.js";
import { canonicalToChatFinish, chatFinishToCanonical } from "./finish-reason.js";
import { isRecord } from "../common/guards.js";
import { chatUsageFromJson } from "./meter.js";
import { canonicalToChatUsage } from "./usage.js";
import type { ChatCompletion, ChatFinishReason, ChatToolCall, ChatUsage } from "./wire.js";
import { withMembers } from "../../canonical/shared-shape.js";

export function decodeChatResponse(body: unknown, ctx: TranslationContext): CanonicalResponse {
  const choice = isRecord(body) && Array.isArray(body.choices) ? body.choices[0] : undefined;
  if (!isRecord(body) || !isRecord(choice) || !isRecord(choice.message)) {
    throw new GatewayError("upstream", "upstream_bad_answer", "The Chat upstream answered without choices[0].message.");
  }
  const msg = choice.message;
  const content: ContentPart[] = [];
  const reasoning = typeof msg.reasoning_content === "string" ? msg.reasoning_content : typeof msg.reasoning === "string" ? msg.reasoning : "";
  if (reasoning !== "") content.push({ type: "reasoning", text: reasoning });
  if (typeof msg.content === "string" && msg.content !== "") content.push({ type: "text", text: msg.content });
  if (typeof msg.refusal === "string" && msg.refusal !== "") content.push({ type: "text", text: msg.refusal });
  const calls = Array.isArray(msg.tool_calls) ? msg.tool_calls : [];
  calls.forEach((raw, i) => {
    if (!isRecord(raw) || !isRecord(raw.function)) return;
    const name = typeof raw.function.name === "string" ? raw.function.name : "";
    content.push({
      type: "tool-call",
      callId: typeof raw.id === "string" && raw.id !== "" ? raw.id : `call_missing_${i}`,
      name: ctx.toolNames.get(name) ?? name,
      arguments: typeof raw.function.arguments === "string" ? raw.function.arguments : "{}",
    });
  });
  let finishReason = chatFinishToCanonical(choice.finish_reason);
  if (finishReason === "stop" && calls.length > 0) finishReason = "tool-calls";
  return {
    meta: {
      id: typeof body.id === "string" ? body.id : "",
      model: typeof body.model === "string" ? body.model : "",
      created: typeof body.created === "number" ? body.created : ctx.now,
    },
    content,
    finishReason,
    usage: chatUsageFromJson(body),
  };
}

export function encodeChatResponse(res: CanonicalResponse, ctx: TranslationContext): ChatCompletion {
  const texts: string[] = [];
  const reasoning: string[] = [];
  const calls: ChatToolCall[] = [];
  for (const p of res.content) {
    if (p.type === "text" && p.text !== "") texts.push(p.text);
    else if (p.type === "reasoning" && p.text !== "") reasoning.push(p.text);
    else if (p.type === "tool-call") {
      calls.push({ id: p.callId, type: "function", function: { name: p.name, arguments: p.arguments === "" ? "{}" : p.arguments } });
    }
  }
  const message: ChatCompletion["choices"][number]["message"] = {
    role: "assistant",
    content: texts.length > 0 ? texts.join("") : null,
    refusal: null,
  };
  if (reasoning.length > 0) message.reasoning_content = reasoning.join("");
  if (calls.length > 0) message.tool_calls = calls;
  const reason = res.finishReason === "stop" && calls.length > 0 ? "tool-calls" : res.finishReason;
  return {
    id: res.meta.id || `chatcmpl-${ctx.now}`,
    object: "chat.completion",
    created: res.meta.created || ctx.now,
    model: ctx.clientModel,
    choices: [{ index: 0, message, finish_reason: canonicalToChatFinish(reason), logprobs: null }],
    usage: canonicalToChatUsage(res.usage),
  };
}

/**
 * Folds Chat chunks (parsed `data` objects; `[DONE]` and error chunks are
 * skipped) into the completion they describe — the same answer non-streamed.
 */
export function foldChatStream(chunks: readonly unknown[]): ChatCompletion | undefined {
  let head: { id: string; created: number; model: string } | undefined;
  let content: string | null = null;
  let reasoning = "";
  let finish: ChatFinishReason = "stop";
  let usage: ChatUsage | undefined;
  const calls: ChatToolCall[] = [];
  for (const c of chunks) {
    if (!isRecord(c) || c.object !== "chat.completion.chunk") continue;
    head ??= { id: String(c.id), created: Number(c.created), model: String(c.model) };
    if (isRecord(c.usage)) usage = c.usage as unknown as ChatUsage;
    const choice = Array.isArray(c.choices) ? c.choices[0] : undefined;
    if (!isRecord(choice)) continue;
    if (typeof choice.finish_reason === "string") finish = choice.finish_reason as ChatFinishReason;
    const d = isRecord(choice.delta) ? choice.delta : {};
    if (typeof d.content === "string" && (d.content !== "" || content !== null)) content = (content ?? "") + d.content;
    if (typeof d.reasoning_content === "string") reasoning += d.reasoning_content;
    for (const t of Array.isArray(d.tool_calls) ? d.tool_calls : []) {
      if (!isRecord(t) || typeof t.index !== "number") continue;
      const fn = isRecord(t.function) ? t.function : {};
      const call = (calls[t.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } });
      if (typeof t.id === "string") call.id = t.id;
      if (typeof fn.name === "string") call.function.name = fn.name;
      if (typeof fn.arguments === "string") call.function.arguments += fn.arguments;
    }
  }
  if (!head) return undefined;
  const message: ChatCompletion["choices"][number]["message"] = { role: "assistant", content, refusal: null };
  if (reasoning !== "") message.reasoning_content = reasoning;
  if (calls.length > 0) message.tool_calls = calls.filter((c) => c !== undefined);
  return withMembers(head, {
    object: "chat.completion" as const,
    choices: [{ index: 0, message, finish_reason: finish, logprobs: null }],
    usage: usage ?? canonicalToChatUsage(emptyUsage()),
  });
}
