/**
 * Client Responses body → CanonicalRequest (docs/protocols.md#responses-request). Fields the
 * canonical model has no place for ride in `extensions["openai-responses"]`
 * verbatim, so a Responses upstream gets them back unchanged.
 */
import { GatewayError } from "../../canonical/errors.js";
import type { CanonicalRequest, Message, ReasoningConfig, ReasoningEffort, ResponseFormat, Tool, ToolChoice } from "../../canonical/request.js";
import { decodeInput } from "./decode-input.js";
import { withMessageExt, type ResponsesRequestExt } from "./extensions.js";
import { invalid, isObject, optBoolean, optNumber, optString, reqObject, reqString, type JsonObject } from "./guards.js";
import { joinNamespace } from "./tool-call-names.js";
import { PROTOCOL } from "./wire.js";
import { freeformTool, freeformToolNames } from "../common/freeform-tools.js";

/** Top-level keys with a canonical home; every other key goes to extensions verbatim. */
const CANONICAL_KEYS = new Set([
  "model",
  "input",
  "instructions",
  "tools",
  "tool_choice",
  "parallel_tool_calls",
  "stream",
  "max_output_tokens",
  "temperature",
  "top_p",
  "user",
  "metadata",
  "prompt_cache_key",
  "reasoning",
  "text",
]);

export const REASONING_EFFORTS: readonly ReasoningEffort[] = ["none", "minimal", "low", "medium", "high", "xhigh", "max"];
const SUMMARIES = ["auto", "concise", "detailed", "none"] as const;

export function decodeResponsesRequest(body: unknown): CanonicalRequest {
  if (!isObject(body)) throw new GatewayError("invalid_request", "invalid_json", "The request body must be a JSON object.");
  const ext: ResponsesRequestExt = {};
  for (const [k, v] of Object.entries(body)) if (!CANONICAL_KEYS.has(k)) ext[k] = v;

  const messages: Message[] = [];
  const instructions = optString(body, "instructions", "");
  if (instructions) {
    messages.push(withMessageExt({ role: "system", content: [{ type: "text", text: instructions }] }, { instructions: true }));
  } else if (instructions === "") ext.instructions = "";
  messages.push(...decodeInput(body.input));

  const req: CanonicalRequest = {
    model: reqString(body, "model", ""),
    messages,
    stream: optBoolean(body, "stream", "") ?? false,
  };
  const tools = decodeTools(body.tools);
  if (tools) req.tools = tools;
  const toolChoice = decodeToolChoice(body.tool_choice, ext, tools);
  if (toolChoice !== undefined) req.toolChoice = toolChoice;
  setIfDefined(req, "parallelToolCalls", optBoolean(body, "parallel_tool_calls", ""));
  setIfDefined(req, "maxOutputTokens", optNumber(body, "max_output_tokens", ""));
  setIfDefined(req, "temperature", optNumber(body, "temperature", ""));
  setIfDefined(req, "topP", optNumber(body, "top_p", ""));
  setIfDefined(req, "user", optString(body, "user", ""));
  setIfDefined(req, "promptCacheKey", optString(body, "prompt_cache_key", ""));
  setIfDefined(req, "metadata", decodeMetadata(body.metadata));
  setIfDefined(req, "reasoning", decodeReasoningConfig(body.reasoning, ext));
  setIfDefined(req, "responseFormat", decodeText(body.text, ext));
  if (Object.keys(ext).length > 0) req.extensions = { [PROTOCOL]: ext };
  return req;
}

function setIfDefined<K extends keyof CanonicalRequest>(req: CanonicalRequest, key: K, value: CanonicalRequest[K] | undefined): void {
  if (value !== undefined) req[key] = value;
}

function decodeTools(raw: unknown): Tool[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw invalid("tools", "'tools' must be an array.", "invalid_type");
  return raw.map((t: unknown, i): Tool => {
    const path = `tools[${i}]`;
    const tool = reqObject(t, path);
    const type = reqString(tool, "type", path);
    if (type === "custom") return freeformTool(reqString(tool, "name", path), optString(tool, "description", path), tool.format);
    if (type !== "function") return { type: "builtin", protocol: PROTOCOL, kind: type, raw: tool };
    const fn: Tool = {
      type: "function",
      name: reqString(tool, "name", path),
      parameters: isObject(tool.parameters) ? tool.parameters : {},
    };
    const description = optString(tool, "description", path);
    if (description !== undefined) fn.description = description;
    const strict = optBoolean(tool, "strict", path);
    if (strict !== undefined) fn.strict = strict;
    return fn;
  });
}

function decodeToolChoice(raw: unknown, ext: ResponsesRequestExt, tools: readonly Tool[] | undefined): ToolChoice | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (raw === "auto" || raw === "none" || raw === "required") return raw;
  if (isObject(raw) && raw.type === "function" && typeof raw.name === "string") {
    return { name: joinNamespace(typeof raw.namespace === "string" ? raw.namespace : undefined, raw.name) };
  }
  // A declared free-form tool is a function elsewhere; the encoders know it by name. Naming an
  // undeclared one is left to a Responses upstream to refuse rather than turned into a function choice.
  if (isObject(raw) && raw.type === "custom" && typeof raw.name === "string" && freeformToolNames(tools).has(raw.name)) return { name: raw.name };
  if (isObject(raw)) {
    // allowed_tools, mcp, built-in choices: no canonical form, kept for a Responses upstream.
    ext.tool_choice = raw;
    return undefined;
  }
  throw invalid("tool_choice", "'tool_choice' must be none, auto, required or a tool choice object.");
}

function decodeMetadata(raw: unknown): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  const obj = reqObject(raw, "metadata");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== "string") throw invalid(`metadata.${k}`, "Metadata values must be strings.", "invalid_type");
    out[k] = v;
  }
  return out;
}

function decodeReasoningConfig(raw: unknown, ext: ResponsesRequestExt): ReasoningConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const obj = reqObject(raw, "reasoning");
  const { effort, summary, generate_summary: legacySummary, ...rest } = obj;
  const out: ReasoningConfig = {};
  if (effort !== undefined && effort !== null) {
    if (typeof effort !== "string" || !(REASONING_EFFORTS as readonly string[]).includes(effort)) {
      throw invalid("reasoning.effort", `'reasoning.effort' must be one of ${REASONING_EFFORTS.join(", ")}.`);
    }
    out.effort = effort as ReasoningEffort;
  }
  const s = summary ?? legacySummary;
  if (s !== undefined && s !== null) {
    if (typeof s !== "string" || !(SUMMARIES as readonly string[]).includes(s)) {
      throw invalid("reasoning.summary", `'reasoning.summary' must be one of auto, concise, detailed.`);
    }
    out.summary = s as NonNullable<ReasoningConfig["summary"]>;
  } else {
    // A Responses client that names no summary gets no reasoning text back; say so to other upstreams.
    out.summary = "none";
  }
  if (Object.keys(rest).length > 0) ext.reasoning = rest;
  return out;
}

function decodeText(raw: unknown, ext: ResponsesRequestExt): ResponseFormat | undefined {
  if (raw === undefined || raw === null) return undefined;
  const obj = reqObject(raw, "text");
  const { format, ...rest } = obj;
  if (Object.keys(rest).length > 0) ext.text = rest;
  if (format === undefined || format === null) return undefined;
  return decodeFormat(reqObject(format, "text.format"));
}

function decodeFormat(f: JsonObject): ResponseFormat {
  const type = f.type;
  if (type === "text" || type === "json_object") return { type };
  if (type !== "json_schema") throw invalid("text.format.type", "'text.format.type' must be text, json_object or json_schema.");
  const out: ResponseFormat = { type, name: reqString(f, "name", "text.format") };
  if (!isObject(f.schema)) throw invalid("text.format.schema", "'text.format.schema' must be an object.", "invalid_type");
  out.schema = f.schema;
  const strict = optBoolean(f, "strict", "text.format");
  if (strict !== undefined) out.strict = strict;
  const description = optString(f, "description", "text.format");
  if (description !== undefined) out.description = description;
  return out;
}
