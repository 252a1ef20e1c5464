/**
 * CanonicalRequest → Anthropic Messages body for an Anthropic upstream
 * (docs/protocols.md#anthropic-request, docs/protocols.md#chat-and-messages; https://docs.anthropic.com/en/api/messages).
 * Extensions this protocol put in on decode are restored; canonical fields win
 * over them when both say something.
 */
import type { CanonicalRequest, FunctionTool, ReasoningConfig, Tool } from "../../canonical/request.js";
import type { TranslationContext } from "../codec.js";
import { normalizeToolSchema } from "../common/json-schema.js";
import { shortenToolNames } from "../common/tool-names.js";
import { flattenNamespaceTools } from "../common/namespace-tools.js";
import { encodeConversation, type InlineSystemPolicy } from "./encode-content.js";
import { isRecord, type JsonObject } from "../common/guards.js";
import { PROTOCOL } from "./hints.js";
import { effortToBudget, MIN_THINKING_BUDGET, toAnthropicEffort } from "./reasoning.js";
import type { AnthropicThinkingConfig, AnthropicToolChoice } from "./wire.js";
import { withMembers } from "../../canonical/shared-shape.js";

export interface AnthropicEncodeOptions {
  /**
   * How an effort-only reasoning request (from a Chat/Responses client) maps:
   * `budget` → `thinking.budget_tokens` per docs/protocols.md#reasoning-effort-and-thinking-budgets; `adaptive` → `thinking:{type:"adaptive"}`
   * + `output_config.effort`, for models that only take adaptive thinking.
   */
  thinkingStyle?: "budget" | "adaptive";
  /** Mid-conversation `role:"system"` from an Anthropic client: keep it, or always send a `<system-reminder>`. */
  inlineSystem?: InlineSystemPolicy;
  /** `max_tokens` is required by Anthropic; CPA's default when the client set none (docs/protocols.md#anthropic-request). */
  defaultMaxTokens?: number;
}

export const DEFAULT_MAX_TOKENS = 32000;

/** Anthropic tool names: `^[a-zA-Z0-9_-]{1,128}$`. */
const ANTHROPIC_NAME_LIMIT = 128;

function toolNameMap(req: CanonicalRequest, ctx: TranslationContext): (name: string) => string {
  const names: string[] = [];
  for (const t of req.tools ?? []) if (t.type === "function") names.push(t.name);
  for (const m of req.messages) for (const p of m.content) if (p.type === "tool-call") names.push(p.name);
  const map = shortenToolNames(names, ANTHROPIC_NAME_LIMIT);
  for (const [original, short] of map) if (short !== original) ctx.toolNames.set(short, original);
  return (name) => map.get(name) ?? name;
}

function encodeFunctionTool(t: FunctionTool, wireName: (n: string) => string): JsonObject {
  const extra = t.extensions?.[PROTOCOL];
  const out: JsonObject = withMembers(isRecord(extra) ? extra : {}, {
    name: wireName(t.name),
    // A client's own object schema goes through untouched (incl. `$schema`); anything else is made valid.
    input_schema: t.parameters.type === "object" ? t.parameters : normalizeToolSchema(t.parameters),
  });
  if (t.description !== undefined) out.description = t.description;
  if (t.strict !== undefined) out.strict = t.strict;
  if (t.cacheControl !== undefined) out.cache_control = t.cacheControl;
  return out;
}

function encodeTools(tools: readonly Tool[], ctx: TranslationContext, wireName: (n: string) => string): JsonObject[] {
  const out: JsonObject[] = [];
  for (const t of tools) {
    if (t.type === "function") out.push(encodeFunctionTool(t, wireName));
    else if (t.protocol === PROTOCOL) out.push(t.raw);
    else
      ctx.warnings.push({
        code: "builtin_tool_dropped",
        message: `Built-in tool "${t.kind}" of ${t.protocol} has no Anthropic equivalent; dropped.`,
        field: "tools",
      });
  }
  return out;
}

function encodeToolChoice(req: CanonicalRequest, hasTools: boolean, wireName: (n: string) => string): AnthropicToolChoice | undefined {
  const noParallel = req.parallelToolCalls === false && hasTools;
  const tc = req.toolChoice;
  if (tc === undefined) return noParallel ? { type: "auto", disable_parallel_tool_use: true } : undefined;
  if (tc === "none") return { type: "none" };
  const base: AnthropicToolChoice = tc === "auto" ? { type: "auto" } : tc === "required" ? { type: "any" } : { type: "tool", name: wireName(tc.name) };
  return noParallel ? withMembers(base, { disable_parallel_tool_use: true }) : base;
}

interface Thinking {
  thinking?: AnthropicThinkingConfig;
  effort?: string;
}

function encodeThinking(r: ReasoningConfig, style: "budget" | "adaptive"): Thinking {
  const display = r.summary === undefined ? undefined : r.summary === "none" ? "omitted" : "summarized";
  const withDisplay = <T extends AnthropicThinkingConfig>(t: T): T => (display && t.type !== "disabled" ? (withMembers(t, { display }) as T) : t);
  if (r.effort === "none" && r.budgetTokens === undefined && !r.adaptive) return { thinking: { type: "disabled" } };
  const effort = r.effort === undefined ? undefined : toAnthropicEffort(r.effort);
  // An explicit budget or adaptive flag came from an Anthropic client: effort rides along as it sent it.
  if (r.budgetTokens !== undefined) {
    return { thinking: withDisplay({ type: "enabled", budget_tokens: r.budgetTokens }), ...(effort ? { effort } : {}) };
  }
  if (r.adaptive || (style === "adaptive" && r.effort !== undefined)) {
    return { thinking: withDisplay({ type: "adaptive" }), ...(effort ? { effort } : {}) };
  }
  const budget = r.effort === undefined ? undefined : effortToBudget(r.effort);
  if (budget === undefined) return {};
  return { thinking: withDisplay({ type: "enabled", budget_tokens: budget }) };
}

/**
 * With thinking enabled, Anthropic refuses (400) a request that continues a tool loop unless the
 * assistant message that made the calls starts with its thinking block, replayed with its signature
 * (https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#preserving-thinking-blocks).
 * A client of another protocol cannot replay it: a Responses client (Codex CLI) or a Chat client
 * never receives an Anthropic signature (docs/protocols.md#reasoning-signatures). So the one request
 * that continues such a loop goes without thinking; the next user turn has it again. Adaptive thinking
 * has no such rule (the model may not think at all, so there can be nothing to replay).
 */
function continuesToolLoopWithoutThinking(messages: unknown): boolean {
  if (!Array.isArray(messages)) return false;
  const blocks = (m: unknown): unknown[] => (isRecord(m) && Array.isArray(m.content) ? m.content : []);
  const last: unknown = messages.at(-1);
  if (!isRecord(last) || last.role !== "user" || !blocks(last).some((b) => isRecord(b) && b.type === "tool_result")) return false;
  const calls = blocks(messages.findLast((m) => isRecord(m) && m.role === "assistant"));
  if (!calls.some((b) => isRecord(b) && b.type === "tool_use")) return false;
  const first = calls[0];
  return !(isRecord(first) && (first.type === "thinking" || first.type === "redacted_thinking"));
}

/** Thinking constrains sampling and tool_choice; relax what the API would reject, with a warning each. */
function applyThinkingConstraints(body: JsonObject, ctx: TranslationContext): void {
  const thinking = body.thinking as AnthropicThinkingConfig | undefined;
  if (!thinking || thinking.type === "disabled") return;
  if (thinking.type === "enabled" && continuesToolLoopWithoutThinking(body.messages)) {
    delete body.thinking;
    ctx.warnings.push({
      code: "thinking_disabled",
      message:
        "The tool calls being answered carry no Anthropic thinking to replay, which Anthropic requires with thinking on; this request was sent without thinking.",
      field: "reasoning",
    });
    return;
  }
  const warn = (field: string, message: string): void => {
    ctx.warnings.push({ code: "sampling_param_dropped", message, field });
  };
  if (body.temperature !== undefined && body.temperature !== 1) {
    delete body.temperature;
    warn("temperature", "Anthropic requires temperature 1 with thinking; temperature was dropped.");
  }
  if (body.top_k !== undefined) {
    delete body.top_k;
    warn("top_k", "Anthropic does not allow top_k with thinking; dropped.");
  }
  if (typeof body.top_p === "number" && body.top_p < 0.95) {
    delete body.top_p;
    warn("top_p", "Anthropic requires top_p >= 0.95 with thinking; dropped.");
  }
  const tc = body.tool_choice as AnthropicToolChoice | undefined;
  if (tc && (tc.type === "any" || tc.type === "tool")) {
    body.tool_choice = "disable_parallel_tool_use" in tc ? { type: "auto", disable_parallel_tool_use: tc.disable_parallel_tool_use } : { type: "auto" };
    ctx.warnings.push({ code: "tool_choice_relaxed", message: "Anthropic cannot force a tool while thinking; tool_choice became auto.", field: "tool_choice" });
  }
  if (thinking.type === "enabled") {
    const max = body.max_tokens as number;
    // budget_tokens must be >= 1024 and < max_tokens.
    if (thinking.budget_tokens < MIN_THINKING_BUDGET) thinking.budget_tokens = MIN_THINKING_BUDGET;
    if (thinking.budget_tokens >= max) {
      if (max - 1 >= MIN_THINKING_BUDGET) thinking.budget_tokens = max - 1;
      else {
        body.max_tokens = thinking.budget_tokens + max;
        ctx.warnings.push({ code: "max_tokens_raised", message: "max_tokens was raised above the thinking budget.", field: "max_tokens" });
      }
    }
  }
}

export function encodeAnthropicRequest(input: CanonicalRequest, ctx: TranslationContext, opts: AnthropicEncodeOptions = {}): Record<string, unknown> {
  // Namespaced Codex tools become plain functions: this vendor has no namespaces.
  const req: CanonicalRequest = input.tools ? withMembers(input, { tools: flattenNamespaceTools(input.tools) }) : input;
  const ext: JsonObject = { ...req.extensions?.[PROTOCOL] };
  const wireName = toolNameMap(req, ctx);
  const conv = encodeConversation(req.messages, ctx, wireName, opts.inlineSystem ?? "preserve");

  const body: JsonObject = { model: req.model, messages: conv.messages };
  if (conv.system !== undefined) body.system = conv.system;
  const tools = encodeTools(req.tools ?? [], ctx, wireName);
  if (tools.length > 0) body.tools = tools;
  const toolChoice = encodeToolChoice(req, tools.length > 0, wireName);
  if (toolChoice && tools.length > 0) body.tool_choice = toolChoice;

  const metadata: JsonObject = { ...(isRecord(ext.metadata) ? ext.metadata : {}) };
  if (req.user !== undefined) metadata.user_id = req.user;
  if (req.metadata !== undefined && Object.keys(req.metadata).length > 0) {
    ctx.warnings.push({ code: "unsupported_parameter", message: "Anthropic metadata holds only user_id; metadata was not sent.", field: "metadata" });
  }
  if (Object.keys(metadata).length > 0) body.metadata = metadata;
  body.max_tokens = req.maxOutputTokens ?? opts.defaultMaxTokens ?? DEFAULT_MAX_TOKENS;

  const { thinking, effort } = req.reasoning ? encodeThinking(req.reasoning, opts.thinkingStyle ?? "budget") : {};
  if (thinking) body.thinking = thinking;
  else if (ext.thinking !== undefined) body.thinking = ext.thinking;

  const outputConfig: JsonObject = { ...(isRecord(ext.output_config) ? ext.output_config : {}) };
  delete outputConfig.effort;
  delete outputConfig.format;
  if (effort) outputConfig.effort = effort;
  const format = req.responseFormat;
  if (format?.type === "json_schema" && format.schema) outputConfig.format = { type: "json_schema", schema: format.schema };
  else if (format?.type === "json_object") {
    ctx.warnings.push({
      code: "response_format_unsupported",
      message: "Anthropic has no JSON-object mode; response_format was dropped.",
      field: "response_format",
    });
  }

  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.topK !== undefined) body.top_k = req.topK;
  if (req.stopSequences && req.stopSequences.length > 0) body.stop_sequences = req.stopSequences;
  applyThinkingConstraints(body, ctx);

  for (const [k, v] of Object.entries(ext)) {
    if (k === "metadata" || k === "output_config" || k === "thinking" || k in body) continue;
    body[k] = v;
  }
  if (Object.keys(outputConfig).length > 0) body.output_config = outputConfig;
  // Anthropic caches only at cache_control breakpoints, where OpenAI-protocol clients rely on
  // implicit caching. A request that marks none gets the top-level marker, which caches up to
  // the last cacheable block (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching).
  if (body.cache_control === undefined && !marksCache(req)) body.cache_control = { type: "ephemeral" };
  body.stream = req.stream;
  return body;
}

function marksCache(req: CanonicalRequest): boolean {
  if (req.tools?.some((t) => t.type === "function" && t.cacheControl !== undefined)) return true;
  return req.messages.some((m) => m.content.some((p) => "cacheControl" in p && p.cacheControl !== undefined));
}
