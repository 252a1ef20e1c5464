/**
 * Tier hysteresis (docs/routing.md#hysteresis): which tier of a route new sessions start
 * at, and which tier a running session stays on.
 *
 * A tier that had no healthy key is held down once it recovers: new sessions return to
 * it only after it has been seen healthy for `holdDownMs` without a break, so an
 * upstream that flaps does not bounce traffic back and forth. Sessions that moved to a
 * lower tier meanwhile stay there (pinned) until the key they use stops being healthy;
 * then they start over like a new session.
 *
 * The state lives here, per route and tier, not on requests: what each tier was last
 * seen as (clean, down, or healthy since a time), and the pins of sessions on a tier
 * below the top. Both are bounded LRU maps, so a flood of routes or sessions evicts old
 * entries rather than growing memory; an evicted pin only means that session is treated
 * as new. Health is observed when requests plan (a tier nobody asks for is not watched),
 * so a quiet route's hold-down starts at its next request: later, never sooner. Time is
 * the planner's `now`, so tests drive it without sleeping.
 */
import { LRUCache } from "lru-cache";

export interface TierRouterOptions {
  /** How long a recovered tier must stay healthy before new sessions return to it. */
  holdDownMs: number;
  /** Most routes whose tier state is kept (only routes that saw a tier down have any). */
  maxRoutes?: number;
  /** Most sessions pinned below their route's top tier. */
  maxPins?: number;
}

/** A session kept on a lower tier: the tier and the key it was using there. */
export interface TierPin {
  readonly tier: number;
  readonly keyId: string;
}

/** How a tier stands for new sessions, as explain shows it. */
export interface TierStanding {
  /** The tier has a healthy key now. */
  healthy: boolean;
  /** Healthy, but recovered less than the hold-down ago: new sessions do not start here yet. */
  heldDown: boolean;
  /** When the hold-down ends (epoch ms), while held down. */
  heldUntil: number | undefined;
}

/** Never seen down, or recovered for longer than the hold-down. */
const CLEAN = -1;
/** Seen without a healthy key; recovery not seen yet. */
const DOWN = -2;

export const DEFAULT_TIER_HOLD_DOWN_MS = 30_000;

export class TierRouter {
  readonly holdDownMs: number;
  /** Per route, per tier: CLEAN, DOWN, or the time it was first seen healthy again. */
  private readonly routes: LRUCache<string, number[]>;
  private readonly pins: LRUCache<string, TierPin>;

  constructor(o: TierRouterOptions = { holdDownMs: DEFAULT_TIER_HOLD_DOWN_MS }) {
    this.holdDownMs = o.holdDownMs;
    // Bounded by count through maxSize (each entry sized 1): `max` would allocate every slot up front.
    this.routes = new LRUCache({ maxSize: o.maxRoutes ?? 10_000, sizeCalculation: () => 1 });
    this.pins = new LRUCache({ maxSize: o.maxPins ?? 100_000, sizeCalculation: () => 1 });
  }

  /**
   * The tier a new session starts at, given which tiers have a healthy key now: the
   * first healthy tier not held down; else the first healthy one (held or not, something
   * healthy beats nothing); else 0. With `record` (requests; explain passes false) what
   * it saw updates the route's state.
   */
  newSessionTier(route: string, healthy: readonly boolean[], now: number, record = true): number {
    let state = this.routes.get(route);
    let firstHealthy = -1;
    let chosen = -1;
    for (let i = 0; i < healthy.length; i++) {
      let s = state?.[i] ?? CLEAN;
      if (!healthy[i]) {
        s = DOWN;
      } else if (s === DOWN) {
        s = now;
      } else if (s >= 0 && now - s >= this.holdDownMs) {
        s = CLEAN;
      }
      if (record && s !== (state?.[i] ?? CLEAN)) {
        if (!state) {
          state = new Array<number>(healthy.length).fill(CLEAN);
          this.routes.set(route, state);
        }
        state[i] = s;
      }
      if (healthy[i]) {
        if (firstHealthy < 0) firstHealthy = i;
        if (chosen < 0 && (s === CLEAN || (s >= 0 && now - s >= this.holdDownMs))) chosen = i;
      }
    }
    if (chosen >= 0) return chosen;
    return firstHealthy >= 0 ? firstHealthy : 0;
  }

  /** Each tier's standing for explain, without recording anything. */
  standings(route: string, healthy: readonly boolean[], now: number): TierStanding[] {
    const state = this.routes.get(route);
    return healthy.map((h, i) => {
      const s = state?.[i] ?? CLEAN;
      const since = s === DOWN ? now : s;
      const held = h && since >= 0 && now - since < this.holdDownMs;
      return { healthy: h, heldDown: held, heldUntil: held ? since + this.holdDownMs : undefined };
    });
  }

  pinned(route: string, session: string): TierPin | undefined {
    return this.pins.size === 0 ? undefined : this.pins.get(`${route}\0${session}`);
  }

  /** Keeps the session on `tier` with `keyId` (a tier below the top), or forgets it (`tier` 0). */
  pin(route: string, session: string, tier: number, keyId: string): void {
    const key = `${route}\0${session}`;
    if (tier === 0) {
      if (this.pins.size > 0) this.pins.delete(key);
      return;
    }
    const current = this.pins.peek(key);
    if (current?.tier !== tier || current.keyId !== keyId) this.pins.set(key, { tier, keyId });
  }
}
