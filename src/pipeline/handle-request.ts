/**
 * A data-plane request's life (DESIGN.md §4): authenticate → admit → resolve
 * model → plan attempts → attempt(s) → relay while metering → settle. Errors
 * thrown before the first byte are rendered by the edge in the client's
 * protocol; after it, the lanes end the stream with a protocol error event.
 */
import { GatewayError } from "../canonical/errors.js";
import type { Usage } from "../canonical/usage.js";
import { emptyUsage } from "../canonical/usage.js";
import { forwardableHeaders, clientResponseHeaders } from "../upstream/headers.js";
import { injectCredential } from "../upstream/credentials.js";
import { upstreamUrl } from "../upstream/endpoints.js";
import { authenticate } from "./authenticate.js";
import { admit } from "./admit.js";
import { arrayItemBytes, fieldBytes, peekBody, readField, type PeekedBody } from "./json-peek.js";
import { planAttempts, type PlannedAttempt } from "./plan.js";
import { attemptDone, sendAttempt } from "./attempt.js";
import { passthroughErrorBody, preparePassthroughBody, relayStream, usageFromJson } from "./passthrough-lane.js";
import { affinityKey, setCodexSession, type Affinity } from "./affinity.js";
import { runTranslateLane } from "./translate-lane.js";
import type { Exchange, PipelineDeps } from "./exchange.js";

export interface ParsedBody {
  raw: Buffer;
  peek: PeekedBody;
  read(name: string): unknown;
  bytes(name: string): Buffer | undefined;
  itemBytes(name: string): Iterable<Buffer>;
}

/** Validates the body as a JSON object, reading top-level fields without decoding the whole of it. */
export function parseBody(raw: Buffer): ParsedBody {
  const peek = peekBody(raw);
  if (!peek) {
    let detail = "the request body must be a JSON object";
    try {
      const v: unknown = JSON.parse(raw.toString("utf8"));
      if (v !== null && typeof v === "object" && !Array.isArray(v)) detail = "the request body could not be parsed";
    } catch (err) {
      detail = `the request body is not valid JSON: ${(err as Error).message}`;
    }
    throw new GatewayError("invalid_request", "invalid_json", detail.charAt(0).toUpperCase() + detail.slice(1) + ".");
  }
  const cache = new Map<string, unknown>();
  return {
    raw,
    peek,
    read(name) {
      if (!cache.has(name)) cache.set(name, readField(raw, peek, name));
      return cache.get(name);
    },
    bytes: (name) => fieldBytes(raw, peek, name),
    itemBytes: (name) => arrayItemBytes(raw, peek, name),
  };
}

/** How a request ended; who it was and where it went are on the Exchange. */
export interface SettleInfo {
  status: number;
  usage: Usage;
  lane?: "passthrough" | "translate";
}

export async function handleGenerate(deps: PipelineDeps, ex: Exchange): Promise<SettleInfo> {
  const snapshot = deps.catalog.snapshot;
  const principal = authenticate(ex.headers, deps.principals.snapshot);
  ex.principal = principal;
  const body = parseBody(ex.body);
  const model = body.read("model");
  if (typeof model !== "string" || model.length === 0) {
    throw new GatewayError("invalid_request", "missing_model", "The request must name a model in the 'model' field.", { param: "model" });
  }
  const stream = body.read("stream") === true;
  ex.model = model;
  ex.stream = stream;
  admit(principal, model);

  const affinity = affinityKey(ex, principal, body, model);
  const { attempts, servedAnywhere } = planAttempts(snapshot, {
    model,
    client: ex.protocol,
    affinity: affinity.key,
    maxAttempts: deps.maxAttempts,
    allowTranslate: true,
    now: Date.now(),
  });
  if (attempts.length === 0) {
    throw servedAnywhere
      ? new GatewayError("overloaded", "no_upstream_key", `No upstream credential is available for model '${model}'.`, { status: 503 })
      : new GatewayError("not_found", "model_not_found", `The model '${model}' is not served by this gateway.`, { param: "model" });
  }

  let lastError: GatewayError | undefined;
  ex.attempts = 0;
  for (const attempt of attempts) {
    if (ex.signal.aborted) break;
    ex.attempts++;
    ex.lastAttempt = attempt;
    const result =
      attempt.lane === "passthrough"
        ? await passthrough(deps, ex, attempt, body, stream, affinity)
        : await runTranslateLane(deps, ex, attempt, body, stream, affinity);
    if (result.kind === "done") return { ...result.settle, lane: attempt.lane };
    lastError = result.error;
  }
  if (ex.signal.aborted) return { status: 499, usage: emptyUsage() };
  throw lastError ?? new GatewayError("upstream", "upstream_error", "No upstream attempt succeeded.");
}

export type LaneResult = { kind: "done"; settle: { status: number; usage: Usage } } | { kind: "retry"; error: GatewayError };

async function passthrough(
  deps: PipelineDeps,
  ex: Exchange,
  attempt: PlannedAttempt,
  body: ParsedBody,
  clientStreams: boolean,
  affinity: Affinity,
): Promise<LaneResult> {
  const upstream = attempt.target.upstream;
  // An upstream that takes the field gets the scoped key; one that rejects it gets none, not even the client's.
  const set: Record<string, unknown> = attempt.target.sendsCacheKey
    ? affinity.key
      ? { prompt_cache_key: affinity.key }
      : {}
    : body.peek.fields.has("prompt_cache_key")
      ? { prompt_cache_key: undefined }
      : {};
  const prepared = preparePassthroughBody(upstream.protocol, body.raw, body.peek, body.read, set);
  if (prepared.upstreamStreams && !clientStreams) {
    // Only the Codex backend forces streaming; a non-streaming client is served by folding the stream.
    return runTranslateLane(deps, ex, attempt, body, clientStreams, affinity);
  }
  const headers = forwardableHeaders(ex.headers);
  headers["content-type"] = "application/json";
  if (clientStreams) headers.accept = "text/event-stream";
  if (upstream.protocol === "codex" && affinity.key) setCodexSession(headers, affinity.key);
  injectCredential(upstream, attempt.key.secret, headers);
  const outcome = await sendAttempt(deps, attempt, {
    url: upstreamUrl(upstream.protocol, upstream.baseUrl, "generate", ex.query),
    headers,
    body: prepared.body,
    signal: ex.signal,
  });
  if (!outcome.ok) {
    if (outcome.retryable) return { kind: "retry", error: outcome.error };
    const errBody = passthroughErrorBody(upstream.protocol, ex.protocol, outcome.status, outcome.bodyText, ex.id);
    const json = JSON.stringify(errBody);
    ex.res.writeHead(outcome.status, { "content-type": "application/json", ...clientResponseHeaders(outcome.headers) });
    ex.res.end(json);
    return { kind: "done", settle: { status: outcome.status, usage: emptyUsage() } };
  }
  const response = outcome.response;
  const passHeaders = clientResponseHeaders(response.headers);
  if (clientStreams) {
    ex.res.writeHead(response.statusCode, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      ...passHeaders,
    });
    ex.res.flushHeaders();
    const relay = await relayStream(upstream.protocol, ex.protocol, response, (chunk) => writeAsync(ex, chunk), ex.signal, prepared.rewriter);
    attemptDone(attempt, relay.completed);
    ex.res.end();
    return { kind: "done", settle: { status: relay.failed ? 502 : response.statusCode, usage: relay.usage } };
  }
  let raw: Buffer;
  try {
    raw = Buffer.from(await response.body.arrayBuffer());
  } catch (err) {
    attemptDone(attempt, false);
    if (ex.signal.aborted) throw err;
    return { kind: "retry", error: new GatewayError("upstream", "upstream_body_broken", `Upstream '${upstream.name}' broke off its answer.`) };
  }
  attemptDone(attempt, true);
  let usage = emptyUsage();
  try {
    usage = usageFromJson(upstream.protocol, JSON.parse(raw.toString("utf8")));
  } catch {
    deps.logger.warn({ requestId: ex.id, upstream: upstream.name }, "upstream answer is not JSON; usage not metered");
  }
  ex.res.writeHead(response.statusCode, {
    "content-type": String(response.headers["content-type"] ?? "application/json"),
    "content-length": raw.length,
    ...passHeaders,
  });
  ex.res.end(raw);
  return { kind: "done", settle: { status: response.statusCode, usage } };
}

/** Writes with backpressure: resolves when the socket can take more. */
export function writeAsync(ex: Exchange, chunk: Buffer | string): Promise<void> {
  if (ex.res.destroyed) return Promise.reject(new Error("client gone"));
  if (ex.res.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      ex.res.off("close", onClose);
      resolve();
    };
    const onClose = (): void => {
      ex.res.off("drain", onDrain);
      reject(new Error("client gone"));
    };
    ex.res.once("drain", onDrain);
    ex.res.once("close", onClose);
  });
}
