/**
 * Deep freezing for parsed JSON shared between requests (tools-cache.ts, items-cache.ts): a value
 * frozen here, with everything below it, cannot have been changed since, so it is safe to share
 * and equal to itself as it stands.
 */

/** Objects frozen by {@link deepFreeze}, with everything below them. */
const deepFrozen = new WeakSet<object>();

/** `v` with every object in it frozen; a value already deep-frozen is not walked again. */
export function deepFreeze<T>(v: T): T {
  if (v === null || typeof v !== "object" || deepFrozen.has(v)) return v;
  for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  Object.freeze(v);
  deepFrozen.add(v);
  return v;
}

/** Whether `v` was frozen, with everything below it, by {@link deepFreeze} or marked so by {@link markDeepFrozen}. */
export function isDeepFrozen(v: object): boolean {
  return deepFrozen.has(v);
}

/** Freezes `v` and records it as deep-frozen: for a value built only from deep-frozen or primitive members. */
export function markDeepFrozen<T extends object>(v: T): T {
  Object.freeze(v);
  deepFrozen.add(v);
  return v;
}
