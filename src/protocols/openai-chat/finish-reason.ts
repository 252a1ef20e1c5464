/**
 * Chat `finish_reason` ⇄ canonical finish reason (docs/protocols.md#finish-reasons).
 * Chat has no stop-sequence, pause or context-window reasons; they fold into
 * `stop` and `length`.
 */
import type { FinishReason } from "../../canonical/stream.js";
import type { ChatFinishReason } from "./wire.js";

export function chatFinishToCanonical(reason: unknown): FinishReason {
  switch (reason) {
    case "length":
      return "length";
    case "tool_calls":
    case "function_call":
      return "tool-calls";
    case "content_filter":
      return "content-filter";
    default:
      return "stop";
  }
}

const FROM_CANONICAL: Record<FinishReason, ChatFinishReason> = {
  stop: "stop",
  "stop-sequence": "stop",
  pause: "stop",
  error: "stop",
  length: "length",
  "context-window": "length",
  "tool-calls": "tool_calls",
  "content-filter": "content_filter",
};

export function canonicalToChatFinish(reason: FinishReason): ChatFinishReason {
  return FROM_CANONICAL[reason];
}
