/** Public and shared types of the mock upstream. */
import type { MockSockets } from "./responses-websocket.js";
import type { CodexOAuth } from "./codex-oauth.js";

/** The wire protocol a request was addressed to (same names as src/protocols/codec.ts). */
export type MockProtocol = "openai-chat" | "openai-responses" | "anthropic-messages" | "codex";

/** One request as the mock received it. */
export interface RecordedRequest {
  method: string;
  /** Path plus query string, exactly as sent (e.g. `/v1/messages?beta=true`). */
  url: string;
  /** Path without the query string. */
  path: string;
  /** Header names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The raw body bytes (empty for GET/HEAD). */
  body: Buffer;
  /** The body parsed as JSON, or undefined when it is empty or not JSON. */
  json: unknown;
  /** Milliseconds since the epoch when the body was complete. */
  receivedAt: number;
}

/**
 * How the mock answers one request. Built from, in increasing precedence:
 * directives in the last user message, the `x-mock-scenario` header, a script rule.
 */
export interface Scenario {
  /** Answer with a reasoning item / thinking block before the rest. */
  reasoning: boolean;
  /** Call tools: none, the first declared tool, or the first two (parallel). */
  toolCalls: "none" | "single" | "parallel";
  /** Call this declared tool instead of the first one (a free-form tool is called with raw text). */
  toolName: string | undefined;
  /** Answer with this HTTP error status (protocol-shaped body). */
  errorStatus: number | undefined;
  /** Optional message for `errorStatus` or `streamError`. */
  errorMessage: string | undefined;
  /** Value of a `retry-after` header sent with errors. */
  retryAfter: string | undefined;
  /** Wait this long before sending the response head. */
  delayMs: number;
  /** Wait this long between stream events. */
  chunkDelayMs: number;
  /** Destroy the socket (TCP reset) after this many stream events; 0 = before any byte. */
  resetAfter: number | undefined;
  /** Fail inside a 200 stream; the value is the error code/type, or true for the protocol default. */
  streamError: string | true | undefined;
  /** With `streamError`: how many text deltas go out before the error (default 2; 0 = before any content). */
  streamErrorAfter: number | undefined;
  /** Stop as if the output-token limit was hit. */
  maxTokens: boolean;
  /** Replace the default reply text. */
  text: string | undefined;
  /** Report exactly this many cached input tokens instead of the prompt-cache simulation. */
  cachedTokens: number | undefined;
  /** Report exactly this many cache-write tokens instead of the prompt-cache simulation. */
  cacheWriteTokens: number | undefined;
  /** Codex backend: emit a `codex.rate_limits` event first. */
  rateLimits: boolean;
  /** Codex backend: the primary (5 h) window's used percent in the `x-codex-*` headers (codex-usage.ts). */
  usagePrimary: number | undefined;
  /** Codex backend: the secondary (weekly) window's used percent. */
  usageSecondary: number | undefined;
  /** Codex backend: with a 429, the `usage_limit_reached` reset in seconds (`resets_in_seconds`, and `resets_at` that far ahead). */
  usageLimitSeconds: number | undefined;
  /** Codex backend: the `plan_type` of a `usage_limit_reached` body. */
  planType: string | undefined;
  /** Write each SSE frame in two writes split inside a multi-byte UTF-8 character. */
  byteSplit: boolean;
}

/** A JSON value, for script rule bodies. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A scripted behaviour; see MockUpstream.script. */
export interface MockRule {
  /** Which requests the rule applies to; all when absent. */
  match?: (req: RecordedRequest) => boolean;
  /**
   * HTTP status. With `body`, the mock sends exactly that. Without `body`, a
   * status >= 400 becomes a protocol-shaped error for the addressed protocol.
   */
  status?: number;
  /** A canned body: Buffer/string sent as is, anything else as JSON. */
  body?: Buffer | JsonValue;
  /** Extra response headers for a canned body. */
  headers?: Record<string, string>;
  /** Delay before the response head. */
  delayMs?: number;
  /** Scenario overrides, as an object or in directive syntax (`"tool_call,delay=50"`). */
  scenario?: Partial<Scenario> | string;
  /** How many requests the rule applies to; unlimited when absent. */
  times?: number;
}

export interface MockUpstreamOptions {
  /** 0 or absent picks a free port. */
  port?: number;
  /** Defaults to 127.0.0.1. */
  host?: string;
  /**
   * How many requests `requests` keeps (oldest dropped first). Defaults to
   * 1000; set 0 for benchmarks so bodies are not retained.
   */
  maxRecorded?: number;
  /**
   * Reuse the parse of a request body byte for byte the same as one of the last this-many
   * distinct bodies (frozen; parsed-bodies.ts). For benchmarks, which send one body again and
   * again; 0 or absent: every body is parsed.
   */
  reuseParsedBodies?: number;
  /**
   * Give a request the answer rendered for an earlier one with the same parsed body and endpoint
   * (reused-answers.ts): the second such answer, ids and all. Needs `reuseParsedBodies`, which
   * makes bodies byte for byte the same one object. For benchmarks; absent: every answer is
   * rendered.
   */
  reuseAnswers?: boolean;
}

export interface MockUpstream {
  /** ChatGPT login: the token endpoint and the Codex routes' token check (codex-oauth.ts). */
  readonly oauth: CodexOAuth;
  /** e.g. `http://127.0.0.1:43123` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Requests received, oldest first (bounded by maxRecorded). */
  readonly requests: RecordedRequest[];
  /** Responses WebSocket connections and their frames (responses-websocket.ts). */
  readonly sockets: MockSockets;
  /** Forget recorded requests. */
  clear(): void;
  /** Add a rule; rules are tried in the order added, the first match wins. */
  script(rule: MockRule): void;
  /** Drop all rules and forget the prompt-cache and response-id state. */
  reset(): void;
  close(): Promise<void>;
}
