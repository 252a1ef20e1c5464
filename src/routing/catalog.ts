/**
 * The in-memory snapshot the hot path routes by: enabled upstreams with decrypted key
 * pools and compiled model matchers. Built from the store at start and rebuilt after
 * every admin write (and, in a cluster, on a change notification); requests never
 * touch the database. Who may call, and what they may use, is governance's snapshot
 * (governance/principals.ts), not this one.
 */
import { SnapshotHolder } from "../canonical/snapshot-holder.js";
import type { Repos, Upstream, UpstreamProtocol } from "../storage/ports.js";
import { compileModelPatterns, type ModelMatcher } from "../canonical/model-pattern.js";
import { NO_MAPPING, type CompiledModelMap } from "../canonical/model-map.js";
import { sendsPromptCacheKey } from "../upstream/prompt-cache-key.js";
import { compileHeaderPolicy, type HeaderPolicy } from "../upstream/headers.js";
import { KeyPool, type PoolKey } from "./key-pool.js";

export interface UpstreamTarget {
  upstream: Upstream;
  protocol: UpstreamProtocol;
  models: ModelMatcher;
  pool: KeyPool;
  /** Whether requests to it carry the session's `prompt_cache_key` (see upstream/prompt-cache-key.ts). */
  sendsCacheKey: boolean;
  /** Which client headers it gets, and the operator's own (upstream/headers.ts), compiled here rather than per request. */
  headers: HeaderPolicy;
}

export interface CatalogSnapshot {
  /** Every enabled upstream, gateway-wide and tenant-owned alike; who may use which is {@link ownedScope}'s. */
  upstreams: UpstreamTarget[];
  /**
   * Active keys left out of their pool because their envelope did not open (a master key
   * missing from the ring, say, while nodes change keys): one bad envelope must not stop
   * every other key from being served. The composition root refuses to start on any and
   * logs them on reload.
   */
  unopened: ReadonlyArray<{ upstreamKeyId: string; upstreamId: string; reason: string }>;
  /**
   * Active keys left out because their credential is dead (a ChatGPT login whose refresh
   * token was refused for good, docs/codex.md): remembered in the store, shown by the admin
   * API and /metrics, served again only once replaced.
   */
  dead?: ReadonlyArray<{ upstreamKeyId: string; upstream: string; fingerprint: string; reason: string }>;
  /** Accounts owning at least one enabled upstream here (usually few), so a caller with none pays nothing. */
  owners: ReadonlySet<string>;
  version: number;
  /** Gateway-wide mapping rules (the YAML's top-level `model_map`), consulted after the account's own. */
  modelMap: CompiledModelMap;
}

/**
 * Opens an upstream credential's envelope. Passed in by the composition root (the
 * secret box lives in governance, which routing does not import).
 */
export interface Decrypter {
  open(ciphertext: string): string;
}

/** What the catalog is built from: read access to upstreams and their keys. */
export type CatalogSource = Pick<Repos, "upstreams" | "upstreamKeys">;

export async function buildSnapshot(
  store: CatalogSource,
  secrets: Decrypter,
  version: number,
  previous?: CatalogSnapshot,
  modelMap: CompiledModelMap = NO_MAPPING,
): Promise<CatalogSnapshot> {
  const [upstreams, upstreamKeys] = await Promise.all([store.upstreams.list(), store.upstreamKeys.listAll()]);

  // Key health survives a reload for keys that still exist with the same secret, a disabled
  // (401/403) key's included: an unrelated admin write must not put a revoked key back in
  // rotation; replacing the key (a new secret or a new key) does.
  const previousKeys = new Map<string, PoolKey>();
  for (const t of previous?.upstreams ?? []) for (const k of t.pool.keys) previousKeys.set(`${k.id}:${k.fingerprint}`, k);

  const targets: UpstreamTarget[] = [];
  const unopened: Array<{ upstreamKeyId: string; upstreamId: string; reason: string }> = [];
  const dead: Array<{ upstreamKeyId: string; upstream: string; fingerprint: string; reason: string }> = [];
  for (const u of upstreams) {
    if (!u.enabled) continue;
    const pool: PoolKey[] = [];
    for (const uk of upstreamKeys) {
      if (uk.upstreamId !== u.id || uk.status !== "active") continue;
      if (uk.deadAt) {
        dead.push({ upstreamKeyId: uk.id, upstream: u.name, fingerprint: uk.fingerprint, reason: uk.deadReason ?? "unknown" });
        continue;
      }
      const kept = previousKeys.get(`${uk.id}:${uk.fingerprint}`);
      if (kept) {
        pool.push(kept);
        continue;
      }
      let secret: string;
      try {
        secret = secrets.open(uk.ciphertext);
      } catch (error) {
        unopened.push({ upstreamKeyId: uk.id, upstreamId: u.id, reason: (error as Error).message });
        continue;
      }
      pool.push({
        id: uk.id,
        name: uk.name,
        secret,
        fingerprint: uk.fingerprint,
        inFlight: 0,
        coolingUntil: 0,
        failures: 0,
        removed: false,
        latencyEwmaMs: 0,
        errorRate: 0,
        upstream: u.name,
      });
    }
    targets.push({
      upstream: u,
      protocol: u.protocol,
      models: compileModelPatterns(u.models),
      pool: new KeyPool(pool),
      sendsCacheKey: sendsPromptCacheKey(u),
      headers: compileHeaderPolicy(u.settings),
    });
  }
  const owners = new Set(targets.flatMap((t) => (t.upstream.ownerAccountId === null ? [] : [t.upstream.ownerAccountId])));
  return { upstreams: targets, owners, unopened, dead, version, modelMap };
}

const NO_SCOPE: readonly string[] = Object.freeze([]);

/**
 * The accounts on a caller's chain (the account and its ancestors, nearest first) that
 * own upstreams in this snapshot, nearest first: the tenant pools the caller may use
 * besides the gateway-wide ones. Routing takes the chain as plain ids; it does not know
 * principals.
 */
export function ownedScope(snapshot: CatalogSnapshot, chain: readonly { readonly id: string }[]): readonly string[] {
  if (snapshot.owners.size === 0) return NO_SCOPE;
  const scope: string[] = [];
  for (const a of chain) if (snapshot.owners.has(a.id)) scope.push(a.id);
  return scope.length === 0 ? NO_SCOPE : scope;
}

/** Whether a caller with this scope may use the upstream: gateway-wide, or owned by an account on its chain. */
export function visibleIn(target: UpstreamTarget, scope: readonly string[]): boolean {
  const owner = target.upstream.ownerAccountId;
  return owner === null || scope.includes(owner);
}

/** Holds the current snapshot and swaps it atomically on reload. */
export class Catalog extends SnapshotHolder<CatalogSnapshot> {
  /** `modelMap`: the gateway-wide mapping rules, fixed for the process (they come from the YAML file). */
  static async load(store: CatalogSource, secrets: Decrypter, modelMap: CompiledModelMap = NO_MAPPING): Promise<Catalog> {
    return new Catalog(await buildSnapshot(store, secrets, 1, undefined, modelMap), (version, previous) =>
      buildSnapshot(store, secrets, version, previous, modelMap),
    );
  }
}
