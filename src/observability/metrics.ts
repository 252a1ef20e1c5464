/**
 * Prometheus metrics. One registry per gateway instance (tests start several in
 * one process). Label values are bounded: routes are the fixed endpoint names,
 * upstreams come from config, error classes from a closed set.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { createRequestMetrics, type RequestMetrics } from "./request-metrics.js";
import { createTokenMetrics, type TokenMetrics } from "./token-metrics.js";

export interface Metrics {
  registry: Registry;
  /** Requests, their duration and time to first byte, and those in flight: updated on every request, so without prom-client's per-call label handling (request-metrics.ts). */
  http: RequestMetrics;
  upstreamErrors: Counter<"upstream" | "class">;
  /** Metered tokens by model and kind: added on every settled request, so without prom-client's per-call label handling (token-metrics.ts). */
  tokens: TokenMetrics;
  websocketProtocolErrors: Counter<"code">;
  /** Upstream key state changes (routing/key-health.ts), by upstream, from and to state. */
  keyTransitions: Counter<"upstream" | "from" | "to">;
  /** Keys put to cool down, by upstream and failure class (rate_limited, usage_limit, quota). */
  keyCooldowns: Counter<"upstream" | "class">;
  /** Keys disabled because the upstream rejected them (401/403): an alert. */
  keyDisabled: Counter<"upstream">;
  /** 1 while the shared counters (Redis) answer, 0 while limits are counted locally or refused (governance/fallback-meter.ts); absent on the memory engine. */
  countersShared: Gauge;
  /** Where the key-state gauge reads from; set by the composition root (observability imports nothing). */
  keyStates: { source?: () => Iterable<KeyStateSample> };
  /** Where the subscription usage gauges read from (Codex accounts' usage windows); set by the composition root. */
  keyUsage: { source?: () => Iterable<KeyUsageSample> };
  /** OAuth refreshes of ChatGPT logins by upstream and outcome: refreshed, adopted (another node's), transient, dead. */
  credentialRefreshes: Counter<"upstream" | "outcome">;
  /** Where the credential gauges read from (dead logins from the store, live expiries from the credentials); set by the composition root. */
  credentials: { source?: () => Iterable<CredentialSample> };
}

/** One usage window of one subscription key, for the `switchyard_upstream_key_usage_*` gauges. */
export interface KeyUsageSample {
  upstream: string;
  key: string;
  window: "primary" | "secondary";
  usedPercent: number;
  /** Epoch ms; null when the upstream did not say. */
  resetsAt: number | null;
}

/** One self-refreshing credential, for `switchyard_upstream_credential_dead` and `…_expires_at_seconds`. */
export interface CredentialSample {
  upstream: string;
  /** The key's fingerprint. */
  key: string;
  /** Why it is dead (`refresh_token_reused`, …), or null while it lives. */
  dead: string | null;
  /** When its access token expires (epoch ms), when known. */
  expiresAt: number | null;
}

/** One key's current state, for the `switchyard_upstream_key_state` gauge: the fingerprint, never the secret. */
export interface KeyStateSample {
  upstream: string;
  key: string;
  state: string;
}

/** Every state a key can be in; the gauge shows each key with 1 on its state and 0 on the others. */
const KEY_STATES = ["healthy", "cooling", "open", "half_open", "disabled"] as const;

export function createMetrics(): Metrics {
  const registry = new Registry();
  // prom-client's default metrics are already named process_* and nodejs_*; the prefix only namespaces them.
  collectDefaultMetrics({ register: registry, prefix: "switchyard_" });
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
  const keyStates: Metrics["keyStates"] = {};
  new Gauge({
    name: "switchyard_upstream_key_state",
    help: "Upstream key health: 1 on the key's current state (healthy, cooling, open, half_open, disabled), 0 on the others; key is the fingerprint",
    labelNames: ["upstream", "key", "state"],
    registers: [registry],
    collect() {
      this.reset();
      for (const k of keyStates.source?.() ?? [])
        for (const st of KEY_STATES) this.set({ upstream: k.upstream, key: k.key, state: st }, k.state === st ? 1 : 0);
    },
  });
  const keyUsage: Metrics["keyUsage"] = {};
  new Gauge({
    name: "switchyard_upstream_key_usage_used_percent",
    help: "Share of a subscription account's usage window used (0..100), from its last answer (Codex x-codex-*-used-percent); window is primary (5 h) or secondary (weekly); key is the fingerprint",
    labelNames: ["upstream", "key", "window"],
    registers: [registry],
    collect() {
      this.reset();
      for (const u of keyUsage.source?.() ?? []) this.set({ upstream: u.upstream, key: u.key, window: u.window }, u.usedPercent);
    },
  });
  new Gauge({
    name: "switchyard_upstream_key_usage_resets_at_seconds",
    help: "When a subscription account's usage window resets (Unix seconds), from its last answer; absent when the upstream did not say",
    labelNames: ["upstream", "key", "window"],
    registers: [registry],
    collect() {
      this.reset();
      for (const u of keyUsage.source?.() ?? [])
        if (u.resetsAt !== null) this.set({ upstream: u.upstream, key: u.key, window: u.window }, Math.round(u.resetsAt / 1000));
    },
  });
  const credentials: Metrics["credentials"] = {};
  new Gauge({
    name: "switchyard_upstream_credential_dead",
    help: "1 for each ChatGPT login whose refresh token was refused for good (reason: refresh_token_reused, invalid_grant, …); it serves nothing until a new login is imported. Alert on any",
    labelNames: ["upstream", "key", "reason"],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of credentials.source?.() ?? []) if (c.dead !== null) this.set({ upstream: c.upstream, key: c.key, reason: c.dead }, 1);
    },
  });
  new Gauge({
    name: "switchyard_upstream_credential_expires_at_seconds",
    help: "When each live ChatGPT login's access token expires (unix seconds); it is refreshed ahead of this",
    labelNames: ["upstream", "key"],
    registers: [registry],
    collect() {
      this.reset();
      for (const c of credentials.source?.() ?? [])
        if (c.dead === null && c.expiresAt !== null) this.set({ upstream: c.upstream, key: c.key }, Math.floor(c.expiresAt / 1000));
    },
  });
  return {
    registry,
    keyStates,
    keyUsage,
    credentials,
    credentialRefreshes: new Counter({
      name: "switchyard_upstream_credential_refreshes_total",
      help: "OAuth token refreshes of ChatGPT logins by upstream and outcome (refreshed; adopted: another node's; transient: failed, tried again later; dead)",
      labelNames: ["upstream", "outcome"],
      registers: [registry],
    }),
    keyTransitions: new Counter({
      name: "switchyard_upstream_key_transitions_total",
      help: "Upstream key state changes (breaker opening, half-open probes, cooldowns, recoveries, disabling), by upstream and states",
      labelNames: ["upstream", "from", "to"],
      registers: [registry],
    }),
    keyCooldowns: new Counter({
      name: "switchyard_upstream_key_cooldowns_total",
      help: "Upstream keys put to cool down, by upstream and class (rate_limited, usage_limit, quota)",
      labelNames: ["upstream", "class"],
      registers: [registry],
    }),
    keyDisabled: new Counter({
      name: "switchyard_upstream_key_disabled_total",
      help: "Upstream keys disabled because the upstream rejected them (401/403); alert on any increase",
      labelNames: ["upstream"],
      registers: [registry],
    }),
    http: createRequestMetrics(registry, buckets),
    upstreamErrors: new Counter({
      name: "switchyard_upstream_errors_total",
      help: "Failed upstream attempts by upstream and class (network, timeout, rate_limited, usage_limit, quota, server_error, auth, client_error, error_in_answer, stream)",
      labelNames: ["upstream", "class"],
      registers: [registry],
    }),
    tokens: createTokenMetrics(registry),
    countersShared: new Gauge({
      name: "switchyard_counters_shared_available",
      help: "1 while the shared limit counters (Redis) answer, 0 while this node counts locally or refuses (governance.on_counters_unavailable)",
      registers: [registry],
    }),
    websocketProtocolErrors: new Counter({
      name: "switchyard_websocket_protocol_errors_total",
      help: "WebSocket connections closed because the client broke RFC 6455, by ws error code (WS_ERR_*)",
      labelNames: ["code"],
      registers: [registry],
    }),
  };
}
