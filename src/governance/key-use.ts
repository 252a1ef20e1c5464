/**
 * `api_keys.last_used_at`, kept off the request path: a request only notes its key's
 * use in memory; a timer writes the notes in batches, each key at most once per
 * `minWriteIntervalMs` (a minute by default), so a busy key costs one UPDATE a
 * minute however many requests it makes. What has not been written yet is written at
 * close. A failed write keeps its notes for the next flush; the store never moves
 * `last_used_at` backwards, so a late write cannot undo a newer one.
 */
import type { ApiKeyRepo } from "../storage/ports.js";
import type { Logger } from "../observability/logger.js";

export interface KeyUseRecorderOptions {
  flushIntervalMs?: number;
  minWriteIntervalMs?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

export class KeyUseRecorder {
  readonly #repo: Pick<ApiKeyRepo, "touch">;
  readonly #logger: Pick<Logger, "error">;
  readonly #minInterval: number;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;
  /** Key id → the latest use not yet written. */
  #pending = new Map<string, number>();
  /** Key id → when its last use was written. */
  readonly #written = new Map<string, number>();
  #flushing: Promise<void> | undefined;

  constructor(repo: Pick<ApiKeyRepo, "touch">, logger: Pick<Logger, "error">, opts: KeyUseRecorderOptions = {}) {
    this.#repo = repo;
    this.#logger = logger;
    this.#minInterval = opts.minWriteIntervalMs ?? 60_000;
    this.#now = opts.now ?? Date.now;
    this.#timer = setInterval(() => void this.flush(), opts.flushIntervalMs ?? 10_000);
    this.#timer.unref();
  }

  /** Notes a use of the key now; never waits, never throws. */
  used(apiKeyId: string): void {
    this.#pending.set(apiKeyId, this.#now());
  }

  /** Writes the uses of keys not written within the interval (every one when `all`); concurrent calls share one write. */
  flush(all = false): Promise<void> {
    this.#flushing ??= this.#write(all).finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #write(all: boolean): Promise<void> {
    const now = this.#now();
    for (const [id, at] of this.#written) if (now - at >= this.#minInterval) this.#written.delete(id);
    const due = [...this.#pending].filter(([id]) => all || !this.#written.has(id));
    for (const [id, at] of due) {
      try {
        await this.#repo.touch(id, new Date(at).toISOString());
      } catch (err) {
        this.#logger.error({ err, apiKeyId: id }, "api key last use could not be written; will retry");
        return;
      }
      // A use noted while the write was under way stays pending for the next flush.
      if (this.#pending.get(id) === at) this.#pending.delete(id);
      this.#written.set(id, now);
    }
  }

  /** Stops the timer and writes every use still waiting. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#flushing;
    await this.flush(true);
  }
}
