/**
 * Canonical stream parts. Every upstream stream decodes into these; every client
 * stream encodes from them. Each block has an explicit start/delta/end lifecycle
 * identified by `id` (unique within one response).
 */
import type { Usage } from "./usage.js";

export type FinishReason = "stop" | "length" | "tool-calls" | "content-filter" | "stop-sequence" | "context-window" | "pause" | "error";

export interface ResponseMeta {
  /** Upstream response id (resp_…, msg_…, chatcmpl-…). */
  id: string;
  model: string;
  /** Unix seconds. */
  created: number;
}

export type StreamPart =
  | { type: "response-start"; meta: ResponseMeta; usage?: Usage }
  | { type: "text-start"; id: string }
  | { type: "text-delta"; id: string; delta: string }
  | { type: "text-end"; id: string }
  | { type: "reasoning-start"; id: string }
  | { type: "reasoning-delta"; id: string; delta: string }
  /** `signature` carries the opaque replay blob, final only here. */
  | { type: "reasoning-end"; id: string; signature?: string; redacted?: string }
  | { type: "tool-call-start"; id: string; callId: string; name: string }
  | { type: "tool-call-delta"; id: string; delta: string }
  | { type: "tool-call-end"; id: string; arguments: string }
  | { type: "usage"; usage: Usage }
  | { type: "finish"; reason: FinishReason; stopSequence?: string }
  | { type: "error"; error: StreamError };

export interface StreamError {
  /** Canonical error class; see canonical/errors.ts. */
  kind: import("./errors.js").ErrorKind;
  message: string;
  /**
   * Upstream's own code when it gave one (e.g. rate_limit_exceeded), or the gateway's own
   * stream-decoder code (`stream_truncated`, `bad_event`, …; see error-codes.ts).
   */
  code?: string;
}
