/**
 * Both lanes bill the same answer alike: for any upstream stream of each
 * protocol, the passthrough meter (fed, as the relay feeds it, only the events
 * whose bytes hold one of its triggers) and the translate lane's stream decoder
 * (its usage parts, last one winning) report the same usage, cached,
 * cache-write and reasoning tokens included, and agree on whether the answer
 * completed. The same holds for non-streamed answers: the meter's
 * `usageFromJson` and the codec's `decodeResponse(...).usage`.
 *
 * Streams come from the gateway's own client encoders (real wire format, with
 * text that mimics trigger bytes), then get the usage shapes real providers
 * send: partial and null counts, repeated deltas, compatible servers' extra
 * fields, JSON with spaces, errors and cut streams.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CanonicalRequest } from "../canonical/request.js";
import type { CanonicalResponse } from "../canonical/response.js";
import type { StreamPart } from "../canonical/stream.js";
import { emptyUsage, type Usage } from "../canonical/usage.js";
import { newTranslationContext, type ClientProtocol, type InboundEvent, type OutboundEvent, type UpstreamProtocol } from "./codec.js";
import { CLIENT_CODECS, METERS, UPSTREAM_CODECS } from "./registry.js";
import { partsOf, streamSpecArb, type StreamSpec } from "./anthropic-messages/test-support.js";

type Json = Record<string, unknown>;

const UPSTREAMS: UpstreamProtocol[] = ["anthropic", "openai-chat", "openai-responses", "codex"];
const WIRE: Record<UpstreamProtocol, ClientProtocol> = {
  anthropic: "anthropic-messages",
  "openai-chat": "openai-chat",
  "openai-responses": "openai-responses",
  codex: "openai-responses",
};

function ctx() {
  const c = newTranslationContext("m", 1_700_000_000);
  const request: CanonicalRequest = { model: "m", messages: [], stream: true };
  // The gateway always asks a Chat upstream for its usage chunk.
  request.extensions = { "openai-chat": { stream_options: { include_usage: true } } };
  c.clientRequest = request;
  return c;
}

/* ------------------------------------------------------------ generators */

/** Content that looks like trigger bytes or terminal events, to catch meters that trust a byte match. */
const tricky = fc.constantFrom(
  '"usage":{',
  '"usage": {',
  "[DONE]",
  '"error":{',
  '"finish_reason":"stop"',
  "event: error",
  "message_delta",
  "response.completed",
);
const specArb: fc.Arbitrary<StreamSpec> = fc
  .tuple(streamSpecArb, fc.array(tricky, { maxLength: 3 }))
  .map(([spec, text]) => (text.length > 0 ? { ...spec, blocks: [{ kind: "text", chunks: text }, ...spec.blocks] } : spec));

/** A wire count as providers send it: a number, null, or absent. */
const count = fc.oneof(
  { weight: 5, arbitrary: fc.nat({ max: 200_000 }) },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 2, arbitrary: fc.constant(undefined) },
);
const details = <T extends Json>(rec: fc.Arbitrary<T>) => fc.oneof(fc.constant(undefined), fc.constant(null), rec);

const anthropicUsage = fc.record(
  {
    input_tokens: count,
    cache_creation_input_tokens: count,
    cache_read_input_tokens: count,
    output_tokens: count,
    output_tokens_details: details(fc.record({ thinking_tokens: count })),
    cache_creation: fc.record({ ephemeral_5m_input_tokens: fc.nat(100), ephemeral_1h_input_tokens: fc.nat(100) }),
    service_tier: fc.constant("standard"),
  },
  { requiredKeys: [] },
);

const chatUsage = fc.record(
  {
    prompt_tokens: count,
    completion_tokens: count,
    total_tokens: count,
    // OpenAI; OpenRouter and OpenAI explicit caching add cache_write_tokens, Alibaba cache_creation_input_tokens.
    prompt_tokens_details: details(
      fc.record({ cached_tokens: count, cache_write_tokens: count, cache_creation_input_tokens: count, audio_tokens: count }, { requiredKeys: [] }),
    ),
    completion_tokens_details: details(fc.record({ reasoning_tokens: count, audio_tokens: count }, { requiredKeys: [] })),
    // DeepSeek.
    prompt_cache_hit_tokens: count,
    prompt_cache_miss_tokens: count,
  },
  { requiredKeys: [] },
);

const responsesUsage = fc.record(
  {
    input_tokens: count,
    input_tokens_details: details(fc.record({ cached_tokens: count, cache_write_tokens: count }, { requiredKeys: [] })),
    output_tokens: count,
    output_tokens_details: details(fc.record({ reasoning_tokens: count }, { requiredKeys: [] })),
    total_tokens: count,
  },
  { requiredKeys: [] },
);

const USAGE: Record<UpstreamProtocol, fc.Arbitrary<Json>> = {
  anthropic: anthropicUsage,
  "openai-chat": chatUsage,
  "openai-responses": responsesUsage,
  codex: responsesUsage,
};

/** How a generated stream departs from the encoder's: usage shapes and the odd provider habit. */
interface Variant {
  /** Usage objects to put where the protocol reports usage, in stream order. */
  usages: Json[];
  /** Responses: how the stream ends (`null` usage allowed there). */
  terminal: "response.completed" | "response.incomplete" | "response.failed" | "response.done";
  nullUsage: boolean;
  /** Chat: JSON with a space after each colon and comma, as some compatible servers write it. */
  spaced: boolean;
  /** Chat: usage on ordinary chunks too (vLLM's continuous usage stats). */
  usageOnEveryChunk: boolean;
  /** An error event at this position (modulo the stream length), or none. */
  errorAt: number | undefined;
  /** Drop the events from this position on (the upstream broke off), or none. */
  cutAt: number | undefined;
  /** Anthropic: a second message_start, which both lanes ignore. */
  secondStart: boolean;
}

const variantArb = (p: UpstreamProtocol): fc.Arbitrary<Variant> =>
  fc.record({
    usages: fc.array(USAGE[p], { minLength: 1, maxLength: 3 }),
    terminal: fc.constantFrom("response.completed", "response.incomplete", "response.failed", "response.done"),
    nullUsage: fc.boolean(),
    spaced: fc.boolean(),
    usageOnEveryChunk: fc.boolean(),
    errorAt: fc.option(fc.nat(), { freq: 4, nil: undefined }),
    cutAt: fc.option(fc.nat(), { freq: 4, nil: undefined }),
    secondStart: fc.boolean(),
  });

/* ----------------------------------------------------- building streams */

function clone<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** JSON with a space after `:` and `,` outside strings (formatting newlines only ever sit between tokens). */
function spacedJson(v: unknown): string {
  return JSON.stringify(v, null, 1).replace(/\n */g, " ");
}

function errorEvent(p: UpstreamProtocol): OutboundEvent {
  if (p === "anthropic") return { event: "error", data: { type: "error", error: { type: "overloaded_error", message: "Overloaded" } } };
  if (p === "openai-chat") return { data: { error: { message: "boom", type: "server_error", param: null, code: null } } };
  return { event: "error", data: { type: "error", code: "server_error", message: "boom", sequence_number: 0 } };
}

/** The upstream stream: the encoder's events for `spec`, reshaped by `v`. */
function upstreamStream(p: UpstreamProtocol, spec: StreamSpec, v: Variant): InboundEvent[] {
  const enc = CLIENT_CODECS[WIRE[p]].createStreamEncoder(ctx());
  let events: OutboundEvent[] = [];
  for (const part of partsOf(spec, false)) events.push(...enc.push(part));
  events.push(...enc.end());
  events = events.map((e) => ({ ...e, data: typeof e.data === "string" ? e.data : clone(e.data) }));
  const usages = [...v.usages];
  const next = (): Json => (usages.length > 1 ? usages.shift()! : usages[0]!);

  if (p === "anthropic") {
    const start = events.find((e) => e.event === "message_start")!;
    (start.data as { message: Json }).message.usage = next();
    const deltaAt = events.findIndex((e) => e.event === "message_delta");
    const extra: OutboundEvent[] = [];
    // Server tools can make the upstream send several cumulative message_delta events.
    while (usages.length > 1) extra.push({ event: "message_delta", data: { type: "message_delta", delta: {}, usage: next() } });
    (events[deltaAt]!.data as Json).usage = next();
    events.splice(deltaAt, 0, ...extra);
    if (v.secondStart) events.splice(deltaAt, 0, { event: "message_start", data: { type: "message_start", message: { usage: v.usages[0] } } });
  } else if (p === "openai-chat") {
    const usageChunk = events.find(
      (e) => typeof e.data === "object" && Array.isArray((e.data as Json).choices) && ((e.data as Json).choices as []).length === 0,
    )!;
    if (v.usageOnEveryChunk) for (const e of events) if (typeof e.data === "object" && e !== usageChunk) (e.data as Json).usage = next();
    (usageChunk.data as Json).usage = next();
  } else {
    const last = events[events.length - 1]!;
    const response = (last.data as { response: Json }).response;
    response.usage = v.nullUsage ? null : next();
    if (v.terminal === "response.failed") response.error = { code: "server_error", message: "failed upstream" };
    last.event = v.terminal;
    (last.data as Json).type = v.terminal;
  }
  if (v.errorAt !== undefined) events.splice(v.errorAt % (events.length + 1), 0, errorEvent(p));
  if (v.cutAt !== undefined) events = events.slice(0, v.cutAt % (events.length + 1));
  const spaced = p === "openai-chat" && v.spaced;
  return events.map((e) => ({ event: e.event, data: typeof e.data === "string" ? e.data : spaced ? spacedJson(e.data) : JSON.stringify(e.data) }));
}

/* ------------------------------------------------------------- the lanes */

/** The bytes of one event as relayed; the relay decodes a span only when these hold a trigger. */
function frameBytes(ev: InboundEvent): Buffer {
  return Buffer.from(`${ev.event !== undefined ? `event: ${ev.event}\n` : ""}data: ${ev.data}\n\n`);
}

/** Whether the relay hands the event to the meter: its `triggerSearch` where it has one (a superset of what the triggers find), else a trigger. */
function relayed(p: UpstreamProtocol, ev: InboundEvent): boolean {
  const meter = METERS[p];
  const bytes = frameBytes(ev);
  if (!meter.triggerSearch) return meter.triggers.some((t) => bytes.includes(Buffer.from(t)));
  meter.triggerSearch.lastIndex = 0;
  return meter.triggerSearch.test(bytes.toString("latin1"));
}

function passthroughLane(p: UpstreamProtocol, events: readonly InboundEvent[], gated: boolean) {
  const m = METERS[p].createStreamMeter();
  for (const ev of events) if (!gated || relayed(p, ev)) m.observe(ev);
  return { usage: { ...m.usage }, completed: m.completed, error: m.errorMessage !== undefined };
}

/** What the translate lane (runTranslate) does with the decoder's parts: each usage part overwrites the last. */
function translateLane(p: UpstreamProtocol, events: readonly InboundEvent[]) {
  const dec = UPSTREAM_CODECS[p].createStreamDecoder(ctx());
  const parts: StreamPart[] = [];
  for (const ev of events) parts.push(...dec.push(ev));
  parts.push(...dec.end());
  const usage: Usage = emptyUsage();
  for (const part of parts) if (part.type === "usage") Object.assign(usage, part.usage);
  return { usage, failed: parts.some((part) => part.type === "error") };
}

describe("both lanes meter a stream alike", () => {
  for (const p of UPSTREAMS) {
    it(`${p}: passthrough meter = translate-lane decoder, on usage and on completion`, () => {
      fc.assert(
        fc.property(specArb, variantArb(p), (spec, v) => {
          const events = upstreamStream(p, spec, v);
          const translated = translateLane(p, events);
          const relayed = passthroughLane(p, events, true);
          expect(relayed.usage).toEqual(translated.usage);
          // Events without a trigger change nothing: skipping them is only a saving.
          expect(passthroughLane(p, events, false)).toEqual(relayed);
          expect(relayed.completed).toBe(!translated.failed);
          if (relayed.error) expect(translated.failed).toBe(true);
        }),
        { numRuns: 200 },
      );
    });
  }
});

describe("a meter's trigger search", () => {
  for (const p of UPSTREAMS) {
    const meter = METERS[p];
    const search = meter.triggerSearch;
    if (!search) continue;
    const triggers = meter.triggers.map((t) => Buffer.from(t).toString("latin1"));
    /** Whether the search matches somewhere in `text`, as the relay runs it (global, from the start). */
    const finds = (text: string): boolean => {
      search.lastIndex = 0;
      return search.test(text);
    };

    it(`${p}: finds every event one of the triggers is in, in the meter's streams and in any text around a trigger`, () => {
      fc.assert(
        fc.property(specArb, variantArb(p), (spec, v) => {
          for (const ev of upstreamStream(p, spec, v)) {
            const text = frameBytes(ev).toString("latin1");
            if (triggers.some((t) => text.includes(t))) expect(finds(text)).toBe(true);
          }
        }),
        { numRuns: 200 },
      );
      const around = fc.string({ unit: "binary", maxLength: 40 }).map((t) => Buffer.from(t).toString("latin1"));
      fc.assert(
        fc.property(around, fc.constantFrom(...triggers), around, (before, trigger, after) => {
          expect(finds(before + trigger + after)).toBe(true);
        }),
        { numRuns: 500 },
      );
    });

    it(`${p}: holds no capturing group, so a relay can join it with a rewriter's search`, () => {
      expect(new RegExp(`${search.source}|`).exec("")!.length).toBe(1);
      expect(search.global).toBe(true);
    });
  }
});

/* ------------------------------------------------------- non-stream JSON */

const responseArb: fc.Arbitrary<CanonicalResponse> = streamSpecArb.map((spec) => ({
  meta: { id: "resp_1", model: "upstream-model", created: 1_700_000_000 },
  content: spec.blocks.map((b) =>
    b.kind === "text"
      ? { type: "text" as const, text: b.chunks.join("") }
      : b.kind === "reasoning"
        ? { type: "reasoning" as const, text: b.chunks.join("") }
        : { type: "tool-call" as const, callId: "call_1", name: b.name, arguments: b.args },
  ),
  finishReason: spec.finish,
  usage: spec.usage,
}));

describe("both lanes meter a non-streamed answer alike", () => {
  for (const p of UPSTREAMS) {
    it(`${p}: usageFromJson = decodeResponse(...).usage`, () => {
      fc.assert(
        fc.property(responseArb, fc.oneof(USAGE[p], fc.constant(null), fc.constant(undefined)), (res, usage) => {
          const body = clone(CLIENT_CODECS[WIRE[p]].encodeResponse(res, ctx())) as Json;
          if (usage === undefined) delete body.usage;
          else body.usage = usage;
          expect(METERS[p].usageFromJson(body)).toEqual(UPSTREAM_CODECS[p].decodeResponse(body, ctx()).usage);
        }),
        { numRuns: 200 },
      );
    });
  }
});
