/**
 * OpenAI error envelope `{error:{message,type,param,code}}` (docs/protocols.md#chat-errors;
 * https://platform.openai.com/docs/guides/error-codes), both directions.
 */
import { GatewayError, statusToKind, type ErrorKind } from "../../canonical/errors.js";
import type { StreamError } from "../../canonical/stream.js";
import type { OutboundEvent } from "../codec.js";
import { isRecord, tryParseJson } from "../common/guards.js";
import type { ChatErrorBody } from "./wire.js";

/**
 * One table for both OpenAI surfaces (Chat and Responses), as OpenAI itself
 * answers: an unknown model is `404 invalid_request_error` with code
 * `model_not_found` (https://platform.openai.com/docs/guides/error-codes).
 */
const TYPE_OF_KIND: Record<ErrorKind, string> = {
  invalid_request: "invalid_request_error",
  authentication: "authentication_error",
  permission: "permission_error",
  not_found: "invalid_request_error",
  request_too_large: "invalid_request_error",
  rate_limit: "rate_limit_error",
  billing: "insufficient_quota",
  upstream: "server_error",
  overloaded: "server_error",
  timeout: "server_error",
  internal: "server_error",
};

export function chatErrorType(kind: ErrorKind): string {
  return TYPE_OF_KIND[kind];
}

export function chatErrorBody(kind: ErrorKind, message: string, code?: string, param?: string): ChatErrorBody {
  return { error: { message, type: chatErrorType(kind), param: param ?? null, code: code ?? null } };
}

export function encodeChatError(err: GatewayError): { status: number; body: ChatErrorBody } {
  return { status: openaiStatus(err), body: chatErrorBody(err.kind, err.message, err.wireCode, err.param) };
}

/**
 * OpenAI answers an overloaded service with 503 (https://platform.openai.com/docs/guides/error-codes);
 * 529 is Anthropic's status and means nothing to OpenAI clients, so it never reaches them.
 */
export function openaiStatus(err: GatewayError): number {
  return err.status === 529 ? 503 : err.status;
}

export function encodeChatStreamError(err: GatewayError | StreamError): OutboundEvent[] {
  return [{ data: chatErrorBody(err.kind, err.message, err instanceof GatewayError ? err.wireCode : err.code) }];
}

/** An in-band error (no HTTP status) classified by its type and code. */
export function chatErrorKind(type: unknown, code: unknown): ErrorKind {
  const t = `${typeof type === "string" ? type : ""} ${typeof code === "string" ? code : ""}`;
  if (/rate_limit|insufficient_quota|usage_limit/.test(t)) return "rate_limit";
  if (/context_length|invalid_request/.test(t)) return "invalid_request";
  if (/authentication|invalid_api_key/.test(t)) return "authentication";
  if (/permission/.test(t)) return "permission";
  if (/not_found/.test(t)) return "not_found";
  if (/overloaded/.test(t)) return "overloaded";
  if (/timeout/.test(t)) return "timeout";
  return "upstream";
}

export function chatErrorPayloadToStreamError(payload: unknown): StreamError {
  const inner = isRecord(payload) && isRecord(payload.error) ? payload.error : isRecord(payload) ? payload : {};
  const message = typeof inner.message === "string" ? inner.message : "upstream error";
  const out: StreamError = { kind: chatErrorKind(inner.type, inner.code), message };
  const code = typeof inner.code === "string" ? inner.code : typeof inner.type === "string" ? inner.type : undefined;
  if (code !== undefined) out.code = code;
  return out;
}

/** HTTP error from an OpenAI-compatible upstream; also reads the Codex-style `{detail}` body. */
export function decodeChatError(status: number, body: string): GatewayError {
  const parsed = tryParseJson(body);
  const inner = isRecord(parsed) && isRecord(parsed.error) ? parsed.error : undefined;
  const detail = isRecord(parsed) && typeof parsed.detail === "string" ? parsed.detail : undefined;
  const message = typeof inner?.message === "string" ? inner.message : (detail ?? (body.trim() || `upstream answered HTTP ${status}`));
  const code = typeof inner?.code === "string" ? inner.code : typeof inner?.type === "string" ? inner.type : `http_${status}`;
  // The upstream's own code stays the code clients see (GatewayError.upstreamCode).
  const opts = typeof inner?.param === "string" ? { param: inner.param, upstreamCode: code } : { upstreamCode: code };
  return new GatewayError(statusToKind(status), "upstream_rejected", message, opts);
}
