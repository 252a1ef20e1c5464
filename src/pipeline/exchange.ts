/**
 * One client request's state as it moves through the pipeline, and the
 * dependencies the pipeline needs. Created by the edge, settled once.
 */
import type { IncomingHttpHeaders } from "node:http";
import type { Usage } from "../canonical/usage.js";
import type { ClientProtocol } from "../protocols/codec.js";
import type { Principal, Principals } from "../governance/principals.js";
import type { Catalog } from "../routing/catalog.js";
import type { KeyHealth } from "../routing/key-health.js";
import type { TierRouter } from "../routing/tier-router.js";
import type { PlannedAttempt } from "../routing/plan.js";
import type { AttemptTrailEntry } from "../storage/ports.js";
import type { UpstreamTransport } from "../upstream/response.js";
import type { CredentialSource } from "../upstream/credentials.js";
import type { UpstreamSocketSession } from "./upstream-socket-session.js";
import type { Pricer } from "../governance/pricing.js";
import type { AdmissionCheck } from "../governance/admission.js";
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";

/** What the pipeline reports for one settled request: metrics and the usage batcher take it from here. */
export interface UsageRecord {
  requestId: string;
  accountId: string;
  apiKeyId: string;
  /** The client's wire protocol: a codec's, or `openai-realtime` for a Realtime response (relayed, not decoded). */
  clientProtocol: ClientProtocol | "openai-realtime";
  /** The model the client asked for ("" when the request was refused before naming one). */
  model: string;
  /** The model sent upstream after mapping (undefined when the request ended before resolution). */
  servedModel: string | undefined;
  /** Name of the upstream that answered (or was tried last). */
  upstream: string | undefined;
  upstreamId: string | undefined;
  upstreamKeyId: string | undefined;
  upstreamProtocol: string | undefined;
  lane: "passthrough" | "translate" | undefined;
  stream: boolean;
  status: number;
  /** The stable error code when the request failed. */
  errorCode: string | undefined;
  attempts: number;
  /** Each upstream attempt in order: upstream, key id, tier, how it ended (docs/routing.md#the-attempt-trail). */
  attemptTrail: AttemptTrailEntry[];
  usage: Usage;
  latencyMs: number;
  /** From the request's arrival to the answer's head going out; undefined when the pipeline wrote none (the edge rendered an error). */
  ttfbMs: number | undefined;
  /** Set when the client went away before the answer completed. */
  aborted: boolean;
  /** What the usage cost (integer micro-units) and the price entry's version; 0 and "free" when nothing is priced. */
  costMicros: number;
  priceVersion: string;
  /** Who pays and how much was debited from credit (0 when a quota covered it or nothing was billed). */
  payerAccountId: string | undefined;
  chargedMicros: number;
  /** Hash of the request's cache-affinity key (pipeline/affinity.ts), never the key or the prompt; undefined when nothing identified a session. */
  cacheKeyHash: string | undefined;
  /** The route tier of the last attempt, counted from 1; undefined when no attempt was made. */
  tier: number | undefined;
}

export interface PipelineDeps {
  /** Who may call and what they may use (governance). */
  principals: Principals;
  /** Where requests go (routing). */
  catalog: Catalog;
  transport: UpstreamTransport;
  keyHealth: KeyHealth;
  /** Tier hysteresis per route (routing/tier-router.ts); absent = start at the first tier with a healthy key. */
  tierRouter?: TierRouter;
  /** The credential of an upstream key (main.ts passes a cache that keeps one per key). */
  credentials: CredentialSource;
  logger: Logger;
  metrics: Metrics;
  maxAttempts: number;
  /** Time allowed before the first byte across all attempts (YAML `routing.deadline_ms`); none when unset. */
  deadlineMs?: number;
  /** Answer with the served model's name when a mapping applied, instead of the requested one (translate lane; YAML `model_map_echo: served`). */
  echoServedModel?: boolean;
  /** Name the serving upstream (and the served model, when mapped) in `x-switchyard-route` on data-plane answers (YAML `server.route_header`). */
  routeHeader?: boolean;
  /** Admission checks, in order (main.ts composes them from governance). */
  admissionChecks: readonly AdmissionCheck[];
  /** Output tokens assumed for a request that names no max_tokens / max_output_tokens (YAML `governance.default_output_tokens`; pipeline/estimate.ts). */
  defaultOutputTokens?: number;
  /** Prices settled usage (governance/pricing.ts); absent = nothing is priced. */
  pricer?: Pricer;
  /** Receives one record per settled request; must not block (batch it). */
  recordUsage(rec: UsageRecord): void;
  /** The clock routing and key health read (epoch ms); Date.now unless a test injects one. */
  now?: () => number;
}

/**
 * Where a lane writes its answer: the subset of node's ServerResponse the
 * lanes use, so a WebSocket turn (edge/responses-websocket.ts) can stand in for
 * an HTTP response.
 */
export interface ClientSink {
  writeHead(status: number, headers?: Record<string, string | number>): unknown;
  flushHeaders(): void;
  /** Holds writes in the sink's buffer until as many `uncork()` calls (or `end()`); a sink without a buffer does nothing. */
  cork(): void;
  uncork(): void;
  write(chunk: Buffer | string): boolean;
  end(chunk?: Buffer | string): unknown;
  readonly destroyed: boolean;
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

export interface Exchange {
  id: string;
  protocol: ClientProtocol;
  /** The protocol on the usage record when it is not a codec's: a Realtime response (pipeline/realtime.ts); `protocol` then only picks the error envelope. */
  wireProtocol?: "openai-realtime";
  /** Metric label: the endpoint path. */
  route: string;
  headers: IncomingHttpHeaders;
  /** The client's address: the socket's peer, or what a trusted proxy reports in X-Forwarded-For (pipeline/client-address.ts); undefined when unknown. */
  clientAddress?: string;
  /** The client's query string including "?" (e.g. "?beta=true"), or "". */
  query: string;
  body: Buffer;
  res: ClientSink;
  /** Aborted when the client disconnects before the answer is complete. */
  signal: AbortSignal;
  startedAt: number;
  /** When the pipeline wrote the answer's head (performance.now()), for the usage record's time to first byte. */
  firstByteAt?: number;
  principal?: Principal;
  /** Filled in as the pipeline learns them, so a failed request is still attributed. */
  model?: string;
  /** The model sent upstream, once resolved: differs from `model` when a mapping rule applied. */
  servedModel?: string;
  stream?: boolean;
  /** Upstream attempts made so far; the last one answered or failed last. */
  attempts?: number;
  lastAttempt?: PlannedAttempt;
  /** What each attempt saw, appended by the attempts themselves (for the usage record). */
  trail?: AttemptTrailEntry[];
  /** The request's cache-affinity key, once derived (its hash goes on the usage record). */
  cacheKey?: string;
  /**
   * A Responses WebSocket turn (edge/responses-websocket.ts): the client connection's upstream socket
   * session, used when the attempt's upstream has `websocket: true`, and the frame as the client sent
   * it (less `previous_response_id`, given apart) when it chained from an earlier response (`body` is
   * then the full input the edge rebuilt).
   */
  socketTurn?: { session: UpstreamSocketSession; chained?: { body: Buffer; previousId: string } };
}

/** What the edge knows of a request or a WebSocket turn when it begins. */
export type ExchangeStart = Pick<Exchange, "id" | "protocol" | "route" | "headers" | "query" | "body" | "res" | "signal" | "startedAt"> &
  Partial<Pick<Exchange, "clientAddress" | "principal" | "socketTurn">>;

/**
 * An exchange with all its members in place from the start, in one order; the pipeline fills in
 * the rest as it learns them. Every HTTP request and WebSocket turn then has the same hidden
 * class, so the reads of `ex.…` along the request path stay monomorphic (src/canonical/shared-shape.ts).
 * `signal` replaces the start's own (a WebSocket turn's, given its own abort by the edge).
 */
export function openExchange(start: ExchangeStart, signal: AbortSignal = start.signal): Exchange {
  return {
    id: start.id,
    protocol: start.protocol,
    wireProtocol: undefined,
    route: start.route,
    headers: start.headers,
    clientAddress: start.clientAddress,
    query: start.query,
    body: start.body,
    res: start.res,
    signal,
    startedAt: start.startedAt,
    firstByteAt: undefined,
    principal: start.principal,
    model: undefined,
    servedModel: undefined,
    stream: undefined,
    attempts: undefined,
    lastAttempt: undefined,
    trail: undefined,
    cacheKey: undefined,
    socketTurn: start.socketTurn,
  };
}
