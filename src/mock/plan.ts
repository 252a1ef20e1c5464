/**
 * The protocol-neutral answer to one request: what the "model" says, in which
 * pieces, and the usage. Each protocol module renders a plan in its own wire
 * format, so all protocols answer the same request the same way.
 */
import { stripDirectives } from "./scenario.js";
import { argumentsFor, MOCK_PATCH } from "./schema-args.js";
import type { MockProtocol, Scenario } from "./types.js";
import { type CacheProbe, type MockUsage, type PromptCache, tokensForText } from "./usage.js";

/** A function tool the client declared, in declaration order. */
export interface ToolDecl {
  name: string;
  /** The JSON Schema of its arguments. */
  schema: unknown;
  /** A free-form (Responses `custom`) tool: its `format`, called with raw text instead of JSON. */
  freeform?: { format: unknown };
}

/** What the mock needs to know about a request, extracted by each protocol module. */
export interface RequestFacts {
  model: string;
  stream: boolean;
  /** Text of the last user message that has text (directives are read from it). */
  lastUserText: string;
  /** The conversation ends with a tool result: directive-driven tool calls are skipped so agent loops end. */
  endsWithToolResult: boolean;
  tools: ToolDecl[];
  /** tool_choice: "none" forbids calls; "any" or a tool name forces one; undefined is auto. */
  toolChoice: "none" | "any" | { name: string } | undefined;
  /** False when the request disables parallel calls (parallel_tool_calls:false, disable_parallel_tool_use). */
  parallelToolCalls: boolean;
  /** The request's output-token limit, if any. */
  maxOutputTokens: number | undefined;
  /** Estimated prompt tokens (whole prompt). */
  inputTokens: number;
  cache: CacheProbe | undefined;
}

export interface PlannedToolCall {
  name: string;
  /** The full arguments JSON text; for a free-form tool, its raw input text. */
  arguments: string;
  freeform?: boolean;
  /** `arguments` cut into the pieces a stream sends. */
  fragments: string[];
}

export interface ReplyPlan {
  /** Reasoning summary paragraphs (rendered as summary parts, thinking text or reasoning_content). */
  reasoning: string[] | undefined;
  /** Visible text, absent when the answer is only tool calls. */
  text: string | undefined;
  textChunks: string[];
  toolCalls: PlannedToolCall[];
  /** Why generation stopped; "error" means a mid-stream failure after the pieces above. */
  finish: "stop" | "tool_calls" | "length" | "error";
  usage: MockUsage;
}

const TEXT_CHUNK = 7;

export function buildPlan(protocol: MockProtocol, facts: RequestFacts, scenario: Scenario, cache: PromptCache): ReplyPlan {
  const reasoning = scenario.reasoning ? reasoningParts(facts) : undefined;
  let toolCalls = chooseToolCalls(facts, scenario);
  let text: string | undefined = scenario.text ?? (toolCalls.length > 0 ? undefined : defaultText(protocol, facts));
  let textChunks = text === undefined ? [] : chunkText(text, TEXT_CHUNK);
  let finish: ReplyPlan["finish"] = toolCalls.length > 0 ? "tool_calls" : "stop";

  const reasoningTokens = reasoning ? tokensForText(reasoning.join("\n\n")) + 8 : 0;
  const limit = facts.maxOutputTokens;
  const overLimit = limit !== undefined && limit > 0 && reasoningTokens + visibleTokens(text, toolCalls) > limit;

  if (scenario.streamError !== undefined) {
    textChunks = textChunks.slice(0, scenario.streamErrorAfter ?? 2);
    text = textChunks.join("");
    toolCalls = [];
    finish = "error";
  } else if (scenario.maxTokens || overLimit) {
    if (text === undefined) text = defaultText(protocol, facts);
    textChunks = chunkText(text, TEXT_CHUNK);
    textChunks = textChunks.slice(0, Math.max(1, Math.floor(textChunks.length / 2)));
    text = textChunks.join("");
    toolCalls = [];
    finish = "length";
  }
  let outputTokens = reasoningTokens + visibleTokens(text, toolCalls);
  if (finish === "length" && overLimit && limit !== undefined) outputTokens = limit;

  return {
    reasoning,
    text,
    textChunks,
    toolCalls,
    finish,
    usage: usageFor(facts, scenario, cache, outputTokens, Math.min(reasoningTokens, outputTokens)),
  };
}

function visibleTokens(text: string | undefined, calls: PlannedToolCall[]): number {
  return (text ? tokensForText(text) : 0) + calls.reduce((n, c) => n + 4 + tokensForText(c.arguments), 0);
}

function usageFor(facts: RequestFacts, scenario: Scenario, cache: PromptCache, outputTokens: number, reasoningTokens: number): MockUsage {
  let cachedTokens = 0;
  let cacheWriteTokens = 0;
  if (scenario.cachedTokens !== undefined) {
    cachedTokens = scenario.cachedTokens;
  } else if (facts.cache) {
    const r = cache.probe(facts.cache);
    cachedTokens = r.readTokens;
    cacheWriteTokens = r.writeTokens;
  }
  if (scenario.cacheWriteTokens !== undefined) cacheWriteTokens = scenario.cacheWriteTokens;
  cachedTokens = Math.min(cachedTokens, facts.inputTokens);
  cacheWriteTokens = Math.min(cacheWriteTokens, facts.inputTokens - cachedTokens);
  return { inputTokens: facts.inputTokens, cachedTokens, cacheWriteTokens, outputTokens, reasoningTokens };
}

function chooseToolCalls(facts: RequestFacts, scenario: Scenario): PlannedToolCall[] {
  const tools = facts.tools;
  if (tools.length === 0 || facts.toolChoice === "none") return [];
  const choice = facts.toolChoice;
  if (choice !== undefined && choice !== "any") {
    const named = tools.find((t) => t.name === choice.name);
    return named ? [plannedCall(named)] : [];
  }
  let mode = scenario.toolCalls;
  if (facts.endsWithToolResult) mode = "none";
  if (mode === "none" && choice === "any") mode = "single";
  if (mode === "none") return [];
  const first = (scenario.toolName !== undefined ? tools.find((t) => t.name === scenario.toolName) : undefined) ?? tools[0];
  if (!first) return [];
  if (mode === "single" || !facts.parallelToolCalls) return [plannedCall(first)];
  return [plannedCall(first), plannedCall(tools[1] ?? first)];
}

/** What the mock writes into a free-form tool: a patch when the grammar is Codex's apply_patch one. */
function freeformInput(tool: ToolDecl): string {
  const format = tool.freeform?.format;
  const grammar = typeof format === "object" && format !== null ? (format as { definition?: unknown }).definition : undefined;
  if (typeof grammar === "string" && grammar.includes("Begin Patch")) return MOCK_PATCH;
  return `mock input for ${tool.name}`;
}

function plannedCall(tool: ToolDecl): PlannedToolCall {
  if (tool.freeform) {
    const input = freeformInput(tool);
    return { name: tool.name, arguments: input, freeform: true, fragments: splitInto(input, 3) };
  }
  const args = JSON.stringify(argumentsFor(tool.schema));
  return { name: tool.name, arguments: args, fragments: splitInto(args, 3) };
}

function defaultText(protocol: MockProtocol, facts: RequestFacts): string {
  const said = Array.from(stripDirectives(facts.lastUserText));
  const echo = said.length > 48 ? `${said.slice(0, 48).join("")}…` : said.join("");
  const heard = echo ? ` You said: “${echo}”.` : "";
  return `Hello from mock ${protocol} (model ${facts.model}).${heard} Ünïcödé check: café ✓ 🚀`;
}

function reasoningParts(facts: RequestFacts): string[] {
  const topic = Array.from(stripDirectives(facts.lastUserText)).slice(0, 24).join("") || "the request";
  return [`**Considering the request** The user asked about “${topic}”; planning a reply.`, "Checking the tools and constraints — then answering."];
}

/** Split on code points (never inside a surrogate pair) into pieces of `size`. */
export function chunkText(text: string, size: number): string[] {
  const cps = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < cps.length; i += size) out.push(cps.slice(i, i + size).join(""));
  return out;
}

function splitInto(text: string, parts: number): string[] {
  const size = Math.max(1, Math.ceil(Array.from(text).length / parts));
  return chunkText(text, size);
}
