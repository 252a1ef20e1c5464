/**
 * Anthropic `stop_reason` ⇄ canonical finish reason (docs/protocols.md#finish-reasons).
 */
import type { FinishReason } from "../../canonical/stream.js";
import type { AnthropicStopReason } from "./wire.js";

const TO_CANONICAL: Record<AnthropicStopReason, FinishReason> = {
  end_turn: "stop",
  max_tokens: "length",
  stop_sequence: "stop-sequence",
  tool_use: "tool-calls",
  pause_turn: "pause",
  refusal: "content-filter",
  model_context_window_exceeded: "context-window",
};

const FROM_CANONICAL: Record<FinishReason, AnthropicStopReason> = {
  stop: "end_turn",
  length: "max_tokens",
  "stop-sequence": "stop_sequence",
  "tool-calls": "tool_use",
  pause: "pause_turn",
  "content-filter": "refusal",
  "context-window": "model_context_window_exceeded",
  // An errored answer that still gets a terminal frame is reported as a normal end.
  error: "end_turn",
};

export function anthropicStopToFinish(reason: unknown): FinishReason {
  return typeof reason === "string" && reason in TO_CANONICAL ? TO_CANONICAL[reason as AnthropicStopReason] : "stop";
}

export function finishToAnthropicStop(reason: FinishReason): AnthropicStopReason {
  return FROM_CANONICAL[reason];
}
