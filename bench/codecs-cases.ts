/**
 * The work bench/codecs.ts times, one function per lane. Each builds an
 * Operation (see codecs-timing.ts) that does exactly what the gateway does per
 * request or per stream on that lane and returns a byte or event count, so the
 * result is used and the work cannot be skipped.
 */
import type { CanonicalRequest } from "../src/canonical/request.js";
import type { Usage } from "../src/canonical/usage.js";
import { emptyUsage } from "../src/canonical/usage.js";
import type { ClientCodec, ClientProtocol, OutboundEvent, UpstreamCodec } from "../src/protocols/codec.js";
import { newTranslationContext } from "../src/protocols/codec.js";
import { CLIENT_CODECS, METERS, UPSTREAM_CODECS } from "../src/protocols/registry.js";
import { patchBody, peekBody, readField, useSeenValues, type PeekedBody } from "../src/pipeline/json-peek.js";
import { SeenValues } from "../src/pipeline/seen-values.js";
import { parseBody } from "../src/pipeline/request-body.js";
import { ItemsCache } from "../src/pipeline/items-cache.js";
import { TOOLS_CACHED_FROM, ToolsCache } from "../src/pipeline/tools-cache.js";
import { preparePassthroughBody } from "../src/pipeline/passthrough-lane.js";
import type { UpstreamProtocol } from "../src/storage/ports.js";
import { SseParser } from "../src/transport/sse.js";
import { UpstreamEventReader } from "../src/pipeline/slim-event.js";
import { eventData } from "../src/pipeline/render-error.js";
import { CACHE_KEY, NOW } from "./codecs-inputs.js";
import type { Operation } from "./codecs-timing.js";

/* --------------------------------------------------------------- requests */

export interface ConvertedRequest {
  bytes: Buffer;
  warnings: string[];
}

/**
 * Translate lane, request side, as src/pipeline/translate-lane.ts does it: bytes → JSON (the tools
 * and the conversation's big items from `tools`, a ToolsCache with an ItemsCache) → canonical →
 * upstream JSON → bytes. A fresh cache is a first turn; one kept across calls is a session's later
 * turns, which repeat their tools and, all but their newest items, their conversation.
 */
export function convertRequest(
  raw: Buffer,
  client: ClientCodec,
  upstream: UpstreamCodec,
  upstreamProtocol: UpstreamProtocol,
  tools = translateCaches(),
): ConvertedRequest {
  const { json, tools: entry } = tools.parse(parseBody(raw));
  const canonical = client.decodeRequest(json);
  const ctx = newTranslationContext(canonical.model, NOW);
  ctx.clientRequest = canonical;
  const body = upstream.encodeRequest({ ...canonical, stream: true, promptCacheKey: CACHE_KEY }, ctx) as Record<string, unknown>;
  return { bytes: tools.bodyBytes(body, entry, upstreamProtocol), warnings: ctx.warnings.map((w) => w.code) };
}

/** The caches the translate lane parses a client body through (translate-lane.ts `toolsCache`). */
function translateCaches(): ToolsCache {
  return new ToolsCache(TOOLS_CACHED_FROM, undefined, new ItemsCache());
}

/**
 * `op` with its own cache of big containers for the byte scanner (json-peek.ts `useSeenValues`):
 * cleared before every call, a first turn; kept across calls, a session's later turns.
 */
function scanning(repeated: boolean, op: Operation): Operation {
  const seen = new SeenValues();
  return () => {
    if (!repeated) seen.clear();
    const had = useSeenValues(seen);
    try {
      return op();
    } finally {
      useSeenValues(had);
    }
  };
}

/** `repeated`: the tools cache and the scanner's are kept across calls, as in a session whose turns repeat their tools. */
export function requestConversionOp(raw: Buffer, client: ClientProtocol, upstream: UpstreamProtocol, repeated: boolean): Operation {
  const c = CLIENT_CODECS[client];
  const u = UPSTREAM_CODECS[upstream];
  const kept = repeated ? translateCaches() : undefined;
  return scanning(repeated, () => convertRequest(raw, c, u, upstream, kept ?? translateCaches()).bytes.length);
}

/**
 * A session's later turns on the translate lane, its caches kept across calls: with the conversation's
 * items cache (`items`) or the tools cache alone, each call converting the next of `bodies` in turn
 * (one body: the same turn again; several: turns whose newest item differs).
 */
export function laterTurnsOp(bodies: readonly Buffer[], client: ClientProtocol, upstream: UpstreamProtocol, items: boolean): Operation {
  const c = CLIENT_CODECS[client];
  const u = UPSTREAM_CODECS[upstream];
  const kept = items ? translateCaches() : new ToolsCache();
  let next = 0;
  return scanning(true, () => {
    const raw = bodies[next]!;
    next = (next + 1) % bodies.length;
    return convertRequest(raw, c, u, upstream, kept).bytes.length;
  });
}

/** Baseline: decode the whole body and write it back, changing nothing. */
export function naiveRoundTripOp(raw: Buffer): Operation {
  return () => Buffer.from(JSON.stringify(JSON.parse(raw.toString("utf8")))).length;
}

function peekOrThrow(raw: Buffer): PeekedBody {
  const peek = peekBody(raw);
  if (!peek) throw new Error("benchmark body is not a JSON object");
  return peek;
}

/** The byte scan alone: top-level field ranges of the whole body. `repeated`: see {@link scanning}. */
export function peekOnlyOp(raw: Buffer, repeated: boolean): Operation {
  return scanning(repeated, () => peekOrThrow(raw).fields.size);
}

/** Passthrough lane: find model / stream / prompt_cache_key in the bytes, splice prompt_cache_key in. */
export function passthroughBody(raw: Buffer): Buffer {
  const peek = peekOrThrow(raw);
  const model = readField(raw, peek, "model");
  const stream = readField(raw, peek, "stream");
  const key = readField(raw, peek, "prompt_cache_key");
  if (typeof model !== "string" || stream !== true || (key !== undefined && typeof key !== "string")) throw new Error("unexpected body fields");
  return patchBody(raw, peek, { prompt_cache_key: CACHE_KEY });
}

export function passthroughOp(raw: Buffer, repeated: boolean): Operation {
  return scanning(repeated, () => passthroughBody(raw).length);
}

/** Passthrough lane to the Codex backend: the same reads, then the pipeline's own preparePassthroughBody (docs/protocols.md#codex-body-rules). */
export function codexPassthroughBody(raw: Buffer): Buffer {
  const peek = peekOrThrow(raw);
  const cache = new Map<string, unknown>();
  const read = (name: string): unknown => {
    if (!cache.has(name)) cache.set(name, readField(raw, peek, name));
    return cache.get(name);
  };
  if (typeof read("model") !== "string" || read("stream") !== true) throw new Error("unexpected body fields");
  read("prompt_cache_key");
  return preparePassthroughBody("codex", raw, peek, read, { prompt_cache_key: CACHE_KEY }).body;
}

export function codexPassthroughOp(raw: Buffer, repeated: boolean): Operation {
  return scanning(repeated, () => codexPassthroughBody(raw).length);
}

/* ---------------------------------------------------------------- streams */

export interface ConvertedStream {
  upstreamEvents: number;
  outEvents: number;
  /** Bytes of the JSON (or raw `[DONE]`) of every outbound event's data. */
  outDataBytes: number;
  usage: Usage;
  errorParts: number;
}

/**
 * Translate lane, stream side, over one whole upstream stream: SSE bytes →
 * events → canonical parts → client events → JSON. `collect` receives the
 * client events (validation only; never while timed).
 */
export function convertStream(
  chunks: readonly Buffer[],
  canonical: CanonicalRequest,
  client: ClientCodec,
  upstream: UpstreamCodec,
  collect?: OutboundEvent[],
): ConvertedStream {
  const ctx = newTranslationContext(canonical.model, NOW);
  ctx.clientRequest = canonical;
  // As translate-lane.ts reads an upstream stream: events decoded one by one, the big ones by the decoder's members.
  const parser = new UpstreamEventReader(upstream.streamEventMembers);
  const decoder = upstream.createStreamDecoder(ctx);
  const encoder = client.createStreamEncoder(ctx);
  const result: ConvertedStream = { upstreamEvents: 0, outEvents: 0, outDataBytes: 0, usage: emptyUsage(), errorParts: 0 };
  const emit = (events: OutboundEvent[]): void => {
    for (const ev of events) {
      result.outEvents++;
      result.outDataBytes += eventData(ev).length;
      collect?.push(ev);
    }
  };
  const parts = (list: ReturnType<typeof decoder.push>): void => {
    for (const part of list) {
      if (part.type === "usage") result.usage = part.usage;
      else if (part.type === "error") result.errorParts++;
      emit(encoder.push(part));
    }
  };
  for (const chunk of chunks) {
    for (const ev of parser.push(chunk)) {
      result.upstreamEvents++;
      parts(decoder.push(ev));
    }
  }
  for (const ev of parser.end()) {
    result.upstreamEvents++;
    parts(decoder.push(ev));
  }
  parts(decoder.end());
  emit(encoder.end());
  return result;
}

export function streamConversionOp(chunks: readonly Buffer[], canonical: CanonicalRequest, client: ClientProtocol, upstream: UpstreamProtocol): Operation {
  const c = CLIENT_CODECS[client];
  const u = UPSTREAM_CODECS[upstream];
  return () => convertStream(chunks, canonical, c, u).outDataBytes;
}

/** Passthrough observation baseline: the SSE parser over the stream, nothing else. */
export function sseOnlyOp(chunks: readonly Buffer[]): Operation {
  return () => {
    const parser = new SseParser();
    let n = 0;
    for (const chunk of chunks) n += parser.push(chunk).length;
    return n + parser.end().length;
  };
}

/**
 * The passthrough lane's work per stream, at its worst: the SSE parser plus the protocol's
 * stream meter on every event (the relay only feeds the meter spans holding a trigger).
 */
export function sseObservedOp(chunks: readonly Buffer[], protocol: UpstreamProtocol): Operation {
  return () => {
    const parser = new SseParser();
    const observer = METERS[protocol].createStreamMeter();
    for (const chunk of chunks) for (const ev of parser.push(chunk)) observer.observe(ev);
    for (const ev of parser.end()) observer.observe(ev);
    return observer.usage.outputTokens + (observer.completed ? 1 : 0);
  };
}
