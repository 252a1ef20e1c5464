/**
 * Anthropic Messages, `POST /v1/messages` (docs/protocols.md#anthropic-messages) and
 * `POST /v1/messages/count_tokens`. Query strings such as `?beta=true` are accepted.
 *
 * Like the real API, thinking blocks appear only when the request enables
 * thinking (`enabled` or `adaptive`); `display:"omitted"` sends an empty
 * thinking text with its signature.
 */
import { createHash } from "node:crypto";
import { sseFrame } from "../transport/sse.js";
import {
  type HttpReply,
  JSON_HEADERS,
  type JsonObject,
  type ProtocolAdapter,
  type RenderContext,
  SSE_HEADERS,
  bearer,
  isObject,
  num,
  str,
  textOf,
} from "./adapter.js";
import { thinkingSignature } from "./ids.js";
import { type ReplyPlan, type RequestFacts, type ToolDecl, chunkText } from "./plan.js";
import type { RecordedRequest, Scenario } from "./types.js";
import { type CacheProbe, type MockUsage, tokensForBytes } from "./usage.js";

const TEXT_BLOCKS = new Set(["text"]);
const CACHE_MARKER = /,?\s*"cache_control"\s*:\s*\{[^}]*\}/g;

/** Error type by HTTP status (docs/protocols.md#anthropic-errors). */
export const ANTHROPIC_ERROR_TYPES: Readonly<Record<number, string>> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  504: "timeout_error",
  529: "overloaded_error",
};

const DEFAULT_MESSAGES: Readonly<Record<string, string>> = {
  rate_limit_error: "Number of request tokens has exceeded your per-minute rate limit",
  overloaded_error: "Overloaded",
  api_error: "Internal server error",
  authentication_error: "invalid x-api-key",
};

export function anthropicError(status: number, message: string | undefined, requestId: string, scenario?: Scenario): HttpReply {
  const type = ANTHROPIC_ERROR_TYPES[status] ?? (status >= 500 ? "api_error" : "invalid_request_error");
  const body = { type: "error", error: { type, message: message ?? DEFAULT_MESSAGES[type] ?? `Request failed with status ${status}` }, request_id: requestId };
  const headers: Record<string, string> = { ...JSON_HEADERS, "request-id": requestId };
  if (scenario?.retryAfter !== undefined) headers["retry-after"] = scenario.retryAfter;
  return { status, headers, body: JSON.stringify(body) };
}

/** Headers and the fields both /v1/messages and count_tokens require. */
function checkCommon(req: RecordedRequest, body: JsonObject, requestId: string): HttpReply | undefined {
  if (!req.headers["x-api-key"] && !bearer(req.headers)) return anthropicError(401, "x-api-key header is required", requestId);
  if (!req.headers["anthropic-version"]) return anthropicError(400, "anthropic-version: header is required", requestId);
  if (typeof body.model !== "string" || body.model === "") return anthropicError(400, "model: Field required", requestId);
  if (!Array.isArray(body.messages)) return anthropicError(400, "messages: Field required", requestId);
  return undefined;
}

function validate(req: RecordedRequest, body: JsonObject, requestId: string): HttpReply | undefined {
  const common = checkCommon(req, body, requestId);
  if (common) return common;
  const maxTokens = body.max_tokens;
  if (maxTokens === undefined) return anthropicError(400, "max_tokens: Field required", requestId);
  if (typeof maxTokens !== "number" || !Number.isInteger(maxTokens) || maxTokens < 1) {
    return anthropicError(400, "max_tokens: Input should be a valid integer greater than or equal to 1", requestId);
  }
  if (Array.isArray(body.messages) && body.messages.length === 0) {
    return anthropicError(400, "messages: at least one message is required", requestId);
  }
  const thinking = body.thinking;
  if (isObject(thinking) && thinking.type === "enabled") {
    const budget = num(thinking.budget_tokens);
    if (budget === undefined || budget < 1024)
      return anthropicError(400, "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024", requestId);
    if (budget >= maxTokens) return anthropicError(400, "`max_tokens` must be greater than `thinking.budget_tokens`", requestId);
  }
  if (isObject(thinking) && thinking.type === "enabled") {
    const unsigned = toolLoopWithoutThinking(body.messages as unknown[]);
    if (unsigned) return anthropicError(400, unsigned, requestId);
  }
  return undefined;
}

/**
 * With thinking enabled (a budget), a tool loop must replay the thinking that started it: when
 * the conversation ends in tool results, the last assistant message (the one that made the
 * calls) must begin with a `thinking` or `redacted_thinking` block. The real API refuses the
 * request otherwise, with this message (quoted from its 400s, seen in many client and gateway
 * issue threads): https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#preserving-thinking-blocks
 * Not checked for `adaptive` thinking, where the model may answer without thinking at all, so
 * there can be nothing to replay: Claude Code (adaptive) sends such loops, and the API takes them.
 */
function toolLoopWithoutThinking(messages: unknown[]): string | undefined {
  const last = messages.at(-1);
  const blocks = (m: unknown): unknown[] => (isObject(m) && Array.isArray(m.content) ? m.content : []);
  if (!isObject(last) || last.role !== "user" || !blocks(last).some((b) => isObject(b) && b.type === "tool_result")) return undefined;
  const at = messages.findLastIndex((m) => isObject(m) && m.role === "assistant");
  if (at < 0) return undefined;
  const content = blocks(messages[at]);
  if (!content.some((b) => isObject(b) && b.type === "tool_use")) return undefined;
  const first = content[0];
  const type = isObject(first) ? str(first.type) : undefined;
  if (type === "thinking" || type === "redacted_thinking") return undefined;
  return (
    `messages.${at}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${type ?? "text"}\`. ` +
    "When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks). " +
    "We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. " +
    "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
  );
}

/** `POST /v1/messages/count_tokens`: the same estimate the messages endpoint reports. */
export function countTokens(req: RecordedRequest, body: JsonObject, requestId: string): HttpReply {
  const invalid = checkCommon(req, body, requestId);
  if (invalid) return invalid;
  return {
    status: 200,
    headers: { ...JSON_HEADERS, "request-id": requestId },
    body: JSON.stringify({ input_tokens: tokensForBytes(req.body.length) }),
  };
}

function cacheProbe(req: RecordedRequest, body: JsonObject, model: string, inputTokens: number): CacheProbe | undefined {
  let prefixBytes: number;
  if (isObject(body.cache_control)) prefixBytes = req.body.length;
  else {
    prefixBytes = req.body.lastIndexOf('"cache_control"');
    if (prefixBytes < 0) return undefined;
  }
  // The start of the body identifies the conversation cheaply (hashing 75 KB per request would not be).
  // Breakpoint markers move between turns without changing the prefix, so they are left out.
  const start = req.body.subarray(0, Math.min(2048, prefixBytes)).toString("latin1").replace(CACHE_MARKER, "").slice(0, 1024);
  const head = createHash("sha1").update(start).digest("hex");
  return { mode: "anthropic", key: `anthropic:${model}:${head}`, prefixTokens: Math.min(inputTokens, tokensForBytes(prefixBytes)) };
}

function facts(req: RecordedRequest, body: JsonObject): RequestFacts {
  const messages: unknown[] = Array.isArray(body.messages) ? body.messages : [];
  let lastUserText = "";
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (!isObject(m) || m.role !== "user") continue;
    const text = textOf(m.content, TEXT_BLOCKS);
    if (text) {
      lastUserText = text;
      break;
    }
  }
  const last = messages[messages.length - 1];
  const endsWithToolResult =
    isObject(last) && last.role === "user" && Array.isArray(last.content) && last.content.some((b) => isObject(b) && b.type === "tool_result");
  const tools: ToolDecl[] = [];
  if (Array.isArray(body.tools)) {
    for (const t of body.tools) {
      if (isObject(t) && typeof t.name === "string" && isObject(t.input_schema)) tools.push({ name: t.name, schema: t.input_schema });
    }
  }
  const tc = body.tool_choice;
  let toolChoice: RequestFacts["toolChoice"];
  if (isObject(tc)) {
    if (tc.type === "none") toolChoice = "none";
    else if (tc.type === "any") toolChoice = "any";
    else if (tc.type === "tool" && typeof tc.name === "string") toolChoice = { name: tc.name };
  }
  const model = str(body.model) ?? "";
  const inputTokens = tokensForBytes(req.body.length);
  return {
    model,
    stream: body.stream === true,
    lastUserText,
    endsWithToolResult,
    tools,
    toolChoice,
    parallelToolCalls: !(isObject(tc) && tc.disable_parallel_tool_use === true),
    maxOutputTokens: num(body.max_tokens),
    inputTokens,
    cache: cacheProbe(req, body, model, inputTokens),
  };
}

export interface AnthropicUsage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  output_tokens: number;
  output_tokens_details?: { thinking_tokens: number };
}

/**
 * Anthropic convention: input_tokens excludes cache reads and cache writes. With `thinking`
 * (a thinking block was produced), thinking's share of output_tokens is reported beside it;
 * it is known once the answer is done, so the message_start usage never has it.
 */
export function anthropicUsage(u: MockUsage, thinking = false): AnthropicUsage {
  const out: AnthropicUsage = {
    input_tokens: u.inputTokens - u.cachedTokens - u.cacheWriteTokens,
    cache_creation_input_tokens: u.cacheWriteTokens,
    cache_read_input_tokens: u.cachedTokens,
    output_tokens: u.outputTokens,
  };
  if (thinking && u.reasoningTokens > 0) out.output_tokens_details = { thinking_tokens: u.reasoningTokens };
  return out;
}

function stopReason(plan: ReplyPlan): string {
  return plan.finish === "tool_calls" ? "tool_use" : plan.finish === "length" ? "max_tokens" : "end_turn";
}

type Block =
  { type: "thinking"; thinking: string; signature: string } | { type: "text"; text: string } | { type: "tool_use"; id: string; name: string; input: unknown };

function thinkingMode(body: JsonObject): "shown" | "omitted" | "off" {
  const t = body.thinking;
  if (!isObject(t) || (t.type !== "enabled" && t.type !== "adaptive")) return "off";
  return t.display === "omitted" ? "omitted" : "shown";
}

/** Whether the answer has a thinking block. */
function thinks(plan: ReplyPlan, body: JsonObject): boolean {
  return plan.reasoning !== undefined && thinkingMode(body) !== "off";
}

function blocksFor(plan: ReplyPlan, body: JsonObject, ctx: RenderContext, msgId: string): Block[] {
  const blocks: Block[] = [];
  const mode = thinkingMode(body);
  if (plan.reasoning && mode !== "off") {
    blocks.push({ type: "thinking", thinking: mode === "omitted" ? "" : plan.reasoning.join("\n\n"), signature: thinkingSignature(msgId) });
  }
  if (plan.text !== undefined) blocks.push({ type: "text", text: plan.text });
  for (const c of plan.toolCalls) blocks.push({ type: "tool_use", id: ctx.ids.next("toolu_"), name: c.name, input: JSON.parse(c.arguments) });
  return blocks;
}

function fullUsage(u: MockUsage, thinking = false): Record<string, unknown> {
  const a = anthropicUsage(u, thinking);
  return {
    ...a,
    cache_creation: { ephemeral_5m_input_tokens: a.cache_creation_input_tokens, ephemeral_1h_input_tokens: 0 },
    service_tier: "standard",
  };
}

function renderJson(plan: ReplyPlan, f: RequestFacts, body: JsonObject, ctx: RenderContext): HttpReply {
  if (plan.finish === "error") return anthropicError(529, ctx.scenario.errorMessage, ctx.requestId, ctx.scenario);
  const id = ctx.ids.next("msg_");
  const message = {
    id,
    type: "message",
    role: "assistant",
    model: f.model,
    content: blocksFor(plan, body, ctx, id),
    stop_reason: stopReason(plan),
    stop_sequence: null,
    usage: fullUsage(plan.usage, thinks(plan, body)),
  };
  return { status: 200, headers: { ...JSON_HEADERS, "request-id": ctx.requestId }, body: JSON.stringify(message) };
}

function renderStream(plan: ReplyPlan, f: RequestFacts, body: JsonObject, ctx: RenderContext): string[] {
  const frames: string[] = [];
  const emit = (type: string, fields: Record<string, unknown>): void => {
    frames.push(sseFrame(type, JSON.stringify({ type, ...fields })));
  };
  const id = ctx.ids.next("msg_");
  const startUsage = { ...fullUsage(plan.usage), output_tokens: 1 };
  emit("message_start", {
    message: { id, type: "message", role: "assistant", model: f.model, content: [], stop_reason: null, stop_sequence: null, usage: startUsage },
  });
  const blocks = blocksFor(plan, body, ctx, id);
  const open = (index: number, content_block: Record<string, unknown>): void => {
    emit("content_block_start", { index, content_block });
    // Where the docs' example stream sends its ping: right after the first block opens.
    if (index === 0) frames.push(sseFrame("ping", `{"type":"ping"}`));
  };
  let callIndex = 0;
  for (let index = 0; index < blocks.length; index++) {
    const b = blocks[index];
    if (!b) continue;
    if (b.type === "thinking") {
      open(index, { type: "thinking", thinking: "", signature: "" });
      for (const piece of b.thinking ? chunkText(b.thinking, 16) : [])
        emit("content_block_delta", { index, delta: { type: "thinking_delta", thinking: piece } });
      emit("content_block_delta", { index, delta: { type: "signature_delta", signature: b.signature } });
    } else if (b.type === "text") {
      open(index, { type: "text", text: "" });
      for (const piece of plan.textChunks) emit("content_block_delta", { index, delta: { type: "text_delta", text: piece } });
      if (plan.finish === "error") break;
    } else {
      open(index, { type: "tool_use", id: b.id, name: b.name, input: {} });
      const call = plan.toolCalls[callIndex++];
      for (const partial_json of ["", ...(call?.fragments ?? [])]) emit("content_block_delta", { index, delta: { type: "input_json_delta", partial_json } });
    }
    emit("content_block_stop", { index });
  }
  if (plan.finish === "error") {
    const type = typeof ctx.scenario.streamError === "string" ? ctx.scenario.streamError : "overloaded_error";
    frames.push(
      sseFrame("error", JSON.stringify({ type: "error", error: { type, message: ctx.scenario.errorMessage ?? DEFAULT_MESSAGES[type] ?? "Overloaded" } })),
    );
    return frames;
  }
  emit("message_delta", { delta: { stop_reason: stopReason(plan), stop_sequence: null }, usage: anthropicUsage(plan.usage, thinks(plan, body)) });
  emit("message_stop", {});
  return frames;
}

export const anthropicMessages: ProtocolAdapter = {
  protocol: "anthropic-messages",
  validate,
  facts,
  error: anthropicError,
  streamHeaders: (requestId) => ({ ...SSE_HEADERS, "request-id": requestId }),
  renderJson,
  renderStream,
};
