/**
 * Short lists of entries under a sampled key (sampled-key.ts), least recently used lists
 * dropped first: the store behind the caches that find a big value by a key of a few dozen
 * reads and then compare it whole (items-cache.ts, string-json.ts). Values that differ only
 * between the samples share a key, so a key holds up to `perKey` entries, the newest last.
 */
import { LRUCache } from "lru-cache";

export class SampledLists<E> {
  readonly #lists: LRUCache<number, readonly E[]>;

  constructor(
    /** What the store may hold, in the unit of `sizeOf`. */
    maxSize: number,
    /** An entry's size; a list's is the sum of its entries'. */
    sizeOf: (entry: E) => number,
    private readonly perKey: number,
  ) {
    this.#lists = new LRUCache({
      maxSize,
      sizeCalculation: (list) =>
        Math.max(
          1,
          list.reduce((n, e) => n + sizeOf(e), 0),
        ),
    });
  }

  /** The entries under `key`, oldest first (and the list counts as used), or undefined. */
  get(key: number): readonly E[] | undefined {
    return this.#lists.get(key);
  }

  /**
   * Adds `entry` under `key` after `list` (what {@link get} gave), dropping the oldest past
   * `perKey`. A list bigger than the whole store is not kept (lru-cache's maxEntrySize).
   */
  add(key: number, list: readonly E[] | undefined, entry: E): void {
    // Set anew (not pushed in place) so the store counts the list's new size.
    this.#lists.set(key, [...(list ?? []).slice(1 - this.perKey), entry]);
  }
}
