/**
 * What the gateway does while the shared counters (Redis) cannot be reached: a Meter that
 * wraps the shared one and, when it fails with `CountersUnavailableError` or takes longer
 * than `timeoutMs`, either counts in this process (`local`: each node enforces every limit
 * by itself meanwhile, so a cluster of N nodes admits up to N times a limit) or refuses
 * with `limits_unavailable` (`refuse`: 503, nothing is admitted unchecked).
 *
 * After a failure it does not try the shared engine again for `backoffMs`; then the next
 * call probes it (calls arriving meanwhile wait for its verdict), and once it answers
 * every call goes back to it.
 * The outage is logged once when it starts and once when it ends.
 *
 * Holdings end on the engine they were taken on: a holder that took locally finishes
 * locally, whatever the shared engine's state by then. A holder that took on the shared
 * engine finishes there; if that fails, its holdings lapse by their time-to-live and its
 * window corrections are lost (logged), which is why `finish` and `release` never throw
 * for an unreachable engine. A `take` that timed out here but succeeded in Redis later is
 * undone (its holdings released) when its answer arrives; its window counts stay.
 */
import { GatewayError } from "../canonical/errors.js";
import { CountersUnavailableError } from "./counters.js";
import type { FinishRequest, Meter, RebaseRequest, ReserveRequest, ReserveResult, TakeRequest, TakeResult, WindowSpec } from "./counters.js";
import { MemoryCounters } from "./counters-memory.js";

export type CountersUnavailableMode = "local" | "refuse";

export interface FallbackMeterOptions {
  /** The shared engine (Redis). */
  shared: Meter;
  /** `governance.on_counters_unavailable`. */
  mode: CountersUnavailableMode;
  /** A shared call that has not answered after this long counts as a failure. Default 250 ms. */
  timeoutMs?: number;
  /** How long after a failure the shared engine is left alone before the next call probes it. Default 1000 ms. */
  backoffMs?: number;
  /** The local engine (a fresh MemoryCounters by default). */
  local?: Meter;
  logger: { warn(fields: object, message: string): void; info(fields: object, message: string): void };
  /** Told true when the shared engine answers again, false when it is given up on: for a gauge. */
  onAvailability?: (shared: boolean) => void;
  /** Epoch ms for the back-off; tests may move it by hand. */
  now?: () => number;
}

/** How many local holders may be remembered before lapsed ones are swept. */
const SWEEP_AT = 10_000;

export function limitsUnavailable(): GatewayError {
  return new GatewayError("overloaded", "limits_unavailable", "Limits and credit cannot be checked now: the shared counters are unreachable.", {
    status: 503,
    headers: { "retry-after": "1" },
  });
}

export class FallbackMeter implements Meter {
  readonly #shared: Meter;
  readonly #local: Meter;
  readonly #mode: CountersUnavailableMode;
  readonly #timeoutMs: number;
  readonly #backoffMs: number;
  readonly #logger: FallbackMeterOptions["logger"];
  readonly #onAvailability: FallbackMeterOptions["onAvailability"];
  readonly #now: () => number;
  #down = false;
  #downSince = 0;
  #probeAt = 0;
  /** Settles when the call probing the shared engine has its answer. */
  #probing: Promise<void> | undefined;
  /** Holders granted by the local engine (holdings, window counts), with when their holdings lapse there. */
  readonly #localHolders = new Map<string, number>();
  /** Whether anything was ever counted locally: balance views are then kept current there too. */
  #localUsed = false;

  constructor(o: FallbackMeterOptions) {
    this.#shared = o.shared;
    this.#local = o.local ?? new MemoryCounters();
    this.#mode = o.mode;
    this.#timeoutMs = o.timeoutMs ?? 250;
    this.#backoffMs = o.backoffMs ?? 1000;
    this.#logger = o.logger;
    this.#onAvailability = o.onAvailability;
    this.#now = o.now ?? Date.now;
  }

  /** False while the shared engine is given up on. */
  get sharedAvailable(): boolean {
    return !this.#down;
  }

  take(r: TakeRequest): Promise<TakeResult> {
    return this.#route(
      () => this.#shared.take(r),
      async () => this.#takenLocally(r.holder, r.ttlMs, await this.#local.take(r)),
      // A take that succeeded after it was given up on: give its holdings back.
      (late) => {
        if (late.granted && r.holds.length > 0) void this.#finishShared({ holder: r.holder, release: r.holds.map((h) => h.key), corrections: [], carry: [] });
      },
    );
  }

  reserve(r: ReserveRequest): Promise<ReserveResult> {
    return this.#route(
      () => this.#shared.reserve(r),
      async () => this.#takenLocally(r.holder, r.ttlMs, await this.#local.reserve(r)),
      (late) => {
        if (late.granted && r.limits.length > 0) void this.#finishShared({ holder: r.holder, release: r.limits.map((l) => l.key), corrections: [], carry: [] });
      },
    );
  }

  async finish(r: FinishRequest): Promise<void> {
    if (this.#localHolders.delete(r.holder)) {
      this.#localUsed = true;
      return this.#local.finish(r);
    }
    await this.#finishShared(r);
  }

  release(holder: string, keys: readonly string[]): Promise<void> {
    return this.finish({ holder, release: keys, corrections: [], carry: [] });
  }

  async rebase(r: RebaseRequest): Promise<void> {
    // Views (and carried amounts) counted locally during an outage stay current until they lapse.
    const local = this.#localUsed;
    if (local) await this.#local.rebase(r);
    try {
      await this.#route(
        () => this.#shared.rebase(r),
        () => (local ? Promise.resolve() : this.#local.rebase(r)),
      );
    } catch (err) {
      // Refusing: there is nothing to refuse here; the view is loaded again when Redis is back.
      if (!(err instanceof GatewayError && err.code === "limits_unavailable")) throw err;
    }
  }

  held(key: string): Promise<number> {
    return this.#route(
      () => this.#shared.held(key),
      () => this.#local.held(key),
    );
  }

  counted(key: string, window: WindowSpec): Promise<number> {
    return this.#route(
      () => this.#shared.counted(key, window),
      () => this.#local.counted(key, window),
    );
  }

  incrementWindow(key: string, n: number, windowMs: number): Promise<number> {
    return this.#route(
      () => this.#shared.incrementWindow(key, n, windowMs),
      () => this.#local.incrementWindow(key, n, windowMs),
    );
  }

  /** The shared engine unless it is given up on; else the local engine or a refusal. */
  async #route<T>(shared: () => Promise<T>, local: () => Promise<T>, undo?: (late: T) => void): Promise<T> {
    if (this.#down) {
      // Calls arriving while Redis is being probed wait for the probe's verdict.
      if (this.#probing) {
        await this.#probing;
        return this.#route(shared, local, undo);
      }
      if (this.#now() < this.#probeAt) return this.#instead(local);
      let done!: () => void;
      this.#probing = new Promise<void>((resolve) => (done = resolve));
      try {
        return await this.#tryShared(shared, local, undo);
      } finally {
        this.#probing = undefined;
        done();
      }
    }
    return this.#tryShared(shared, local, undo);
  }

  async #tryShared<T>(shared: () => Promise<T>, local: () => Promise<T>, undo?: (late: T) => void): Promise<T> {
    try {
      const value = await this.#timed(shared(), undo);
      this.#up();
      return value;
    } catch (err) {
      if (!(err instanceof CountersUnavailableError)) throw err;
      this.#giveUp(err);
      return this.#instead(local);
    }
  }

  #instead<T>(local: () => Promise<T>): Promise<T> {
    if (this.#mode === "refuse") return Promise.reject(limitsUnavailable());
    this.#localUsed = true;
    return local();
  }

  /** Finishes on the shared engine; an unreachable one is logged, not thrown: the holdings lapse by their time-to-live. */
  async #finishShared(r: FinishRequest): Promise<void> {
    try {
      await this.#timed(this.#shared.finish(r));
      this.#up();
    } catch (err) {
      if (!(err instanceof CountersUnavailableError)) throw err;
      this.#giveUp(err);
      this.#logger.warn(
        { holder: r.holder, keys: r.release, err: err.message },
        "counters: could not end a holding on the shared engine; it lapses by its time-to-live",
      );
    }
  }

  /** Remembers a holder granted locally, so its finish (releases and window corrections alike) goes to the local engine too. */
  #takenLocally<R extends { granted: boolean }>(holder: string, ttlMs: number, result: R): R {
    if (result.granted) {
      const now = this.#now();
      if (this.#localHolders.size >= SWEEP_AT) for (const [h, until] of this.#localHolders) if (until <= now) this.#localHolders.delete(h);
      this.#localHolders.set(holder, now + ttlMs);
    }
    return result;
  }

  #timed<T>(p: Promise<T>, undo?: (late: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new CountersUnavailableError(`counters: no answer within ${this.#timeoutMs} ms`, undefined));
      }, this.#timeoutMs);
      p.then(
        (v) => {
          clearTimeout(timer);
          if (timedOut) undo?.(v);
          else resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (!timedOut) reject(err as Error);
        },
      );
    });
  }

  #giveUp(err: Error): void {
    this.#probeAt = this.#now() + this.#backoffMs;
    if (this.#down) return;
    this.#down = true;
    this.#downSince = this.#now();
    this.#logger.warn(
      { err: err.message, mode: this.#mode },
      this.#mode === "local"
        ? "counters: the shared engine is unreachable; limits are counted in this process alone until it answers"
        : "counters: the shared engine is unreachable; requests that need limits are refused (limits_unavailable) until it answers",
    );
    this.#onAvailability?.(false);
  }

  #up(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#logger.info({ outage_ms: this.#now() - this.#downSince }, "counters: the shared engine answers again");
    this.#onAvailability?.(true);
  }
}
