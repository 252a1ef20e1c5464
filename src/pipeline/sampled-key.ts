/**
 * A cache key for a big run of bytes that costs a few dozen reads, not a pass over all of it:
 * the length and `samples` bytes taken evenly across. Two runs with the same key may still
 * differ, so whatever is found by it is compared whole before use (tools-cache.ts,
 * seen-values.ts, affinity.ts).
 */
export function sampledKey(bytes: Uint8Array, samples: number): string {
  let key = `${bytes.length}:`;
  if (bytes.length === 0) return key;
  const step = bytes.length / samples;
  for (let i = 0; i < samples; i++) key += String.fromCharCode(bytes[Math.floor(i * step)]!);
  return key;
}
