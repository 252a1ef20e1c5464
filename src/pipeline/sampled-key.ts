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
