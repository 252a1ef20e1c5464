/**
 * OpenAI Chat Completions, `POST /v1/chat/completions` (docs/protocols.md#openai-chat-completions).
 * Streams are `data:` frames only, one `chat.completion.chunk` each, ending with
 * `data: [DONE]`. Reasoning is rendered as the de-facto `reasoning_content`
 * extension (DeepSeek, vLLM, many proxies), since OpenAI itself hides it.
 */
import { SSE_DONE, sseData } from "../transport/sse.js";
import { type HttpReply, JSON_HEADERS, type JsonObject, type ProtocolAdapter, type RenderContext, isObject, num, str, textOf } from "./adapter.js";
import { checkAuthAndModel, missingParam, openaiCacheProbe, openaiError, openaiScenarioError, openaiStreamHeaders, toolChoiceOf } from "./openai-shared.js";
import { type ReplyPlan, type RequestFacts, type ToolDecl, chunkText } from "./plan.js";
import type { RecordedRequest } from "./types.js";
import { type MockUsage, tokensForBytes } from "./usage.js";

const TEXT_PARTS = new Set(["text"]);

export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** `cache_write_tokens` only when the prompt wrote to the cache (OpenAI's explicit caching). */
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number; cache_write_tokens?: number };
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
}

/** OpenAI convention: prompt_tokens includes cached and cache-write tokens. */
export function chatUsage(u: MockUsage): ChatUsage {
  return {
    prompt_tokens: u.inputTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.inputTokens + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens, audio_tokens: 0, ...(u.cacheWriteTokens > 0 ? { cache_write_tokens: u.cacheWriteTokens } : {}) },
    completion_tokens_details: {
      reasoning_tokens: u.reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function finishReason(plan: ReplyPlan): string {
  return plan.finish === "tool_calls" ? "tool_calls" : plan.finish === "length" ? "length" : "stop";
}

function validate(req: RecordedRequest, body: JsonObject, requestId: string): HttpReply | undefined {
  const early = checkAuthAndModel(req, body, requestId);
  if (early) return early;
  if (!Array.isArray(body.messages)) return missingParam("messages", requestId);
  if (body.messages.length === 0) {
    return openaiError(400, "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", requestId, {
      param: "messages",
      code: "empty_array",
    });
  }
  if (body.stream_options !== undefined && body.stream_options !== null && body.stream !== true) {
    return openaiError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", requestId, {
      param: "stream_options",
    });
  }
  return undefined;
}

function facts(req: RecordedRequest, body: JsonObject): RequestFacts {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  let lastUserText = "";
  for (let i = messages.length - 1; i >= 0; i--) {
    const m: unknown = messages[i];
    if (isObject(m) && m.role === "user") {
      lastUserText = textOf(m.content, TEXT_PARTS);
      break;
    }
  }
  const last: unknown = messages[messages.length - 1];
  const tools: ToolDecl[] = [];
  if (Array.isArray(body.tools)) {
    for (const t of body.tools) {
      if (isObject(t) && t.type === "function" && isObject(t.function) && typeof t.function.name === "string") {
        tools.push({ name: t.function.name, schema: t.function.parameters });
      }
    }
  }
  const inputTokens = tokensForBytes(req.body.length);
  return {
    model: str(body.model) ?? "",
    stream: body.stream === true,
    lastUserText,
    endsWithToolResult: isObject(last) && (last.role === "tool" || last.role === "function"),
    tools,
    toolChoice: toolChoiceOf(body.tool_choice),
    parallelToolCalls: body.parallel_tool_calls !== false,
    maxOutputTokens: num(body.max_completion_tokens) ?? num(body.max_tokens),
    inputTokens,
    cache: openaiCacheProbe(body, inputTokens),
  };
}

interface ToolCallOut {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

function renderJson(plan: ReplyPlan, f: RequestFacts, _body: JsonObject, ctx: RenderContext): HttpReply {
  const message: Record<string, unknown> = {
    role: "assistant",
    content: plan.text ?? null,
    refusal: null,
    annotations: [],
  };
  if (plan.reasoning) message.reasoning_content = plan.reasoning.join("\n\n");
  if (plan.toolCalls.length > 0) {
    message.tool_calls = plan.toolCalls.map((c): ToolCallOut => ({
      id: ctx.ids.next("call_"),
      type: "function",
      function: { name: c.name, arguments: c.arguments },
    }));
  }
  const out = {
    id: ctx.ids.next("chatcmpl-"),
    object: "chat.completion",
    created: ctx.created,
    model: f.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason(plan) }],
    usage: chatUsage(plan.usage),
    service_tier: "default",
    system_fingerprint: "fp_mock",
  };
  return { status: 200, headers: { ...JSON_HEADERS, "x-request-id": ctx.requestId }, body: JSON.stringify(out) };
}

function renderStream(plan: ReplyPlan, f: RequestFacts, body: JsonObject, ctx: RenderContext): string[] {
  const includeUsage = isObject(body.stream_options) && body.stream_options.include_usage === true;
  const id = ctx.ids.next("chatcmpl-");
  // Built once: every chunk shares this prefix, so only the choice part is serialised per frame.
  const head = `{"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${ctx.created},"model":${JSON.stringify(f.model)},"service_tier":"default","system_fingerprint":"fp_mock","choices":`;
  const tail = includeUsage ? `,"usage":null}` : "}";
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
    sseData(`${head}[${JSON.stringify({ index: 0, delta, logprobs: null, finish_reason: finish })}]${tail}`);

  const frames: string[] = [chunk({ role: "assistant", content: plan.text === undefined ? null : "", refusal: null })];
  if (plan.reasoning) {
    for (const piece of chunkText(plan.reasoning.join("\n\n"), 16)) frames.push(chunk({ reasoning_content: piece }));
  }
  for (const piece of plan.textChunks) frames.push(chunk({ content: piece }));
  if (plan.finish === "error") {
    const err = {
      error: {
        message: ctx.scenario.errorMessage ?? "The server had an error while processing your request. Sorry about that!",
        type: "server_error",
        param: null,
        code: typeof ctx.scenario.streamError === "string" ? ctx.scenario.streamError : null,
      },
    };
    frames.push(sseData(JSON.stringify(err)));
    return frames;
  }
  plan.toolCalls.forEach((c, index) => {
    const callId = ctx.ids.next("call_");
    frames.push(chunk({ tool_calls: [{ index, id: callId, type: "function", function: { name: c.name, arguments: "" } }] }));
    for (const frag of c.fragments) frames.push(chunk({ tool_calls: [{ index, function: { arguments: frag } }] }));
  });
  frames.push(chunk({}, finishReason(plan)));
  if (includeUsage) {
    frames.push(sseData(`${head}[],"usage":${JSON.stringify(chatUsage(plan.usage))}}`));
  }
  frames.push(SSE_DONE);
  return frames;
}

export const openaiChat: ProtocolAdapter = {
  protocol: "openai-chat",
  validate,
  facts,
  error: openaiScenarioError,
  streamHeaders: openaiStreamHeaders,
  renderJson,
  renderStream,
};
