/**
 * The usage batcher (docs/architecture.md#a-requests-life, step 7): the data plane hands over one record per
 * settled request without waiting; records are written to the store in bulk,
 * every `flushIntervalMs` or as soon as `maxBatch` are waiting. A failed write
 * keeps its records for the next flush (the store skips request ids it already
 * has, so a retry never double-counts); past `maxBuffered` the oldest are
 * dropped, loudly, rather than growing without bound while the database is down.
 */
import type { UsageRecord, UsageRepo } from "../storage/ports.js";
import type { Logger } from "../observability/logger.js";

export interface UsageRecorderOptions {
  flushIntervalMs?: number;
  maxBatch?: number;
  maxBuffered?: number;
}

export class UsageRecorder {
  readonly #repo: UsageRepo;
  readonly #logger: Logger;
  readonly #maxBatch: number;
  readonly #maxBuffered: number;
  readonly #timer: NodeJS.Timeout;
  #buffer: UsageRecord[] = [];
  #flushing: Promise<void> | undefined;
  #dropped = 0;

  constructor(repo: UsageRepo, logger: Logger, opts: UsageRecorderOptions = {}) {
    this.#repo = repo;
    this.#logger = logger;
    this.#maxBatch = opts.maxBatch ?? 500;
    this.#maxBuffered = opts.maxBuffered ?? 100_000;
    this.#timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? 1000);
    this.#timer.unref();
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
  }

  /** Writes what is waiting; concurrent calls share one write. Never throws. */
  flush(): Promise<void> {
    this.#flushing ??= this.#write().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #write(): Promise<void> {
    while (this.#buffer.length > 0) {
      const batch = this.#buffer.splice(0, this.#maxBatch * 4);
      try {
        await this.#repo.insertMany(batch);
      } catch (err) {
        // Keep them, oldest first, for the next flush.
        this.#buffer = [...batch, ...this.#buffer].slice(-this.#maxBuffered);
        this.#logger.error({ err, pending: this.#buffer.length }, "usage records could not be written; will retry");
        return;
      }
    }
    if (this.#dropped > 0) {
      this.#logger.error({ dropped: this.#dropped }, "usage records dropped: the store was unavailable for too long");
      this.#dropped = 0;
    }
  }

  /** Stops the timer and writes everything still waiting. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
    if (this.#buffer.length > 0) await this.flush();
  }
}
