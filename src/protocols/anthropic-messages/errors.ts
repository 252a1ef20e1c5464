/**
 * Anthropic error envelope `{type:"error",error:{type,message}}` and its status
 * table (docs/protocols.md#anthropic-errors; https://docs.anthropic.com/en/api/errors), both ways.
 */
import { GatewayError, statusToKind, type ErrorKind } from "../../canonical/errors.js";
import type { StreamError } from "../../canonical/stream.js";
import type { OutboundEvent } from "../codec.js";
import type { AnthropicErrorBody, AnthropicErrorType } from "./wire.js";
import { isRecord, tryParseJson } from "../common/guards.js";

const TYPE_OF_KIND: Record<ErrorKind, AnthropicErrorType> = {
  invalid_request: "invalid_request_error",
  authentication: "authentication_error",
  billing: "billing_error",
  permission: "permission_error",
  not_found: "not_found_error",
  request_too_large: "request_too_large",
  rate_limit: "rate_limit_error",
  internal: "api_error",
  upstream: "api_error",
  overloaded: "overloaded_error",
  timeout: "timeout_error",
};

const KIND_OF_TYPE: Record<AnthropicErrorType, ErrorKind> = {
  invalid_request_error: "invalid_request",
  authentication_error: "authentication",
  billing_error: "billing",
  permission_error: "permission",
  not_found_error: "not_found",
  request_too_large: "request_too_large",
  rate_limit_error: "rate_limit",
  // The upstream's internal error is, from the gateway's point of view, an upstream failure.
  api_error: "upstream",
  timeout_error: "timeout",
  overloaded_error: "overloaded",
};

export function anthropicErrorType(kind: ErrorKind): AnthropicErrorType {
  return TYPE_OF_KIND[kind];
}

export function anthropicTypeToKind(type: unknown, status?: number): ErrorKind {
  if (typeof type === "string" && type in KIND_OF_TYPE) return KIND_OF_TYPE[type as AnthropicErrorType];
  return status !== undefined ? statusToKind(status) : "upstream";
}

export function anthropicErrorBody(kind: ErrorKind, message: string): AnthropicErrorBody {
  return { type: "error", error: { type: anthropicErrorType(kind), message } };
}

/**
 * Anthropic pairs `overloaded_error` with HTTP 529 (https://docs.anthropic.com/en/api/errors),
 * whatever status the failure had elsewhere (an OpenAI upstream's 503, the gateway's own
 * `no_upstream_key`), so a client's retry logic sees the pair it knows.
 */
export function encodeAnthropicError(err: GatewayError): { status: number; body: AnthropicErrorBody } {
  return { status: err.kind === "overloaded" ? 529 : err.status, body: anthropicErrorBody(err.kind, err.message) };
}

export function encodeAnthropicStreamError(err: { kind: ErrorKind; message: string }): OutboundEvent[] {
  return [{ event: "error", data: anthropicErrorBody(err.kind, err.message) }];
}

/** Reads `{type:"error",error:{type,message}}` (or anything else) into a stream error. */
export function anthropicErrorPayloadToStreamError(payload: unknown): StreamError {
  const inner = isRecord(payload) && isRecord(payload.error) ? payload.error : undefined;
  const type = inner?.type;
  const message = typeof inner?.message === "string" ? inner.message : "upstream error";
  const out: StreamError = { kind: anthropicTypeToKind(type), message };
  if (typeof type === "string") out.code = type;
  return out;
}

export function decodeAnthropicError(status: number, body: string): GatewayError {
  const parsed = tryParseJson(body);
  const inner = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : undefined;
  const type = typeof inner?.type === "string" ? inner.type : undefined;
  const message = typeof inner?.message === "string" ? inner.message : body.trim() || `upstream answered HTTP ${status}`;
  const kind = anthropicTypeToKind(type, status);
  // The upstream's error type stays the code OpenAI-protocol clients see (GatewayError.upstreamCode).
  return new GatewayError(kind, "upstream_rejected", message, { upstreamCode: type ?? `http_${status}` });
}
