/**
 * The contract every wire-protocol folder implements. Codecs are pure: no I/O,
 * no clocks beyond what the context passes in, no framing. Transport turns
 * OutboundEvents into SSE frames or WebSocket messages.
 *
 * Adding a protocol costs one ClientCodec and/or one UpstreamCodec, never N×M:
 * every pair goes through the canonical model in src/canonical.
 */
import type { CanonicalRequest } from "../canonical/request.js";
import type { CanonicalResponse } from "../canonical/response.js";
import type { StreamPart } from "../canonical/stream.js";
import type { GatewayError } from "../canonical/errors.js";
import type { Usage } from "../canonical/usage.js";

import type { ClientProtocol } from "../canonical/protocols.js";

export type { ClientProtocol, UpstreamProtocol } from "../canonical/protocols.js";

/** Protocols the gateway can speak to an upstream. `codex` is the ChatGPT Codex backend flavour of Responses. */
export type UpstreamWireProtocol = "openai-chat" | "openai-responses" | "anthropic-messages" | "codex";

/** One event as parsed off an upstream SSE stream (or a WebSocket text frame: event undefined). */
export interface InboundEvent {
  event: string | undefined;
  data: string;
}

/**
 * One event for the client. `event` becomes the SSE `event:` line (omitted when
 * undefined, as OpenAI Chat does). `data` is JSON-serialised by the transport,
 * except the literal string "[DONE]" which is written raw.
 */
export interface OutboundEvent {
  event?: string;
  data: unknown;
  /**
   * `data` already serialised, exactly as `JSON.stringify(data)` would, when the encoder wrote it
   * out itself: the events sent for every token of an answer, whose text around the one value they
   * carry is cheaper to write than `JSON.stringify`'s walk of their objects. The transport writes
   * this when present (pipeline/render-error.ts `frameSse`); `data` stays for everything that reads it.
   */
  json?: string;
}

/** A lossy mapping the codec had to make; logged, optionally surfaced in a response header. */
export interface TranslationWarning {
  code: string;
  message: string;
  /** The request field concerned, e.g. "temperature". */
  field?: string;
}

/**
 * Per-request state shared between the request encoder and the stream decoder
 * of the same exchange (e.g. the reversible tool-name map).
 */
export interface TranslationContext {
  /** Model name the client asked for; echoed back in client-facing responses. */
  clientModel: string;
  /** Shortened upstream tool name → original client tool name. */
  toolNames: Map<string, string>;
  warnings: TranslationWarning[];
  /** Unix seconds, passed in so codecs stay pure. */
  now: number;
  /**
   * The decoded client request, when the pipeline has one. Client stream encoders
   * read protocol-only wishes from it (e.g. Chat `stream_options.include_usage`).
   */
  clientRequest?: CanonicalRequest;
}

export function newTranslationContext(clientModel: string, now = Math.floor(Date.now() / 1000)): TranslationContext {
  return { clientModel, toolNames: new Map(), warnings: [], now };
}

export interface StreamEncoder {
  push(part: StreamPart): OutboundEvent[];
  /** Called once when the canonical stream ended; closes anything still open. */
  end(): OutboundEvent[];
}

export interface StreamDecoder {
  push(ev: InboundEvent): StreamPart[];
  /** Upstream closed. Emits an error part if the protocol's terminal event never came. */
  end(): StreamPart[];
}

/** Client-facing side of a protocol (ingress). */
export interface ClientCodec {
  readonly protocol: ClientProtocol;
  /** Parses and validates a client body; throws GatewayError("invalid_request", …, {param}) on bad input. */
  decodeRequest(body: unknown): CanonicalRequest;
  /**
   * The client fields of a decoded request that only an upstream speaking this same
   * protocol receives (they ride in this protocol's `extensions`), one warning each,
   * named as the client wrote them. The translate lane adds them when the upstream
   * speaks another protocol.
   */
  droppedFields(req: CanonicalRequest): TranslationWarning[];
  createStreamEncoder(ctx: TranslationContext): StreamEncoder;
  encodeResponse(res: CanonicalResponse, ctx: TranslationContext): unknown;
  /** HTTP error body in this protocol's envelope. */
  encodeError(err: GatewayError): { status: number; body: unknown };
  /** In-stream error event(s), for failures after the first byte. */
  encodeStreamError(err: GatewayError): OutboundEvent[];
}

/** Upstream-facing side of a protocol (egress). */
export interface UpstreamCodec {
  readonly protocol: UpstreamWireProtocol;
  /** False when the upstream only streams (Codex backend): the pipeline folds the stream. */
  readonly supportsNonStream: boolean;
  encodeRequest(req: CanonicalRequest, ctx: TranslationContext): Record<string, unknown>;
  createStreamDecoder(ctx: TranslationContext): StreamDecoder;
  /**
   * Events (by their `event:` line) of which the stream decoder reads only some members: a lane
   * may hand it such an event holding only those, read off the bytes. Absent: every event whole.
   */
  readonly streamEventMembers?: StreamEventMembers;
  decodeResponse(body: unknown, ctx: TranslationContext): CanonicalResponse;
  /**
   * The top-level members of a non-streamed answer decodeResponse reads: a lane may hand it an
   * object holding only those. Absent: the whole answer.
   */
  readonly responseMembers?: readonly string[];
  /** Maps an upstream HTTP error (status + raw body text) to a GatewayError. */
  decodeError(status: number, body: string): GatewayError;
}

/**
 * Meters one upstream stream without translating it: the passthrough lane feeds
 * it the events holding one of the protocol's `triggers` (every other event is
 * relayed as bytes, never decoded). Its reading of usage is the same
 * function the protocol's stream decoder uses, so both lanes bill alike.
 */
export interface StreamMeter {
  /** Usage as metered so far. */
  readonly usage: Usage;
  /** True once the protocol's terminal event was seen (the answer completed). */
  readonly completed: boolean;
  /** Set when the stream carried an error. */
  readonly errorMessage: string | undefined;
  observe(ev: InboundEvent): void;
}

/** Members of a JSON object, by name: `true` for a member's whole value, a tree for some members of an object value. */
export interface MemberTree {
  readonly [name: string]: true | MemberTree;
}

/** Which events a reader reads only some members of, and which members. */
export interface StreamEventMembers {
  readonly events: ReadonlySet<string>;
  readonly members: MemberTree;
}

/** How a protocol's answers are metered: streamed (through a StreamMeter) or as one JSON body. */
export interface ProtocolMeter {
  /**
   * UTF-8 byte patterns of the only events a StreamMeter acts on. A relay may
   * skip decoding any event that contains none of them.
   */
  readonly triggers: readonly Uint8Array[];
  /**
   * Set when the meter acts on events by their `event:` name alone: the names (a prefix is
   * enough) whose lines `triggers` are. A relay may then tell a trigger event by its `event:`
   * line without searching the rest of it, which for a Responses terminal event is tens of KB.
   */
  readonly triggerEvents?: readonly string[];
  /**
   * A global expression a relay may search an event's Latin-1 view with in place of `triggers`:
   * it matches inside every event holding one of them, and may match in some others (which the
   * meter then reads for nothing). For a meter whose triggers begin with a quote, so that a search
   * for them stops at every quote of the JSON, one written to begin elsewhere. No capturing
   * groups: a relay joins it with a rewriter's search into one expression whose first group tells
   * the two apart.
   */
  readonly triggerSearch?: RegExp;
  createStreamMeter(): StreamMeter;
  /**
   * The members of an event's data the StreamMeter reads (`true`: a member's whole value). A relay
   * may hand it an event holding only these, read off the bytes: a Responses terminal event repeats
   * the whole response, instructions and tools included, to carry a few dozen bytes of usage.
   */
  readonly eventMembers?: MemberTree;
  /** Usage of a non-streamed answer (the parsed body); zero when it reports none. */
  usageFromJson(json: unknown): Usage;
}
