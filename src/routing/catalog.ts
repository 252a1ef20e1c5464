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
  upstreams: UpstreamTarget[];
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
    targets.push({
      upstream: u,
      protocol: u.protocol,
      models: compileModelPatterns(u.models),
      pool: new KeyPool(pool),
      sendsCacheKey: sendsPromptCacheKey(u),
      headers: compileHeaderPolicy(u.settings),
    });
  }
  return { upstreams: targets, version, modelMap };
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
