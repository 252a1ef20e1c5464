/**
 * The background prober: every `probe_interval_ms` it tries, with a cheap request, the
 * keys whose breaker is open and whose cooldown is over (and disabled keys, only when
 * `probe_disabled` is set), taking the key's one half-open slot so a probe and a
 * client's request never both test a key. A success restores the key on this node and,
 * through the bus, on the others. It never runs on a request's path: its timer is
 * unref'd and its requests are its own.
 *
 * The probe is the upstream's model listing, per protocol (docs/routing.md#the-prober):
 *   openai-chat, openai-responses: GET {base_url}/models
 *   anthropic:                     GET {base_url}/v1/models (with anthropic-version)
 *   codex:                         GET {base_url}/models
 * A listing does not consult billing, so quota-cooled keys are not probed (they wait
 * out their cooldown), nor are rate-limited ones (the upstream said when to return).
 */
import type { Logger } from "../observability/logger.js";
import type { UpstreamProtocol } from "../storage/ports.js";
import { CredentialUnavailableError, type CredentialSource } from "../upstream/credentials.js";
import { upstreamHeaders } from "../upstream/headers.js";
import { UpstreamTransportError, type UpstreamTransport } from "../upstream/response.js";
import type { CatalogSnapshot, UpstreamTarget } from "./catalog.js";
import { classifyFailure } from "./failure-class.js";
import type { KeyHealthEngine, KeyOutcome } from "./key-health.js";
import type { PoolKey } from "./key-pool.js";

export interface ProberOptions {
  catalog: { readonly snapshot: CatalogSnapshot };
  health: KeyHealthEngine;
  transport: UpstreamTransport;
  credentials: CredentialSource;
  logger: Logger;
  intervalMs: number;
  /** Time allowed for one probe's answer. */
  timeoutMs: number;
  /** Probe keys disabled by a 401/403 too (off by default: a revoked key stays out until an admin acts). */
  probeDisabled: boolean;
  now?: () => number;
}

export function probeUrl(protocol: UpstreamProtocol, baseUrl: string): string {
  const base = baseUrl.replace(/\/+$/, "");
  if (protocol === "anthropic") return `${base}${base.endsWith("/v1") ? "" : "/v1"}/models`;
  return `${base}/models`;
}

export class KeyProber {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<number> | undefined;
  readonly #abort = new AbortController();

  constructor(private readonly o: ProberOptions) {}

  start(): void {
    this.#timer ??= setInterval(() => void this.tick(), this.o.intervalMs).unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#abort.abort();
    await this.#running?.catch(() => undefined);
  }

  /** One round: probes every key due, in parallel; resolves with how many were probed. A round never overlaps the previous one. */
  tick(): Promise<number> {
    this.#running ??= this.#round().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #round(): Promise<number> {
    const now = (this.o.now ?? Date.now)();
    const due: Array<Promise<void>> = [];
    for (const target of this.o.catalog.snapshot.upstreams) {
      for (const key of target.pool.keys) {
        if (this.#abort.signal.aborted || !this.o.health.wantsProbe(key, now, this.o.probeDisabled)) continue;
        const lease = this.o.health.acquireProbe(key);
        if (!lease) continue;
        due.push(
          this.#probe(target, key).then(
            (outcome) => this.o.health.report(lease, outcome),
            () => this.o.health.report(lease, "neutral"),
          ),
        );
      }
    }
    await Promise.all(due);
    return due.length;
  }

  async #probe(target: UpstreamTarget, key: PoolKey): Promise<KeyOutcome> {
    const u = target.upstream;
    const credential = this.o.credentials(u, key);
    // Stopping the prober aborts a probe; the transport's head and body timeouts bound it otherwise.
    const signal = this.#abort.signal;
    for (let refreshed = false; ; refreshed = true) {
      const headers = upstreamHeaders({}, { foreign: true, stream: false, policy: target.headers });
      if (u.protocol === "anthropic") headers["anthropic-version"] ??= "2023-06-01";
      try {
        await credential.authorize(headers, signal);
      } catch (err) {
        if (!(err instanceof CredentialUnavailableError)) throw err;
        // A dead login stays out; a refresh that failed for now says the key is not back yet.
        return err.permanent ? "auth" : "network";
      }
      let status: number;
      let bodyText = "";
      let responseHeaders;
      try {
        const res = await this.o.transport.send({
          url: probeUrl(u.protocol, u.baseUrl),
          method: "GET",
          headers,
          signal,
          headersTimeoutMs: this.o.timeoutMs,
          bodyTimeoutMs: this.o.timeoutMs,
          connectTimeoutMs: this.o.timeoutMs,
        });
        status = res.status;
        responseHeaders = res.headers;
        if (status < 300) res.discard();
        else bodyText = (await res.bytes().catch(() => Buffer.alloc(0))).toString("utf8");
      } catch (err) {
        if (this.#abort.signal.aborted || !(err instanceof UpstreamTransportError)) return "neutral";
        this.o.logger.info({ upstream: u.name, key: key.fingerprint, err: err.message }, "key probe failed");
        return "network";
      }
      if (status < 300) {
        this.o.logger.info({ upstream: u.name, key: key.fingerprint, status }, "key probe succeeded");
        return "ok";
      }
      const failure = classifyFailure(status, responseHeaders, bodyText, Date.now());
      // The same credential-refresh seam as a request's attempt: an OAuth credential refreshes, then tries once more.
      if (failure?.cls === "auth" && !refreshed) {
        const verdict = await credential.rejected(signal).catch((err: unknown) => {
          if (err instanceof CredentialUnavailableError) return "unavailable" as const;
          throw err;
        });
        if (verdict === "retry") continue;
        if (verdict === "unavailable") return "network";
      }
      this.o.logger.info({ upstream: u.name, key: key.fingerprint, status, cls: failure?.cls }, "key probe failed");
      // An answer that says nothing about the key (a provider without a listing, say) leaves it to real traffic's probe.
      return failure?.cls ?? "neutral";
    }
  }
}
