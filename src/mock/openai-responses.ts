/**
 * OpenAI Responses, `POST /v1/responses` (docs/protocols.md#responses-output-and-usage, docs/protocols.md#responses-streaming). Streams are
 * `event:` + `data:` frames with a `sequence_number` counting from 0 and no
 * `[DONE]`. The Codex backend flavour (codex.ts) reuses this renderer with
 * `codex: true`.
 *
 * Like the real API: reasoning summaries are streamed only when the request
 * sets `reasoning.summary`, and `encrypted_content` appears (on
 * output_item.done only) only when `include` has "reasoning.encrypted_content".
 */
import { sseFrame } from "../transport/sse.js";
import { type HttpReply, JSON_HEADERS, type JsonObject, type ProtocolAdapter, type RenderContext, isObject, num, str, textOf } from "./adapter.js";
import { encryptedContent } from "./ids.js";
import { checkAuthAndModel, openaiCacheProbe, openaiError, openaiScenarioError, openaiStreamHeaders, toolChoiceOf } from "./openai-shared.js";
import { type ReplyPlan, type RequestFacts, type ToolDecl, chunkText } from "./plan.js";
import type { RecordedRequest } from "./types.js";
import { type MockUsage, tokensForBytes } from "./usage.js";

const INPUT_TEXT = new Set(["input_text", "text"]);

export interface ResponsesUsage {
  input_tokens: number;
  /** `cache_write_tokens` only when the prompt wrote to the cache (OpenAI's explicit caching). */
  input_tokens_details: { cached_tokens: number; cache_write_tokens?: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** OpenAI convention: input_tokens includes cached and cache-write tokens, output_tokens includes reasoning. */
export function responsesUsage(u: MockUsage): ResponsesUsage {
  return {
    input_tokens: u.inputTokens,
    input_tokens_details: { cached_tokens: u.cachedTokens, ...(u.cacheWriteTokens > 0 ? { cache_write_tokens: u.cacheWriteTokens } : {}) },
    output_tokens: u.outputTokens,
    output_tokens_details: { reasoning_tokens: u.reasoningTokens },
    total_tokens: u.inputTokens + u.outputTokens,
  };
}

export function responsesFacts(req: RecordedRequest, body: JsonObject): RequestFacts {
  let lastUserText = "";
  let endsWithToolResult = false;
  if (typeof body.input === "string") {
    lastUserText = body.input;
  } else if (Array.isArray(body.input)) {
    const items: unknown[] = body.input;
    for (let i = items.length - 1; i >= 0; i--) {
      const it = items[i];
      if (isObject(it) && it.role === "user" && (it.type === undefined || it.type === "message")) {
        lastUserText = textOf(it.content, INPUT_TEXT);
        break;
      }
    }
    const last = items[items.length - 1];
    endsWithToolResult = isObject(last) && typeof last.type === "string" && last.type.endsWith("_call_output");
  }
  const tools: ToolDecl[] = [];
  if (Array.isArray(body.tools)) {
    for (const t of body.tools) {
      if (isObject(t) && t.type === "function" && typeof t.name === "string") tools.push({ name: t.name, schema: t.parameters });
      if (isObject(t) && t.type === "custom" && typeof t.name === "string") tools.push({ name: t.name, schema: undefined, freeform: { format: t.format } });
    }
  }
  const inputTokens = tokensForBytes(req.body.length);
  return {
    model: str(body.model) ?? "",
    stream: body.stream === true,
    lastUserText,
    endsWithToolResult,
    tools,
    toolChoice: toolChoiceOf(body.tool_choice),
    parallelToolCalls: body.parallel_tool_calls !== false,
    maxOutputTokens: num(body.max_output_tokens),
    inputTokens,
    cache: openaiCacheProbe(body, inputTokens),
  };
}

export interface ResponsesFlavour {
  /** Codex backend: `response.completed` carries `output: []`; optional `codex.rate_limits` first. */
  codex: boolean;
}

type Item = Record<string, unknown>;

/**
 * echoFields of bodies the mock reuses (parsed-bodies.ts; frozen, so the echo cannot change): the
 * instructions and tools are most of a Codex turn, and serialising them was the mock's largest cost
 * on the benchmark's Codex streams once the parse was reused.
 */
const echoOfReused = new WeakMap<JsonObject, string>();

/** The request fields a response object echoes, serialised once per request (once per body the mock reuses). */
function echoFields(body: JsonObject): string {
  if (!Object.isFrozen(body)) return serializedEcho(body);
  let echo = echoOfReused.get(body);
  if (echo === undefined) echoOfReused.set(body, (echo = serializedEcho(body)));
  return echo;
}

function serializedEcho(body: JsonObject): string {
  const reasoning = isObject(body.reasoning) ? body.reasoning : {};
  const echo = {
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    prompt_cache_key: body.prompt_cache_key ?? null,
    reasoning: { effort: reasoning.effort ?? null, summary: reasoning.summary ?? null },
    service_tier: body.service_tier ?? "default",
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: body.text ?? { format: { type: "text" }, verbosity: "medium" },
    tool_choice: body.tool_choice ?? "auto",
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
    truncation: body.truncation ?? "disabled",
    user: body.user ?? null,
    metadata: body.metadata ?? {},
  };
  return JSON.stringify(echo).slice(1, -1);
}

interface ResponseShell {
  id: string;
  created: number;
  model: string;
  echo: string;
}

function responseJson(
  s: ResponseShell,
  status: string,
  output: Item[],
  extra: { usage?: ResponsesUsage | null; error?: unknown; incomplete?: unknown } = {},
): string {
  return (
    `{"id":${JSON.stringify(s.id)},"object":"response","created_at":${s.created},"status":"${status}","background":false,` +
    `"error":${JSON.stringify(extra.error ?? null)},"incomplete_details":${JSON.stringify(extra.incomplete ?? null)},` +
    `"model":${JSON.stringify(s.model)},"output":${JSON.stringify(output)},"usage":${JSON.stringify(extra.usage ?? null)},${s.echo}}`
  );
}

function summaryRequested(body: JsonObject): boolean {
  const r = body.reasoning;
  if (!isObject(r)) return false;
  const s = r.summary ?? r.generate_summary;
  return s === "auto" || s === "concise" || s === "detailed";
}

function wantsEncrypted(body: JsonObject): boolean {
  return Array.isArray(body.include) && body.include.includes("reasoning.encrypted_content");
}

/** Final output items and how the run ended, shared by the JSON and stream renderers. */
function finalItems(plan: ReplyPlan, body: JsonObject, ids: RenderContext["ids"]): Item[] {
  const items: Item[] = [];
  if (plan.reasoning) {
    const rsId = ids.next("rs_");
    const item: Item = {
      id: rsId,
      type: "reasoning",
      summary: summaryRequested(body) ? plan.reasoning.map((text) => ({ type: "summary_text", text })) : [],
    };
    if (wantsEncrypted(body)) item.encrypted_content = encryptedContent(rsId);
    items.push(item);
  }
  if (plan.text !== undefined) {
    items.push({
      id: ids.next("msg_"),
      type: "message",
      status: plan.finish === "length" ? "incomplete" : "completed",
      content: [{ type: "output_text", annotations: [], logprobs: [], text: plan.text }],
      role: "assistant",
    });
  }
  for (const c of plan.toolCalls) {
    if (c.freeform)
      items.push({ id: ids.next("ctc_"), type: "custom_tool_call", status: "completed", call_id: ids.next("call_"), name: c.name, input: c.arguments });
    else items.push({ id: ids.next("fc_"), type: "function_call", status: "completed", arguments: c.arguments, call_id: ids.next("call_"), name: c.name });
  }
  return items;
}

function failure(ctx: RenderContext): { code: string; message: string } {
  return {
    code: typeof ctx.scenario.streamError === "string" ? ctx.scenario.streamError : "server_error",
    message: ctx.scenario.errorMessage ?? "An error occurred while processing your request.",
  };
}

export function renderResponsesJson(plan: ReplyPlan, f: RequestFacts, body: JsonObject, ctx: RenderContext): HttpReply {
  if (plan.finish === "error") return openaiError(500, failure(ctx).message, ctx.requestId);
  const shell: ResponseShell = { id: ctx.ids.next("resp_"), created: ctx.created, model: f.model, echo: echoFields(body) };
  const items = finalItems(plan, body, ctx.ids);
  const status = plan.finish === "length" ? "incomplete" : "completed";
  const incomplete = plan.finish === "length" ? { reason: "max_output_tokens" } : null;
  const json = responseJson(shell, status, items, { usage: responsesUsage(plan.usage), incomplete });
  return { status: 200, headers: { ...JSON_HEADERS, "x-request-id": ctx.requestId }, body: json };
}

export function renderResponsesStream(plan: ReplyPlan, f: RequestFacts, body: JsonObject, ctx: RenderContext, flavour: ResponsesFlavour): string[] {
  const frames: string[] = [];
  let seq = 0;
  const emit = (type: string, fields: Record<string, unknown>): void => {
    frames.push(sseFrame(type, JSON.stringify({ type, sequence_number: seq++, ...fields })));
  };
  const emitResponse = (type: string, responseJsonText: string): void => {
    frames.push(sseFrame(type, `{"type":"${type}","sequence_number":${seq++},"response":${responseJsonText}}`));
  };

  if (flavour.codex && ctx.scenario.rateLimits) frames.push(sseFrame("codex.rate_limits", JSON.stringify(rateLimitsEvent(ctx.created))));
  const shell: ResponseShell = { id: ctx.ids.next("resp_"), created: ctx.created, model: f.model, echo: echoFields(body) };
  emitResponse("response.created", responseJson(shell, "in_progress", []));
  emitResponse("response.in_progress", responseJson(shell, "in_progress", []));

  const items = finalItems(plan, body, ctx.ids);
  const done: Item[] = [];
  let callIndex = 0;
  items.forEach((item, output_index) => {
    const item_id = item.id;
    if (item.type === "reasoning") {
      emit("response.output_item.added", { output_index, item: { id: item_id, type: "reasoning", summary: [] } });
      const parts = Array.isArray(item.summary) ? (item.summary as Array<{ text: string }>) : [];
      parts.forEach((p, summary_index) => {
        emit("response.reasoning_summary_part.added", { item_id, output_index, summary_index, part: { type: "summary_text", text: "" } });
        for (const delta of chunkText(p.text, 16)) {
          emit("response.reasoning_summary_text.delta", { item_id, output_index, summary_index, delta });
        }
        emit("response.reasoning_summary_text.done", { item_id, output_index, summary_index, text: p.text });
        emit("response.reasoning_summary_part.done", { item_id, output_index, summary_index, part: { type: "summary_text", text: p.text } });
      });
    } else if (item.type === "message") {
      emit("response.output_item.added", { output_index, item: { id: item_id, type: "message", status: "in_progress", content: [], role: "assistant" } });
      const empty = { type: "output_text", annotations: [], logprobs: [], text: "" };
      emit("response.content_part.added", { item_id, output_index, content_index: 0, part: empty });
      for (const delta of plan.textChunks) {
        emit("response.output_text.delta", { item_id, output_index, content_index: 0, delta, logprobs: [] });
      }
      if (plan.finish === "error") return;
      const full = plan.text ?? "";
      emit("response.output_text.done", { item_id, output_index, content_index: 0, text: full, logprobs: [] });
      emit("response.content_part.done", { item_id, output_index, content_index: 0, part: { ...empty, text: full } });
    } else if (item.type === "custom_tool_call") {
      const call = plan.toolCalls[callIndex++];
      emit("response.output_item.added", { output_index, item: { ...item, status: "in_progress", input: "" } });
      for (const delta of call?.fragments ?? []) emit("response.custom_tool_call_input.delta", { item_id, output_index, delta });
      emit("response.custom_tool_call_input.done", { item_id, output_index, input: item.input });
    } else {
      const call = plan.toolCalls[callIndex++];
      emit("response.output_item.added", { output_index, item: { ...item, status: "in_progress", arguments: "" } });
      for (const delta of call?.fragments ?? []) emit("response.function_call_arguments.delta", { item_id, output_index, delta });
      emit("response.function_call_arguments.done", { item_id, output_index, name: item.name, arguments: item.arguments });
    }
    emit("response.output_item.done", { output_index, item });
    done.push(item);
  });

  const usage = responsesUsage(plan.usage);
  const output = flavour.codex ? [] : done;
  if (plan.finish === "error") {
    emitResponse("response.failed", responseJson(shell, "failed", output, { error: failure(ctx) }));
  } else if (plan.finish === "length") {
    emitResponse("response.incomplete", responseJson(shell, "incomplete", output, { usage, incomplete: { reason: "max_output_tokens" } }));
  } else {
    emitResponse("response.completed", responseJson(shell, "completed", output, { usage }));
  }
  return frames;
}

/** The in-band rate-limit snapshot the Codex backend may send (docs/protocols.md#codex-cli-over-websocket). */
export function rateLimitsEvent(now: number): Record<string, unknown> {
  return {
    type: "codex.rate_limits",
    plan_type: "plus",
    rate_limits: {
      primary: { used_percent: 12.5, window_minutes: 300, reset_at: now + 3600 },
      secondary: { used_percent: 3.0, window_minutes: 10080, reset_at: now + 86400 },
    },
    credits: { has_credits: false, unlimited: false, balance: null },
  };
}

function validate(req: RecordedRequest, body: JsonObject, requestId: string): HttpReply | undefined {
  return checkAuthAndModel(req, body, requestId);
}

export const openaiResponses: ProtocolAdapter = {
  protocol: "openai-responses",
  validate,
  facts: responsesFacts,
  error: openaiScenarioError,
  streamHeaders: openaiStreamHeaders,
  renderJson: renderResponsesJson,
  renderStream: (plan, f, body, ctx) => renderResponsesStream(plan, f, body, ctx, { codex: false }),
};
