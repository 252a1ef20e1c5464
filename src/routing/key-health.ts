/**
 * Key health behind a small port: the order in which a pool's keys are tried,
 * a lease for each attempt on a key, and a report of how the attempt went.
 * The engine keeps each key's state on the pool's key objects (so it survives a
 * catalog reload) and is a state machine per key (docs/routing.md#health):
 *
 *   healthy ──401/403──▶ disabled            (until an admin changes the key, or a configured probe)
 *   healthy ──402/quota──▶ cooling (long)     ──time──▶ healthy
 *   healthy ──usage_limit_reached──▶ cooling (until the plan window's reset, up to days) ──time or a success──▶ healthy
 *   healthy ──429──▶ cooling (Retry-After, reset headers, else exponential) ──time──▶ healthy
 *   healthy ──N consecutive 5xx/network──▶ open ──cooldown──▶ half_open: ONE probe
 *   half_open ──probe ok──▶ healthy;  half_open ──probe fails──▶ open (longer cooldown)
 *
 * One stray error never disables or opens a key. Per request the engine does a few
 * arithmetic operations on the key (in-flight count, latency and error-rate averages)
 * and allocates only the lease. State changes go to `onTransition` (metrics, the
 * alert log, and in a cluster the bus: key-health-events.ts), and transitions from
 * other nodes come back in through {@link KeyHealthEngine.apply}.
 */
import type { KeyPool, PoolKey } from "./key-pool.js";
import type { FailureClass } from "./failure-class.js";
import type { KeyTransition } from "./key-state-bus.js";

export type { FailureClass } from "./failure-class.js";

export type KeyOutcome = "ok" | "neutral" | FailureClass;

export type KeyState = "healthy" | "cooling" | "open" | "half_open" | "disabled";

/** One attempt's hold on a key: counted in flight until reported. */
export interface KeyLease {
  readonly key: PoolKey;
}

export interface KeyHealth {
  /** Keys to try, best first (see KeyPool.order). */
  order(pool: KeyPool, affinity: string | undefined, now: number, limit?: number): PoolKey[];
  /**
   * A lease for one attempt on the key, or undefined when the key must not be used
   * right now although a plan listed it: it was disabled since (by this node or
   * another), its breaker is open and cooling down, or it is half-open and its one
   * probe is already under way. The caller
   * moves on to its next key.
   */
  acquire(key: PoolKey): KeyLease | undefined;
  /**
   * How the attempt on the leased key ended: "ok", a failure class, or
   * "neutral" (it says nothing about the key: the client left, or the upstream
   * refused the request itself). A lease is reported once; later reports are
   * ignored. `retryAfterMs` is the upstream's own wish and wins over the
   * default backoff.
   */
  report(lease: KeyLease, outcome: KeyOutcome, retryAfterMs?: number): void;
}

/** The knobs of the state machine; `routing.health` in the YAML (docs/configuration.md). */
export interface HealthSettings {
  /** Consecutive 5xx/network/timeout failures that open a key's breaker. */
  breakerThreshold: number;
  /** First open period; each failed probe doubles it, up to the maximum. */
  breakerCooldownMs: number;
  breakerMaxCooldownMs: number;
  /** A 429 without a stated wait: this, doubled per consecutive 429, up to the maximum. */
  rateLimitBackoffMs: number;
  rateLimitMaxBackoffMs: number;
  /** 402 or a quota-exhausted body, when the upstream names no reset. */
  quotaCooldownMs: number;
  /** A subscription's usage window used up (Codex `usage_limit_reached`) that names no reset. */
  usageLimitCooldownMs: number;
  /** Longest cooldown for a used-up usage window (the weekly window resets up to 7 days later). */
  usageLimitMaxWaitMs: number;
  /** Longest wait taken from an upstream's own headers or body (guards against nonsense). */
  maxWaitMs: number;
  /** How long a half-open key's probe holds its slot before another may go (a lease is always reported; this is a backstop). */
  probeHoldMs: number;
}

export const DEFAULT_HEALTH: HealthSettings = {
  breakerThreshold: 5,
  breakerCooldownMs: 10_000,
  breakerMaxCooldownMs: 300_000,
  rateLimitBackoffMs: 1_000,
  rateLimitMaxBackoffMs: 60_000,
  quotaCooldownMs: 3_600_000,
  usageLimitCooldownMs: 3_600_000,
  usageLimitMaxWaitMs: 7 * 24 * 3_600_000,
  maxWaitMs: 6 * 3_600_000,
  probeHoldMs: 600_000,
};

/** A state change, local or from another node. */
export interface KeyHealthEvent {
  key: PoolKey;
  from: KeyState;
  to: KeyState;
  reason: string | null;
  until: number;
  /** The failure class that caused it (undefined for a recovery, a probe starting, or a remote change). */
  cls?: FailureClass;
  /** Applied from another node's transition. */
  remote: boolean;
  at: number;
}

/** Per-key state; created on a key's first use and kept on the key object. */
export class KeyStats {
  state: Exclude<KeyState, "half_open"> | "half_open" = "healthy";
  reason: string | null = null;
  /** Epoch ms when a cooling or open key may be tried again. */
  until = 0;
  /** When the current state was entered: a lease older than that cannot clear it. */
  since = 0;
  consecutive = 0;
  /** Times the breaker opened in a row (each failed probe lengthens the cooldown). */
  opens = 0;
  /** Consecutive 429s without a stated wait (exponential backoff). */
  backoffs = 0;
  probing = false;
  probeSince = 0;
  latencyMsEwma = 0;
  errorRate = 0;
}

/** Smoothing of the averages: each new sample weighs this much. */
const LATENCY_ALPHA = 0.2;
const ERROR_ALPHA = 0.1;

export function statsOf(key: PoolKey): KeyStats {
  return (key.health ??= new KeyStats());
}

/** The state as seen at `now`: an open key past its cooldown is half-open (its next attempt is the probe). */
export function stateAt(s: KeyStats, now: number): KeyState {
  return s.state === "open" && (s.probing || s.until <= now) ? "half_open" : s.state;
}

export interface KeyHealthView {
  state: KeyState;
  reason: string | null;
  /** Epoch ms, for cooling and open keys. */
  until: number | null;
  inFlight: number;
  latencyMsEwma: number | null;
  errorRate: number;
}

export interface KeyHealthEngine extends KeyHealth {
  readonly settings: HealthSettings;
  view(key: PoolKey, now: number): KeyHealthView;
  /** Whether the background prober should try the key now (docs/routing.md#the-prober). */
  wantsProbe(key: PoolKey, now: number, probeDisabled: boolean): boolean;
  /**
   * A lease for the background prober: like {@link KeyHealth.acquire}, but it also
   * leases a disabled key (only when the operator asked for disabled keys to be probed).
   */
  acquireProbe(key: PoolKey): KeyLease | undefined;
  /** A transition from another node, applied to the keys it names. */
  apply(t: KeyTransition): void;
}

class LocalLease implements KeyLease {
  reported = false;
  constructor(
    readonly key: PoolKey,
    readonly startedAt: number,
    readonly probe: boolean,
  ) {}
}

export interface KeyHealthOptions {
  now?: () => number;
  settings?: Partial<HealthSettings>;
  onTransition?: (e: KeyHealthEvent) => void;
  /** Every key this node serves, to apply another node's transition to (main passes the catalog's). */
  keys?: () => Iterable<PoolKey>;
}

export function createLocalKeyHealth(o: KeyHealthOptions | (() => number) = {}): KeyHealthEngine {
  const opts: KeyHealthOptions = typeof o === "function" ? { now: o } : o;
  const now = opts.now ?? Date.now;
  const settings: HealthSettings = Object.assign({}, DEFAULT_HEALTH, opts.settings);
  const onTransition = opts.onTransition;

  function enter(key: PoolKey, s: KeyStats, to: KeyStats["state"], reason: string | null, until: number, at: number, cls?: FailureClass, remote = false): void {
    const from = stateAt(s, at);
    s.state = to;
    s.reason = reason;
    s.until = until;
    s.since = at;
    key.removed = to === "disabled";
    key.coolingUntil = to === "cooling" || to === "open" ? until : 0;
    if (to === "healthy") {
      s.consecutive = 0;
      s.opens = 0;
      s.backoffs = 0;
      key.failures = 0;
    }
    onTransition?.({ key, from, to, reason, until, cls, remote, at });
  }

  const clampWait = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : Math.min(Math.max(0, ms), settings.maxWaitMs));

  function failed(key: PoolKey, s: KeyStats, lease: LocalLease, cls: FailureClass, wait: number | undefined, t: number): void {
    s.errorRate += ERROR_ALPHA * (1 - s.errorRate);
    // Key selection (key-pool.ts loadCost) reads the averages off the key itself.
    key.errorRate = s.errorRate;
    key.failures++;
    // A key disabled since this attempt began stays disabled; a late failure says nothing new.
    if (s.state === "disabled") return;
    switch (cls) {
      case "auth":
        enter(key, s, "disabled", "rejected by the upstream (401/403)", 0, t, cls);
        return;
      case "quota": {
        enter(key, s, "cooling", "quota exhausted", t + (clampWait(wait) ?? settings.quotaCooldownMs), t, cls);
        return;
      }
      case "usage_limit": {
        const stated = wait !== undefined && wait > 0 ? Math.min(wait, settings.usageLimitMaxWaitMs) : settings.usageLimitCooldownMs;
        enter(key, s, "cooling", "usage limit reached", t + stated, t, cls);
        return;
      }
      case "rate_limited": {
        const stated = clampWait(wait);
        const backoff = Math.min(settings.rateLimitBackoffMs * 2 ** Math.min(s.backoffs, 20), settings.rateLimitMaxBackoffMs);
        if (stated === undefined) s.backoffs++;
        enter(key, s, "cooling", "rate limited", t + (stated ?? backoff), t, cls);
        return;
      }
      case "server_error":
      case "network": {
        s.consecutive++;
        if (lease.probe || s.state === "open") {
          // The half-open probe failed: open again, for longer.
          s.opens++;
          enter(key, s, "open", `probe failed (${cls})`, t + breakerCooldown(s.opens), t, cls);
        } else if (s.consecutive >= settings.breakerThreshold) {
          s.opens = 1;
          enter(key, s, "open", `${s.consecutive} consecutive failures (${cls})`, t + breakerCooldown(1), t, cls);
        }
        return;
      }
    }
  }

  function lease(key: PoolKey, prober: boolean): LocalLease | undefined {
    const s = statsOf(key);
    const t = now();
    let probe = false;
    if (s.state === "disabled" && !prober) return undefined;
    // Open: nothing goes through until the cooldown is over, not even as a last resort.
    if (s.state === "open" && s.until > t && !s.probing) return undefined;
    if (s.state === "open" || s.state === "disabled") {
      // Half-open: exactly one attempt at a time goes through, and others skip the key meanwhile.
      if (s.probing && t - s.probeSince < settings.probeHoldMs) return undefined;
      s.probing = true;
      s.probeSince = t;
      probe = true;
      if (s.state === "open") {
        key.coolingUntil = t + settings.probeHoldMs;
        onTransition?.({ key, from: "open", to: "half_open", reason: s.reason, until: 0, remote: false, at: t });
      }
    }
    key.inFlight++;
    return new LocalLease(key, t, probe);
  }

  const breakerCooldown = (opens: number): number => Math.min(settings.breakerCooldownMs * 2 ** Math.min(opens - 1, 20), settings.breakerMaxCooldownMs);

  return {
    settings,
    order: (pool, affinity, at, limit) => pool.order(affinity, at, limit),

    acquire(key) {
      return lease(key, false);
    },

    acquireProbe(key) {
      return lease(key, true);
    },

    report(lease, outcome, retryAfterMs) {
      if (!(lease instanceof LocalLease) || lease.reported) return;
      lease.reported = true;
      const key = lease.key;
      key.inFlight--;
      const s = statsOf(key);
      const t = now();
      if (lease.probe) s.probing = false;
      if (outcome === "neutral") {
        // A probe that proved nothing: the next attempt may probe at once.
        if (lease.probe && s.state === "open") key.coolingUntil = s.until = Math.min(s.until, t);
        return;
      }
      if (outcome === "ok") {
        s.latencyMsEwma = s.latencyMsEwma === 0 ? t - lease.startedAt : s.latencyMsEwma + LATENCY_ALPHA * (t - lease.startedAt - s.latencyMsEwma);
        s.errorRate -= ERROR_ALPHA * s.errorRate;
        key.latencyEwmaMs = s.latencyMsEwma;
        key.errorRate = s.errorRate;
        s.consecutive = 0;
        s.backoffs = 0;
        key.failures = 0;
        // A success clears a bad state only if the attempt began after it (or was its probe):
        // an answer that started before a revocation proves nothing about the key now.
        if (s.state !== "healthy" && (lease.probe || lease.startedAt >= s.since)) enter(key, s, "healthy", null, 0, t);
        return;
      }
      failed(key, s, lease, outcome, retryAfterMs, t);
    },

    view(key, at) {
      const s = statsOf(key);
      const state = stateAt(s, at);
      return {
        state,
        reason: s.reason,
        until: state === "cooling" || state === "open" ? s.until : null,
        inFlight: key.inFlight,
        latencyMsEwma: s.latencyMsEwma === 0 ? null : Math.round(s.latencyMsEwma),
        errorRate: Math.round(s.errorRate * 1000) / 1000,
      };
    },

    wantsProbe(key, at, probeDisabled) {
      const s = statsOf(key);
      if (s.probing) return false;
      if (s.state === "open") return s.until <= at;
      return s.state === "disabled" && probeDisabled;
    },

    apply(t) {
      for (const key of opts.keys?.() ?? []) {
        if (key.id !== t.keyId || key.fingerprint !== t.fingerprint) continue;
        const s = statsOf(key);
        if (t.at < s.since) continue;
        if (t.state === "healthy" && s.state === "healthy") continue;
        enter(key, s, t.state, t.reason, t.until, Math.max(t.at, s.since), undefined, true);
      }
    },
  };
}
