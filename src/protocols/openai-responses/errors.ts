/**
 * OpenAI error envelopes `{error:{message,type,param,code}}`
 * (docs/protocols.md#responses-errors), both directions. Upstream bodies are also accepted in the Codex
 * backend's `{"detail":"…"}` shape and its 429 `usage_limit_reached`
 * form with `resets_in_seconds` (docs/protocols.md#codex-answers-and-errors).
 */
import { GatewayError, statusToKind, type GatewayErrorOptions } from "../../canonical/errors.js";
import type { OutboundEvent } from "../codec.js";
import { isObject, num, str } from "./guards.js";
import type { ErrorEnvelope } from "./wire.js";
import { chatErrorType, openaiStatus } from "../openai-chat/errors.js";
import { withMembers } from "../../canonical/shared-shape.js";

export function errorEnvelope(err: GatewayError): ErrorEnvelope {
  return { error: { message: err.message, type: chatErrorType(err.kind), param: err.param ?? null, code: err.wireCode } };
}

export function encodeResponsesError(err: GatewayError): { status: number; body: ErrorEnvelope } {
  return { status: openaiStatus(err), body: errorEnvelope(err) };
}

/**
 * A failure after the first byte, for callers that have no stream encoder at
 * hand. Mid-stream failures should rather be pushed into the encoder as an
 * `error` part, which closes open items and ends with `response.failed`.
 */
export function encodeResponsesStreamError(err: GatewayError): OutboundEvent[] {
  return [{ event: "error", data: { type: "error", code: err.wireCode, message: err.message, param: err.param ?? null } }];
}

export function decodeResponsesError(status: number, body: string): GatewayError {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  const kind = statusToKind(status);
  if (isObject(json) && isObject(json.error)) {
    const e = json.error;
    // The upstream's own code stays the code clients see (GatewayError.upstreamCode); an
    // envelope without code or type has always been answered as `upstream_error`.
    const upstreamCode = str(e.code) ?? str(e.type);
    const message = str(e.message) ?? `Upstream answered HTTP ${status}.`;
    const opts: GatewayErrorOptions = {};
    const param = str(e.param);
    if (param) opts.param = param;
    const resetsIn = num(e.resets_in_seconds);
    if (resetsIn > 0) opts.headers = { "retry-after": String(Math.ceil(resetsIn)) };
    if (upstreamCode === undefined) return new GatewayError(kind, "upstream_error", message, opts);
    return new GatewayError(kind, "upstream_rejected", message, withMembers(opts, { upstreamCode }));
  }
  if (isObject(json) && json.detail !== undefined) {
    const detail = typeof json.detail === "string" ? json.detail : JSON.stringify(json.detail);
    return new GatewayError(kind, "upstream_rejected", detail);
  }
  const text = body.trim().slice(0, 500);
  return new GatewayError(kind, "upstream_error", text || `Upstream answered HTTP ${status}.`);
}
