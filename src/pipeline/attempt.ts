/**
 * One upstream attempt: the headers, the credential, the send and the lease on
 * the key, and the classification of what came back. Both lanes send through
 * it, so they differ only in the body they build and how they relay the
 * answer. Before the first byte reaches the client a retryable failure moves
 * on to the next key or upstream; the classification decides which are.
 */
import { GatewayError, statusToKind } from "../canonical/errors.js";
import type { PlannedAttempt } from "../routing/plan.js";
import type { KeyLease } from "../routing/key-health.js";
import { classifyFailure, type FailureClass } from "../routing/failure-class.js";
import type { PoolKey } from "../routing/key-pool.js";
import { CredentialUnavailableError } from "../upstream/credentials.js";
import { upstreamUrl } from "../upstream/endpoints.js";
import { upstreamHeaders } from "../upstream/headers.js";
import { upstreamTimeouts } from "../upstream/timeouts.js";
import { parseCodexUsage } from "../upstream/codex-usage.js";
import { recordUsage } from "../routing/key-headroom.js";
import { UpstreamTransportError, type UpstreamHeaders, type UpstreamResponse } from "../upstream/response.js";
import type { AnswerError } from "../protocols/common/error-in-answer.js";
import type { AttemptTrailEntry } from "../storage/ports.js";
import { responsesSocketUrl, webSocketSettings, withWebSocketBeta } from "../upstream/responses-socket.js";
import { setCodexSession } from "./affinity.js";
import { stoppedBy } from "./stop.js";
import type { Exchange, PipelineDeps } from "./exchange.js";
import type { UpstreamSocketSession } from "./upstream-socket-session.js";

export type SendResult =
  | { ok: true; response: UpstreamResponse }
  /** A failure another key or upstream might not have. */
  | { ok: false; retryable: true; error: GatewayError }
  /** The upstream refused the request itself (4xx): final, answered to the client. */
  | { ok: false; retryable: false; status: number; bodyText: string; headers: UpstreamHeaders };

export interface SendOptions {
  body: Buffer;
  /** Whether the upstream is asked to stream. */
  stream: boolean;
  /** The client's query string, kept on the passthrough lane (e.g. Anthropic's `?beta=true`). */
  query?: string;
  /** The session's scoped cache key, sent as the Codex backend's session header. */
  affinityKey: string | undefined;
  /**
   * A Responses WebSocket turn bound for an upstream with `websocket: true`: sent on the client
   * connection's upstream socket instead of POSTed (pipeline/upstream-socket-session.ts). `chained`
   * is the client's incremental frame, prepared like `body`.
   */
  socket?: { session: UpstreamSocketSession; chained?: { body: Buffer; previousId: string }; turnId?: string };
}

/** A signal aborted only when the gateway itself stops the request (not when the client leaves): pipeline/stop.ts. */
function gatewayStop(signal: AbortSignal): AbortSignal {
  const stop = new AbortController();
  const check = (): void => {
    if (stoppedBy(signal)) stop.abort(signal.reason);
  };
  if (signal.aborted) check();
  else signal.addEventListener("abort", check, { once: true });
  return stop.signal;
}

/** Upgrade refusals that speak of the key or the upstream's health, classified like the same HTTP answer; any other means "no WebSocket here". */
function refusalIsKeyFault(status: number): boolean {
  return status === 401 || status === 402 || status === 403 || status === 429 || status >= 500;
}

/** An upgrade refusal as the HTTP answer it is, for the classification below. */
function refusalAsResponse(status: number, headers: UpstreamHeaders, text: string): UpstreamResponse {
  const body = Buffer.from(text);
  return {
    status,
    headers,
    body: (async function* () {
      yield body;
    })(),
    bytes: () => Promise.resolve(body),
    discard: () => undefined,
  };
}

/**
 * A failure class named by an error inside a 2xx answer or stream (the upstream's own code or type).
 * A Codex `usage_limit_reached` there (an error event) names no reset: the usage-limit default applies.
 */
function answerFailureClass(e: AnswerError): FailureClass {
  if (e.code === "usage_limit_reached") return "usage_limit";
  return e.code !== undefined && /rate_limit/i.test(e.code) ? "rate_limited" : "server_error";
}

export class Attempt {
  readonly target: PlannedAttempt["target"];
  readonly key: PoolKey;
  readonly lane: PlannedAttempt["lane"];
  #lease: KeyLease | undefined;
  /** When the send began (performance.now()), for the attempt's duration on the usage record. */
  #startedAt = performance.now();
  /** The HTTP status the upstream answered with, once it did. */
  #status: number | undefined;
  #recorded = false;

  constructor(
    private readonly deps: PipelineDeps,
    private readonly ex: Exchange,
    readonly planned: PlannedAttempt,
    /** No attempt follows this one in the plan: its failure is the client's answer. */
    private readonly last = true,
    /** The request's deadline for a first byte (performance.now() time); the head must arrive before it. */
    private readonly deadlineAt = Number.POSITIVE_INFINITY,
  ) {
    this.target = planned.target;
    this.key = planned.key;
    this.lane = planned.lane;
  }

  /** Time left before the request's deadline for a first byte (Infinity without one). */
  remainingMs(): number {
    return this.deadlineAt - performance.now();
  }

  /** Sends the body; on success the key stays leased until {@link finish}. */
  async send(o: SendOptions): Promise<SendResult> {
    const upstream = this.target.upstream;
    const credential = this.deps.credentials(upstream, this.key);
    const { timeoutMs, connectTimeoutMs } = upstreamTimeouts(upstream.settings);
    this.#startedAt = performance.now();
    // One more try on the same key when the credential refreshed after a rejection (OAuth accounts).
    for (let refreshed = false; ; refreshed = true) {
      const headers = upstreamHeaders(this.ex.headers, { foreign: this.lane === "translate", stream: o.stream, policy: this.target.headers });
      if (upstream.protocol === "codex" && o.affinityKey) setCodexSession(headers, o.affinityKey);
      try {
        const authorizing = credential.authorize(headers, this.ex.signal);
        if (authorizing) await authorizing;
      } catch (err) {
        if (!(err instanceof CredentialUnavailableError)) throw err;
        return this.credentialUnavailable(err);
      }
      const lease = this.deps.keyHealth.acquire(this.key);
      // Disabled since the plan was made, its breaker open, or half-open with its one probe under way: the next key.
      if (!lease) return this.skipped();
      this.#lease = lease;
      // The head must come within the upstream's own timeout and before the request's deadline.
      const left = Math.max(1, Math.floor(this.remainingMs()));
      const cutByDeadline = left < timeoutMs;
      let response: UpstreamResponse | undefined;
      try {
        const socket = o.socket && webSocketSettings(upstream.protocol, upstream.settings);
        if (o.socket && socket && socket.enabled && !o.socket.session.refusedBy(this.key)) {
          const sent = await o.socket.session.send({
            upstreamId: upstream.id,
            key: this.key,
            url: responsesSocketUrl(upstreamUrl(upstream.protocol, upstream.baseUrl, "generate")),
            headers: withWebSocketBeta(headers),
            full: o.body,
            chained: o.socket.chained,
            turnId: o.socket.turnId,
            maxAgeMs: socket.maxAgeMs,
            connectTimeoutMs,
            headersTimeoutMs: cutByDeadline ? left : timeoutMs,
            bodyTimeoutMs: timeoutMs,
            signal: this.ex.signal,
            stop: gatewayStop(this.ex.signal),
          });
          if (sent.kind === "response") response = sent.response;
          else if (refusalIsKeyFault(sent.status)) response = refusalAsResponse(sent.status, sent.headers, sent.body);
          else {
            // Like Codex CLI on a failed handshake: HTTP from here on, for this key on this connection.
            o.socket.session.markRefused(this.key);
            this.deps.logger.info(this.trace({ status: sent.status }), "upstream refused the WebSocket upgrade; this turn goes over HTTP");
          }
        }
        response ??= await this.deps.transport.send({
          url: upstreamUrl(upstream.protocol, upstream.baseUrl, "generate", o.query ?? ""),
          method: "POST",
          headers,
          body: o.body,
          signal: this.ex.signal,
          headersTimeoutMs: cutByDeadline ? left : timeoutMs,
          bodyTimeoutMs: timeoutMs,
          connectTimeoutMs,
        });
      } catch (err) {
        if (this.ex.signal.aborted || !(err instanceof UpstreamTransportError)) {
          this.finish("neutral");
          throw err;
        }
        // A wait cut short by the request's deadline says nothing about the key.
        this.deps.keyHealth.report(lease, err.kind === "timeout" && cutByDeadline ? "neutral" : "network");
        return this.failed(err.kind, undefined);
      }
      this.#status = response.status;
      const now = this.deps.now?.() ?? Date.now();
      // Every Codex backend answer, success or error, states the account's usage windows (docs/codex.md#subscription-headroom-and-cooldowns).
      if (upstream.protocol === "codex") {
        const usage = parseCodexUsage(response.headers, now);
        if (usage) recordUsage(this.key, usage);
      }
      if (response.status < 400) return { ok: true, response };

      const bodyText = (await response.bytes().catch(() => Buffer.alloc(0))).toString("utf8");
      const failure = classifyFailure(response.status, response.headers, bodyText, now);
      if (!failure) {
        this.deps.keyHealth.report(lease, "neutral");
        this.deps.metrics.upstreamErrors.inc({ upstream: upstream.name, class: "client_error" });
        // Not a fault of the upstream or the key (info, not warn), but the request ends here.
        this.deps.logger.info(this.trace({ status: response.status, cls: "client_error", outcome: "final" }), "upstream attempt failed");
        this.record("client_error", upstreamCode(bodyText));
        return { ok: false, retryable: false, status: response.status, bodyText, headers: response.headers };
      }
      const cls = failure.cls;
      // The credential refresh seam: an OAuth credential refreshes and the same key tries once more before it is disabled.
      if (cls === "auth" && !refreshed) {
        let verdict;
        try {
          verdict = await credential.rejected(this.ex.signal);
        } catch (err) {
          if (!(err instanceof CredentialUnavailableError)) throw err;
          // The refresh failed for now: the key cools down like a failing one and the next attempt goes.
          this.deps.keyHealth.report(lease, "server_error");
          return this.failed("server_error", response.status, undefined, err.reason, credentialError(err));
        }
        if (verdict === "retry") {
          this.deps.keyHealth.report(lease, "neutral");
          continue;
        }
      }
      const wait = failure.waitMs;
      this.deps.keyHealth.report(lease, cls, wait);
      return this.failed(cls, response.status, wait, upstreamCode(bodyText));
    }
  }

  /**
   * Releases the key after a successful head: "ok" once the answer was relayed
   * whole; "neutral" when the client left first; "broken" when the answer
   * failed after its head (cut, or an error event in the stream), which is
   * counted and logged but not held against the key.
   */
  finish(outcome: "ok" | "neutral" | "broken", code?: string): void {
    this.record(outcome === "ok" ? "ok" : outcome === "broken" ? "stream_broken" : "abandoned", code);
    if (outcome === "broken") {
      const name = this.target.upstream.name;
      this.deps.metrics.upstreamErrors.inc({ upstream: name, class: "stream" });
      // Part of the answer has reached the client: nothing can move on to another attempt.
      this.deps.logger.warn(this.trace({ cls: "stream", outcome: "final" }), "upstream answer broke after its head");
    }
    if (this.#lease) this.deps.keyHealth.report(this.#lease, outcome === "ok" ? "ok" : "neutral");
  }

  /**
   * The upstream answered 2xx with an error envelope instead of an answer: a
   * server failure, never a success. Nothing has reached the client, so the
   * next attempt may still answer.
   */
  errorInAnswer(e: AnswerError): GatewayError {
    const name = this.target.upstream.name;
    const cls = answerFailureClass(e);
    if (this.#lease) this.deps.keyHealth.report(this.#lease, cls);
    this.deps.metrics.upstreamErrors.inc({ upstream: name, class: "error_in_answer" });
    this.deps.logger.warn(this.trace({ cls: "error_in_answer", upstreamCode: e.code, outcome: this.next() }), "upstream attempt failed");
    this.record("error_in_answer", e.code);
    return answerError(cls, `The upstream answered with an error: ${e.message}`);
  }

  /**
   * A 2xx stream failed before any content reached the client (docs/routing.md#failover): an
   * error event among its opening events, a break, or an end with nothing in it. A failed
   * attempt like a 5xx: the key is charged and the next attempt may answer.
   */
  errorInStream(e: AnswerError, reason: "error_event" | "broken" | "empty"): GatewayError {
    const name = this.target.upstream.name;
    const cls = reason === "error_event" ? answerFailureClass(e) : reason === "broken" ? "network" : "server_error";
    if (this.#lease) this.deps.keyHealth.report(this.#lease, cls);
    this.deps.metrics.upstreamErrors.inc({ upstream: name, class: "stream_before_content" });
    this.deps.logger.warn(this.trace({ cls: "stream_before_content", reason, upstreamCode: e.code, outcome: this.next() }), "upstream attempt failed");
    this.record(reason === "error_event" ? "error_event" : reason === "broken" ? "broken_before_content" : "stream_empty", e.code);
    if (reason === "broken") return new GatewayError("upstream", "upstream_stream_broken", e.message);
    return answerError(cls, `The upstream stream failed before any content: ${e.message}`);
  }

  /** This attempt's line in the request's attempt trail (docs/routing.md#the-attempt-trail); once per attempt. */
  private record(outcome: AttemptTrailEntry["outcome"], code: string | undefined): void {
    if (this.#recorded) return;
    this.#recorded = true;
    (this.ex.trail ??= []).push({
      upstream: this.target.upstream.name,
      upstreamId: this.target.upstream.id,
      keyId: this.key.id,
      // Counted from 1, as the route header and explain name tiers.
      tier: this.planned.tier + 1,
      outcome,
      httpStatus: this.#status ?? null,
      code: code ?? null,
      durationMs: Math.round(performance.now() - this.#startedAt),
    });
  }

  /** What identifies this attempt in a log line: the request, which attempt of it, the upstream and the key. */
  /** The attempt's log fields, and `extra`'s after them. */
  private trace(extra: object): object {
    return Object.assign({ requestId: this.ex.id, attempt: this.ex.attempts, upstream: this.target.upstream.name, key: this.key.fingerprint }, extra);
  }

  /**
   * What follows a retryable failure: the next planned attempt, or nothing (the error goes to the client).
   * A client that leaves in between also ends the request, but that is the client's line to tell.
   */
  private next(): "next_attempt" | "final" {
    return this.last ? "final" : "next_attempt";
  }

  /** The key may not be used right now: nothing was sent; the next planned attempt goes. */
  private skipped(): SendResult {
    this.deps.logger.debug(this.trace({ outcome: this.next() }), "upstream key skipped: disabled, open, or its half-open probe under way");
    return {
      ok: false,
      retryable: true,
      error: new GatewayError("overloaded", "no_upstream_key", "No upstream credential is available right now.", { status: 503 }),
    };
  }

  /** Counts and logs a failed attempt that the next key or upstream may still make good. */
  private failed(cls: FailureClass | "timeout", status: number | undefined, wait?: number, code?: string, error?: GatewayError): SendResult {
    const name = this.target.upstream.name;
    this.deps.metrics.upstreamErrors.inc({ upstream: name, class: cls });
    this.deps.logger.warn(this.trace({ status, cls, outcome: this.next() }), "upstream attempt failed");
    this.record(cls, code);
    return { ok: false, retryable: true, error: error ?? attemptError(cls, status, wait) };
  }

  /**
   * The credential could not be put on the request (docs/codex.md#how-tokens-stay-fresh):
   * nothing was sent. A dead login is taken out like a revoked key; a refresh that failed
   * for now cools the key down like a failing one. Either way the next attempt goes.
   */
  private credentialUnavailable(err: CredentialUnavailableError): SendResult {
    const lease = this.deps.keyHealth.acquire(this.key);
    if (!lease) return this.skipped();
    this.#lease = lease;
    this.deps.keyHealth.report(lease, err.permanent ? "auth" : "server_error");
    return this.failed(err.permanent ? "auth" : "server_error", undefined, undefined, err.reason, credentialError(err));
  }
}

/** The client's error when a ChatGPT login could not be used (its message names no key). */
function credentialError(err: CredentialUnavailableError): GatewayError {
  return err.permanent
    ? new GatewayError("upstream", "upstream_credential_dead", "The upstream account's login has expired; the operator must sign it in again.")
    : new GatewayError("upstream", "upstream_credential_refresh_failed", "The upstream account's token could not be refreshed right now; try again shortly.");
}

/** The client's error for an upstream's own error in a 2xx answer or stream: a rate limit stays one. */
function answerError(cls: FailureClass, message: string): GatewayError {
  if (cls === "usage_limit") return attemptError(cls, undefined, undefined);
  return cls === "rate_limited"
    ? new GatewayError("rate_limit", "upstream_rate_limited", "The upstream is rate limiting this model; try again shortly.")
    : new GatewayError("upstream", "upstream_error", message);
}

/** The upstream's own error code or type in an error body, for the attempt trail (never its message). */
function upstreamCode(bodyText: string): string | undefined {
  try {
    const json: unknown = JSON.parse(bodyText);
    if (!json || typeof json !== "object") return undefined;
    const o = json as Record<string, unknown>;
    const e = (o.error ?? o) as Record<string, unknown> | string;
    if (typeof e !== "object" || e === null) return undefined;
    const code = typeof e.code === "string" ? e.code : typeof e.type === "string" ? e.type : undefined;
    return code && code.length <= 64 ? code : undefined;
  } catch {
    return undefined;
  }
}

/** What the client is told if this failure turns out to be the last: a stable code, and nothing of the topology. */
export function attemptError(cls: FailureClass | "timeout", status: number | undefined, wait: number | undefined): GatewayError {
  switch (cls) {
    case "timeout":
      return new GatewayError("timeout", "upstream_timeout", "The upstream did not answer in time.");
    case "network":
      return new GatewayError("upstream", "upstream_unreachable", "The upstream could not be reached.");
    case "rate_limited":
      return new GatewayError("rate_limit", "upstream_rate_limited", "The upstream is rate limiting this model; try again shortly.", {
        headers: wait !== undefined ? { "retry-after": String(Math.ceil(wait / 1000)) } : undefined,
      });
    case "auth":
      return new GatewayError("upstream", "upstream_auth_failed", "The upstream rejected the gateway's credential.");
    case "usage_limit":
      return new GatewayError("rate_limit", "upstream_usage_limit", "The upstream subscription's usage limit has been reached; try again after its reset.", {
        headers: wait !== undefined ? { "retry-after": String(Math.ceil(wait / 1000)) } : undefined,
      });
    case "quota":
      return new GatewayError("upstream", "upstream_quota_exhausted", "The upstream account has no quota or credit left.");
    case "server_error":
      return new GatewayError(
        statusToKind(status ?? 502) === "overloaded" ? "overloaded" : "upstream",
        "upstream_error",
        `The upstream failed with HTTP ${status}.`,
      );
  }
}
