/**
 * Counters held in this process's memory: exact for one gateway process, and the
 * reference behaviour for shared engines. Each operation does all its work
 * synchronously between two awaits, so no other call can interleave with it: that is
 * what makes it atomic here, as a Lua script is in Redis.
 */
import { checkReserveRequest, checkWindowArgs, type Counters, type ReserveRequest, type ReserveResult } from "./counters.js";

export interface MemoryCountersOptions {
  /** Milliseconds since the epoch; tests pass a hand-moved clock instead of sleeping. */
  now?: () => number;
}

interface Holding {
  n: number;
  expiresAt: number;
}

interface Window {
  /** Which window (time / windowMs, rounded down) the count belongs to. */
  index: number;
  windowMs: number;
  count: number;
}

/** How many operations pass between sweeps of keys nobody touches any more. */
const SWEEP_EVERY = 1024;

export class MemoryCounters implements Counters {
  readonly #now: () => number;
  readonly #holdings = new Map<string, Map<string, Holding>>();
  readonly #windows = new Map<string, Window>();
  #ops = 0;

  constructor(opts: MemoryCountersOptions = {}) {
    this.#now = opts.now ?? Date.now;
  }

  /** Keys it remembers, live or not yet swept: a gauge for memory use. */
  get trackedKeys(): number {
    return this.#holdings.size + this.#windows.size;
  }

  async reserve(r: ReserveRequest): Promise<ReserveResult> {
    checkReserveRequest(r);
    const now = this.#tick();
    // Check every key before writing any, so a refusal leaves nothing behind.
    for (const { key, limit } of r.limits) {
      const holders = this.#live(key, now);
      const held = sum(holders);
      // The holder's own holding is being replaced, so it does not count against the new one.
      if (held - (holders?.get(r.holder)?.n ?? 0) + r.n > limit) return { granted: false, key, held, limit };
    }
    const expiresAt = now + r.ttlMs;
    for (const { key } of r.limits) {
      let holders = this.#holdings.get(key);
      if (!holders) this.#holdings.set(key, (holders = new Map()));
      holders.set(r.holder, { n: r.n, expiresAt });
    }
    return { granted: true };
  }

  async release(holder: string, keys: readonly string[]): Promise<void> {
    this.#tick();
    for (const key of keys) {
      const holders = this.#holdings.get(key);
      if (!holders) continue;
      holders.delete(holder);
      if (holders.size === 0) this.#holdings.delete(key);
    }
  }

  async held(key: string): Promise<number> {
    return sum(this.#live(key, this.#tick()));
  }

  async incrementWindow(key: string, n: number, windowMs: number): Promise<number> {
    checkWindowArgs(n, windowMs);
    const index = Math.floor(this.#tick() / windowMs);
    const w = this.#windows.get(key);
    if (w && w.index === index && w.windowMs === windowMs) return (w.count += n);
    this.#windows.set(key, { index, windowMs, count: n });
    return n;
  }

  /** The key's holders after dropping the lapsed ones. */
  #live(key: string, now: number): Map<string, Holding> | undefined {
    const holders = this.#holdings.get(key);
    if (!holders) return undefined;
    for (const [holder, h] of holders) if (h.expiresAt <= now) holders.delete(holder);
    if (holders.size > 0) return holders;
    this.#holdings.delete(key);
    return undefined;
  }

  /**
   * Reads the clock and, now and then, forgets keys that only lapsed holdings or ended
   * windows keep alive, so memory follows the keys in use rather than every key ever used.
   */
  #tick(): number {
    const now = this.#now();
    if (++this.#ops % SWEEP_EVERY === 0) {
      for (const key of [...this.#holdings.keys()]) this.#live(key, now);
      for (const [key, w] of this.#windows) if ((w.index + 1) * w.windowMs <= now) this.#windows.delete(key);
    }
    return now;
  }
}

function sum(holders: Map<string, Holding> | undefined): number {
  let total = 0;
  if (holders) for (const h of holders.values()) total += h.n;
  return total;
}
