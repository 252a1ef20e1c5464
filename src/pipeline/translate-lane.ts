/**
 * The translate lane: client and upstream speak different protocols (or a
 * non-streaming client meets a stream-only upstream). Client body → canonical
 * request → upstream body; upstream events → canonical parts → client events.
 * Codecs are pure; this module owns the I/O around them.
 */
import { GatewayError, streamErrorToGatewayError } from "../canonical/errors.js";
import type { CanonicalRequest } from "../canonical/request.js";
import type { StreamPart } from "../canonical/stream.js";
import type { Usage } from "../canonical/usage.js";
import { emptyUsage } from "../canonical/usage.js";
import { newTranslationContext, type InboundEvent, type OutboundEvent } from "../protocols/codec.js";
import { CLIENT_CODECS, UPSTREAM_CODECS } from "../protocols/registry.js";
import { foldStream } from "../protocols/common/fold-stream.js";
import { errorInAnswer } from "../protocols/common/error-in-answer.js";
import { clientResponseHeaders } from "../upstream/headers.js";
import { speaksNatively } from "../routing/resolve-model.js";
import { openingHoldMs, openStream, streamFailedEarly } from "./open-stream.js";
import { frameSse } from "./render-error.js";
import { stoppedBy } from "./stop.js";
import type { Exchange } from "./exchange.js";
import type { LaneDriver } from "./lane.js";
import { parseJsonBytes, parseMembers } from "./json-peek.js";
import { ItemsCache } from "./items-cache.js";
import { TOOLS_CACHED_FROM, ToolsCache, type ClientBodyJson } from "./tools-cache.js";
import { UpstreamEventReader } from "./slim-event.js";
import { eachChunk } from "./body-chunks.js";
import type { ParsedBody } from "./request-body.js";
import { SSE_HEADERS, sendJson, TurnWriter, warningsHeader } from "./write-client.js";
import { withMembers } from "../canonical/shared-shape.js";

/** What errorInAnswer reads of an answer. */
const ERROR_MEMBERS = ["error", "type"] as const;
const withErrorMembers = new WeakMap<readonly string[], readonly string[]>();

/** The members of a non-streamed answer this lane reads: the codec's and errorInAnswer's. */
function answerMembers(decoded: readonly string[]): readonly string[] {
  let names = withErrorMembers.get(decoded);
  if (!names) withErrorMembers.set(decoded, (names = [...new Set([...decoded, ...ERROR_MEMBERS])]));
  return names;
}

/** Agents' tool lists and conversation items, parsed (tools also written) once for all the requests that repeat them. */
const toolsCache = new ToolsCache(TOOLS_CACHED_FROM, undefined, new ItemsCache());

interface Decoded {
  canonical: CanonicalRequest;
  tools: ClientBodyJson["tools"];
}

const decoded = new WeakMap<ParsedBody, Decoded>();

/** The client body decoded once per request, however many attempts follow. */
function decodedOf(ex: Exchange, body: ParsedBody): Decoded {
  let d = decoded.get(body);
  if (!d) {
    const { json, tools } = toolsCache.parse(body);
    d = { canonical: CLIENT_CODECS[ex.protocol].decodeRequest(json), tools };
    decoded.set(body, d);
  }
  return d;
}

function usageOf(parts: readonly StreamPart[], into: Usage): void {
  for (const p of parts) if (p.type === "usage") Object.assign(into, p.usage);
}

export const runTranslate: LaneDriver = async (deps, ex, attempt, clientRequest) => {
  const upstream = attempt.target.upstream;
  const client = CLIENT_CODECS[ex.protocol];
  const codec = UPSTREAM_CODECS[upstream.protocol];
  const clientStreams = clientRequest.stream;
  const affinity = clientRequest.affinity;
  const { canonical, tools } = decodedOf(ex, clientRequest.body);
  const upstreamStreams = clientStreams || !codec.supportsNonStream;
  const ctx = newTranslationContext(deps.echoServedModel ? attempt.planned.model : canonical.model);
  ctx.clientRequest = canonical;
  // The upstream gets the served model; the client's own name stays in ctx, which the
  // client codec echoes in every answer (docs/routing.md#what-the-client-sees).
  // The client's own key (if any) is the session identity behind affinity.key; an upstream
  // that rejects the field gets neither.
  const request: CanonicalRequest = withMembers(canonical, {
    model: attempt.planned.model,
    stream: upstreamStreams,
    promptCacheKey: attempt.target.sendsCacheKey && affinity.key ? affinity.key : undefined,
  });
  const upstreamBody = codec.encodeRequest(request, ctx);
  // What the client's protocol keeps for itself reaches only an upstream speaking it.
  if (!speaksNatively(ex.protocol, upstream.protocol)) ctx.warnings.push(...client.droppedFields(canonical));

  if (ctx.warnings.length > 0) {
    deps.logger.info({ requestId: ex.id, warnings: ctx.warnings }, "lossy protocol translation");
  }

  const sent = await attempt.send({ body: toolsCache.bodyBytes(upstreamBody, tools, upstream.protocol), stream: upstreamStreams, affinityKey: affinity.key });
  if (!sent.ok) {
    if (sent.retryable) return { kind: "retry", error: sent.error };
    throw codec.decodeError(sent.status, sent.bodyText);
  }
  const response = sent.response;
  const responseHeaders: Record<string, string> = clientResponseHeaders(response.headers);
  const warnings = warningsHeader(ctx.warnings);
  if (warnings) responseHeaders["x-switchyard-warnings"] = warnings;

  if (!upstreamStreams) {
    let json: unknown;
    try {
      const raw = await response.bytes();
      json = codec.responseMembers ? parseMembers(raw, answerMembers(codec.responseMembers)) : parseJsonBytes(raw);
    } catch {
      attempt.finish("neutral");
      const stopped = stoppedBy(ex.signal);
      if (stopped) throw stopped;
      if (ex.signal.aborted) return { kind: "done", outcome: { status: 499, usage: emptyUsage(), errorCode: "client_closed" } };
      return { kind: "retry", error: new GatewayError("upstream", "upstream_bad_answer", "The upstream answered with invalid JSON.") };
    }
    const failure = errorInAnswer(json);
    if (failure) return { kind: "retry", error: attempt.errorInAnswer(failure) };
    attempt.finish("ok");
    const answer = codec.decodeResponse(json, ctx);
    sendJson(ex.res, 200, client.encodeResponse(answer, ctx), responseHeaders);
    return { kind: "done", outcome: { status: 200, usage: answer.usage } };
  }

  const decoder = codec.createStreamDecoder(ctx);
  // Events decoded one by one as the decoder reads them, the big response-level ones by the members it reads.
  const parser = new UpstreamEventReader(codec.streamEventMembers);
  const usage = emptyUsage();
  if (!clientStreams) {
    const parts: StreamPart[] = [];
    try {
      await eachChunk(response.body, (chunk) => {
        for (const ev of parser.push(chunk)) parts.push(...decoder.push(ev));
        return undefined;
      });
      for (const ev of parser.end()) parts.push(...decoder.push(ev));
    } catch {
      if (ex.signal.aborted) {
        attempt.finish("neutral");
        // Nothing has been written yet: a stop by the gateway is answered as an error by the edge.
        const stopped = stoppedBy(ex.signal);
        if (stopped) throw stopped;
        return { kind: "done", outcome: { status: 499, usage: emptyUsage(), errorCode: "client_closed" } };
      }
    } finally {
      parser.release();
    }
    parts.push(...decoder.end());
    const failure = parts.find((p): p is Extract<StreamPart, { type: "error" }> => p.type === "error");
    if (failure) {
      const err = streamErrorToGatewayError(failure.error);
      // Nothing reached the client yet, so a transient upstream failure can still go to the next key.
      if (err.kind === "upstream" || err.kind === "overloaded" || err.kind === "rate_limit") {
        attempt.errorInStream({ message: err.message, code: err.code }, "error_event");
        return { kind: "retry", error: err };
      }
      attempt.finish("broken", err.code);
      throw err;
    }
    attempt.finish("ok");
    usageOf(parts, usage);
    const answer = foldStream(parts);
    sendJson(ex.res, 200, client.encodeResponse(answer, ctx), responseHeaders);
    return { kind: "done", outcome: { status: 200, usage } };
  }

  // Nothing goes to the client until the stream shows content: an error before it is a failed attempt.
  const opening = openStream(upstream.protocol, response.body, openingHoldMs(attempt));
  const opened = opening instanceof Promise ? await opening : opening;
  if (opened.kind === "failed") return streamFailedEarly(ex, attempt, opened, () => response.discard());
  ex.res.writeHead(200, withMembers(SSE_HEADERS, responseHeaders));
  // No flushHeaders: the stream has shown content, so the first event follows at once and the
  // head goes out in the same write, one syscall fewer per stream.
  const encoder = client.createStreamEncoder(ctx);
  const writer = new TurnWriter(ex.res);
  let failed = false;
  /** Set when the upstream stream broke off or the gateway stopped it; other failures are the upstream's own error events. */
  let failureCode: string | undefined;
  /** The client's events for `parts`, added to `out`. */
  const encode = (parts: StreamPart[], out: OutboundEvent[]): void => {
    if (parts.length === 0) return;
    usageOf(parts, usage);
    for (const p of parts) {
      if (p.type === "error") failed = true;
      out.push(...encoder.push(p));
    }
  };
  const emit = async (parts: StreamPart[]): Promise<void> => {
    const out: OutboundEvent[] = [];
    encode(parts, out);
    if (out.length > 0) await writer.write(frameSse(out));
  };
  try {
    // One write for all the events an upstream read brought, as the passthrough relay writes a read's
    // bytes at once. A write per event cost a chunk frame, a string and an await each (node:http's
    // per-tick cork already joined them into one system call): 321 → 290 KB of heap a request on
    // translate-stream-76k (bench/README.md).
    // A promise only when the write must be waited for (a full sink), as the passthrough relay.
    const relay = (events: Iterable<InboundEvent>): Promise<void> | undefined => {
      const out: OutboundEvent[] = [];
      try {
        for (const ev of events) encode(decoder.push(ev), out);
      } catch (err) {
        // Events encoded before a failure still reach the client, ahead of the error event.
        const written = out.length > 0 ? writer.write(frameSse(out)) : undefined;
        return written ? written.then(() => Promise.reject(err)) : Promise.reject(err);
      }
      return out.length > 0 ? writer.write(frameSse(out)) : undefined;
    };
    await eachChunk(opened.body, (chunk) => relay(parser.push(chunk)));
    await relay(parser.end());
  } catch (err) {
    const stopped = stoppedBy(ex.signal);
    if (!stopped && (ex.signal.aborted || ex.res.destroyed)) {
      attempt.finish("neutral");
      return { kind: "done", outcome: { status: 499, usage, errorCode: "client_closed" } };
    }
    // Stopped by the gateway (shutdown): the client is still connected and gets the reason as an error event.
    const error = stopped
      ? { kind: stopped.kind, message: stopped.message, code: stopped.code }
      : { kind: "upstream" as const, message: `The upstream stream broke: ${(err as Error).message}`, code: "upstream_stream_broken" };
    failureCode = error.code;
    await emit([{ type: "error", error }]).catch(() => undefined);
  } finally {
    parser.release();
  }
  try {
    await emit(decoder.end());
    const tail = encoder.end();
    if (tail.length > 0) await writer.write(frameSse(tail));
  } catch {
    // Client went away while we were closing the stream.
  }
  const stopped = stoppedBy(ex.signal);
  // A stop by the gateway is not held against the upstream.
  attempt.finish(stopped ? "neutral" : failed ? "broken" : "ok");
  ex.res.end();
  if (!failed) return { kind: "done", outcome: { status: 200, usage } };
  return { kind: "done", outcome: { status: stopped?.status ?? 502, usage, errorCode: stopped?.code ?? failureCode ?? "upstream_error" } };
};
