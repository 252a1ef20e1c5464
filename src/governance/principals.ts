/**
 * Who may call the gateway: a bounded in-memory cache of principals (an API key with its
 * account, the account's chain and the chain's folded policy), filled on demand.
 *
 * - **Hit**: a presented secret is hashed, its lookup prefix finds the cached key, and a
 *   constant-time compare decides. Synchronous, no database, no promise.
 * - **Miss**: the key and its account chain are read from the store once (concurrent
 *   misses for one prefix share the load), the chain is folded and the principal cached.
 *   A prefix no active key has is remembered as unknown (bounded), so a repeated bad key
 *   costs no query either.
 * - **Random garbage**: every distinct unknown prefix would be one query; loads are
 *   therefore rate-limited per node (a token bucket, `loadsPerSecond`). A miss beyond the
 *   rate is refused with `key_lookup_unavailable` (503) instead of reaching the database;
 *   cached keys are never affected. See docs/architecture.md#principals.
 *
 * Folded chains are cached per account and shared by every key below them, as a tree
 * mirroring the cached part of the account tree: a chain node lives while a cached key or
 * a cached child chain depends on it. Keys are evicted least recently used (`maxKeys`),
 * and the summed length of the cached chains is bounded too (`maxChainLinks`), so memory
 * stays bounded at any depth and any number of accounts and keys in the store.
 *
 * Invalidation is exact: an account change drops that account's cached node and every
 * cached key and chain below it (the tree holds them); a key change drops that key and
 * forgets the key's prefix as unknown. A load that was running while any change arrived
 * is not cached (it may have read the store before the change), so a revoked key or a
 * suspended account never comes back from a slow read.
 */
import { LRUCache } from "lru-cache";
import { GatewayError } from "../canonical/errors.js";
import type { Account, AccountRepo, ApiKey, ApiKeyRepo, ApiKeyScope, KeyLimits } from "../storage/ports.js";
import { expiryMs } from "./key-policy.js";
import type { Logger } from "../observability/logger.js";
import { hashKey, hashesEqual, keyPrefix } from "./api-keys.js";
import { allowsModel, narrow, policyOf, UNRESTRICTED, type EffectivePolicy } from "./policy.js";

export interface Principal {
  readonly apiKeyId: string;
  readonly apiKeyName: string;
  readonly keyHash: string;
  readonly account: Account;
  /** The account and its ancestors, nearest first: every one's status and rules apply. */
  readonly chain: readonly Account[];
  /** The chain's policies folded into what this key may do, the key's own models last. */
  readonly policy: EffectivePolicy;
  /** What the key may be used for; the data plane needs `inference`. */
  readonly scopes: readonly ApiKeyScope[];
  /** When the key stops working (ms since the epoch; Infinity = never): checked per request by a number compare, so a cached principal expires without an invalidation. */
  readonly expiresAtMs: number;
  /** The key's own limits (enforced by the limits checks), null = none beyond the account's. */
  readonly keyLimits: KeyLimits | null;
}

/** What the cache loads from: one key by its prefix (or id), one account and its ancestors. */
export interface PrincipalSource {
  readonly accounts: Pick<AccountRepo, "get" | "ancestors">;
  readonly apiKeys: Pick<ApiKeyRepo, "getByPrefix" | "get">;
}

/** What changed, as an admin write or a cluster message names it (the audit event's target). */
export interface ChangedTarget {
  readonly type: string;
  readonly id: string;
}

export interface PrincipalCacheOptions {
  /** API keys held in memory (least recently used go first). */
  maxKeys: number;
  /**
   * Bounds the folded chains: every cached account counts 1, and an account whose keys
   * are cached counts its chain's length more (a key at depth d costs about 2d).
   */
  maxChainLinks: number;
  /** Prefixes remembered as unknown. */
  maxUnknownKeys: number;
  /** Store look-ups for uncached prefixes per second; a second's worth may come at once. */
  loadsPerSecond: number;
  logger?: Pick<Logger, "warn">;
  /** Milliseconds, monotonic; injectable for tests of the rate. */
  now?: () => number;
}

export const DEFAULT_CACHE_OPTIONS: PrincipalCacheOptions = {
  maxKeys: 100_000,
  maxChainLinks: 1_000_000,
  maxUnknownKeys: 100_000,
  loadsPerSecond: 1_000,
};

/** A cached account with its folded chain; shared by every cached key and sub-account below it. */
interface ChainNode {
  readonly account: Account;
  readonly parent: ChainNode | undefined;
  /**
   * The account and its ancestors, nearest first; built when a key of this account is
   * cached, so folding a deep chain costs its length, not its length squared.
   */
  chain: readonly Account[] | undefined;
  readonly policy: EffectivePolicy;
  readonly children: Set<ChainNode>;
  readonly keys: Set<KeyEntry>;
}

interface KeyEntry {
  readonly prefix: string;
  readonly key: ApiKey;
  readonly node: ChainNode;
  readonly principal: Principal;
  /** The secret once one was found to hash to the key's hash while this entry was cached: its key in `#bySecret`. */
  secret?: string;
}

/** Counters for tests, the benchmark and metrics. */
export interface PrincipalCacheStats {
  keys: number;
  unknownKeys: number;
  accounts: number;
  chainLinks: number;
  loads: number;
  refusedLoads: number;
}

/** The principal of a key on a folded chain. Fields a key adds (scopes, expiry, …) are copied here. */
function principalOf(key: ApiKey, node: ChainNode, chain: readonly Account[]): Principal {
  // The key is the chain's last link: its own models narrow the account's (and the fold keeps it within them).
  const policy = key.models ? narrow(node.policy, { models: key.models }) : node.policy;
  return {
    apiKeyId: key.id,
    apiKeyName: key.name,
    keyHash: key.hash,
    account: node.account,
    chain,
    policy,
    scopes: key.scopes,
    expiresAtMs: expiryMs(key.expiresAt),
    keyLimits: key.limits,
  };
}

/** The account and its ancestors, nearest first, read off the node's parents. */
function chainOf(node: ChainNode): Account[] {
  const chain: Account[] = [];
  for (let n: ChainNode | undefined = node; n; n = n.parent) chain.push(n.account);
  return chain;
}

export function modelAllowed(p: Principal, model: string): boolean {
  return allowsModel(p.policy, model);
}

export class Principals {
  readonly #source: PrincipalSource;
  readonly #opts: PrincipalCacheOptions;
  readonly #now: () => number;
  readonly #keys: LRUCache<string, KeyEntry>;
  readonly #unknown: LRUCache<string, true>;
  /** Prefixes of keys this node found valid before: reloading them (after an eviction or a reset) is not rate-limited. */
  readonly #known: LRUCache<string, true>;
  readonly #nodes = new Map<string, ChainNode>();
  readonly #prefixById = new Map<string, string>();
  /**
   * Cached entries by the secret found to hash to their key's hash, so that a key presented again
   * costs one Map look-up, not a SHA-256 and a comparison (docs/architecture.md#principals has what
   * that saved in `npm run bench`). An entry leaves it when it leaves the LRU
   * (`#detach`), so it holds at most one secret a cached key and nothing a revocation dropped. The
   * secrets are held in memory as every request's own header already is; the store keeps only hashes.
   */
  readonly #bySecret = new Map<string, KeyEntry>();
  /** Loads under way, by prefix: concurrent misses share one. */
  #loading = new Map<string, Promise<KeyEntry | undefined>>();
  /** Bumped by every invalidation: a load that started before the last one is not cached. */
  #epoch = 0;
  #links = 0;
  #tokens: number;
  #refilledAt: number;
  #loads = 0;
  #refused = 0;

  constructor(source: PrincipalSource, opts: Partial<PrincipalCacheOptions> = {}) {
    this.#source = source;
    this.#opts = Object.assign({}, DEFAULT_CACHE_OPTIONS, opts);
    this.#now = opts.now ?? (() => performance.now());
    // dispose runs inside delete/evict/clear, so the chain tree always matches the LRU. Bounded by
    // count through maxSize (each entry sized 1), not `max`: lru-cache allocates `max` slots up front,
    // megabytes for these bounds on a gateway that may only ever see a few keys.
    const one = { sizeCalculation: () => 1 };
    this.#keys = new LRUCache<string, KeyEntry>({ maxSize: this.#opts.maxKeys, ...one, dispose: (entry) => this.#detach(entry) });
    this.#unknown = new LRUCache<string, true>({ maxSize: this.#opts.maxUnknownKeys, ...one });
    this.#known = new LRUCache<string, true>({ maxSize: Math.max(this.#opts.maxKeys, this.#opts.maxUnknownKeys), ...one });
    this.#tokens = Math.max(1, this.#opts.loadsPerSecond);
    this.#refilledAt = this.#now();
  }

  /**
   * The principal a presented secret belongs to, or undefined. Answered synchronously
   * when the key's prefix is cached (as a key or as unknown); a promise only when the
   * store must be asked. Rejects with `key_lookup_unavailable` when that look-up is over
   * the rate or fails.
   */
  verify(secret: string): Principal | undefined | Promise<Principal | undefined> {
    const seen = this.#bySecret.get(secret);
    if (seen !== undefined) {
      this.#keys.get(seen.prefix); // as recently used as a hashed look-up would make it
      return seen.principal;
    }
    const hash = hashKey(secret);
    const prefix = keyPrefix(secret, hash);
    const entry = this.#keys.get(prefix);
    if (entry) return hashesEqual(entry.key.hash, hash) ? this.#matched(secret, entry) : undefined;
    if (this.#unknown.has(prefix)) return undefined;
    return this.#load(prefix).then((e) => (e && hashesEqual(e.key.hash, hash) ? this.#matched(secret, e) : undefined));
  }

  /** Number of secrets verify answers without hashing (tests). */
  get verifiedSecrets(): number {
    return this.#bySecret.size;
  }

  /** The principal of an entry `secret` hashed to, remembering the secret while the entry is the cached one. */
  #matched(secret: string, entry: KeyEntry): Principal {
    if (entry.secret === undefined && this.#keys.peek(entry.prefix) === entry) {
      entry.secret = secret;
      this.#bySecret.set(secret, entry);
    }
    return entry.principal;
  }

  /**
   * Applies a change to what is cached: an account drops its whole cached subtree, a key
   * itself, `config` (the configuration file was applied on some node) everything. Other
   * targets change nothing here.
   */
  async invalidate(target: ChangedTarget): Promise<void> {
    if (target.type === "account") this.invalidateAccount(target.id);
    else if (target.type === "api_key") await this.invalidateKey(target.id);
    else if (target.type === "config") this.clear();
  }

  /** Drops the account's cached chain and every cached key and chain below it. */
  invalidateAccount(accountId: string): void {
    this.#changed();
    const node = this.#nodes.get(accountId);
    if (!node) return; // nothing cached depends on it: a cached chain through it would hold its node
    const prefixes: string[] = [];
    const walk = (n: ChainNode): void => {
      for (const k of n.keys) prefixes.push(k.prefix);
      for (const c of n.children) walk(c);
    };
    walk(node);
    for (const p of prefixes) this.#keys.delete(p);
  }

  /**
   * Drops the cached key and forgets its prefix as unknown (a new key may have just been
   * given a prefix someone tried before). The prefix of a key not cached here is read
   * from the store.
   */
  async invalidateKey(keyId: string): Promise<void> {
    this.#changed();
    const cached = this.#prefixById.get(keyId);
    if (cached !== undefined) this.#keys.delete(cached);
    const key = await this.#source.apiKeys.get(keyId);
    if (key) {
      this.#changed();
      this.#unknown.delete(key.prefix);
      this.#keys.delete(key.prefix);
    }
  }

  /**
   * Forgets every principal (a cluster subscriber that may have missed messages). Keys it
   * held stay known as once valid, so reloading them is not held to the miss rate.
   */
  clear(): void {
    this.#changed();
    this.#keys.clear();
    this.#unknown.clear();
  }

  /** The folded policy of an account while a chain through it is cached (explain reuses it, so it shares the request's resolution cache). */
  cachedPolicy(accountId: string): EffectivePolicy | undefined {
    return this.#nodes.get(accountId)?.policy;
  }

  stats(): PrincipalCacheStats {
    return {
      keys: this.#keys.size,
      unknownKeys: this.#unknown.size,
      accounts: this.#nodes.size,
      chainLinks: this.#links,
      loads: this.#loads,
      refusedLoads: this.#refused,
    };
  }

  #changed(): void {
    this.#epoch++;
    // Later misses must not join a load that may have read the store before this change.
    if (this.#loading.size > 0) this.#loading = new Map();
  }

  #load(prefix: string): Promise<KeyEntry | undefined> {
    const running = this.#loading.get(prefix);
    if (running) return running;
    // A key this node found valid before is reloaded at once: only never-seen prefixes can be random garbage.
    if (!this.#known.has(prefix) && !this.#takeToken()) {
      this.#refused++;
      return Promise.reject(
        new GatewayError(
          "overloaded",
          "key_lookup_unavailable",
          "The API key could not be checked right now: too many unknown keys were presented. Retry shortly.",
          {
            status: 503,
            headers: { "retry-after": "1" },
          },
        ),
      );
    }
    this.#loads++;
    const loading = this.#loading;
    const epoch = this.#epoch;
    const p = this.#read(prefix).then(
      (read) => {
        if (loading.get(prefix) === p) loading.delete(prefix);
        if (epoch !== this.#epoch) {
          // A change arrived while reading: answer this once from what was read, cache nothing.
          if (!read) return undefined;
          const node = this.#fold(read.accounts, false);
          return { prefix, key: read.key, node, principal: principalOf(read.key, node, chainOf(node)) };
        }
        if (!read) {
          this.#unknown.set(prefix, true);
          return undefined;
        }
        return this.#insert(prefix, read.key, read.accounts);
      },
      (err: unknown) => {
        if (loading.get(prefix) === p) loading.delete(prefix);
        if (err instanceof GatewayError) throw err;
        throw new GatewayError(
          "overloaded",
          "key_lookup_unavailable",
          `The API key could not be checked right now (${(err as Error).message}). Retry shortly.`,
          {
            status: 503,
            headers: { "retry-after": "1" },
          },
        );
      },
    );
    loading.set(prefix, p);
    return p;
  }

  /** The active key with this prefix and its chain (the account, then its ancestors), from the store. */
  async #read(prefix: string): Promise<{ key: ApiKey; accounts: readonly Account[] } | undefined> {
    const key = await this.#source.apiKeys.getByPrefix(prefix);
    if (!key || key.status !== "active") return undefined;
    // The account's chain is already folded for another key: no second query.
    const cached = this.#nodes.get(key.accountId);
    if (cached) return { key, accounts: cached.chain ?? chainOf(cached) };
    const [account, ancestors] = await Promise.all([this.#source.accounts.get(key.accountId), this.#source.accounts.ancestors(key.accountId)]);
    if (!account) return undefined;
    return { key, accounts: [account, ...ancestors] };
  }

  #insert(prefix: string, key: ApiKey, accounts: readonly Account[]): KeyEntry {
    const node = this.#fold(accounts, true);
    if (!node.chain) {
      node.chain = chainOf(node);
      this.#links += node.chain.length;
    }
    const entry: KeyEntry = { prefix, key, node, principal: principalOf(key, node, node.chain) };
    // Linked first: an entry this one replaces, or one evicted to make room, may hang on the
    // same node, whose release must not free the node this entry now needs.
    node.keys.add(entry);
    this.#keys.set(prefix, entry);
    this.#prefixById.set(key.id, prefix);
    this.#unknown.delete(prefix);
    this.#known.set(prefix, true);
    // Deep chains can outgrow the link budget before the key count: evict until within it.
    while (this.#links > this.#opts.maxChainLinks && this.#keys.size > 1) this.#keys.pop();
    return entry;
  }

  /**
   * The node of `accounts[0]`, folding root first on top of the nearest cached ancestor.
   * With `attach`, new nodes join the cached tree (the caller adds a dependent at once).
   */
  #fold(accounts: readonly Account[], attach: boolean): ChainNode {
    let start = accounts.length;
    let above: ChainNode | undefined;
    for (let i = 0; i < accounts.length; i++) {
      const cached = this.#nodes.get(accounts[i]!.id);
      if (cached) {
        if (i === 0) return cached;
        start = i;
        above = cached;
        break;
      }
    }
    for (let i = start - 1; i >= 0; i--) {
      const a = accounts[i]!;
      const { policy: own, problem } = policyOf(a.settings);
      if (problem)
        this.#opts.logger?.warn(
          { accountId: a.id, account: a.name, problem },
          "account policy does not parse; the account and its sub-accounts may use no model",
        );
      const node: ChainNode = {
        account: a,
        parent: above,
        chain: undefined,
        policy: narrow(above?.policy ?? UNRESTRICTED, own, a.id),
        children: new Set(),
        keys: new Set(),
      };
      if (attach) {
        above?.children.add(node);
        this.#nodes.set(a.id, node);
        this.#links += 1;
      }
      above = node;
    }
    return above!;
  }

  /** A key left the LRU: unlink it, and free chain nodes nothing depends on any more. */
  #detach(entry: KeyEntry): void {
    if (entry.secret !== undefined && this.#bySecret.get(entry.secret) === entry) this.#bySecret.delete(entry.secret);
    entry.node.keys.delete(entry);
    if (this.#prefixById.get(entry.key.id) === entry.prefix) this.#prefixById.delete(entry.key.id);
    for (let n: ChainNode | undefined = entry.node; n && n.keys.size === 0 && n.children.size === 0; n = n.parent) {
      if (this.#nodes.get(n.account.id) !== n) break;
      this.#nodes.delete(n.account.id);
      this.#links -= 1 + (n.chain?.length ?? 0);
      n.parent?.children.delete(n);
    }
  }

  #takeToken(): boolean {
    const now = this.#now();
    const rate = this.#opts.loadsPerSecond;
    this.#tokens = Math.min(Math.max(1, rate), this.#tokens + ((now - this.#refilledAt) * rate) / 1000);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens--;
    return true;
  }
}
