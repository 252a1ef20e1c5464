/**
 * OpenAI Realtime over WebSocket, the pipeline's part (docs/protocols.md#realtime-over-websocket):
 * who is calling, what they may use, which upstream serves them, and what each response
 * costs. The edge (edge/realtime-websocket.ts) owns the sockets and relays the frames;
 * this module never reads a frame but the two that carry accounting (`response.created`
 * and `response.done`).
 *
 * Admission (docs/governance.md#realtime-sessions): each response is one request. The
 * session is admitted once before the upgrade completes, as a request (its first
 * response's admission); each `response.done` settles the admission it ran under with
 * the usage it reports and admits the next one at once. So the session holds one
 * concurrency slot for its whole life, the request windows count one request per
 * response, token windows, quotas and credit settle per response on its usage, and a
 * refusal between two responses (the account suspended, a rate or credit exhausted)
 * ends the session. An admission no response ran under is released when the session ends.
 */
import type { IncomingHttpHeaders } from "node:http";
import { randomUUID } from "node:crypto";
import { timeOrderedHex } from "../canonical/time-ordered-id.js";
import type WebSocket from "ws";
import { GatewayError } from "../canonical/errors.js";
import { emptyUsage, type Usage } from "../canonical/usage.js";
import type { Principal } from "../governance/principals.js";
import type { ModelResolution, ResolvedTier } from "../routing/resolve-model.js";
import { resolveModel } from "../routing/resolve-model.js";
import { planAttempts, type PlannedAttempt } from "../routing/plan.js";
import { classifyFailure } from "../routing/failure-class.js";
import { upstreamTimeouts } from "../upstream/timeouts.js";
import { dialRealtime, realtimeUpstreamHeaders, realtimeUrl, servesRealtime } from "../upstream/realtime.js";
import { UpstreamTransportError } from "../upstream/response.js";
import type { AttemptTrailEntry } from "../storage/ports.js";
import { admitRequest, type Admission } from "./admit.js";
import { attemptError } from "./attempt.js";
import { authenticate } from "./authenticate.js";
import { DEFAULT_OUTPUT_TOKENS } from "./estimate.js";
import type { ClientSink, Exchange, PipelineDeps } from "./exchange.js";
import { mappingSource } from "./mapping.js";
import { settle, type Outcome } from "./settle.js";
import { stoppedBy } from "./stop.js";
import { withMembers } from "../canonical/shared-shape.js";

/** The subprotocol a browser offers (with its key in a second one); the gateway answers with it, never with the key's. */
export const REALTIME_SUBPROTOCOL = "realtime";
/** A browser cannot set headers on a WebSocket: OpenAI takes the key as the subprotocol `openai-insecure-api-key.<key>`. */
const KEY_SUBPROTOCOL = "openai-insecure-api-key.";

/**
 * The upgrade's headers for authentication: a key sent as the `openai-insecure-api-key.`
 * subprotocol becomes `Authorization: Bearer` when no header carries one (a header wins).
 */
export function realtimeAuthHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  if (headers.authorization !== undefined || headers["x-api-key"] !== undefined) return headers;
  const offered = headers["sec-websocket-protocol"];
  if (typeof offered !== "string") return headers;
  for (const p of offered.split(",")) {
    const t = p.trim();
    if (t.startsWith(KEY_SUBPROTOCOL) && t.length > KEY_SUBPROTOCOL.length)
      return withMembers(headers, { authorization: `Bearer ${t.slice(KEY_SUBPROTOCOL.length)}` });
  }
  return headers;
}

/** The `model` query parameter of the upgrade URL. */
export function realtimeModel(query: string): string {
  const model = new URLSearchParams(query).get("model");
  if (!model) {
    throw new GatewayError("invalid_request", "missing_model", "Name the model in the URL: /v1/realtime?model=….", { param: "model" });
  }
  return model;
}

export interface RealtimeOpen {
  /** Who opened the session; replaced by the fresh one at each response's admission. */
  principal: Principal;
  model: string;
  /** The upgrade request's headers, a subprotocol key moved to `authorization` (realtimeAuthHeaders); the beta opt-in and the browser origin are read from them. */
  headers: IncomingHttpHeaders;
  clientAddress: string | undefined;
  /** Aborted when the client leaves while the session is being opened. */
  signal: AbortSignal;
  /** Frames above this many bytes end the connection (`server.realtime.max_frame_bytes`). */
  maxFrameBytes: number;
}

/** How a session ended, as far as the response under way (if any) is concerned. */
export type RealtimeEnd =
  /** The client left or closed (a response under way was cancelled upstream and reported what it used, or not). */
  | { by: "client" }
  /** The upstream closed or broke the connection, or sent a frame too large. */
  | { by: "upstream"; error: GatewayError }
  /** The gateway ended it (shutdown, a refused admission). */
  | { by: "gateway"; error: GatewayError };

/** Events the accounting looks for, found in a frame's bytes before anything is parsed (an audio delta is never parsed). */
const CREATED = Buffer.from('"response.created"');
const DONE = Buffer.from('"response.done"');

/** A sink nothing is written to: a Realtime response's record is built by settle(), which needs an Exchange. */
const NO_SINK: ClientSink = {
  writeHead: () => undefined,
  flushHeaders: () => undefined,
  cork: () => undefined,
  uncork: () => undefined,
  write: () => true,
  end: () => undefined,
  destroyed: true,
  once: () => undefined,
  off: () => undefined,
};

const EMPTY = Buffer.alloc(0);

interface RealtimeUsageWire {
  input_tokens?: number;
  output_tokens?: number;
  input_token_details?: { cached_tokens?: number; text_tokens?: number; audio_tokens?: number };
  output_token_details?: { text_tokens?: number; audio_tokens?: number };
}

/**
 * A `response.done` usage in the gateway's terms. Audio and text tokens are counted
 * together (`input_tokens`, `output_tokens` include both; the price table has no audio
 * line, so audio is priced as text: docs/billing.md); cached tokens are a part of input.
 */
export function realtimeUsage(u: RealtimeUsageWire | null | undefined): Usage {
  const usage = emptyUsage();
  if (!u) return usage;
  const n = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0);
  usage.inputTokens = n(u.input_tokens);
  usage.cachedInputTokens = Math.min(usage.inputTokens, n(u.input_token_details?.cached_tokens));
  usage.outputTokens = n(u.output_tokens);
  return usage;
}

/** The part of a `response.done` event's response accounting reads. */
interface DoneResponse {
  status?: unknown;
  usage?: RealtimeUsageWire | null;
}

/** A `response.done` event's status as an outcome: a failed response is an upstream error; completed, cancelled and incomplete ran. */
function doneOutcome(response: DoneResponse | undefined, usage: Usage): Outcome {
  if (response?.status === "failed") {
    return { status: 502, usage, errorCode: "upstream_error", lane: "passthrough" };
  }
  return { status: 200, usage, lane: "passthrough" };
}

/**
 * One Realtime session: the upstream socket, the admission of the next response, and
 * the response under way. The edge feeds it the upstream's text frames and tells it
 * how the session ended; it settles each response once.
 */
export class RealtimeSession {
  /** The admission the next (or current) response runs under; undefined once the session ended. */
  #admission: Admission | undefined;
  /** The response under way: its exchange, from `response.created` to `response.done`. */
  #current: Exchange | undefined;
  #responseAbort: AbortController | undefined;
  #ended = false;
  #doneWaiters: Array<() => void> = [];
  /** Settlements and admissions, in the order their events came (see #settleCurrent). */
  #chain: Promise<void> = Promise.resolve();
  /** How many responses settled (each is one usage record). */
  responses = 0;
  /** Told when the next response's admission was refused; the edge ends the session with the error. */
  onRefused: (err: GatewayError) => void = () => undefined;

  constructor(
    private readonly deps: PipelineDeps,
    readonly id: string,
    readonly upstream: WebSocket,
    private readonly o: RealtimeOpen,
    readonly served: string,
    private readonly planned: PlannedAttempt,
    private readonly trail: AttemptTrailEntry[],
    private readonly lease: { report(outcome: "ok" | "neutral" | "network"): void },
    admission: Admission,
  ) {
    this.#admission = admission;
  }

  /** A response is under way: `response.created` came and its `response.done` not yet. */
  get responding(): boolean {
    return this.#current !== undefined;
  }

  /** An upstream text frame: the two events accounting needs are picked out by their bytes. */
  serverFrame(data: Buffer): void {
    if (this.#ended) return;
    if (data.indexOf(DONE) !== -1) this.#maybe(data, "response.done");
    else if (data.indexOf(CREATED) !== -1) this.#maybe(data, "response.created");
  }

  #maybe(data: Buffer, type: "response.created" | "response.done"): void {
    let ev: { type?: unknown; response?: DoneResponse };
    try {
      ev = JSON.parse(data.toString("utf8")) as typeof ev;
    } catch {
      return;
    }
    if (ev.type !== type) return;
    if (type === "response.created") this.#created();
    else this.#done(ev.response);
  }

  #created(): void {
    // A second response.created before the first one's done (out-of-band responses side by side) is not
    // tracked; its response.done settles under an admission of its own all the same (#settleCurrent).
    if (this.#current) return;
    this.#responseAbort = new AbortController();
    const now = performance.now();
    this.#current = {
      id: `req_${timeOrderedHex()}`,
      // The record's protocol is Realtime's own; `protocol` only picks the error envelope, which is OpenAI's.
      protocol: "openai-responses",
      wireProtocol: "openai-realtime",
      route: "/v1/realtime",
      headers: this.o.headers,
      clientAddress: this.o.clientAddress,
      query: "",
      body: EMPTY,
      res: NO_SINK,
      signal: this.#responseAbort.signal,
      startedAt: now,
      firstByteAt: now,
      principal: this.o.principal,
      model: this.o.model,
      servedModel: this.served,
      stream: true,
      attempts: this.trail.length,
      lastAttempt: this.planned,
      trail: this.trail,
    };
  }

  #done(response: DoneResponse | undefined): void {
    if (!this.#current) this.#created();
    const usage = realtimeUsage(response?.usage);
    const outcome = doneOutcome(response, usage);
    // Cancelled by the gateway (shutdown): billed for what it reported, recorded with the gateway's reason.
    const stopped = this.#responseAbort && stoppedBy(this.#responseAbort.signal);
    this.#settleCurrent(stopped ? withMembers(outcome, { status: stopped.status, errorCode: stopped.code }) : outcome, true);
    for (const wake of this.#doneWaiters.splice(0)) wake();
  }

  /**
   * Settles the response under way with `outcome`, under the admission it ran under, then
   * (when `next`) admits the next response. In order, one at a time: a second response's
   * `response.done` that arrives while the next admission is still being taken (out-of-band
   * responses run side by side) waits for it, so each response settles under an admission of its own.
   */
  #settleCurrent(outcome: Outcome, next: boolean): void {
    const ex = this.#current;
    if (!ex) return;
    this.#current = undefined;
    this.responses++;
    this.#chain = this.#chain.then(async () => {
      const admission = this.#admission;
      this.#admission = undefined;
      settle(this.deps, ex, admission, outcome);
      if (next && !this.#ended) await this.#admitNext();
    });
  }

  async #admitNext(): Promise<void> {
    try {
      // The key is looked up again (a cache hit, no I/O): a key revoked or expired, or an account
      // suspended, since the session opened is refused here, as its next HTTP request would be.
      const found = authenticate(this.o.headers, this.deps.principals);
      const principal = found instanceof Promise ? await found : found;
      this.o.principal = principal;
      const next = await admitRequest(this.deps, principal, admissionRequest(this.deps, this.o, this.served));
      // Kept even when the session ended meanwhile: a response.done queued behind this settles
      // under it, and end()'s release, queued last, gives back what no response used.
      this.#admission = next;
    } catch (err) {
      if (this.#ended) return;
      const e = err instanceof GatewayError ? err : new GatewayError("internal", "internal_error", "The gateway failed to admit the next response.");
      this.onRefused(e);
    }
  }

  /**
   * The response under way is being cut short: the client left (its record says cancelled) or
   * the gateway stops it (the record names the gateway's error). Its `response.done`, if the
   * upstream still sends one, settles it with the usage it reports.
   */
  interrupt(how: RealtimeEnd): void {
    if (!this.#current || this.#responseAbort?.signal.aborted) return;
    this.#responseAbort?.abort(how.by === "client" ? undefined : how.error);
  }

  /** Resolves at the response under way's `response.done`, or after `ms`, whichever comes first. */
  responseDone(ms: number): Promise<void> {
    if (!this.#current) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#doneWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * The session is over. A response still under way settles with nothing reported (its
   * `response.done` never came): cancelled when the client left, failed otherwise; the
   * admission no response ran under is released. Once.
   */
  end(how: RealtimeEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    for (const wake of this.#doneWaiters.splice(0)) wake();
    if (this.#current) {
      this.interrupt(how);
      if (how.by === "client") {
        this.#settleCurrent({ status: 499, usage: emptyUsage(), errorCode: "client_closed", lane: "passthrough" }, false);
      } else {
        const status = how.error.status;
        this.#settleCurrent({ status, usage: emptyUsage(), errorCode: how.error.code, lane: "passthrough" }, false);
      }
    }
    // After every settlement queued before it: only an admission no response ran under is left.
    this.#chain = this.#chain.then(() => {
      void this.#admission?.release();
      this.#admission = undefined;
    });
    this.lease.report(how.by === "upstream" ? "network" : "ok");
  }
}

/** What a response is admitted on: nothing is known before it runs, so the input estimate is 0 and the output the gateway's default. */
function admissionRequest(deps: PipelineDeps, o: RealtimeOpen, served: string) {
  return {
    model: served,
    stream: true,
    clientAddress: o.clientAddress,
    origin: typeof o.headers.origin === "string" ? o.headers.origin : undefined,
    estimate: { inputTokens: 0, outputTokens: deps.defaultOutputTokens ?? DEFAULT_OUTPUT_TOKENS },
  };
}

/** The resolution narrowed to upstreams that serve Realtime (`realtime: true`); tiers left empty are dropped. */
function realtimeOnly(resolution: ModelResolution): ModelResolution {
  const tiers: ResolvedTier[] = [];
  for (const tier of resolution.tiers) {
    const targets = tier.targets
      .map((t) => withMembers(t, { upstreams: t.upstreams.filter((u) => servesRealtime(u.upstream)) }))
      .filter((t) => t.upstreams.length > 0);
    if (targets.length > 0) tiers.push({ targets });
  }
  return withMembers(resolution, { tiers, servedAnywhere: tiers.length > 0 });
}

/**
 * Opens a session: admission (the first response's), model resolution, the upstream
 * upgrade (trying the plan's keys and upstreams in order, as HTTP does before its first
 * byte). Throws a GatewayError the edge answers the upgrade with over HTTP.
 */
export async function openRealtime(deps: PipelineDeps, o: RealtimeOpen): Promise<RealtimeSession> {
  const id = `rt_${randomUUID().replaceAll("-", "")}`;
  const p = o.principal;
  const snapshot = deps.catalog.snapshot;
  const resolution = realtimeOnly(resolveModel(snapshot, "openai-responses", o.model, mappingSource(p.policy), p.chain));
  const admission = await admitRequest(deps, p, admissionRequest(deps, o, resolution.served));
  try {
    if (!resolution.servedAnywhere) {
      throw new GatewayError("not_found", "realtime_not_available", `No upstream serves model '${o.model}' over Realtime.`, { param: "model" });
    }
    const plan = planAttempts(snapshot, deps.keyHealth, {
      model: o.model,
      client: "openai-responses",
      clientStreams: true,
      affinity: undefined,
      maxAttempts: deps.maxAttempts,
      now: Date.now(),
      resolution,
    });
    if (plan.attempts.length === 0) {
      throw new GatewayError("overloaded", "no_upstream_key", `No upstream credential is available for model '${o.model}'.`, { status: 503 });
    }
    const trail: AttemptTrailEntry[] = [];
    let last: GatewayError | undefined;
    for (const planned of plan.attempts) {
      if (o.signal.aborted) break;
      const dialed = await dial(deps, o, planned, trail);
      if (dialed.ok) {
        return new RealtimeSession(deps, id, dialed.socket, o, resolution.served, planned, trail, dialed.lease, admission);
      }
      last = dialed.error;
      if (!dialed.retryable) break;
    }
    if (o.signal.aborted) throw new GatewayError("invalid_request", "client_closed", "The client closed the connection.", { status: 499 });
    throw last ?? new GatewayError("upstream", "upstream_error", "No upstream attempt succeeded.");
  } catch (err) {
    void admission.release();
    throw err;
  }
}

type Dialed =
  { ok: true; socket: WebSocket; lease: { report(outcome: "ok" | "neutral" | "network"): void } } | { ok: false; retryable: boolean; error: GatewayError };

/** One upstream upgrade on one key: the credential on the headers, the lease on the key, the failure classified as HTTP's. */
async function dial(deps: PipelineDeps, o: RealtimeOpen, planned: PlannedAttempt, trail: AttemptTrailEntry[]): Promise<Dialed> {
  const upstream = planned.target.upstream;
  const started = performance.now();
  const line = (outcome: string, httpStatus: number | null, code: string | null): void => {
    trail.push({
      upstream: upstream.name,
      upstreamId: upstream.id,
      keyId: planned.key.id,
      tier: planned.tier + 1,
      outcome,
      httpStatus,
      code,
      durationMs: Math.round(performance.now() - started),
    });
  };
  const credential = deps.credentials(upstream, planned.key);
  const { connectTimeoutMs } = upstreamTimeouts(upstream.settings);
  for (let refreshed = false; ; refreshed = true) {
    const headers = realtimeUpstreamHeaders(o.headers, {});
    await credential.authorize(headers, o.signal);
    const lease = deps.keyHealth.acquire(planned.key);
    if (!lease) {
      return {
        ok: false,
        retryable: true,
        error: new GatewayError("overloaded", "no_upstream_key", "No upstream credential is available right now.", { status: 503 }),
      };
    }
    let result: Awaited<ReturnType<typeof dialRealtime>>;
    try {
      result = await dialRealtime({
        url: realtimeUrl(upstream.baseUrl, planned.model),
        headers,
        maxPayload: o.maxFrameBytes,
        connectTimeoutMs,
        signal: o.signal,
      });
    } catch (err) {
      if (o.signal.aborted || !(err instanceof UpstreamTransportError)) {
        deps.keyHealth.report(lease, "neutral");
        throw err;
      }
      deps.keyHealth.report(lease, "network");
      deps.metrics.upstreamErrors.inc({ upstream: upstream.name, class: err.kind });
      deps.logger.warn({ session: "realtime", upstream: upstream.name, key: planned.key.fingerprint, err: err.message }, "realtime upstream upgrade failed");
      line(err.kind, null, null);
      return { ok: false, retryable: true, error: attemptError(err.kind, undefined, undefined) };
    }
    if (result.ok) {
      line("ok", 101, null);
      let reported = false;
      return {
        ok: true,
        socket: result.socket,
        lease: {
          report(outcome) {
            if (reported) return;
            reported = true;
            deps.keyHealth.report(lease, outcome);
          },
        },
      };
    }
    const failure = classifyFailure(result.status, result.headers, result.bodyText, Date.now());
    const code = upstreamCode(result.bodyText);
    if (!failure) {
      // The upstream refused the request itself (an unknown model, a bad parameter): final, relayed.
      deps.keyHealth.report(lease, "neutral");
      line("client_error", result.status, code ?? null);
      const message = upstreamMessage(result.bodyText) ?? `The upstream refused the Realtime session with HTTP ${result.status}.`;
      return {
        ok: false,
        retryable: false,
        error: new GatewayError("invalid_request", "upstream_rejected", message, { status: result.status, upstreamCode: code }),
      };
    }
    if (failure.cls === "auth" && !refreshed && (await credential.rejected(o.signal)) === "retry") {
      deps.keyHealth.report(lease, "neutral");
      continue;
    }
    deps.keyHealth.report(lease, failure.cls, failure.waitMs);
    deps.metrics.upstreamErrors.inc({ upstream: upstream.name, class: failure.cls });
    deps.logger.warn(
      { session: "realtime", upstream: upstream.name, key: planned.key.fingerprint, status: result.status, cls: failure.cls },
      "realtime upstream upgrade failed",
    );
    line(failure.cls, result.status, code ?? null);
    return { ok: false, retryable: true, error: attemptError(failure.cls, result.status, failure.waitMs) };
  }
}

function errorObject(bodyText: string): Record<string, unknown> | undefined {
  try {
    const json = JSON.parse(bodyText) as unknown;
    if (!json || typeof json !== "object") return undefined;
    const e = (json as Record<string, unknown>).error;
    return e && typeof e === "object" ? (e as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function upstreamCode(bodyText: string): string | undefined {
  const e = errorObject(bodyText);
  const code = typeof e?.code === "string" ? e.code : typeof e?.type === "string" ? e.type : undefined;
  return code && code.length <= 64 ? code : undefined;
}

function upstreamMessage(bodyText: string): string | undefined {
  const m = errorObject(bodyText)?.message;
  return typeof m === "string" && m.length <= 1000 ? m : undefined;
}
