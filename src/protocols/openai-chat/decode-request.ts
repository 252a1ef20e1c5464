/**
 * Client Chat Completions body → CanonicalRequest (docs/protocols.md#chat-request;
 * https://platform.openai.com/docs/api-reference/chat/create). Fields the
 * canonical model has no home for ride verbatim in `extensions["openai-chat"]`,
 * among them `stream_options` (the stream encoder reads `include_usage` there).
 */
import type { CanonicalRequest, FunctionTool, ReasoningEffort, ResponseFormat, Tool, ToolChoice } from "../../canonical/request.js";
import { normalizeToolSchema } from "../common/json-schema.js";
import { decodeChatMessages } from "./decode-messages.js";
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
import { PROTOCOL } from "./wire.js";

const CONSUMED = new Set([
  "model",
  "messages",
  "n",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "stream",
  "max_tokens",
  "max_completion_tokens",
  "temperature",
  "top_p",
  "stop",
  "response_format",
  "reasoning_effort",
  "prompt_cache_key",
  "user",
  "metadata",
]);

const EFFORTS: ReadonlySet<string> = new Set(["none", "minimal", "low", "medium", "high", "xhigh", "max"]);

function decodeTools(raw: unknown): Tool[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  return expectArray(raw, "tools").map((entry, i): Tool => {
    const path = `tools[${i}]`;
    const t = expectRecord(entry, path);
    const type = expectString(t.type, `${path}.type`);
    if (type !== "function") return { type: "builtin", protocol: PROTOCOL, kind: type, raw: t };
    const fn = expectRecord(t.function, `${path}.function`);
    const tool: FunctionTool = {
      type: "function",
      name: expectString(fn.name, `${path}.function.name`),
      parameters:
        fn.parameters === undefined || fn.parameters === null ? normalizeToolSchema(undefined) : expectRecord(fn.parameters, `${path}.function.parameters`),
    };
    const description = optString(fn.description, `${path}.function.description`);
    if (description !== undefined) tool.description = description;
    const strict = optBoolean(fn.strict, `${path}.function.strict`);
    if (strict !== undefined) tool.strict = strict;
    return tool;
  });
}

/** Returns undefined for choices the canonical model cannot express (allowed_tools, custom …); those stay in extensions. */
function decodeToolChoice(raw: unknown, ext: JsonObject): ToolChoice | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (raw === "none" || raw === "auto" || raw === "required") return raw;
  if (typeof raw === "string") throw invalid("tool_choice", `must be "none", "auto", "required" or an object`, "invalid_value");
  const tc = expectRecord(raw, "tool_choice");
  if (tc.type === "function") {
    const fn = expectRecord(tc.function, "tool_choice.function");
    return { name: expectString(fn.name, "tool_choice.function.name") };
  }
  ext.tool_choice = tc;
  return undefined;
}

function decodeResponseFormat(raw: unknown): ResponseFormat | undefined {
  if (raw === undefined || raw === null) return undefined;
  const rf = expectRecord(raw, "response_format");
  if (rf.type === "text" || rf.type === "json_object") return { type: rf.type };
  if (rf.type !== "json_schema") throw invalid("response_format.type", `must be "text", "json_object" or "json_schema"`, "invalid_value");
  const js = expectRecord(rf.json_schema, "response_format.json_schema");
  const out: ResponseFormat = { type: "json_schema", name: expectString(js.name, "response_format.json_schema.name") };
  if (js.schema !== undefined) out.schema = expectRecord(js.schema, "response_format.json_schema.schema");
  const strict = optBoolean(js.strict, "response_format.json_schema.strict");
  if (strict !== undefined) out.strict = strict;
  const description = optString(js.description, "response_format.json_schema.description");
  if (description !== undefined) out.description = description;
  return out;
}

function decodeStop(raw: unknown): string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === "string") return [raw];
  return expectArray(raw, "stop").map((s, i) => expectString(s, `stop[${i}]`));
}

function decodeMetadata(raw: unknown): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  const md = expectRecord(raw, "metadata");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md)) out[k] = expectString(v, `metadata.${k}`);
  return out;
}

export function decodeChatRequest(body: unknown): CanonicalRequest {
  const b = expectRecord(body, "body");
  const model = expectString(b.model, "model");
  if (b.messages === undefined) throw invalid("messages", "is required", "missing_required_parameter");
  const n = optInteger(b.n, "n", 1);
  if (n !== undefined && n > 1) throw invalid("n", "only n=1 is supported by this gateway", "unsupported_value");

  const ext: JsonObject = remainder(b, CONSUMED) ?? {};
  if (ext.stream_options !== undefined) expectRecord(ext.stream_options, "stream_options");
  const req: CanonicalRequest = { model, messages: decodeChatMessages(b.messages), stream: optBoolean(b.stream, "stream") ?? false };

  const tools = decodeTools(b.tools);
  if (tools) req.tools = tools;
  const toolChoice = decodeToolChoice(b.tool_choice, ext);
  if (toolChoice !== undefined) req.toolChoice = toolChoice;
  const parallel = optBoolean(b.parallel_tool_calls, "parallel_tool_calls");
  if (parallel !== undefined) req.parallelToolCalls = parallel;

  // Both are accepted; the larger one wins (docs/protocols.md#chat-request).
  const maxTokens = optInteger(b.max_tokens, "max_tokens", 1);
  const maxCompletion = optInteger(b.max_completion_tokens, "max_completion_tokens", 1);
  if (maxTokens !== undefined || maxCompletion !== undefined) req.maxOutputTokens = Math.max(maxTokens ?? 0, maxCompletion ?? 0);

  const temperature = optNumber(b.temperature, "temperature");
  if (temperature !== undefined) req.temperature = temperature;
  const topP = optNumber(b.top_p, "top_p");
  if (topP !== undefined) req.topP = topP;
  const stop = decodeStop(b.stop);
  if (stop) req.stopSequences = stop;
  const responseFormat = decodeResponseFormat(b.response_format);
  if (responseFormat) req.responseFormat = responseFormat;

  const effort = optString(b.reasoning_effort, "reasoning_effort");
  if (effort !== undefined) {
    if (!EFFORTS.has(effort)) throw invalid("reasoning_effort", "must be none, minimal, low, medium, high or xhigh", "invalid_value");
    req.reasoning = { effort: effort as ReasoningEffort };
  }
  const cacheKey = optString(b.prompt_cache_key, "prompt_cache_key");
  if (cacheKey !== undefined) req.promptCacheKey = cacheKey;
  const user = optString(b.user, "user");
  if (user !== undefined) req.user = user;
  const metadata = decodeMetadata(b.metadata);
  if (metadata) req.metadata = metadata;
  if (Object.keys(ext).length > 0) req.extensions = { [PROTOCOL]: ext };
  return req;
}

/** Whether the client asked for the trailing usage chunk (`stream_options.include_usage`). */
export function wantsUsageChunk(req: CanonicalRequest | undefined): boolean {
  const opts = req?.extensions?.[PROTOCOL]?.stream_options;
  return isRecord(opts) && opts.include_usage === true;
}
