/**
 * Small, fast, deterministic hashes for rendezvous choices (keys within a pool, targets
 * within a tier). They only need to spread sessions evenly and agree across nodes and
 * restarts; nothing secret depends on them, so a cryptographic hash would only cost time
 * (a thousand SHA-1 digests per request is about a millisecond).
 */

/** 32-bit FNV-1a of a string's UTF-16 units, finished with {@link mix32}. */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

/** murmur3's 32-bit finaliser: a bijection that spreads every input bit over the output. */
export function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A session's score for a candidate: higher wins (rendezvous, or highest-random-weight, hashing). */
export function rendezvous(session: number, candidate: number): number {
  return mix32(session ^ mix32(candidate + 0x9e3779b9));
}
