/**
 * Settlement: once per generate request, on every exit path (answered, failed
 * before the first byte, broken mid-stream, client gone, thrown). Settles the
 * admission (releasing what it reserved), counts tokens, and hands one usage
 * record to the sink without waiting.
 */
import { hash } from "node:crypto";
import { LRUCache } from "lru-cache";
import { GatewayError } from "../canonical/errors.js";
import { emptyUsage, type Usage } from "../canonical/usage.js";
import type { Lane } from "../routing/plan.js";
import type { UsageRecord as StoredUsageRecord } from "../storage/ports.js";
import type { Admission } from "./admit.js";
import { renderError } from "./render-error.js";
import type { Exchange, PipelineDeps, UsageRecord } from "./exchange.js";
import { clientGone, stoppedBy } from "./stop.js";

/** How a request ended. */
export interface Outcome {
  status: number;
  usage: Usage;
  lane?: Lane;
  errorCode?: string;
}

/** The gateway error a thrown value stands for (what the client is told). */
export function asGatewayError(err: unknown, signal: AbortSignal): GatewayError {
  if (err instanceof GatewayError) return err;
  const stopped = stoppedBy(signal);
  if (stopped) return stopped;
  return signal.aborted
    ? new GatewayError("invalid_request", "client_closed", "The client closed the request.", { status: 499 })
    : new GatewayError("internal", "internal_error", "The gateway failed to handle this request.");
}

export function failureOutcome(err: unknown, ex: Exchange): Outcome {
  const e = asGatewayError(err, ex.signal);
  // The status the client is answered with in its protocol, and the upstream's own code where it gave one.
  return { status: renderError(ex.protocol, e, ex.id).status, usage: emptyUsage(), errorCode: e.wireCode };
}

export function settle(deps: PipelineDeps, ex: Exchange, admission: Admission | undefined, outcome: Outcome | undefined): void {
  const o = outcome ?? { status: 500, usage: emptyUsage(), errorCode: "internal_error" };
  // Stopped by the gateway (shutdown) is a failure with its own code, not a cancellation.
  const aborted = clientGone(ex.signal);
  const p = ex.principal;
  const quote = p && ex.servedModel !== undefined && deps.pricer ? deps.pricer.cost(p.policy, ex.servedModel, o.usage) : { micros: 0, version: "free" };
  // A request that reached an upstream settles (a quota charges what it used); one that never did gives everything back.
  const ended = admission
    ? (ex.attempts ?? 0) > 0
      ? admission.settle({ status: o.status, usage: o.usage, aborted, errorCode: o.errorCode, costMicros: quote.micros })
      : admission.release()
    : undefined;
  if (!p) return;
  const charge = admission?.charge;
  const target = ex.lastAttempt?.target;
  const rec: UsageRecord = {
    requestId: ex.id,
    accountId: p.account.id,
    apiKeyId: p.apiKeyId,
    clientProtocol: ex.wireProtocol ?? ex.protocol,
    model: ex.model ?? "",
    servedModel: ex.servedModel,
    upstream: target?.upstream.name,
    upstreamId: target?.upstream.id,
    upstreamKeyId: ex.lastAttempt?.key.id,
    upstreamProtocol: target?.protocol,
    lane: o.lane ?? ex.lastAttempt?.lane,
    stream: ex.stream ?? false,
    status: o.status,
    errorCode: o.errorCode ?? (o.status >= 400 ? "upstream_error" : undefined),
    attempts: ex.attempts ?? 0,
    attemptTrail: ex.trail ?? [],
    usage: o.usage,
    latencyMs: performance.now() - ex.startedAt,
    ttfbMs: ex.firstByteAt === undefined ? undefined : ex.firstByteAt - ex.startedAt,
    aborted,
    costMicros: quote.micros,
    priceVersion: quote.version,
    payerAccountId: charge?.payerAccountId,
    chargedMicros: charge?.track === "credit" ? quote.micros : 0,
    cacheKeyHash: ex.cacheKey === undefined ? undefined : cacheKeyHash(ex.cacheKey),
    // Counted from 1, as the attempt trail and the route header name tiers.
    tier: ex.lastAttempt ? ex.lastAttempt.tier + 1 : undefined,
  };
  deps.metrics.tokens.add(rec.model, rec.usage);
  // The record is handed over once the admission has settled: a credit view must count the
  // settled cost (held in this node's name) before the ledger write that lets go of it.
  if (ended) void ended.then(() => deps.recordUsage(rec));
  else deps.recordUsage(rec);
}

/** Hashes already made: a session's every turn stores the same one. Bounded. */
const keyHashes = new LRUCache<string, string>({ max: 10_000 });

/**
 * What the usage record keeps of the cache-affinity key: enough to group requests by session
 * and see whether caching works, without the key itself (which an upstream receives as
 * `prompt_cache_key`) or anything of the prompt it may be derived from.
 */
export function cacheKeyHash(key: string): string {
  let hashed = keyHashes.get(key);
  if (hashed === undefined) {
    hashed = hash("sha256", "switchyard-usage-v1\0" + key, "hex").slice(0, 32);
    keyHashes.set(key, hashed);
  }
  return hashed;
}

/** The stored form of a settled request. */
export function storedUsage(rec: UsageRecord, now = new Date()): StoredUsageRecord {
  const u = rec.usage;
  return {
    requestId: rec.requestId,
    accountId: rec.accountId,
    apiKeyId: rec.apiKeyId,
    model: rec.model,
    upstreamModel: rec.servedModel ?? null,
    upstreamId: rec.upstreamId ?? null,
    upstreamKeyId: rec.upstreamKeyId ?? null,
    clientProtocol: rec.clientProtocol,
    upstreamProtocol: rec.upstreamProtocol ?? null,
    stream: rec.stream,
    inputTokens: u.inputTokens,
    cachedInputTokens: u.cachedInputTokens,
    cacheWriteTokens: u.cacheWriteTokens,
    outputTokens: u.outputTokens,
    reasoningTokens: u.reasoningTokens,
    costMicros: rec.costMicros,
    priceVersion: rec.priceVersion,
    // The debit follows these two (governance/usage-recorder.ts), so what a record says it charged is what the ledger took.
    payerAccountId: rec.payerAccountId ?? null,
    chargedMicros: rec.chargedMicros,
    cacheKeyHash: rec.cacheKeyHash ?? null,
    tier: rec.tier ?? null,
    status: rec.aborted ? "cancelled" : rec.status >= 400 ? "error" : "ok",
    httpStatus: rec.status,
    errorCode: rec.errorCode ?? null,
    attempts: rec.attempts,
    latencyMs: rec.latencyMs,
    ttfbMs: rec.ttfbMs ?? null,
    attemptTrail: rec.attemptTrail.length > 0 ? rec.attemptTrail : null,
    createdAt: now.toISOString(),
  };
}
