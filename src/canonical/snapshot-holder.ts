/**
 * An immutable snapshot the data plane reads, swapped whole on reload (the
 * principals in governance, the upstream catalog in routing). Pure: the build
 * function does the I/O.
 */
export class SnapshotHolder<T extends { version: number }> {
  #snapshot: T;
  /** A rebuild asked for but not yet started: later callers share it. */
  #queued: Promise<void> | undefined;
  #running: Promise<void> | undefined;

  constructor(
    initial: T,
    private readonly build: (version: number, previous: T) => Promise<T>,
  ) {
    this.#snapshot = initial;
  }

  get snapshot(): T {
    return this.#snapshot;
  }

  /**
   * Rebuilds. A build already running may have read the store before the
   * caller's write, so a reload waits for it and then builds again; every
   * reload asked for while that second build is still waiting to start shares
   * it. A failed build rejects and leaves the current snapshot in place.
   */
  reload(): Promise<void> {
    this.#queued ??= (async () => {
      await this.#running?.catch(() => undefined);
      this.#queued = undefined;
      const run = (async () => {
        this.#snapshot = await this.build(this.#snapshot.version + 1, this.#snapshot);
      })();
      this.#running = run;
      try {
        await run;
      } finally {
        if (this.#running === run) this.#running = undefined;
      }
    })();
    return this.#queued;
  }
}
