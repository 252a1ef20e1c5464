/**
 * One upstream attempt: send, and classify what came back. Before the first
 * byte reaches the client a retryable failure moves on to the next key or
 * upstream; the classification decides which failures are retryable.
 */
import type { Dispatcher } from "undici";
import { GatewayError, statusToKind } from "../canonical/errors.js";
import type { FailureClass } from "../routing/key-pool.js";
import { KeyPool } from "../routing/key-pool.js";
import type { PlannedAttempt } from "./plan.js";
import type { PipelineDeps } from "./exchange.js";

export type AttemptOutcome =
  | { ok: true; response: Dispatcher.ResponseData }
  /** A failure another key or upstream might not have. */
  | { ok: false; retryable: true; error: GatewayError; cls: FailureClass | "timeout" }
  /** The upstream rejected the request itself (4xx): final, answered to the client. */
  | { ok: false; retryable: false; status: number; bodyText: string; headers: Record<string, string | string[] | undefined> };

function retryAfterMs(headers: Record<string, string | string[] | undefined>): number | undefined {
  const v = headers["retry-after"];
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  const secs = Number(s);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(s);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

export async function sendAttempt(
  deps: PipelineDeps,
  attempt: PlannedAttempt,
  req: { url: string; headers: Record<string, string>; body: Buffer; signal: AbortSignal },
): Promise<AttemptOutcome> {
  const { target, key } = attempt;
  const settings = target.upstream.settings;
  const timeoutMs = typeof settings.timeout_ms === "number" ? settings.timeout_ms : 600_000;
  const name = target.upstream.name;
  key.inFlight++;
  let response: Dispatcher.ResponseData;
  try {
    response = await deps.http.send({
      url: req.url,
      method: "POST",
      headers: req.headers,
      body: req.body,
      signal: req.signal,
      headersTimeoutMs: timeoutMs,
      bodyTimeoutMs: timeoutMs,
    });
  } catch (err) {
    key.inFlight--;
    if (req.signal.aborted) throw err;
    const code = (err as { code?: string }).code ?? "";
    const timeout = code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_CONNECT_TIMEOUT";
    KeyPool.failed(key, "network", Date.now());
    deps.metrics.upstreamErrors.inc({ upstream: name, class: timeout ? "timeout" : "network" });
    return {
      ok: false,
      retryable: true,
      cls: timeout ? "timeout" : "network",
      error: timeout
        ? new GatewayError("timeout", "upstream_timeout", `Upstream '${name}' did not answer in time.`)
        : new GatewayError("upstream", "upstream_unreachable", `Upstream '${name}' could not be reached.`),
    };
  }
  const status = response.statusCode;
  if (status < 400) {
    // The caller decrements inFlight when the body is done.
    return { ok: true, response };
  }
  key.inFlight--;
  const bodyText = await response.body.text().catch(() => "");
  const headers = response.headers;
  let cls: FailureClass | undefined;
  if (status === 429) cls = "rate_limited";
  else if (status === 401 || status === 403) cls = "auth";
  else if (status >= 500 || status === 408) cls = "server_error";
  if (!cls) {
    deps.metrics.upstreamErrors.inc({ upstream: name, class: "client_error" });
    return { ok: false, retryable: false, status, bodyText, headers };
  }
  const wait = retryAfterMs(headers);
  KeyPool.failed(key, cls, Date.now(), wait);
  deps.metrics.upstreamErrors.inc({ upstream: name, class: cls });
  deps.logger.warn({ upstream: name, key: key.fingerprint, status, cls }, "upstream attempt failed");
  let error: GatewayError;
  if (cls === "rate_limited") {
    error = new GatewayError("rate_limit", "upstream_rate_limited", "The upstream is rate limiting this model; try again shortly.", {
      headers: wait !== undefined ? { "retry-after": String(Math.ceil(wait / 1000)) } : undefined,
    });
  } else if (cls === "auth") {
    error = new GatewayError("upstream", "upstream_auth_failed", `Upstream '${name}' rejected the gateway's credential.`);
  } else {
    error = new GatewayError(
      statusToKind(status) === "overloaded" ? "overloaded" : "upstream",
      "upstream_error",
      `Upstream '${name}' failed with HTTP ${status}.`,
    );
  }
  return { ok: false, retryable: true, cls, error };
}

/** Call when a successful response's body has been fully consumed or abandoned. */
export function attemptDone(attempt: PlannedAttempt, ok: boolean): void {
  attempt.key.inFlight--;
  if (ok) KeyPool.succeeded(attempt.key);
}
