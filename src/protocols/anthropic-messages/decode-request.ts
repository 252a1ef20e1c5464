/**
 * Client Anthropic Messages body → CanonicalRequest (docs/protocols.md#anthropic-request;
 * https://docs.anthropic.com/en/api/messages). Fields the canonical model has no
 * home for ride verbatim in `extensions["anthropic-messages"]`.
 */
import type { CanonicalRequest, FunctionTool, ReasoningConfig, ResponseFormat, Tool, ToolChoice } from "../../canonical/request.js";
import { decodeMessages, decodeSystem } from "./decode-content.js";
import {
  expectArray,
  expectRecord,
  expectString,
  invalid,
  isRecord,
  optBoolean,
  optInteger,
  optNumber,
  optString,
  remainder,
  type JsonObject,
} from "../common/guards.js";
import { PROTOCOL } from "./hints.js";
import { isReasoningEffort } from "./reasoning.js";

/**
 * Top-level keys with a canonical home. `output_config` and `metadata` are also
 * kept in extensions: they may hold fields beyond the ones mapped.
 */
const CONSUMED = new Set([
  "model",
  "max_tokens",
  "messages",
  "system",
  "tools",
  "tool_choice",
  "thinking",
  "temperature",
  "top_p",
  "top_k",
  "stop_sequences",
  "stream",
]);

/** Tool keys with a canonical home; the rest ride in the tool's extensions. */
const TOOL_KEYS = new Set(["name", "description", "input_schema", "strict", "cache_control", "type"]);

function decodeTools(raw: unknown): Tool[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  return expectArray(raw, "tools").map((entry, i): Tool => {
    const path = `tools[${i}]`;
    const t = expectRecord(entry, path);
    if (t.type !== undefined && t.type !== null && t.type !== "custom") {
      // Server tools (web_search_20250305, bash_20250124 …) travel verbatim.
      return { type: "builtin", protocol: PROTOCOL, kind: expectString(t.type, `${path}.type`), raw: t };
    }
    const tool: FunctionTool = {
      type: "function",
      name: expectString(t.name, `${path}.name`),
      parameters: expectRecord(t.input_schema, `${path}.input_schema`),
    };
    const description = optString(t.description, `${path}.description`);
    if (description !== undefined) tool.description = description;
    const strict = optBoolean(t.strict, `${path}.strict`);
    if (strict !== undefined) tool.strict = strict;
    if (t.cache_control !== undefined) tool.cacheControl = t.cache_control;
    const extra = remainder(t, TOOL_KEYS) ?? {};
    if (t.type === "custom") extra.type = "custom";
    if (Object.keys(extra).length > 0) tool.extensions = { [PROTOCOL]: extra };
    return tool;
  });
}

function decodeToolChoice(raw: unknown): { choice?: ToolChoice; parallel?: boolean } {
  if (raw === undefined || raw === null) return {};
  const tc = expectRecord(raw, "tool_choice");
  const parallel = optBoolean(tc.disable_parallel_tool_use, "tool_choice.disable_parallel_tool_use");
  const out: { choice?: ToolChoice; parallel?: boolean } = {};
  if (parallel !== undefined) out.parallel = !parallel;
  switch (tc.type) {
    case "auto":
      out.choice = "auto";
      break;
    case "any":
      out.choice = "required";
      break;
    case "none":
      out.choice = "none";
      break;
    case "tool":
      out.choice = { name: expectString(tc.name, "tool_choice.name") };
      break;
    default:
      throw invalid("tool_choice.type", `must be "auto", "any", "none" or "tool"`);
  }
  return out;
}

/** `thinking` + `output_config.effort` → ReasoningConfig; an unknown thinking type stays in extensions. */
function decodeReasoning(thinking: unknown, outputConfig: JsonObject | undefined, ext: JsonObject): ReasoningConfig | undefined {
  const r: ReasoningConfig = {};
  const effort = outputConfig?.effort;
  if (effort !== undefined && effort !== null) {
    if (!isReasoningEffort(effort)) throw invalid("output_config.effort", "must be low, medium, high, xhigh or max");
    r.effort = effort;
  }
  if (thinking !== undefined && thinking !== null) {
    const t = expectRecord(thinking, "thinking");
    if (t.type === "enabled") {
      if (t.budget_tokens === undefined) throw invalid("thinking.budget_tokens", "is required when thinking is enabled");
      r.budgetTokens = optInteger(t.budget_tokens, "thinking.budget_tokens", 1) ?? 0;
    } else if (t.type === "adaptive") {
      r.adaptive = true;
    } else if (t.type === "disabled") {
      r.effort = "none";
    } else {
      ext.thinking = t;
    }
    if (t.display === "omitted") r.summary = "none";
    else if (t.display === "summarized") r.summary = "auto";
  }
  return Object.keys(r).length > 0 ? r : undefined;
}

function decodeResponseFormat(outputConfig: JsonObject | undefined): ResponseFormat | undefined {
  const format = outputConfig?.format;
  if (!isRecord(format) || format.type !== "json_schema") return undefined;
  return { type: "json_schema", schema: expectRecord(format.schema, "output_config.format.schema") };
}

function decodeStops(raw: unknown): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  return expectArray(raw, "stop_sequences").map((s, i) => expectString(s, `stop_sequences[${i}]`));
}

export function decodeAnthropicRequest(body: unknown): CanonicalRequest {
  const b = expectRecord(body, "body");
  const model = expectString(b.model, "model");
  if (b.max_tokens === undefined) throw invalid("max_tokens", "is required", "missing_required_parameter");
  const maxTokens = optInteger(b.max_tokens, "max_tokens", 1);
  if (b.messages === undefined) throw invalid("messages", "is required", "missing_required_parameter");

  const ext: JsonObject = remainder(b, CONSUMED) ?? {};
  const system = decodeSystem(b.system);
  const messages = [...(system ? [system] : []), ...decodeMessages(b.messages)];

  const req: CanonicalRequest = { model, messages, stream: optBoolean(b.stream, "stream") ?? false };
  if (maxTokens !== undefined) req.maxOutputTokens = maxTokens;
  const tools = decodeTools(b.tools);
  if (tools) req.tools = tools;
  const { choice, parallel } = decodeToolChoice(b.tool_choice);
  if (choice !== undefined) req.toolChoice = choice;
  if (parallel !== undefined) req.parallelToolCalls = parallel;

  const outputConfig = b.output_config === undefined || b.output_config === null ? undefined : expectRecord(b.output_config, "output_config");
  const reasoning = decodeReasoning(b.thinking, outputConfig, ext);
  if (reasoning) req.reasoning = reasoning;
  const responseFormat = decodeResponseFormat(outputConfig);
  if (responseFormat) req.responseFormat = responseFormat;

  const temperature = optNumber(b.temperature, "temperature");
  if (temperature !== undefined) req.temperature = temperature;
  const topP = optNumber(b.top_p, "top_p");
  if (topP !== undefined) req.topP = topP;
  const topK = optInteger(b.top_k, "top_k", 0);
  if (topK !== undefined) req.topK = topK;
  const stops = decodeStops(b.stop_sequences);
  if (stops) req.stopSequences = stops;

  if (b.metadata !== undefined && b.metadata !== null) {
    const md = expectRecord(b.metadata, "metadata");
    // Claude Code's user_id embeds a device id; it identifies the session for cache
    // affinity (pipeline/affinity.ts) but is not forwarded to other vendors (docs/protocols.md#claude-code).
    const user = optString(md.user_id, "metadata.user_id");
    if (user !== undefined) ext.metadata = { user_id: user };
  }
  if (Object.keys(ext).length > 0) req.extensions = { [PROTOCOL]: ext };
  return req;
}
