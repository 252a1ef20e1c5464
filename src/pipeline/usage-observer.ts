/**
 * Meters a passthrough stream without translating it: only the events that
 * carry usage are parsed (Anthropic message_start/message_delta, Responses
 * terminal events, Chat chunks with a non-null `usage`). Everything else is
 * forwarded as bytes and never decoded to objects.
 */
import type { Usage } from "../canonical/usage.js";
import { emptyUsage } from "../canonical/usage.js";
import type { UpstreamProtocol } from "../storage/ports.js";
import type { SseEvent } from "../transport/sse.js";

type Json = Record<string, unknown>;

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

/** Anthropic usage → canonical (Anthropic input_tokens excludes cache reads and writes; docs/protocols.md#usage-conversion). */
export function anthropicUsage(u: Json, into: Usage): void {
  const input = u.input_tokens;
  const read = u.cache_read_input_tokens;
  const write = u.cache_creation_input_tokens;
  if (input !== undefined || read !== undefined || write !== undefined) {
    into.cachedInputTokens = num(read);
    into.cacheWriteTokens = num(write);
    into.inputTokens = num(input) + into.cachedInputTokens + into.cacheWriteTokens;
  }
  if (u.output_tokens !== undefined) into.outputTokens = num(u.output_tokens);
}

/** Responses usage → canonical (input already includes cached tokens). */
export function responsesUsage(u: Json, into: Usage): void {
  into.inputTokens = num(u.input_tokens);
  into.outputTokens = num(u.output_tokens);
  const inDetails = (u.input_tokens_details ?? {}) as Json;
  const outDetails = (u.output_tokens_details ?? {}) as Json;
  into.cachedInputTokens = num(inDetails.cached_tokens);
  into.cacheWriteTokens = num(inDetails.cache_write_tokens);
  into.reasoningTokens = num(outDetails.reasoning_tokens);
}

/** Chat usage → canonical (prompt_tokens includes cached tokens). */
export function chatUsage(u: Json, into: Usage): void {
  into.inputTokens = num(u.prompt_tokens);
  into.outputTokens = num(u.completion_tokens);
  into.cachedInputTokens = num(((u.prompt_tokens_details ?? {}) as Json).cached_tokens);
  into.reasoningTokens = num(((u.completion_tokens_details ?? {}) as Json).reasoning_tokens);
}

export interface UsageObserver {
  readonly usage: Usage;
  /** True once the protocol's terminal event was seen (stream completed normally). */
  readonly completed: boolean;
  /** Set when the stream carried an error event. */
  readonly errorMessage: string | undefined;
  observe(ev: SseEvent): void;
  /**
   * Byte patterns of the only events `observe` acts on. A relay may skip
   * parsing a span of whole events that contains none of them.
   */
  readonly triggers: readonly Buffer[];
}

/** `event: NAME` with and without the optional space after the colon. */
const eventLines = (...names: string[]): Buffer[] => names.flatMap((n) => [Buffer.from(`event: ${n}`), Buffer.from(`event:${n}`)]);
const RESPONSES_TRIGGERS = eventLines("response.completed", "response.incomplete", "response.failed", "error");

const TRIGGERS: Record<UpstreamProtocol, readonly Buffer[]> = {
  anthropic: eventLines("message_", "error"),
  "openai-responses": RESPONSES_TRIGGERS,
  codex: RESPONSES_TRIGGERS,
  "openai-chat": ['"usage":{', "[DONE]", '{"error"'].map((t) => Buffer.from(t)),
};

export function createUsageObserver(protocol: UpstreamProtocol): UsageObserver {
  const usage = emptyUsage();
  const state = { completed: false, errorMessage: undefined as string | undefined };
  const parse = (data: string): Json | undefined => {
    try {
      const v: unknown = JSON.parse(data);
      return v && typeof v === "object" ? (v as Json) : undefined;
    } catch {
      return undefined;
    }
  };
  let observe: (ev: SseEvent) => void;
  switch (protocol) {
    case "anthropic":
      observe = (ev) => {
        switch (ev.event) {
          case "message_start": {
            const msg = parse(ev.data)?.message as Json | undefined;
            if (msg?.usage) anthropicUsage(msg.usage as Json, usage);
            break;
          }
          case "message_delta": {
            const u = parse(ev.data)?.usage as Json | undefined;
            if (u) anthropicUsage(u, usage);
            break;
          }
          case "message_stop":
            state.completed = true;
            break;
          case "error":
            state.errorMessage = String(((parse(ev.data)?.error ?? {}) as Json).message ?? "upstream stream error");
            break;
        }
      };
      break;
    case "openai-responses":
    case "codex":
      observe = (ev) => {
        const type = ev.event;
        if (type === "response.completed" || type === "response.incomplete" || type === "response.failed") {
          const resp = parse(ev.data)?.response as Json | undefined;
          if (resp?.usage) responsesUsage(resp.usage as Json, usage);
          state.completed = type !== "response.failed";
          if (type === "response.failed") state.errorMessage = String(((resp?.error ?? {}) as Json).message ?? "response failed");
        } else if (type === "error") {
          state.errorMessage = String(parse(ev.data)?.message ?? "upstream stream error");
        }
      };
      break;
    case "openai-chat":
      observe = (ev) => {
        if (ev.data === "[DONE]") {
          state.completed = true;
          return;
        }
        if (ev.data.includes('"usage":{')) {
          const u = parse(ev.data)?.usage as Json | undefined;
          if (u) chatUsage(u, usage);
        } else if (ev.data.startsWith('{"error"')) {
          state.errorMessage = String(((parse(ev.data)?.error ?? {}) as Json).message ?? "upstream stream error");
        }
      };
      break;
  }
  return {
    usage,
    triggers: TRIGGERS[protocol],
    get completed() {
      return state.completed;
    },
    get errorMessage() {
      return state.errorMessage;
    },
    observe,
  };
}
