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

/* Limits, quotas and money in one atomic step: `take`, `finish`, `rebase`. */

/**
 * The last `windowMs`, counted in `buckets` equal buckets. An event counts against the
 * limit until its bucket leaves the window: for between `windowMs - windowMs/buckets`
 * and `windowMs` after it happened (the documented error of a bucketed window).
 * `windowMs` must be a multiple of `buckets`. Buckets are aligned to the epoch, so every
 * node agrees on them.
 */
export interface SlidingWindow {
  readonly kind: "sliding";
  readonly windowMs: number;
  readonly buckets: number;
}

/**
 * A calendar window the caller names (a natural day or month in the tenant's time zone):
 * `id` (e.g. `d20261205`) becomes part of the stored key, so a new window starts from
 * zero and never overwrites the old one's count; `endsAt` (epoch ms) is when it resets,
 * which the refusal's retry time and the stored key's expiry come from.
 */
export interface FixedWindow {
  readonly kind: "fixed";
  readonly id: string;
  readonly endsAt: number;
}

export type WindowSpec = SlidingWindow | FixedWindow;

/** Count `n` (a non-negative integer) into `key`'s window if the window's count stays at most `limit`. */
export interface WindowLine {
  key: string;
  limit: number;
  n: number;
  window: WindowSpec;
}

/**
 * Hold `n` (a positive integer) on `key` for the request's holder. With `limit` the key
 * may hold at most that much in total (concurrency); without, at most its stored balance
 * (`rebase`): a credit view, where holdings are reservations and settled amounts not yet
 * written to the store.
 */
export interface HoldLine {
  key: string;
  n: number;
  limit?: number;
}

export interface TakeRequest {
  /** Unique per request (a random id), as for `reserve`. */
  holder: string;
  /** After this long the holder's holdings lapse on their own. */
  ttlMs: number;
  holds: readonly HoldLine[];
  windows: readonly WindowLine[];
}

/** Where a window line was counted (engine-specific and opaque): handed back to `finish` to correct that same count. */
export type WindowMark = string;

export type TakeResult =
  /** `marks[i]` is where `windows[i]` was counted. */
  | { granted: true; marks: readonly WindowMark[] }
  /**
   * The first line (holds first, then windows, each in request order) without room: what
   * it held or counted then, its limit, and when enough room could come back for this
   * request (ms; a window's reset or its oldest bucket leaving; undefined for a holding).
   */
  | { granted: false; reason: "full"; key: string; used: number; limit: number; retryAfterMs: number | undefined }
  /** A hold line without `limit` on a key with no stored balance (never set, or past its `validUntil`): load it, `rebase`, and take again. */
  | { granted: false; reason: "unknown_balance"; key: string };

export interface FinishRequest {
  holder: string;
  /** Keys on which `holder`'s holding ends. */
  release: readonly string[];
  /** Corrections of window counts, e.g. actual tokens minus the estimate: `delta` may be negative; a count never goes below 0. */
  corrections: readonly { key: string; window: WindowSpec; mark: WindowMark; delta: number }[];
  /**
   * Amounts added to another holder's holding on a key, with a fresh expiry: the settled
   * cost of a request, held in a node's name until its ledger row is written (`rebase`
   * with `drop` then lets go of it). Applied in the same step as the release, so the key
   * never briefly holds neither.
   */
  carry: readonly { key: string; holder: string; n: number; ttlMs: number }[];
}

export interface RebaseRequest {
  key: string;
  /** What the key may hold in total (a balance plus its allowed overdraft), as of ledger sequence `seq`. */
  balance: number;
  /**
   * Applied only when newer than the stored one (or none is stored, or the stored one is
   * past its `validUntil`, when the same seq also applies: a reload after a grant expired
   * finds no newer ledger row): stale views arriving late change nothing.
   */
  seq: number;
  /** Epoch ms after which the stored balance is unknown again (the earliest grant expiry); absent = no end. */
  validUntil?: number;
  /** Lowers `holder`'s holding by `n` in the same step (the amount just written to the ledger, which `balance` now includes). */
  drop?: { holder: string; n: number };
}

/**
 * The operations limits, quotas and credit need, on top of `Counters`: `take` checks
 * every line and takes all or none in one atomic step (one Lua script, one round trip, on
 * Redis); `finish` ends a request's holdings and corrects its window counts; `rebase`
 * sets a balance view. Holdings here and `reserve`'s are the same holdings.
 */
export interface Meter extends Counters {
  take(request: TakeRequest): Promise<TakeResult>;
  finish(request: FinishRequest): Promise<void>;
  rebase(request: RebaseRequest): Promise<void>;
  /** What a window line would count now (for reports and tests). */
  counted(key: string, window: WindowSpec): Promise<number>;
}

export function checkTakeRequest(r: TakeRequest): void {
  if (!Number.isSafeInteger(r.ttlMs) || r.ttlMs <= 0) throw new RangeError(`take: ttlMs must be a positive integer, got ${r.ttlMs}`);
  if (r.holder.length === 0) throw new RangeError("take: holder must not be empty");
  const seen = new Set<string>();
  for (const h of r.holds) {
    if (!Number.isSafeInteger(h.n) || h.n <= 0) throw new RangeError(`take: n of '${h.key}' must be a positive integer, got ${h.n}`);
    if (h.limit !== undefined && (!Number.isSafeInteger(h.limit) || h.limit < 0))
      throw new RangeError(`take: limit of '${h.key}' must be a non-negative integer`);
    if (seen.has(h.key)) throw new RangeError(`take: key '${h.key}' is listed twice`);
    seen.add(h.key);
  }
  for (const w of r.windows) {
    if (!Number.isSafeInteger(w.n) || w.n < 0) throw new RangeError(`take: n of '${w.key}' must be a non-negative integer, got ${w.n}`);
    if (!Number.isSafeInteger(w.limit) || w.limit < 0) throw new RangeError(`take: limit of '${w.key}' must be a non-negative integer`);
    checkWindowSpec(w.window);
    const id = w.window.kind === "fixed" ? `${w.key}\u0000${w.window.id}` : w.key;
    if (seen.has(id)) throw new RangeError(`take: key '${w.key}' is listed twice`);
    seen.add(id);
  }
}

export function checkWindowSpec(w: WindowSpec): void {
  if (w.kind === "sliding") {
    if (!Number.isSafeInteger(w.windowMs) || w.windowMs <= 0 || !Number.isSafeInteger(w.buckets) || w.buckets <= 0 || w.windowMs % w.buckets !== 0) {
      throw new RangeError(`sliding window: windowMs (${w.windowMs}) must be a positive multiple of buckets (${w.buckets})`);
    }
  } else if (w.id.length === 0 || !Number.isSafeInteger(w.endsAt)) {
    throw new RangeError("fixed window: needs an id and an integer endsAt");
  }
}
