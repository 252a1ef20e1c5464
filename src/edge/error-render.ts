/**
 * Gateway errors in the client's own protocol envelope, so its SDK can parse
 * them: OpenAI `{error:{message,type,param,code}}`, Anthropic
 * `{type:"error",error:{type,message},request_id}` (PROTOCOLS.md §4.4, §5).
 */
import type { ErrorKind, GatewayError } from "../canonical/errors.js";
import type { ClientProtocol, OutboundEvent } from "../protocols/codec.js";

const OPENAI_TYPE: Record<ErrorKind, string> = {
  invalid_request: "invalid_request_error",
  authentication: "authentication_error",
  permission: "permission_error",
  not_found: "not_found_error",
  request_too_large: "invalid_request_error",
  rate_limit: "rate_limit_error",
  billing: "insufficient_quota",
  upstream: "server_error",
  overloaded: "server_error",
  timeout: "server_error",
  internal: "server_error",
};

const ANTHROPIC_TYPE: Record<ErrorKind, string> = {
  invalid_request: "invalid_request_error",
  authentication: "authentication_error",
  permission: "permission_error",
  not_found: "not_found_error",
  request_too_large: "request_too_large",
  rate_limit: "rate_limit_error",
  billing: "billing_error",
  upstream: "api_error",
  overloaded: "overloaded_error",
  timeout: "timeout_error",
  internal: "api_error",
};

export function errorBody(protocol: ClientProtocol | "admin", err: GatewayError, requestId: string): unknown {
  if (protocol === "anthropic-messages") {
    return { type: "error", error: { type: ANTHROPIC_TYPE[err.kind], message: err.message }, request_id: requestId };
  }
  if (protocol === "admin") {
    return { error: { code: err.code, message: err.message, ...(err.param ? { param: err.param } : {}) }, request_id: requestId };
  }
  return { error: { message: err.message, type: OPENAI_TYPE[err.kind], param: err.param ?? null, code: err.code } };
}

/** The in-stream error for a failure after the first byte (the stream then ends). */
export function streamErrorEvents(protocol: ClientProtocol, err: GatewayError, sequenceNumber?: number): OutboundEvent[] {
  switch (protocol) {
    case "anthropic-messages":
      return [{ event: "error", data: { type: "error", error: { type: ANTHROPIC_TYPE[err.kind], message: err.message } } }];
    case "openai-responses":
      return [
        {
          event: "error",
          data: { type: "error", code: err.code, message: err.message, param: err.param ?? null, sequence_number: sequenceNumber ?? 0 },
        },
      ];
    case "openai-chat":
      return [{ data: { error: { message: err.message, type: OPENAI_TYPE[err.kind], param: err.param ?? null, code: err.code } } }];
  }
}

/** SSE text of outbound events; `[DONE]` is written raw. */
export function frameSse(events: readonly OutboundEvent[]): string {
  let out = "";
  for (const e of events) {
    const data = e.data === "[DONE]" ? "[DONE]" : JSON.stringify(e.data);
    out += e.event ? `event: ${e.event}\ndata: ${data}\n\n` : `data: ${data}\n\n`;
  }
  return out;
}
