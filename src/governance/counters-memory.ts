/**
 * Counters held in this process's memory: exact for one gateway process, and the
 * reference behaviour for shared engines. Each operation does all its work
 * synchronously between two awaits, so no other call can interleave with it: that is
 * what makes it atomic here, as a Lua script is in Redis.
 */
import {
  checkReserveRequest,
  checkTakeRequest,
  checkWindowArgs,
  checkWindowSpec,
  fixedWindowId,
  type FinishRequest,
  type Meter,
  type RebaseRequest,
  type ReserveRequest,
  type ReserveResult,
  type TakeRequest,
  type TakeResult,
  type WindowMark,
  type WindowSpec,
} from "./counters.js";

export interface MemoryCountersOptions {
  /** Milliseconds since the epoch; tests pass a hand-moved clock instead of sleeping. */
  now?: () => number;
}

interface Holding {
  n: number;
  expiresAt: number;
}

/**
 * One key's holders, with their total and the earliest expiry among them kept up to date,
 * so a take reads a key's holding without walking its holders (a busy concurrency or
 * balance key has one per request in flight): lapsed holdings are dropped only once the
 * clock has passed the earliest expiry.
 */
class Holders {
  readonly #byHolder = new Map<string, Holding>();
  #total = 0;
  /** At or before the earliest expiry of a live holding (a removed one may leave it early: the next sweep finds nothing to drop and moves it on). */
  #nextExpiry = Number.POSITIVE_INFINITY;

  get size(): number {
    return this.#byHolder.size;
  }

  get total(): number {
    return this.#total;
  }

  get(holder: string): Holding | undefined {
    return this.#byHolder.get(holder);
  }

  set(holder: string, n: number, expiresAt: number): void {
    const had = this.#byHolder.get(holder);
    this.#total += n - (had?.n ?? 0);
    this.#byHolder.set(holder, { n, expiresAt });
    if (expiresAt < this.#nextExpiry) this.#nextExpiry = expiresAt;
  }

  delete(holder: string): void {
    const had = this.#byHolder.get(holder);
    if (!had) return;
    this.#total -= had.n;
    this.#byHolder.delete(holder);
  }

  /** Drops the holdings lapsed at `now`. */
  sweep(now: number): void {
    if (now < this.#nextExpiry) return;
    let next = Number.POSITIVE_INFINITY;
    for (const [holder, h] of this.#byHolder) {
      if (h.expiresAt <= now) {
        this.#byHolder.delete(holder);
        this.#total -= h.n;
      } else if (h.expiresAt < next) next = h.expiresAt;
    }
    this.#nextExpiry = next;
  }
}

interface Window {
  /** Which window (time / windowMs, rounded down) the count belongs to. */
  index: number;
  windowMs: number;
  count: number;
}

/** How many operations pass between sweeps of keys nobody touches any more. */
const SWEEP_EVERY = 1024;

/**
 * A sliding window's buckets (bucket index → count) or a fixed window's single count, with when it
 * may be forgotten. `total` is the sum of every bucket held, and the buckets held are the live
 * ones as of bucket `prunedAt`: a request reads its window's count in one step, and the buckets
 * are walked only when the current bucket has moved on (for the minute window every 5 s), not on
 * every line of every request.
 */
interface Tally {
  buckets: Map<number, number>;
  total: number;
  prunedAt: number;
  forgetAt: number;
}

interface Balance {
  balance: number;
  seq: number;
  validUntil: number;
}

export class MemoryCounters implements Meter {
  readonly #now: () => number;
  readonly #holdings = new Map<string, Holders>();
  readonly #windows = new Map<string, Window>();
  readonly #tallies = new Map<string, Tally>();
  readonly #balances = new Map<string, Balance>();
  #ops = 0;

  constructor(opts: MemoryCountersOptions = {}) {
    this.#now = opts.now ?? Date.now;
  }

  /** Keys it remembers, live or not yet swept: a gauge for memory use. */
  get trackedKeys(): number {
    return this.#holdings.size + this.#windows.size + this.#tallies.size + this.#balances.size;
  }

  async take(r: TakeRequest): Promise<TakeResult> {
    return this.takeNow(r);
  }

  async finish(r: FinishRequest): Promise<void> {
    this.finishNow(r);
  }

  takeNow(r: TakeRequest): TakeResult {
    checkTakeRequest(r);
    const now = this.#tick();
    // Check every line before writing any, so a refusal leaves nothing behind.
    for (const h of r.holds) {
      let limit = h.limit;
      if (limit === undefined) {
        const b = this.#balances.get(h.key);
        if (!b || b.validUntil <= now) return { granted: false, reason: "unknown_balance", key: h.key };
        limit = b.balance;
      }
      const holders = this.#live(h.key, now);
      const held = (holders?.total ?? 0) - (holders?.get(r.holder)?.n ?? 0);
      if (held + h.n > limit) return { granted: false, reason: "full", key: h.key, used: held, limit, retryAfterMs: undefined };
    }
    const windows = r.windows;
    const marks: WindowMark[] = new Array<WindowMark>(windows.length);
    for (let i = 0; i < windows.length; i++) {
      const w = windows[i]!;
      const bucket = bucketOf(w.window, now);
      const tally = this.#tallies.get(idOf(w.key, w.window));
      const used = tally ? count(tally, w.window, bucket) : 0;
      if (used + w.n > w.limit)
        return {
          granted: false,
          reason: "full",
          key: w.key,
          used,
          limit: w.limit,
          retryAfterMs: retryAfter(tally, w.window, bucket, used + w.n - w.limit, now),
        };
      marks[i] = markOf(bucket);
    }
    const expiresAt = now + r.ttlMs;
    for (const h of r.holds) {
      let holders = this.#holdings.get(h.key);
      if (!holders) this.#holdings.set(h.key, (holders = new Holders()));
      holders.set(r.holder, h.n, expiresAt);
    }
    // Checked above with the same clock reading, so each line lands in the bucket it was checked against.
    for (const w of windows) this.#add(idOf(w.key, w.window), w.window, bucketOf(w.window, now), w.n, now);
    return { granted: true, marks };
  }

  finishNow(r: FinishRequest): void {
    const now = this.#tick();
    for (const key of r.release) this.#holdings.get(key)?.delete(r.holder);
    for (const c of r.corrections) {
      checkWindowSpec(c.window);
      const bucket = Number(c.mark);
      if (!Number.isSafeInteger(bucket)) continue;
      const id = idOf(c.key, c.window);
      // A count whose window has ended is left alone: correcting it changes nothing anyone reads.
      if (c.window.kind === "sliding" && bucket <= Math.floor(now / (c.window.windowMs / c.window.buckets)) - c.window.buckets) continue;
      this.#add(id, c.window, bucket, c.delta, now);
    }
    for (const c of r.carry) {
      if (!Number.isSafeInteger(c.n) || c.n <= 0) continue;
      let holders = this.#live(c.key, now);
      if (!holders) this.#holdings.set(c.key, (holders = new Holders()));
      const had = holders.get(c.holder)?.n ?? 0;
      holders.set(c.holder, had + c.n, now + c.ttlMs);
    }
  }

  async rebase(r: RebaseRequest): Promise<void> {
    const now = this.#tick();
    const b = this.#balances.get(r.key);
    // A lapsed view (past validUntil: a grant expired, or it is simply old) takes a reload at the same seq: nothing newer was written, but the old view may not be used.
    if (!b || r.seq > b.seq || (b.validUntil <= now && r.seq === b.seq))
      this.#balances.set(r.key, { balance: r.balance, seq: r.seq, validUntil: r.validUntil ?? Number.POSITIVE_INFINITY });
    if (r.drop && r.drop.n > 0) {
      const holders = this.#live(r.key, now);
      const h = holders?.get(r.drop.holder);
      if (h) {
        if (h.n - r.drop.n <= 0) holders!.delete(r.drop.holder);
        else holders!.set(r.drop.holder, h.n - r.drop.n, h.expiresAt);
      }
    }
  }

  async counted(key: string, window: WindowSpec): Promise<number> {
    checkWindowSpec(window);
    const now = this.#tick();
    const bucket = bucketOf(window, now);
    const tally = this.#tallies.get(idOf(key, window));
    return tally ? count(tally, window, bucket) : 0;
  }

  /** Adds `n` (or subtracts) to one bucket, never below 0. */
  #add(id: string, window: WindowSpec, bucket: number, n: number, now: number): void {
    let tally = this.#tallies.get(id);
    if (!tally) this.#tallies.set(id, (tally = { buckets: new Map(), total: 0, prunedAt: Number.NEGATIVE_INFINITY, forgetAt: 0 }));
    // A bucket the last walk would have dropped (a clock that stepped back can offer one): walk again at the next read.
    if (window.kind === "sliding" && bucket <= tally.prunedAt - window.buckets) tally.prunedAt = Number.NEGATIVE_INFINITY;
    const had = tally.buckets.get(bucket) ?? 0;
    const v = Math.max(0, had + n);
    if (v === 0) tally.buckets.delete(bucket);
    else tally.buckets.set(bucket, v);
    tally.total += v - had;
    tally.forgetAt = Math.max(tally.forgetAt, window.kind === "fixed" ? window.endsAt : now + window.windowMs);
  }

  async reserve(r: ReserveRequest): Promise<ReserveResult> {
    checkReserveRequest(r);
    const now = this.#tick();
    // Check every key before writing any, so a refusal leaves nothing behind.
    for (const { key, limit } of r.limits) {
      const holders = this.#live(key, now);
      const held = holders?.total ?? 0;
      // The holder's own holding is being replaced, so it does not count against the new one.
      if (held - (holders?.get(r.holder)?.n ?? 0) + r.n > limit) return { granted: false, key, held, limit };
    }
    const expiresAt = now + r.ttlMs;
    for (const { key } of r.limits) {
      let holders = this.#holdings.get(key);
      if (!holders) this.#holdings.set(key, (holders = new Holders()));
      holders.set(r.holder, r.n, expiresAt);
    }
    return { granted: true };
  }

  async release(holder: string, keys: readonly string[]): Promise<void> {
    this.#tick();
    for (const key of keys) this.#holdings.get(key)?.delete(holder);
  }

  async held(key: string): Promise<number> {
    return this.#live(key, this.#tick())?.total ?? 0;
  }

  async incrementWindow(key: string, n: number, windowMs: number): Promise<number> {
    checkWindowArgs(n, windowMs);
    const index = Math.floor(this.#tick() / windowMs);
    const w = this.#windows.get(key);
    if (w && w.index === index && w.windowMs === windowMs) return (w.count += n);
    this.#windows.set(key, { index, windowMs, count: n });
    return n;
  }

  /**
   * The key's holders after dropping the lapsed ones; none held is an empty Holders, kept until the
   * next sweep ({@link #tick}). A key held by one request at a time (any key at low concurrency)
   * would otherwise get a new Holders and Map for every request and lose them at its end.
   */
  #live(key: string, now: number): Holders | undefined {
    const holders = this.#holdings.get(key);
    holders?.sweep(now);
    return holders;
  }

  /**
   * Reads the clock and, now and then, forgets keys that only lapsed holdings or ended
   * windows keep alive, so memory follows the keys in use rather than every key ever used.
   */
  #tick(): number {
    const now = this.#now();
    if (++this.#ops % SWEEP_EVERY === 0) {
      for (const [key, holders] of this.#holdings) {
        holders.sweep(now);
        if (holders.size === 0) this.#holdings.delete(key);
      }
      for (const [key, w] of this.#windows) if ((w.index + 1) * w.windowMs <= now) this.#windows.delete(key);
      for (const [key, t] of this.#tallies) if (t.forgetAt <= now) this.#tallies.delete(key);
      // A view past its validUntil reads as unknown anyway.
      for (const [key, b] of this.#balances) if (b.validUntil <= now) this.#balances.delete(key);
    }
    return now;
  }
}

/** The stored identity of a window line: its key, or for a fixed window its key and the window's id. */
function idOf(key: string, w: WindowSpec): string {
  return w.kind === "fixed" ? fixedWindowId(key, w) : key;
}

/** The bucket a line counts into at `now`: a sliding window's bucket index, a fixed window's only one (0). */
function bucketOf(w: WindowSpec, now: number): number {
  return w.kind === "fixed" ? 0 : Math.floor(now / (w.windowMs / w.buckets));
}

/** Recent bucket indexes as marks: every line of every request names one of a few buckets, so the strings are made once. */
const recentMarks = new Map<number, WindowMark>();

function markOf(bucket: number): WindowMark {
  let mark = recentMarks.get(bucket);
  if (mark === undefined) {
    if (recentMarks.size >= 64) recentMarks.clear();
    recentMarks.set(bucket, (mark = String(bucket)));
  }
  return mark;
}

/** The window's count as of bucket `current`: a fixed window's one count, or the buckets still inside a sliding window (dropping the rest). */
function count(t: Tally, w: WindowSpec, current: number): number {
  if (w.kind === "sliding" && current !== t.prunedAt) {
    // The buckets that left the window since the last walk. A bucket older than the last walk
    // kept, added since, sends the next read here again (#add), so what stays is live.
    for (const [b, n] of t.buckets) {
      if (b <= current - w.buckets) {
        t.buckets.delete(b);
        t.total -= n;
      }
    }
    t.prunedAt = current;
  }
  return t.total;
}

/** How long until `excess` has left the window: a fixed window's reset, or the time the oldest buckets holding that much leave. */
function retryAfter(t: Tally | undefined, w: WindowSpec, current: number, excess: number, now: number): number | undefined {
  if (w.kind === "fixed") return Math.max(0, w.endsAt - now);
  const bucketMs = w.windowMs / w.buckets;
  let freed = 0;
  for (const b of [...(t?.buckets.keys() ?? [])].sort((x, y) => x - y)) {
    freed += t!.buckets.get(b)!;
    if (freed >= excess) return Math.max(0, (b + w.buckets) * bucketMs - now);
  }
  // More than the whole window holds: only a request smaller than the limit can ever fit.
  void current;
  return w.windowMs;
}
