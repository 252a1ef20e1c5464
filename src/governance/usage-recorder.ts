/**
 * The usage batcher (docs/architecture.md#a-requests-life, step 7): the data plane hands over one record per
 * settled request without waiting; records are written to the store in bulk.
 *
 * When to write is a trade between what a crash loses and what writing costs.
 * Records wait in memory, so a process that is killed (SIGKILL, OOM) loses
 * those not yet written; each write is a transaction, and with SQLite it runs
 * on the event loop. So a write starts as soon as the event loop is free after
 * a record arrives, but never sooner than `flushIntervalMs` after the previous
 * one began, or at once when `maxBatch` are waiting. Under light traffic a
 * record is written in the same event-loop turn its request settled in (with
 * SQLite, before the gateway next waits for I/O); under
 * sustained traffic at most `flushIntervalMs` of records wait, and writes cost
 * at most one transaction per interval. docs/deployment.md gives the figures.
 *
 * One write takes at most `rowsPerWrite` records and lets the event loop turn before the next:
 * a store that writes on the event loop (SQLite) would otherwise hold every stream still for
 * as long as a whole batch takes (docs/deployment.md).
 *
 * A failed write keeps its records for a retry `retryMs` later (the store
 * skips request ids it already has, so a retry never double-counts); past
 * `maxBuffered` the oldest are dropped, loudly, rather than growing without
 * bound while the database is down.
 */
import type { UsageRecord, UsageRepo } from "../storage/ports.js";
import type { Logger } from "../observability/logger.js";
import type { DebitedWallet } from "./billing.js";

/**
 * Consumption (docs/billing.md): records with a payer and a charge are written with
 * `insertCharged`, which debits each payer in the same transaction, so usage and the ledger
 * never disagree; `debited` is told each payer's wallet afterwards (it rebases the hot-path
 * balance views).
 */
export interface UsageCharging {
  debited(wallets: readonly DebitedWallet[]): Promise<void>;
}

export interface UsageRecorderOptions {
  /** Least time between the starts of two writes (default 50 ms). */
  flushIntervalMs?: number;
  /** Waiting records that trigger a write at once, interval or not (default 500). */
  maxBatch?: number;
  maxBuffered?: number;
  /** Wait after a failed write before the next try (default 1 s), so an outage is not hammered. */
  retryMs?: number;
  /**
   * Most records one transaction takes (default 4 × maxBatch); more waiting are written in further
   * transactions, each after the event loop has had a turn. {@link SQLITE_ROWS_PER_WRITE} for SQLite.
   */
  rowsPerWrite?: number;
  /** Debit payers in the same transaction as the records (absent = records only). */
  charging?: UsageCharging;
}

export const DEFAULT_FLUSH_INTERVAL_MS = 50;

/**
 * SQLite writes on the gateway's event loop, so a transaction's time is how long every stream
 * waits behind it. `npm run bench:usage-writes` (records only, no debit, the WAL checkpointed
 * from a worker, records shaped as the gateway writes them): 128 records a transaction took about
 * 1.3 ms and 10 µs a record, 500 about 8 ms and 14 µs, 64 about 0.7 ms and 11 µs. 128 keeps the
 * wait near a millisecond at the lowest cost per record (docs/deployment.md#crashes-what-a-kill-loses).
 */
export const SQLITE_ROWS_PER_WRITE = 128;

export class UsageRecorder {
  readonly #repo: UsageRepo;
  readonly #logger: Logger;
  readonly #maxBatch: number;
  readonly #maxBuffered: number;
  readonly #intervalMs: number;
  readonly #retryMs: number;
  readonly #rowsPerWrite: number;
  readonly #charging: UsageCharging | undefined;
  #buffer: UsageRecord[] = [];
  #flushing: Promise<void> | undefined;
  /** The write asked for while one was under way, to follow it. */
  #next: Promise<void> | undefined;
  #dropped = 0;
  /** When the last write began (performance.now()). */
  #lastWrite = -Infinity;
  /** The one pending wake-up, if any: an immediate (write when the loop is free) or a timer (spacing, retry). */
  #wake: { cancel(): void } | undefined;
  #closed = false;

  constructor(repo: UsageRepo, logger: Logger, opts: UsageRecorderOptions = {}) {
    this.#repo = repo;
    this.#logger = logger;
    this.#maxBatch = opts.maxBatch ?? 500;
    this.#maxBuffered = opts.maxBuffered ?? 100_000;
    this.#intervalMs = opts.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.#retryMs = opts.retryMs ?? 1000;
    this.#rowsPerWrite = opts.rowsPerWrite ?? this.#maxBatch * 4;
    this.#charging = opts.charging;
  }

  /** Records waiting to be written. */
  get pending(): number {
    return this.#buffer.length;
  }

  record(rec: UsageRecord): void {
    this.#buffer.push(rec);
    if (this.#buffer.length > this.#maxBuffered) {
      const excess = this.#buffer.length - this.#maxBuffered;
      this.#buffer.splice(0, excess);
      this.#dropped += excess;
    }
    if (this.#buffer.length >= this.#maxBatch) void this.flush();
    else this.#schedule(this.#lastWrite + this.#intervalMs - performance.now());
  }

  /**
   * Writes what is waiting. A write takes what waits when it begins; called while one is under way,
   * this waits for it and then writes what came since (calls in that time share that one). Never throws.
   */
  flush(): Promise<void> {
    if (this.#flushing) {
      this.#next ??= this.#flushing.then(() => {
        this.#next = undefined;
        return this.flush();
      });
      return this.#next;
    }
    this.#wake?.cancel();
    this.#wake = undefined;
    this.#flushing = this.#write().finally(() => {
      this.#flushing = undefined;
      // Records that arrived while the write was under way still need one.
      if (this.#buffer.length > 0) this.#schedule(this.#lastWrite + this.#intervalMs - performance.now());
    });
    return this.#flushing;
  }

  /** Arranges one write `inMs` from now (when the event loop is free if that is already past); keeps an earlier arrangement. */
  #schedule(inMs: number): void {
    if (this.#wake || this.#flushing || this.#closed) return;
    if (inMs <= 0) {
      const immediate = setImmediate(() => void this.flush());
      immediate.unref();
      this.#wake = { cancel: () => clearImmediate(immediate) };
    } else {
      const timer = setTimeout(() => void this.flush(), inMs);
      timer.unref();
      this.#wake = { cancel: () => clearTimeout(timer) };
    }
  }

  async #write(): Promise<void> {
    this.#lastWrite = performance.now();
    // What waits now; records that arrive while this write is under way wait for the next one, as spacing
    // says, except on close, which writes everything.
    const waiting = this.#closed ? Number.POSITIVE_INFINITY : this.#buffer.length;
    for (let left = waiting, first = true; left > 0 && this.#buffer.length > 0; first = false) {
      // Between two transactions the loop turns, so the streams waiting on it move on.
      if (!first) await new Promise<void>((resolve) => setImmediate(resolve));
      const batch = this.#buffer.splice(0, Math.min(left, this.#rowsPerWrite));
      left -= batch.length;
      let debited: DebitedWallet[] | undefined;
      try {
        if (this.#charging && batch.some(charged)) debited = await this.#writeCharged(batch);
        else await this.#repo.insertMany(batch);
      } catch (err) {
        // Keep them, oldest first, for the retry.
        this.#buffer = [...batch, ...this.#buffer].slice(-this.#maxBuffered);
        this.#logger.error({ err, pending: this.#buffer.length }, "usage records could not be written; will retry");
        this.#lastWrite = performance.now() + this.#retryMs - this.#intervalMs;
        return;
      }
      if (debited) {
        // The debits are committed; a view left stale here only lapses later (its TTLs), so this is logged, not retried.
        await this.#charging!.debited(debited).catch((err: unknown) => this.#logger.error({ err }, "balance views could not be rebased after a debit"));
      }
    }
    if (this.#dropped > 0) {
      this.#logger.error({ dropped: this.#dropped }, "usage records dropped: the store was unavailable for too long");
      this.#dropped = 0;
    }
  }

  /**
   * The batch and its debits in one transaction (`insertCharged`): each payer is debited the
   * charges of the records actually inserted now (a retried record already stored was debited
   * with it), and the wallets come back with everything this node carried for the batch's
   * records, which the views release.
   */
  async #writeCharged(batch: readonly UsageRecord[]): Promise<DebitedWallet[]> {
    const { wallets } = await this.#repo.insertCharged(batch);
    const carried = new Map<string, number>();
    for (const rec of batch) if (charged(rec)) carried.set(rec.payerAccountId!, (carried.get(rec.payerAccountId!) ?? 0) + rec.chargedMicros!);
    // Field by field: `{ ...w, carriedMicros }` would give every wallet a hidden class of its own (canonical/shared-shape.ts).
    return wallets.map((w) => ({
      accountId: w.accountId,
      spendableMicros: w.spendableMicros,
      seq: w.seq,
      validUntil: w.validUntil,
      carriedMicros: carried.get(w.accountId) ?? 0,
    }));
  }

  /** Stops scheduling writes and writes everything still waiting. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
    if (this.#buffer.length > 0) await this.flush();
  }
}

function charged(rec: UsageRecord): boolean {
  return !!rec.payerAccountId && (rec.chargedMicros ?? 0) > 0;
}
