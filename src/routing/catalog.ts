/**
 * The in-memory snapshot the hot path reads: principals by key prefix, upstreams
 * with decrypted key pools and compiled model matchers. Built from the store at
 * start and rebuilt after every admin write (and, in a cluster, on a change
 * notification); requests never touch the database.
 */
import type { Account, ApiKey, Store, Upstream, UpstreamProtocol } from "../storage/ports.js";
import type { SecretBox } from "../governance/secrets.js";
import { compileModelPatterns, ANY_MODEL, type ModelMatcher } from "../canonical/model-pattern.js";
import { KeyPool, type PoolKey } from "./key-pool.js";

export interface Principal {
  apiKeyId: string;
  apiKeyName: string;
  keyHash: string;
  account: Account;
  /** The account and its ancestors, nearest first: every one's limits apply. */
  chain: Account[];
  /** Effective model permission: the intersection of the chain's allow-lists. */
  allowedModels: ModelMatcher[];
}

export interface UpstreamTarget {
  upstream: Upstream;
  protocol: UpstreamProtocol;
  models: ModelMatcher;
  pool: KeyPool;
  /** Whether requests to it carry the session's `prompt_cache_key` (see {@link sendsPromptCacheKey}). */
  sendsCacheKey: boolean;
}

export interface CatalogSnapshot {
  principalsByPrefix: Map<string, Principal>;
  upstreams: UpstreamTarget[];
  version: number;
}

function accountModels(a: Account): ModelMatcher {
  const models = a.settings.models;
  if (Array.isArray(models) && models.every((m) => typeof m === "string")) return compileModelPatterns(models as string[]);
  return ANY_MODEL;
}

/**
 * The upstream's `prompt_cache_key` setting, or its protocol's default: Responses
 * upstreams (and the Codex backend) take the field; of Chat upstreams only OpenAI's
 * own API is known to, while Groq, Cerebras, NVIDIA NIM and Azure AI Foundry reject
 * unknown fields with a 400 (e.g. zed-industries/zed#36215). Anthropic has no such field.
 */
export function sendsPromptCacheKey(u: Pick<Upstream, "protocol" | "baseUrl" | "settings">): boolean {
  const set = u.settings.prompt_cache_key;
  if (u.protocol === "anthropic") return false;
  if (typeof set === "boolean") return set;
  if (u.protocol === "openai-chat") return new URL(u.baseUrl).hostname === "api.openai.com";
  return true;
}

export function modelAllowed(p: Principal, model: string): boolean {
  for (const m of p.allowedModels) if (!m.matches(model)) return false;
  return true;
}

export async function buildSnapshot(store: Store, secrets: SecretBox, version: number, previous?: CatalogSnapshot): Promise<CatalogSnapshot> {
  const [accounts, keys, upstreams, upstreamKeys] = await Promise.all([
    store.accounts.list(),
    store.apiKeys.listActive(),
    store.upstreams.list(),
    store.upstreamKeys.listAll(),
  ]);
  const byId = new Map(accounts.map((a) => [a.id, a]));
  const chainOf = (a: Account): Account[] => {
    const chain: Account[] = [];
    const seen = new Set<string>();
    for (let cur: Account | undefined = a; cur && !seen.has(cur.id); cur = cur.parentId ? byId.get(cur.parentId) : undefined) {
      seen.add(cur.id);
      chain.push(cur);
    }
    return chain;
  };
  const principalsByPrefix = new Map<string, Principal>();
  for (const k of keys as ApiKey[]) {
    const account = byId.get(k.accountId);
    if (!account) continue;
    const chain = chainOf(account);
    principalsByPrefix.set(k.prefix, {
      apiKeyId: k.id,
      apiKeyName: k.name,
      keyHash: k.hash,
      account,
      chain,
      allowedModels: chain.map(accountModels).filter((m) => m !== ANY_MODEL),
    });
  }

  // Key health survives a reload for keys that still exist with the same secret.
  const previousKeys = new Map<string, PoolKey>();
  for (const t of previous?.upstreams ?? []) for (const k of t.pool.keys) previousKeys.set(`${k.id}:${k.fingerprint}`, k);

  const targets: UpstreamTarget[] = [];
  for (const u of upstreams) {
    if (!u.enabled) continue;
    const pool: PoolKey[] = [];
    for (const uk of upstreamKeys) {
      if (uk.upstreamId !== u.id || uk.status !== "active") continue;
      const kept = previousKeys.get(`${uk.id}:${uk.fingerprint}`);
      if (kept && !kept.removed) {
        pool.push(kept);
        continue;
      }
      pool.push({
        id: uk.id,
        name: uk.name,
        secret: secrets.open(uk.ciphertext),
        fingerprint: uk.fingerprint,
        inFlight: 0,
        coolingUntil: 0,
        failures: 0,
        removed: false,
      });
    }
    targets.push({ upstream: u, protocol: u.protocol, models: compileModelPatterns(u.models), pool: new KeyPool(pool), sendsCacheKey: sendsPromptCacheKey(u) });
  }
  return { principalsByPrefix, upstreams: targets, version };
}

/** Holds the current snapshot and swaps it atomically on reload. */
export class Catalog {
  #snapshot: CatalogSnapshot;
  #version: number;
  #reloading: Promise<void> | undefined;

  private constructor(
    private readonly store: Store,
    private readonly secrets: SecretBox,
    snapshot: CatalogSnapshot,
  ) {
    this.#snapshot = snapshot;
    this.#version = snapshot.version;
  }

  static async load(store: Store, secrets: SecretBox): Promise<Catalog> {
    return new Catalog(store, secrets, await buildSnapshot(store, secrets, 1));
  }

  get snapshot(): CatalogSnapshot {
    return this.#snapshot;
  }

  /** Rebuilds the snapshot; concurrent calls coalesce into one follow-up build. */
  async reload(): Promise<void> {
    while (this.#reloading) await this.#reloading;
    this.#reloading = (async () => {
      this.#version++;
      this.#snapshot = await buildSnapshot(this.store, this.secrets, this.#version, this.#snapshot);
    })();
    try {
      await this.#reloading;
    } finally {
      this.#reloading = undefined;
    }
  }
}
