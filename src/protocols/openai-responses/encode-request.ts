/**
 * CanonicalRequest → Responses request body for an OpenAI Responses upstream
 * (docs/protocols.md#responses-request, docs/protocols.md#messages-to-responses,
 * docs/protocols.md#chat-and-responses, docs/protocols.md#pitfalls). The Codex flavour applies its own
 * rules on top (codex/codex-rules.ts).
 */
import type { CanonicalRequest, Message, ReasoningConfig, ReasoningEffort, Tool, ToolChoice } from "../../canonical/request.js";
import type { TranslationContext } from "../codec.js";
import { normalizeToolSchema } from "../common/json-schema.js";
import { shortenToolNames } from "../common/tool-names.js";
import { encodeInput } from "./encode-input.js";
import { freeformToolNames } from "../common/freeform-tools.js";
import { messageExt, type ResponsesRequestExt } from "./extensions.js";
import { isObject } from "./guards.js";
import { NAMESPACE_SEPARATOR, splitNamespace } from "./tool-call-names.js";
import { PROTOCOL, type ResponsesRequestBody, type TextFormatWire, type ToolChoiceWire } from "./wire.js";
import { withMembers } from "../../canonical/shared-shape.js";

export const ENCRYPTED_REASONING_INCLUDE = "reasoning.encrypted_content";

/** Extension keys this encoder consumes itself; every other key is copied verbatim. */
const STRUCTURED_EXT_KEYS = new Set(["text", "reasoning", "tool_choice", "instructions", "include", "store"]);

export function encodeResponsesRequest(req: CanonicalRequest, ctx: TranslationContext): ResponsesRequestBody {
  const ext: ResponsesRequestExt = req.extensions?.[PROTOCOL] ?? {};
  const shortNames = buildToolNameMap(req, ctx);

  const [first, ...rest] = req.messages;
  const fromInstructions = first !== undefined && messageExt(first)?.instructions === true;
  const body: ResponsesRequestBody = { model: req.model, input: [] };
  if (fromInstructions) body.instructions = instructionsText(first);
  else if (typeof ext.instructions === "string") body.instructions = ext.instructions;
  body.input = encodeInput(fromInstructions ? rest : req.messages, { shortNames, freeform: freeformToolNames(req.tools), ctx });

  const tools = encodeTools(req.tools, shortNames, ctx);
  if (tools) body.tools = tools;
  const toolChoice = encodeToolChoice(req.toolChoice, shortNames, req.tools) ?? (isObject(ext.tool_choice) ? ext.tool_choice : undefined);
  if (toolChoice !== undefined) body.tool_choice = toolChoice;
  if (req.parallelToolCalls !== undefined) body.parallel_tool_calls = req.parallelToolCalls;

  const reasoning = encodeReasoning(req.reasoning, ext);
  if (reasoning) body.reasoning = reasoning;
  body.store = typeof ext.store === "boolean" ? ext.store : false;
  body.stream = req.stream;
  const include = encodeInclude(ext.include, reasoning);
  if (include) body.include = include;
  if (req.promptCacheKey !== undefined) body.prompt_cache_key = req.promptCacheKey;

  const text = encodeText(req, ext);
  if (text) body.text = text;
  if (req.maxOutputTokens !== undefined) body.max_output_tokens = req.maxOutputTokens;
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.user !== undefined) body.user = req.user;
  if (req.metadata !== undefined) body.metadata = req.metadata;
  if (req.topK !== undefined) warnDropped(ctx, "top_k");
  if (req.stopSequences?.length) warnDropped(ctx, "stop_sequences");

  for (const [k, v] of Object.entries(ext)) if (!STRUCTURED_EXT_KEYS.has(k) && !(k in body)) body[k] = v;
  return body;
}

function warnDropped(ctx: TranslationContext, field: string): void {
  ctx.warnings.push({ code: "unsupported_parameter", message: `'${field}' has no Responses equivalent and was dropped.`, field });
}

function instructionsText(m: Message): string {
  return m.content.map((p) => (p.type === "text" ? p.text : "")).join("\n\n");
}

/**
 * Shortens over-long function names (docs/protocols.md#tool-names-and-call-ids) and
 * records short → original in the context for the stream decoder.
 */
function buildToolNameMap(req: CanonicalRequest, ctx: TranslationContext): Map<string, string> {
  const names: string[] = [];
  for (const t of req.tools ?? []) if (t.type === "function") names.push(t.name);
  for (const m of req.messages) {
    for (const p of m.content) if (p.type === "tool-call" && !p.name.includes(NAMESPACE_SEPARATOR)) names.push(p.name);
  }
  const map = shortenToolNames(names);
  for (const [original, short] of map) if (short !== original) ctx.toolNames.set(short, original);
  return map;
}

function encodeTools(tools: Tool[] | undefined, shortNames: Map<string, string>, ctx: TranslationContext): Array<Record<string, unknown>> | undefined {
  if (!tools) return undefined;
  const out: Array<Record<string, unknown>> = [];
  for (const t of tools) {
    if (t.type === "function" && t.freeform) {
      const wire: Record<string, unknown> = { type: "custom", name: shortNames.get(t.name) ?? t.name };
      if (t.description !== undefined) wire.description = t.description;
      if (t.freeform.format) wire.format = t.freeform.format;
      out.push(wire);
      continue;
    }
    if (t.type === "function") {
      // Key order follows the Codex CLI's own tools, so a translated prefix matches a native one.
      const wire: Record<string, unknown> = { type: "function", name: shortNames.get(t.name) ?? t.name };
      if (t.description !== undefined) wire.description = t.description;
      // docs/protocols.md#tool-schemas: strict mode needs schema rules we do not enforce.
      wire.strict = false;
      wire.parameters = normalizeToolSchema(t.parameters);
      out.push(wire);
      continue;
    }
    const builtin = encodeBuiltin(t);
    if (builtin) out.push(builtin);
    else {
      ctx.warnings.push({
        code: "tool_dropped",
        message: `Built-in tool '${t.kind}' of ${t.protocol} has no Responses equivalent and was dropped.`,
        field: "tools",
      });
    }
  }
  return out;
}

function encodeBuiltin(t: Extract<Tool, { type: "builtin" }>): Record<string, unknown> | undefined {
  if (t.protocol === PROTOCOL || t.protocol === "codex") return t.raw;
  // docs/protocols.md#messages-to-responses: Anthropic's versioned web search server tool maps to the plain built-in.
  if (t.kind.startsWith("web_search")) return { type: "web_search" };
  return undefined;
}

function encodeToolChoice(choice: ToolChoice | undefined, shortNames: Map<string, string>, tools: readonly Tool[] | undefined): ToolChoiceWire | undefined {
  if (choice === undefined || typeof choice === "string") return choice;
  if (freeformToolNames(tools).has(choice.name)) return { type: "custom", name: shortNames.get(choice.name) ?? choice.name };
  const { namespace, name } = splitNamespace(choice.name);
  if (namespace) return { type: "function", name, namespace };
  return { type: "function", name: shortNames.get(name) ?? name };
}

/**
 * Anthropic thinking budget → effort, thresholds from docs/protocols.md#reasoning-effort-and-thinking-budgets;
 * adaptive thinking without an explicit effort means the top level.
 */
export function effortFromBudget(budget: number): ReasoningEffort {
  if (budget <= 0) return "none";
  if (budget <= 512) return "minimal";
  if (budget <= 1024) return "low";
  if (budget <= 8192) return "medium";
  if (budget <= 24576) return "high";
  return "xhigh";
}

function encodeReasoning(r: ReasoningConfig | undefined, ext: ResponsesRequestExt): ResponsesRequestBody["reasoning"] | undefined {
  const extra = isObject(ext.reasoning) ? ext.reasoning : undefined;
  if (!r && !extra) return undefined;
  const out: NonNullable<ResponsesRequestBody["reasoning"]> = {};
  const effort = r?.effort ?? (r?.budgetTokens !== undefined ? effortFromBudget(r.budgetTokens) : r?.adaptive ? "xhigh" : undefined);
  if (effort !== undefined) out.effort = effort;
  // docs/protocols.md#messages-to-responses: summaries stream only when asked for. Clients that cannot say (Chat
  // reasoning_effort, Anthropic thinking) expect reasoning text back, so unset means "auto".
  const summary = r?.summary ?? (r && effort !== "none" ? "auto" : undefined);
  if (summary !== undefined && summary !== "none") out.summary = summary;
  return extra ? withMembers(out, extra) : out;
}

/** Stateless replay needs the encrypted reasoning back (docs/protocols.md#responses-request, `include`). */
function encodeInclude(raw: unknown, reasoning: ResponsesRequestBody["reasoning"] | undefined): string[] | undefined {
  const include = Array.isArray(raw) ? raw.filter((v): v is string => typeof v === "string") : [];
  if (reasoning && reasoning.effort !== "none" && !include.includes(ENCRYPTED_REASONING_INCLUDE)) include.push(ENCRYPTED_REASONING_INCLUDE);
  return include.length > 0 || Array.isArray(raw) ? include : undefined;
}

function encodeText(req: CanonicalRequest, ext: ResponsesRequestExt): ResponsesRequestBody["text"] | undefined {
  const extra = isObject(ext.text) ? ext.text : undefined;
  const f = req.responseFormat;
  if (!f && !extra) return undefined;
  const out: NonNullable<ResponsesRequestBody["text"]> = {};
  if (f) {
    const format: TextFormatWire = { type: f.type };
    if (f.type === "json_schema") {
      format.name = f.name ?? "response";
      if (f.description !== undefined) format.description = f.description;
      if (f.schema !== undefined) format.schema = f.schema;
      if (f.strict !== undefined) format.strict = f.strict;
    }
    out.format = format;
  }
  return extra ? withMembers(out, extra) : out;
}
