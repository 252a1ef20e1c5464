/**
 * The Counters port: shared counters that governance limits are built on.
 *
 * Two kinds of counter, because limits come in two kinds:
 *
 * - **Holdings** (concurrency, and later credit holds): capacity that a request takes
 *   when it is admitted and gives back when it ends. A holding is recorded per holder
 *   rather than as a bare number, for three reasons: a release can only give back what
 *   that holder took, so a counter can never go negative and a second release is a
 *   no-op; a retried reserve (after a lost reply) cannot take capacity twice; and each
 *   holding carries an expiry, so a process that dies mid-request leaves capacity that
 *   frees itself instead of leaking forever.
 * - **Windows** (rate limits): a count of events in a fixed time window, never given back.
 *
 * Every operation is one atomic step, so a cluster of gateways can share one engine.
 * In Redis, a key's holdings map onto a hash (holder → n) plus a sorted set (holder →
 * expiry) and `reserve` onto one Lua script that drops expired holders, checks every
 * limit and writes every key or none; `release` onto a second script; `incrementWindow`
 * onto INCRBY plus PEXPIRE on a key suffixed with the window number. A multi-key script
 * needs its keys in one Redis Cluster slot, which callers get by sharing a hash tag
 * (e.g. the root account's id) across a chain's keys.
 *
 * Time belongs to the engine, not the caller: every node must agree on when a holding
 * expires and where a window starts, so a shared engine should read one clock (Redis's
 * own) rather than each caller's.
 */

/** One key to hold capacity on, and the most it may hold in total. */
export interface CounterLimit {
  key: string;
  /** The most the key may hold across all holders. A lower limit than what is held refuses new holdings until enough end. */
  limit: number;
}

export interface ReserveRequest {
  /** Who holds it: unique per reservation (a random id), never a client-supplied value, or two requests could share one holding. */
  holder: string;
  /** How much to hold on every key; a positive integer. */
  n: number;
  /** After this long the holding lapses on its own, for holders that die without releasing. */
  ttlMs: number;
  /** Every key to hold on. All or none: a holding on some keys only would block others without admitting anyone. */
  limits: readonly CounterLimit[];
}

export type ReserveResult =
  | { granted: true }
  /** The first key (in request order) that had no room, with what it held then, so a refusal can say which limit was hit. */
  | { granted: false; key: string; held: number; limit: number };

export interface Counters {
  /**
   * Sets `holder`'s holding on every key to `n`, with a fresh expiry, if each key then
   * holds at most its limit; otherwise changes nothing. A holder's existing holding on a
   * key is replaced, not added to, so repeating a reserve is harmless and a long-running
   * holder can push its expiry out by reserving again.
   */
  reserve(request: ReserveRequest): Promise<ReserveResult>;

  /** Ends `holder`'s holding on each key. Keys it holds nothing on (never, released, lapsed) are left alone. */
  release(holder: string, keys: readonly string[]): Promise<void>;

  /** What `key` holds now across unexpired holders. For reporting and tests; deciding on it would race, so `reserve` decides. */
  held(key: string): Promise<number>;

  /**
   * Adds `n` (a non-negative integer; 0 just reads) to `key`'s count in the current
   * window and returns the count after it. Windows are fixed and aligned to multiples of
   * `windowMs` since the epoch, so every node agrees on where one starts and ends
   * without coordinating, and a caller can tell when the current one resets. A key is
   * meant to be used with one window length.
   */
  incrementWindow(key: string, n: number, windowMs: number): Promise<number>;
}

/** Argument checks shared by engines, so that every engine refuses the same nonsense the same way. */
export function checkReserveRequest(r: ReserveRequest): void {
  if (!Number.isSafeInteger(r.n) || r.n <= 0) throw new RangeError(`reserve: n must be a positive integer, got ${r.n}`);
  if (!Number.isSafeInteger(r.ttlMs) || r.ttlMs <= 0) throw new RangeError(`reserve: ttlMs must be a positive integer, got ${r.ttlMs}`);
  if (r.holder.length === 0) throw new RangeError("reserve: holder must not be empty");
  const seen = new Set<string>();
  for (const { key, limit } of r.limits) {
    if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`reserve: limit of '${key}' must be a non-negative integer, got ${limit}`);
    if (seen.has(key)) throw new RangeError(`reserve: key '${key}' is listed twice`);
    seen.add(key);
  }
}

export function checkWindowArgs(n: number, windowMs: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`incrementWindow: n must be a non-negative integer, got ${n}`);
  if (!Number.isSafeInteger(windowMs) || windowMs <= 0) throw new RangeError(`incrementWindow: windowMs must be a positive integer, got ${windowMs}`);
}
