/**
 * A cache key for a big run of bytes that costs a few dozen reads, not a pass over all of it:
 * a 32-bit FNV-1a hash of the length and `samples` bytes taken evenly across. A number, not a
 * string, so making a key allocates nothing. Two runs with the same key may still differ, so
 * whatever is found by it is compared whole before use (tools-cache.ts, seen-values.ts,
 * affinity.ts).
 */
export function sampledKey(bytes: Uint8Array, samples: number): number {
  let h = Math.imul(FNV_OFFSET ^ bytes.length, FNV_PRIME);
  if (bytes.length === 0) return h >>> 0;
  const step = bytes.length / samples;
  for (let i = 0; i < samples; i++) h = Math.imul(h ^ bytes[Math.floor(i * step)]!, FNV_PRIME);
  return h >>> 0;
}

/** FNV-1a's 32-bit parameters (http://www.isthe.com/chongo/tech/comp/fnv/). */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * {@link sampledKey} for a string: its length and `samples` UTF-16 units taken evenly across,
 * each unit mixed in as its two bytes.
 */
export function sampledStringKey(s: string, samples: number): number {
  let h = Math.imul(FNV_OFFSET ^ s.length, FNV_PRIME);
  if (s.length === 0) return h >>> 0;
  const step = s.length / samples;
  for (let i = 0; i < samples; i++) {
    const unit = s.charCodeAt(Math.floor(i * step));
    h = Math.imul(h ^ (unit & 0xff), FNV_PRIME);
    h = Math.imul(h ^ (unit >>> 8), FNV_PRIME);
  }
  return h >>> 0;
}
