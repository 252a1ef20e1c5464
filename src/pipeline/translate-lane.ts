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
import { newTranslationContext, type OutboundEvent } from "../protocols/codec.js";
import { CLIENT_CODECS, UPSTREAM_CODECS } from "../protocols/registry.js";
import { foldStream } from "../protocols/shared/fold-stream.js";
import { SseParser } from "../transport/sse.js";
import { frameSse } from "./render-error.js";
import { forwardableHeaders, clientResponseHeaders } from "../upstream/headers.js";
import { injectCredential } from "../upstream/credentials.js";
import { upstreamUrl } from "../upstream/endpoints.js";
import { attemptDone, sendAttempt } from "./attempt.js";
import { setCodexSession } from "./affinity.js";
import type { Affinity } from "./affinity.js";
import type { Exchange, PipelineDeps } from "./exchange.js";
import type { LaneResult, ParsedBody } from "./handle-request.js";
import { writeAsync } from "./handle-request.js";
import type { PlannedAttempt } from "./plan.js";

/**
 * Client headers meaningful only to the client's own vendor (Claude Code's and
 * Codex CLI's session and telemetry headers among them); not sent to a foreign upstream.
 */
const VENDOR_HEADER =
  /^(anthropic-|x-stainless-|openai-|x-claude-code-|x-codex-|x-app$|x-client-request-id$|session[-_]id$|thread-id$|conversation[-_]id$|originator$)/;

const decoded = new WeakMap<ParsedBody, CanonicalRequest>();

/** The client body decoded once per request, however many attempts follow. */
function canonicalOf(ex: Exchange, body: ParsedBody): CanonicalRequest {
  let req = decoded.get(body);
  if (!req) {
    req = CLIENT_CODECS[ex.protocol].decodeRequest(JSON.parse(body.raw.toString("utf8")));
    decoded.set(body, req);
  }
  return req;
}

function usageOf(parts: readonly StreamPart[], into: Usage): void {
  for (const p of parts) if (p.type === "usage") Object.assign(into, p.usage);
}

export async function runTranslateLane(
  deps: PipelineDeps,
  ex: Exchange,
  attempt: PlannedAttempt,
  body: ParsedBody,
  clientStreams: boolean,
  affinity: Affinity,
): Promise<LaneResult> {
  const upstream = attempt.target.upstream;
  const client = CLIENT_CODECS[ex.protocol];
  const codec = UPSTREAM_CODECS[upstream.protocol];
  const canonical = canonicalOf(ex, body);
  const upstreamStreams = clientStreams || !codec.supportsNonStream;
  const ctx = newTranslationContext(canonical.model);
  ctx.clientRequest = canonical;
  const request: CanonicalRequest = { ...canonical, stream: upstreamStreams };
  // The client's own key (if any) is the session identity behind affinity.key; an upstream
  // that rejects the field gets neither.
  if (attempt.target.sendsCacheKey && affinity.key) request.promptCacheKey = affinity.key;
  else delete request.promptCacheKey;
  const upstreamBody = codec.encodeRequest(request, ctx);

  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(forwardableHeaders(ex.headers))) if (!VENDOR_HEADER.test(k)) headers[k] = v;
  headers["content-type"] = "application/json";
  if (upstreamStreams) headers.accept = "text/event-stream";
  if (upstream.protocol === "codex" && affinity.key) setCodexSession(headers, affinity.key);
  injectCredential(upstream, attempt.key.secret, headers);
  if (ctx.warnings.length > 0) {
    deps.logger.info({ requestId: ex.id, warnings: ctx.warnings }, "lossy protocol translation");
  }

  const outcome = await sendAttempt(deps, attempt, {
    url: upstreamUrl(upstream.protocol, upstream.baseUrl, "generate"),
    headers,
    body: Buffer.from(JSON.stringify(upstreamBody)),
    signal: ex.signal,
  });
  if (!outcome.ok) {
    if (outcome.retryable) return { kind: "retry", error: outcome.error };
    throw codec.decodeError(outcome.status, outcome.bodyText);
  }
  const response = outcome.response;
  const responseHeaders: Record<string, string> = clientResponseHeaders(response.headers);
  if (ctx.warnings.length > 0) responseHeaders["x-switchyard-warnings"] = [...new Set(ctx.warnings.map((w) => w.code))].join(",");

  if (!upstreamStreams) {
    let json: unknown;
    try {
      json = await response.body.json();
    } catch {
      attemptDone(attempt, false);
      if (ex.signal.aborted) return { kind: "done", settle: { status: 499, usage: emptyUsage() } };
      return { kind: "retry", error: new GatewayError("upstream", "upstream_bad_answer", `Upstream '${upstream.name}' answered with invalid JSON.`) };
    }
    attemptDone(attempt, true);
    const answer = codec.decodeResponse(json, ctx);
    sendJson(ex, 200, client.encodeResponse(answer, ctx), responseHeaders);
    return { kind: "done", settle: { status: 200, usage: answer.usage } };
  }

  const decoder = codec.createStreamDecoder(ctx);
  const parser = new SseParser();
  const usage = emptyUsage();
  if (!clientStreams) {
    const parts: StreamPart[] = [];
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        for (const ev of parser.push(chunk)) parts.push(...decoder.push(ev));
      }
      for (const ev of parser.end()) parts.push(...decoder.push(ev));
    } catch {
      if (ex.signal.aborted) {
        attemptDone(attempt, false);
        return { kind: "done", settle: { status: 499, usage: emptyUsage() } };
      }
    }
    parts.push(...decoder.end());
    const failure = parts.find((p): p is Extract<StreamPart, { type: "error" }> => p.type === "error");
    attemptDone(attempt, !failure);
    if (failure) {
      const err = streamErrorToGatewayError(failure.error);
      // Nothing reached the client yet, so a transient upstream failure can still go to the next key.
      if (err.kind === "upstream" || err.kind === "overloaded" || err.kind === "rate_limit") return { kind: "retry", error: err };
      throw err;
    }
    usageOf(parts, usage);
    const answer = foldStream(parts);
    sendJson(ex, 200, client.encodeResponse(answer, ctx), responseHeaders);
    return { kind: "done", settle: { status: 200, usage } };
  }

  ex.res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    connection: "keep-alive",
    ...responseHeaders,
  });
  ex.res.flushHeaders();
  const encoder = client.createStreamEncoder(ctx);
  let failed = false;
  const emit = async (parts: StreamPart[]): Promise<void> => {
    if (parts.length === 0) return;
    usageOf(parts, usage);
    const out: OutboundEvent[] = [];
    for (const p of parts) {
      if (p.type === "error") failed = true;
      out.push(...encoder.push(p));
    }
    if (out.length > 0) await writeAsync(ex, frameSse(out));
  };
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      for (const ev of parser.push(chunk)) await emit(decoder.push(ev));
    }
    for (const ev of parser.end()) await emit(decoder.push(ev));
  } catch (err) {
    if (ex.signal.aborted || ex.res.destroyed) {
      attemptDone(attempt, false);
      return { kind: "done", settle: { status: 499, usage } };
    }
    await emit([
      { type: "error", error: { kind: "upstream", message: `The upstream stream broke: ${(err as Error).message}`, code: "upstream_stream_broken" } },
    ]).catch(() => undefined);
  }
  try {
    await emit(decoder.end());
    const tail = encoder.end();
    if (tail.length > 0) await writeAsync(ex, frameSse(tail));
  } catch {
    // Client went away while we were closing the stream.
  }
  attemptDone(attempt, !failed);
  ex.res.end();
  return { kind: "done", settle: { status: failed ? 502 : 200, usage } };
}

function sendJson(ex: Exchange, status: number, body: unknown, headers: Record<string, string>): void {
  const text = JSON.stringify(body);
  ex.res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  ex.res.end(text);
}
