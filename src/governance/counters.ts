/**
 * The Counters port: shared counters that governance limits are built on.
 *
 * Two kinds of counter, because limits come in two kinds:
 *
 * - **Holdings** (concurrency, and later credit holds): capacity that a request takes
 *   when it is admitted and gives back when it ends. A holding is recorded per holder
 *   rather than as a bare number, for three reasons: a release can only give back what
 *   that holder took, so a counter can never go negative and a second release is a
 *   no-op; a retried reserve (after a lost reply) cannot take capacity twice; and each
 *   holding carries an expiry, so a process that dies mid-request leaves capacity that
 *   frees itself instead of leaking forever.
 * - **Windows** (rate limits): a count of events in a fixed time window, never given back.
 *
 * Every operation is one atomic step, so a cluster of gateways can share one engine.
 * In Redis, a key's holdings map onto a hash (holder → n) plus a sorted set (holder →
 * expiry) and `reserve` onto one Lua script that drops expired holders, checks every
 * limit and writes every key or none; `release` onto a second script; `incrementWindow`
 * onto INCRBY plus PEXPIRE on a key suffixed with the window number. A multi-key script
 * needs its keys in one Redis Cluster slot, which callers get by sharing a hash tag
 * (e.g. the root account's id) across a chain's keys.
 *
 * Time belongs to the engine, not the caller: every node must agree on when a holding
 * expires and where a window starts, so a shared engine should read one clock (Redis's
 * own) rather than each caller's.
 *
 * The types and argument checks live in storage/ports.ts, so the Redis engine
 * (storage/redis/meter.ts) can implement the port without importing governance; they are
 * re-exported here unchanged, and governance code imports them from here.
 */

export type {
  CounterLimit,
  ReserveRequest,
  ReserveResult,
  Counters,
  SlidingWindow,
  FixedWindow,
  WindowSpec,
  WindowLine,
  HoldLine,
  TakeRequest,
  WindowMark,
  TakeResult,
  FinishRequest,
  RebaseRequest,
  Meter,
} from "../storage/ports.js";
export { CountersUnavailableError, checkReserveRequest, checkWindowArgs, checkTakeRequest, checkWindowSpec, fixedWindowId } from "../storage/ports.js";

import type { FinishRequest, Meter, TakeRequest, TakeResult } from "../storage/ports.js";

/** `meter.take(request)`, answered within the call when the engine can (Meter `takeNow`). */
export function takeOn(meter: Meter, request: TakeRequest): TakeResult | Promise<TakeResult> {
  return meter.takeNow ? meter.takeNow(request) : meter.take(request);
}

/** `meter.finish(request)`, done within the call when the engine can (Meter `finishNow`): then nothing is returned. */
export function finishOn(meter: Meter, request: FinishRequest): void | Promise<void> {
  return meter.finishNow ? meter.finishNow(request) : meter.finish(request);
}
