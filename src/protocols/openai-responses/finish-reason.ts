/**
 * Responses has no stop reason; it is derived from the terminal status
 * (docs/protocols.md#finish-reasons).
 */
import type { ErrorKind } from "../../canonical/errors.js";
import type { FinishReason } from "../../canonical/stream.js";
import { isObject } from "./guards.js";
import type { ResponseObject, ResponseStatus } from "./wire.js";

export function finishFromResponse(response: unknown, sawToolCall: boolean): FinishReason {
  const r = isObject(response) ? response : {};
  if (r.status === "incomplete") {
    const reason = isObject(r.incomplete_details) ? r.incomplete_details.reason : undefined;
    if (reason === "content_filter") return "content-filter";
    return "length";
  }
  return sawToolCall ? "tool-calls" : "stop";
}

export function statusForFinish(reason: FinishReason): {
  status: ResponseStatus;
  incomplete: ResponseObject["incomplete_details"];
} {
  switch (reason) {
    case "length":
    case "context-window":
      return { status: "incomplete", incomplete: { reason: "max_output_tokens" } };
    case "content-filter":
      return { status: "incomplete", incomplete: { reason: "content_filter" } };
    case "error":
      return { status: "failed", incomplete: null };
    default:
      return { status: "completed", incomplete: null };
  }
}

/** `response.failed` / `error` codes → canonical error class (docs/protocols.md#responses-errors; Codex CLI's sse/responses.rs maps them so). */
export function kindForErrorCode(code: string | undefined): ErrorKind {
  switch (code) {
    case "rate_limit_exceeded":
    case "usage_limit_reached":
      return "rate_limit";
    case "insufficient_quota":
      return "billing";
    case "usage_not_included":
      return "permission";
    case "context_length_exceeded":
    case "invalid_prompt":
    case "invalid_request_error":
      return "invalid_request";
    case "server_is_overloaded":
    case "slow_down":
      return "overloaded";
    default:
      return "upstream";
  }
}
