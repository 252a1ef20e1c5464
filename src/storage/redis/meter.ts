/**
 * The Meter port (storage/ports.ts, documented in governance/counters.ts) over Redis:
 * shared by every node of a cluster, one Lua script and one round trip per operation
 * (meter-scripts.ts), sent with EVALSHA and falling back to EVAL when Redis does not know
 * the script yet (ioredis `defineCommand`).
 *
 * Stored keys, each `prefix + key + suffix`:
 * - `|h` (hash holder → n) and `|z` (sorted set holder → expiry): a key's holdings; they
 *   expire with the longest holding, plus the margin.
 * - `|b` (hash balance, seq, until): the balance view `rebase` sets. It expires
 *   `balanceTtlMs` (default 7 days) after the last applied rebase: a view nobody rebased
 *   for that long reads as `unknown_balance` and is loaded again, so memory stays
 *   bounded by the views in use.
 * - `|s` (hash bucket index → count): a sliding window, expiring `windowMs` after its last
 *   write, plus the margin.
 * - `|f|<window id>` (a count): a fixed window, expiring at its `endsAt`, plus the margin.
 * - `|w` (hash window number → count): `incrementWindow`, expiring when its window ends.
 *
 * Redis Cluster: a script may only touch keys of one slot, so every key of one `take`
 * (a whole account chain) must share a hash tag: callers write keys like
 * `{root-account-id}:acct:<id>:rpm`. The prefix must not contain `{`, or it would become
 * the hash tag. Keys should not contain `|`, which separates the suffixes above.
 */
import { Redis, ReplyError, type RedisOptions } from "ioredis";
import {
  CountersUnavailableError,
  checkReserveRequest,
  checkTakeRequest,
  checkWindowArgs,
  checkWindowSpec,
  type FinishRequest,
  type Meter,
  type RebaseRequest,
  type ReserveRequest,
  type ReserveResult,
  type TakeRequest,
  type TakeResult,
  type WindowSpec,
} from "../ports.js";
import { COUNTED, FINISH, HELD, INCREMENT_WINDOW, REBASE, TAKE } from "./meter-scripts.js";

export interface RedisMeterOptions {
  /** The connection to use; `close()` quits it. `connectRedisMeter` opens one that fails fast while Redis is away. */
  redis: Redis;
  /** Put before every key (e.g. SWITCHYARD_REDIS_PREFIX); tests use one per test. Default `switchyard:meter:`. */
  prefix?: string;
  /** Milliseconds since the epoch, for tests with a hand-moved clock; without it the scripts read Redis's own `TIME`. */
  now?: () => number;
  /** Added to every key's expiry past the last moment it matters. Default 60 s. */
  marginMs?: number;
  /** How long a balance view lives after the last rebase that changed it. Default 7 days. */
  balanceTtlMs?: number;
}

type Reply = (string | number)[];
type Script = (numKeys: number, ...keysAndArgs: (string | number)[]) => Promise<unknown>;

const SCRIPTS = { meterTake: TAKE, meterFinish: FINISH, meterRebase: REBASE, meterHeld: HELD, meterCounted: COUNTED, meterIncrementWindow: INCREMENT_WINDOW };
type ScriptName = keyof typeof SCRIPTS;

/**
 * Server replies that mean Redis cannot serve now (loading, a busy script, a cluster
 * without a master), as opposed to a bug such as a script error, which is thrown as is.
 */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|NOREPLICAS)\b/;

/**
 * The options for a connection that fails fast while Redis is unreachable, so the caller
 * (governance/fallback-meter.ts) can decide what to do instead of waiting: no offline
 * queue (a command while disconnected fails at once), no retried or resent commands (a
 * `take` resent after a reconnect could count twice, after the caller already counted it
 * elsewhere), and a command timeout.
 */
export const FAIL_FAST: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  commandTimeout: 1000,
  connectTimeout: 2000,
};

/** A RedisMeter on its own fail-fast connection to `url`. Connection errors are passed to `onError` (ioredis reconnects by itself). */
export function connectRedisMeter(
  url: string,
  opts: Omit<RedisMeterOptions, "redis"> & { onError?: (err: Error) => void; commandTimeoutMs?: number } = {},
): RedisMeter {
  const redis = new Redis(url, { ...FAIL_FAST, commandTimeout: opts.commandTimeoutMs ?? FAIL_FAST.commandTimeout });
  redis.on("error", (err: Error) => opts.onError?.(err));
  return new RedisMeter({ ...opts, redis });
}

export class RedisMeter implements Meter {
  readonly #redis: Redis;
  readonly #scripts: Record<ScriptName, Script>;
  readonly #prefix: string;
  readonly #now: (() => number) | undefined;
  readonly #margin: number;
  readonly #balanceTtl: number;

  constructor(o: RedisMeterOptions) {
    this.#redis = o.redis;
    this.#prefix = o.prefix ?? "switchyard:meter:";
    if (this.#prefix.includes("{")) throw new RangeError("RedisMeter: the prefix must not contain '{' (it would become every key's hash tag)");
    this.#now = o.now;
    this.#margin = o.marginMs ?? 60_000;
    this.#balanceTtl = o.balanceTtlMs ?? 7 * 86_400_000;
    for (const [name, lua] of Object.entries(SCRIPTS)) if (!(name in this.#redis)) this.#redis.defineCommand(name, { lua });
    const r = this.#redis as unknown as Record<ScriptName, Script>;
    this.#scripts = Object.fromEntries(Object.keys(SCRIPTS).map((n) => [n, r[n as ScriptName].bind(this.#redis)])) as Record<ScriptName, Script>;
  }

  /** Resolves once the connection is ready, or rejects after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<void> {
    if (this.#redis.status === "ready") return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#redis.off("ready", onReady);
        reject(new CountersUnavailableError("redis counters: not connected", undefined));
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#redis.once("ready", onReady);
    });
  }

  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  async take(r: TakeRequest): Promise<TakeResult> {
    checkTakeRequest(r);
    return this.#take(r);
  }

  async #take(r: TakeRequest, withTotal = false): Promise<TakeResult & { total?: number }> {
    const keys: string[] = [];
    const args: (string | number)[] = [this.#clock(), r.holder, r.ttlMs, this.#margin, r.holds.length];
    for (const h of r.holds) {
      keys.push(this.#k(h.key, "|h"), this.#k(h.key, "|z"), this.#k(h.key, "|b"));
      args.push(h.n, h.limit ?? "");
    }
    for (const w of r.windows) {
      keys.push(this.#windowKey(w.key, w.window));
      const [kind, n, a, b] = windowArgs(w.window, w.n);
      args.push(kind, n, w.limit, a, b);
    }
    const reply = (await this.#run("meterTake", keys, args)) as Reply;
    const lines = [...r.holds.map((h) => h.key), ...r.windows.map((w) => w.key)];
    if (reply[0] === 1) return { granted: true, marks: reply.slice(1).map(String) };
    const key = lines[Number(reply[1]) - 1]!;
    if (reply[0] === 2) return { granted: false, reason: "unknown_balance", key };
    const retry = Number(reply[4]);
    const full = { granted: false, reason: "full", key, used: Number(reply[2]), limit: Number(reply[3]), retryAfterMs: retry < 0 ? undefined : retry } as const;
    return withTotal ? { ...full, total: Number(reply[5]) } : full;
  }

  async finish(r: FinishRequest): Promise<void> {
    const keys: string[] = [];
    const args: (string | number)[] = [];
    for (const key of r.release) keys.push(this.#k(key, "|h"), this.#k(key, "|z"));
    let corrections = 0;
    for (const c of r.corrections) {
      checkWindowSpec(c.window);
      const bucket = Number(c.mark);
      if (!Number.isSafeInteger(bucket) || !Number.isSafeInteger(c.delta)) continue;
      keys.push(this.#windowKey(c.key, c.window));
      const [kind, , a, b] = windowArgs(c.window, 0);
      args.push(kind, String(bucket), c.delta, a, b);
      corrections++;
    }
    let carries = 0;
    for (const c of r.carry) {
      if (!Number.isSafeInteger(c.n) || c.n <= 0 || !Number.isSafeInteger(c.ttlMs) || c.ttlMs <= 0) continue;
      keys.push(this.#k(c.key, "|h"), this.#k(c.key, "|z"));
      args.push(c.holder, c.n, c.ttlMs);
      carries++;
    }
    if (keys.length === 0) return;
    await this.#run("meterFinish", keys, [this.#clock(), r.holder, this.#margin, r.release.length, corrections, carries, ...args]);
  }

  async rebase(r: RebaseRequest): Promise<void> {
    if (!Number.isSafeInteger(r.balance) || !Number.isSafeInteger(r.seq)) throw new RangeError("rebase: balance and seq must be integers");
    const keys = [this.#k(r.key, "|b"), this.#k(r.key, "|h"), this.#k(r.key, "|z")];
    const drop = r.drop && Number.isSafeInteger(r.drop.n) && r.drop.n > 0 ? r.drop : undefined;
    await this.#run("meterRebase", keys, [this.#clock(), r.balance, r.seq, r.validUntil ?? "", drop?.holder ?? "", drop?.n ?? 0, this.#balanceTtl]);
  }

  async counted(key: string, window: WindowSpec): Promise<number> {
    checkWindowSpec(window);
    const [kind, , a, b] = windowArgs(window, 0);
    return Number(await this.#run("meterCounted", [this.#windowKey(key, window)], [this.#clock(), kind, a, b]));
  }

  async reserve(r: ReserveRequest): Promise<ReserveResult> {
    checkReserveRequest(r);
    const holds = r.limits.map((l) => ({ key: l.key, n: r.n, limit: l.limit }));
    const result = await this.#take({ holder: r.holder, ttlMs: r.ttlMs, holds, windows: [] }, true);
    if (result.granted) return { granted: true };
    if (result.reason !== "full") throw new Error("reserve: a limit is always given");
    // `reserve` reports all the key holds, the holder's own holding included.
    return { granted: false, key: result.key, held: result.total ?? result.used, limit: result.limit };
  }

  async release(holder: string, keys: readonly string[]): Promise<void> {
    await this.finish({ holder, release: keys, corrections: [], carry: [] });
  }

  async held(key: string): Promise<number> {
    return Number(await this.#run("meterHeld", [this.#k(key, "|h"), this.#k(key, "|z")], [this.#clock()]));
  }

  async incrementWindow(key: string, n: number, windowMs: number): Promise<number> {
    checkWindowArgs(n, windowMs);
    return Number(await this.#run("meterIncrementWindow", [this.#k(key, "|w")], [this.#clock(), n, windowMs, this.#margin]));
  }

  #k(key: string, suffix: string): string {
    return `${this.#prefix}${key}${suffix}`;
  }

  #windowKey(key: string, w: WindowSpec): string {
    return w.kind === "sliding" ? this.#k(key, "|s") : this.#k(key, `|f|${w.id}`);
  }

  /** The test clock's reading, or '' for Redis's own. */
  #clock(): number | string {
    return this.#now ? this.#now() : "";
  }

  async #run(name: ScriptName, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await this.#scripts[name](keys.length, ...keys, ...args);
    } catch (err) {
      // A reply from a healthy server (a script error) is a bug and thrown as is; anything else means Redis is away.
      if (err instanceof ReplyError && !UNAVAILABLE_REPLY.test((err as Error).message)) throw err;
      throw new CountersUnavailableError(`redis counters: ${(err as Error).message}`, err);
    }
  }
}

/** A window line's script arguments: kind, n, then windowMs and buckets (sliding) or endsAt and 0 (fixed). */
function windowArgs(w: WindowSpec, n: number): [string, number, number, number] {
  return w.kind === "sliding" ? ["s", n, w.windowMs, w.buckets] : ["f", n, w.endsAt, 0];
}
