/**
 * A least-recently-used map with a hard size bound. Resolution results are cached per
 * (policy version, client, requested model); the requested name comes from the client,
 * so a flood of made-up names must evict old entries rather than grow the cache.
 * A Map keeps insertion order, so re-inserting on a hit keeps the oldest entry first.
 */
export class BoundedLru<K, V> {
  readonly #map = new Map<K, V>();

  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError("BoundedLru limit must be at least 1");
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value === undefined) return undefined;
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    if (this.#map.size >= this.limit) this.#map.delete(this.#map.keys().next().value as K);
    this.#map.set(key, value);
  }
}
