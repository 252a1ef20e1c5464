/**
 * Test-side helpers: read a gateway SSE response into events (data parsed as
 * JSON, `[DONE]` kept as the string), and check it with the protocol's strict
 * event-order validator.
 */
import { SseParser } from "../transport/sse.js";
import { validateAnthropicStream } from "../protocols/anthropic-messages/validate.js";
import { validateChatStream } from "../protocols/openai-chat/validate.js";
import { validateResponsesStream } from "../protocols/openai-responses/validate.js";
import type { ClientProtocol } from "../protocols/codec.js";

export interface ClientEvent {
  event: string | undefined;
  data: unknown;
}

export async function readSse(res: Response): Promise<ClientEvent[]> {
  const parser = new SseParser();
  const raw = [...parser.push(Buffer.from(await res.arrayBuffer())), ...parser.end()];
  return raw.map((e) => ({ event: e.event, data: e.data === "[DONE]" ? "[DONE]" : (JSON.parse(e.data) as unknown) }));
}

export function validateStream(protocol: ClientProtocol, events: ClientEvent[]): string[] {
  switch (protocol) {
    case "anthropic-messages":
      return validateAnthropicStream(events);
    case "openai-chat":
      return validateChatStream(events);
    case "openai-responses":
      return validateResponsesStream(events);
  }
}
