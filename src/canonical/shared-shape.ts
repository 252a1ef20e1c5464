/**
 * Objects built per request or per event with a hidden class V8 can share.
 *
 * Node 20's V8 (11.3) gives an object literal that starts with a spread and then goes on
 * (`{ ...base, key: value }`, `{ ...a, ...b }`) a hidden class of its own every time the
 * literal runs: the spread copies `base`'s class without linking the copy into its transition
 * tree, so the members added after it start a new branch each time. Each such object costs a
 * new map in the old generation, and every inline cache that reads it then misses: removing them
 * from the request path took 4–22 % off the gateway's CPU a request at 50 connections in `npm run
 * bench` A/Bs (docs/architecture.md#measured-facts).
 * A literal whose spread comes after a member (`{ key: value, ...base }`) and `Object.assign`
 * onto a fresh `{}` both walk the shared tree. The lint rule in eslint.config.js keeps the
 * pattern out of the request path.
 */

/** `{ ...base, ...extra }`'s type: each member of a union of shapes, with `extra`'s members in place of its own. */
export type WithMembers<T, U> = T extends unknown ? Omit<T, keyof U> & U : never;

/** `{ ...base, ...extra }`: `extra`'s members win, in `base`'s order and then `extra`'s. */
export function withMembers<T extends object, U extends object>(base: T, extra: U): WithMembers<T, U> {
  return Object.assign({}, base, extra) as unknown as WithMembers<T, U>;
}
