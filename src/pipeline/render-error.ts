/**
 * Gateway errors in the client's own protocol envelope (the codecs own the
 * shapes), plus the admin API's envelope and SSE framing of outbound events.
 */
import type { GatewayError } from "../canonical/errors.js";
import type { ClientProtocol, OutboundEvent } from "../protocols/codec.js";
import { CLIENT_CODECS } from "../protocols/registry.js";
import { withMembers } from "../canonical/shared-shape.js";

/** The status and body of an error answer in the client's protocol: each protocol owns its status table and envelope. */
export function renderError(protocol: ClientProtocol | "admin", err: GatewayError, requestId: string): { status: number; body: unknown } {
  if (protocol === "admin") {
    return { status: err.status, body: { error: { code: err.code, message: err.message, ...(err.param ? { param: err.param } : {}) }, request_id: requestId } };
  }
  const { status, body } = CLIENT_CODECS[protocol].encodeError(err);
  // Anthropic's envelope carries the request id (docs/protocols.md#anthropic-errors); OpenAI's gets it as a header only.
  return { status, body: protocol === "anthropic-messages" && body && typeof body === "object" ? withMembers(body, { request_id: requestId }) : body };
}

export function errorBody(protocol: ClientProtocol | "admin", err: GatewayError, requestId: string): unknown {
  return renderError(protocol, err, requestId).body;
}

/** The in-stream error for a failure after the first byte (the stream then ends). */
export function streamErrorEvents(protocol: ClientProtocol, err: GatewayError): OutboundEvent[] {
  return CLIENT_CODECS[protocol].encodeStreamError(err);
}

/** An outbound event's data line: the encoder's own serialisation when it wrote one, `[DONE]` raw. */
export function eventData(e: OutboundEvent): string {
  return e.json ?? (e.data === "[DONE]" ? "[DONE]" : JSON.stringify(e.data));
}

/** SSE text of outbound events. */
export function frameSse(events: readonly OutboundEvent[]): string {
  let out = "";
  for (const e of events) {
    const data = eventData(e);
    out += e.event ? `event: ${e.event}\ndata: ${data}\n\n` : `data: ${data}\n\n`;
  }
  return out;
}
