/**
 * CanonicalRequest → Chat Completions body for an OpenAI-compatible upstream
 * (docs/protocols.md#chat-request, docs/protocols.md#chat-and-messages, docs/protocols.md#pitfalls). Choices made here:
 * - tool names over 64 characters are shortened (shared/tool-names) and the
 *   short → original map goes into ctx.toolNames for the decoders; long call ids
 *   are shortened deterministically so they match on every turn;
 * - tool schemas are normalised (docs/protocols.md#tool-schemas); built-in tools of other protocols are
 *   dropped with a warning;
 * - the output cap goes out as `max_completion_tokens` (reasoning models reject
 *   `max_tokens`, docs/protocols.md#unsupported-parameters); `maxTokensField` switches it for older servers;
 * - a streamed request always asks `stream_options.include_usage`, so usage is
 *   metered whatever the client asked;
 * - `reasoning_effort` comes from the effort, else from a thinking budget (docs/protocols.md#reasoning-effort-and-thinking-budgets
 *   thresholds); `none` and adaptive-without-effort are left to the model default,
 *   since non-reasoning models reject the field;
 * - `top_k` has no Chat field and is dropped with a warning.
 */
import type { CanonicalRequest, ReasoningConfig, ReasoningEffort, Tool } from "../../canonical/request.js";
import type { TranslationContext } from "../codec.js";
import { normalizeToolSchema } from "../common/json-schema.js";
import { shortenCallId, shortenToolNames } from "../common/tool-names.js";
import { flattenNamespaceTools } from "../common/namespace-tools.js";
import { encodeChatMessages, type ReasoningReplay } from "./encode-messages.js";
import { isRecord, type JsonObject } from "../common/guards.js";
import { PROTOCOL, type ChatReasoningEffort, type ChatResponseFormat, type ChatToolChoice } from "./wire.js";
import { withMembers } from "../../canonical/shared-shape.js";

export interface ChatEncodeOptions {
  maxTokensField?: "max_completion_tokens" | "max_tokens";
  /** Send assistant reasoning back as `reasoning_content` on every turn (some servers require it). */
  reasoningContent?: ReasoningReplay;
}

function toolNameMap(req: CanonicalRequest, ctx: TranslationContext): (name: string) => string {
  const names: string[] = [];
  for (const t of req.tools ?? []) if (t.type === "function") names.push(t.name);
  for (const m of req.messages) for (const p of m.content) if (p.type === "tool-call") names.push(p.name);
  if (typeof req.toolChoice === "object") names.push(req.toolChoice.name);
  const map = shortenToolNames(names);
  for (const [original, short] of map) if (short !== original) ctx.toolNames.set(short, original);
  return (name) => map.get(name) ?? name;
}

function encodeTools(tools: readonly Tool[], ctx: TranslationContext, wireName: (n: string) => string): JsonObject[] {
  const out: JsonObject[] = [];
  for (const t of tools) {
    if (t.type === "builtin") {
      if (t.protocol === PROTOCOL) out.push(t.raw);
      else
        ctx.warnings.push({
          code: "builtin_tool_dropped",
          message: `Built-in tool "${t.kind}" of ${t.protocol} has no Chat equivalent; dropped.`,
          field: "tools",
        });
      continue;
    }
    const fn: JsonObject = { name: wireName(t.name) };
    if (t.description !== undefined) fn.description = t.description;
    fn.parameters = normalizeToolSchema(t.parameters);
    if (t.strict !== undefined) fn.strict = t.strict;
    out.push({ type: "function", function: fn });
  }
  return out;
}

function encodeToolChoice(tc: CanonicalRequest["toolChoice"], wireName: (n: string) => string): ChatToolChoice | undefined {
  if (tc === undefined) return undefined;
  if (typeof tc === "string") return tc;
  return { type: "function", function: { name: wireName(tc.name) } };
}

function budgetToEffort(budget: number): ReasoningEffort {
  // docs/protocols.md#reasoning-effort-and-thinking-budgets thresholds.
  if (budget <= 0) return "none";
  if (budget <= 512) return "minimal";
  if (budget <= 1024) return "low";
  if (budget <= 8192) return "medium";
  if (budget <= 24576) return "high";
  return "xhigh";
}

function encodeEffort(r: ReasoningConfig, ctx: TranslationContext): ChatReasoningEffort | undefined {
  const effort = r.effort ?? (r.budgetTokens !== undefined ? budgetToEffort(r.budgetTokens) : undefined);
  if (effort === undefined || effort === "none") return undefined;
  if (effort === "max") {
    ctx.warnings.push({ code: "reasoning_effort_clamped", message: 'Chat has no "max" effort; sent "xhigh".', field: "reasoning_effort" });
    return "xhigh";
  }
  return effort;
}

function encodeResponseFormat(rf: NonNullable<CanonicalRequest["responseFormat"]>): ChatResponseFormat {
  if (rf.type !== "json_schema") return { type: rf.type };
  const js: Extract<ChatResponseFormat, { type: "json_schema" }>["json_schema"] = { name: rf.name ?? "response" };
  if (rf.schema !== undefined) js.schema = rf.schema;
  if (rf.strict !== undefined) js.strict = rf.strict;
  if (rf.description !== undefined) js.description = rf.description;
  return { type: "json_schema", json_schema: js };
}

export function encodeChatRequest(input: CanonicalRequest, ctx: TranslationContext, opts: ChatEncodeOptions = {}): Record<string, unknown> {
  // Namespaced Codex tools become plain functions: this vendor has no namespaces.
  const req: CanonicalRequest = input.tools ? withMembers(input, { tools: flattenNamespaceTools(input.tools) }) : input;
  const ext: JsonObject = { ...req.extensions?.[PROTOCOL] };
  const wireName = toolNameMap(req, ctx);
  const messages = encodeChatMessages(req.messages, {
    ctx,
    wireName,
    wireCallId: (id) => shortenCallId(id),
    reasoning: opts.reasoningContent ?? "drop",
  });
  const body: JsonObject = { model: req.model, messages };
  const tools = encodeTools(req.tools ?? [], ctx, wireName);
  if (tools.length > 0) {
    body.tools = tools;
    const tc = encodeToolChoice(req.toolChoice, wireName);
    if (tc !== undefined) body.tool_choice = tc;
    if (req.parallelToolCalls !== undefined) body.parallel_tool_calls = req.parallelToolCalls;
  }
  body.stream = req.stream;
  if (req.stream) body.stream_options = withMembers(isRecord(ext.stream_options) ? ext.stream_options : {}, { include_usage: true });
  if (req.maxOutputTokens !== undefined) body[opts.maxTokensField ?? "max_completion_tokens"] = req.maxOutputTokens;
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.topK !== undefined) ctx.warnings.push({ code: "sampling_param_dropped", message: "Chat has no top_k; dropped.", field: "top_k" });
  if (req.stopSequences && req.stopSequences.length > 0) body.stop = req.stopSequences;
  if (req.responseFormat) body.response_format = encodeResponseFormat(req.responseFormat);
  const effort = req.reasoning ? encodeEffort(req.reasoning, ctx) : undefined;
  if (effort !== undefined) body.reasoning_effort = effort;
  if (req.promptCacheKey !== undefined) body.prompt_cache_key = req.promptCacheKey;
  if (req.user !== undefined) body.user = req.user;
  if (req.metadata !== undefined) body.metadata = req.metadata;

  for (const [k, v] of Object.entries(ext)) {
    if (k === "stream_options" || k in body) continue;
    // A tool_choice the canonical model could not hold only makes sense with the tools it names.
    if (k === "tool_choice" && tools.length === 0) continue;
    body[k] = v;
  }
  return body;
}
