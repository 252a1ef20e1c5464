/**
 * Inputs for bench/codecs.ts, built once before anything is timed:
 *
 * - client request bodies at real size: the Codex CLI (Responses, ~40 KB) and
 *   Claude Code (Messages, ~76 KB) captures in src/protocols/<name>/__fixtures__/,
 *   and a Chat body for the same conversation (the Claude turn decoded by the
 *   Messages client codec and encoded by the Chat upstream codec);
 * - one upstream SSE stream per upstream protocol: a fixed canonical part
 *   sequence encoded by that protocol's client stream encoder (which writes
 *   exactly the wire format the protocol's upstreams send), framed as SSE and
 *   cut into ~1 KB chunks.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { CanonicalRequest } from "../src/canonical/request.js";
import type { StreamPart } from "../src/canonical/stream.js";
import type { Usage } from "../src/canonical/usage.js";
import type { ClientProtocol, OutboundEvent, StreamEncoder } from "../src/protocols/codec.js";
import { newTranslationContext } from "../src/protocols/codec.js";
import { CLIENT_CODECS, UPSTREAM_CODECS } from "../src/protocols/registry.js";
import { ChatStreamEncoder, validateChatStream } from "../src/protocols/openai-chat/index.js";
import { validateAnthropicStream } from "../src/protocols/anthropic-messages/index.js";
import { validateResponsesStream } from "../src/protocols/openai-responses/index.js";
import type { UpstreamProtocol } from "../src/storage/ports.js";
import { SseParser, sseData, sseFrame } from "../src/transport/sse.js";

/** Fixed clock for every translation context, so runs produce identical bytes. */
export const NOW = 1_790_000_000;
/** The cache key both lanes write (translate: `promptCacheKey`; passthrough: a spliced `prompt_cache_key`). */
export const CACHE_KEY = "5b0f3c2e-8d41-5a7e-9c13-6f2d4e8a1b70";

export const CLIENT_PROTOCOLS: readonly ClientProtocol[] = ["anthropic-messages", "openai-chat", "openai-responses"];
export const UPSTREAM_PROTOCOLS: readonly UpstreamProtocol[] = ["anthropic", "openai-chat", "openai-responses", "codex"];

/** Upstream protocol that speaks the same wire format as a client protocol (the passthrough lane's pairs; codex too for Responses). */
export const SAME_WIRE: Readonly<Record<ClientProtocol, readonly UpstreamProtocol[]>> = {
  "anthropic-messages": ["anthropic"],
  "openai-chat": ["openai-chat"],
  "openai-responses": ["openai-responses", "codex"],
};

export interface ClientBody {
  protocol: ClientProtocol;
  /** Where the bytes come from, for the report. */
  source: string;
  bytes: Buffer;
  nonAsciiBytes: number;
  /** The body decoded by its client codec (outside any timing). */
  canonical: CanonicalRequest;
}

export interface ClientBodies {
  /** One body per client protocol, used by every section. */
  byProtocol: Record<ClientProtocol, ClientBody>;
  /** The Codex capture exactly as recorded: its prose was replaced by ASCII filler, so it is all ASCII. */
  codexAsCaptured: ClientBody;
}

export interface UpstreamStream {
  protocol: UpstreamProtocol;
  /** What a variant of the protocol's stream adds, for the report; absent for the plain stream. */
  variant?: string;
  sse: Buffer;
  chunks: Buffer[];
  /** SSE events in the stream (what the upstream decoder is fed). */
  events: number;
  /** Protocol validator findings for the generated stream (expected: none). */
  problems: string[];
}

interface Capture {
  body: Record<string, unknown>;
}

export function countNonAscii(buf: Uint8Array): number {
  let n = 0;
  for (const b of buf) if (b > 0x7f) n++;
  return n;
}

/** A real-client capture committed beside its codec, `src/protocols/<rel>`, from bench/ (ts run in place) or dist/bench/. */
function captureFile(rel: string): string {
  for (const base of ["../src/protocols/", "../../src/protocols/"]) {
    const file = fileURLToPath(new URL(base + rel, import.meta.url));
    if (existsSync(file)) return file;
  }
  throw new Error(`Cannot find src/protocols/${rel}; run the benchmark from a checkout of the repository.`);
}

function loadCapture(rel: string): Record<string, unknown> {
  return (JSON.parse(readFileSync(captureFile(rel), "utf8")) as Capture).body;
}

function clientBody(protocol: ClientProtocol, source: string, json: unknown): ClientBody {
  const bytes = Buffer.from(JSON.stringify(json));
  const canonical = CLIENT_CODECS[protocol].decodeRequest(JSON.parse(bytes.toString("utf8")));
  return { protocol, source, bytes, nonAsciiBytes: countNonAscii(bytes), canonical };
}

/** Short non-ASCII text appended to the Codex turn's last user message: real turns carry some (docs/architecture.md#measured-facts), the filler has none. */
const NON_ASCII_TAIL = " — café, naïve 配置";

function withNonAsciiUserText(body: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(body);
  const input = copy.input;
  if (!Array.isArray(input)) return copy;
  for (let i = input.length - 1; i >= 0; i--) {
    const item: unknown = input[i];
    if (!item || typeof item !== "object" || (item as { role?: unknown }).role !== "user") continue;
    const content = (item as { content?: unknown }).content;
    if (!Array.isArray(content)) continue;
    const part: unknown = content[content.length - 1];
    if (part && typeof part === "object" && typeof (part as { text?: unknown }).text === "string") {
      (part as { text: string }).text += NON_ASCII_TAIL;
      return copy;
    }
  }
  return copy;
}

export function loadClientBodies(): ClientBodies {
  const codexRaw = loadCapture("openai-responses/__fixtures__/codex/001-POST-v1_responses.json");
  const claudeRaw = loadCapture("anthropic-messages/__fixtures__/claude/002-POST-v1_messages.json");
  const messages = clientBody("anthropic-messages", "claude/002 (Claude Code)", claudeRaw);
  // The same conversation as a Chat client would send it.
  const ctx = newTranslationContext(messages.canonical.model, NOW);
  const chatJson = UPSTREAM_CODECS["openai-chat"].encodeRequest(messages.canonical, ctx);
  const chat = clientBody("openai-chat", "claude/002 → Messages decode → Chat encode", chatJson);
  const responses = clientBody("openai-responses", `codex/001 (Codex CLI) + "${NON_ASCII_TAIL.trim()}" in the user turn`, withNonAsciiUserText(codexRaw));
  const codexAsCaptured = clientBody("openai-responses", "codex/001 (Codex CLI) as captured, all ASCII", codexRaw);
  return { byProtocol: { "anthropic-messages": messages, "openai-chat": chat, "openai-responses": responses }, codexAsCaptured };
}

/* ---------------------------------------------------------------- streams */

export interface StreamShape {
  textDeltas: number;
  toolArgDeltas: number;
}

export const STREAM_SHAPE: StreamShape = { textDeltas: 200, toolArgDeltas: 20 };

/** ~8-character text pieces, a third of them with non-ASCII characters. */
const TEXT_PIECES = ["Here is ", "the plan", " for the", " café — ", "naïve ré", "sumé: 配置", "文件 and ", "the test", "s pass. ", "Größe ok"];

const TOOL_ARGUMENTS = JSON.stringify({
  cmd: "rg -n 'prompt_cache_key' src/pipeline && npm test -- --run json-peek",
  workdir: "/home/dev/switchyard",
  justification: "Vérifier le cache — 确认",
  timeout_ms: 120000,
});

export const STREAM_USAGE: Usage = { inputTokens: 18_432, cachedInputTokens: 16_384, cacheWriteTokens: 0, outputTokens: 412, reasoningTokens: 0 };

function splitEvenly(text: string, pieces: number): string[] {
  const out: string[] = [];
  const size = Math.ceil(text.length / pieces);
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/** The canonical answer every upstream stream carries: text, then one tool call, usage, finish. */
export function canonicalAnswer(model: string, responseId: string, shape: StreamShape = STREAM_SHAPE): StreamPart[] {
  const parts: StreamPart[] = [
    { type: "response-start", meta: { id: responseId, model, created: NOW } },
    { type: "text-start", id: "t0" },
  ];
  for (let i = 0; i < shape.textDeltas; i++) parts.push({ type: "text-delta", id: "t0", delta: TEXT_PIECES[i % TEXT_PIECES.length] as string });
  parts.push({ type: "text-end", id: "t0" }, { type: "tool-call-start", id: "c0", callId: "call_bench_0001", name: "exec_command" });
  for (const delta of splitEvenly(TOOL_ARGUMENTS, shape.toolArgDeltas)) parts.push({ type: "tool-call-delta", id: "c0", delta });
  parts.push({ type: "tool-call-end", id: "c0", arguments: TOOL_ARGUMENTS }, { type: "usage", usage: STREAM_USAGE }, { type: "finish", reason: "tool-calls" });
  return parts;
}

/** SSE text of one outbound event, as the transport writes it (`[DONE]` raw). */
export function frameEvent(ev: OutboundEvent): string {
  const json = ev.data === "[DONE]" ? "[DONE]" : JSON.stringify(ev.data);
  return ev.event !== undefined ? sseFrame(ev.event, json) : sseData(json);
}

/** Runs the validator of the protocol that `events` are written in. */
export function validateWire(protocol: UpstreamProtocol | ClientProtocol, events: readonly OutboundEvent[]): string[] {
  if (protocol === "anthropic" || protocol === "anthropic-messages") return validateAnthropicStream(events);
  if (protocol === "openai-chat") return validateChatStream(events);
  return validateResponsesStream(events);
}

/** The encoder that writes `upstream`'s wire format: its client-side stream encoder. */
function wireEncoder(upstream: UpstreamProtocol): StreamEncoder {
  const ctx = newTranslationContext(upstream === "anthropic" ? "claude-opus-4-8" : "gpt-5-codex", NOW);
  switch (upstream) {
    case "anthropic":
      return CLIENT_CODECS["anthropic-messages"].createStreamEncoder(ctx);
    case "openai-chat":
      // Upstream Chat sends the usage chunk because the gateway always asks for it.
      return new ChatStreamEncoder(ctx, { includeUsage: true });
    case "openai-responses":
    case "codex":
      return CLIENT_CODECS["openai-responses"].createStreamEncoder(ctx);
  }
}

function chunk(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, Math.min(i + size, buf.length)));
  return out;
}

/** What a Responses upstream repeats in its response-level events: the request's instructions and tools. */
export interface ResponseEcho {
  instructions: unknown;
  tools: unknown;
}

/** The events whose `response` object carries the request's instructions and tools, as OpenAI's Responses API sends them. */
const ECHOING_EVENTS: ReadonlySet<string> = new Set(["response.created", "response.in_progress", "response.completed"]);

/**
 * `echo`: a Responses stream whose response-level events repeat the request's instructions and
 * tools, as the real API does (https://platform.openai.com/docs/api-reference/responses-streaming/response/created):
 * tens of KB an event, which the passthrough meter and the translate lane's decoder step over.
 */
export function buildUpstreamStream(upstream: UpstreamProtocol, chunkBytes: number, echo?: ResponseEcho): UpstreamStream {
  const model = upstream === "anthropic" ? "claude-opus-4-8" : "gpt-5-codex";
  const id = upstream === "anthropic" ? "msg_bench0001" : upstream === "openai-chat" ? "chatcmpl-bench0001" : "resp_bench0001";
  const encoder = wireEncoder(upstream);
  const events: OutboundEvent[] = [];
  for (const part of canonicalAnswer(model, id)) events.push(...encoder.push(part));
  events.push(...encoder.end());
  if (echo) {
    for (const ev of events) {
      const response =
        ev.event !== undefined && ECHOING_EVENTS.has(ev.event) && typeof ev.data === "object" && ev.data !== null
          ? (ev.data as { response?: object }).response
          : undefined;
      if (response) Object.assign(response, { instructions: echo.instructions, tools: echo.tools });
    }
  }
  const sse = Buffer.from(events.map(frameEvent).join(""));
  const parser = new SseParser();
  const parsed = parser.push(sse).length + parser.end().length;
  const problems = validateWire(upstream, events);
  if (parsed !== events.length) problems.push(`SSE framing: wrote ${events.length} events, parsed ${parsed}`);
  return { protocol: upstream, ...(echo ? { variant: "echoing the request" } : {}), sse, chunks: chunk(sse, chunkBytes), events: parsed, problems };
}
