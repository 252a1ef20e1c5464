/**
 * Chooses the ordered list of (upstream, key) attempts for one request, and the
 * lane each would use. The lane is decided here and nowhere else: same wire
 * protocol on both sides → passthrough; otherwise → translate.
 */
import type { ClientProtocol } from "../protocols/codec.js";
import type { CatalogSnapshot, UpstreamTarget } from "../routing/catalog.js";
import type { PoolKey } from "../routing/key-pool.js";
import type { UpstreamProtocol } from "../storage/ports.js";

export type Lane = "passthrough" | "translate";

export interface PlannedAttempt {
  target: UpstreamTarget;
  key: PoolKey;
  lane: Lane;
}

const NATIVE: Record<ClientProtocol, readonly UpstreamProtocol[]> = {
  "openai-chat": ["openai-chat"],
  "openai-responses": ["openai-responses", "codex"],
  "anthropic-messages": ["anthropic"],
};

export function laneFor(client: ClientProtocol, upstream: UpstreamProtocol): Lane {
  return NATIVE[client].includes(upstream) ? "passthrough" : "translate";
}

export interface PlanOptions {
  model: string;
  client: ClientProtocol;
  /** Session key that pins a conversation to one upstream key. */
  affinity: string | undefined;
  maxAttempts: number;
  /** Whether the translate lane is available for this route. */
  allowTranslate: boolean;
  now: number;
}

/**
 * Upstreams serving the model, native-protocol ones first (in config order), each
 * contributing its keys in pool order; attempts alternate across upstreams only
 * after an upstream's keys are exhausted, capped at `maxAttempts`.
 */
export function planAttempts(snapshot: CatalogSnapshot, o: PlanOptions): { attempts: PlannedAttempt[]; servedAnywhere: boolean } {
  const serving = snapshot.upstreams.filter((t) => t.models.matches(o.model));
  const native = serving.filter((t) => laneFor(o.client, t.protocol) === "passthrough");
  const foreign = o.allowTranslate ? serving.filter((t) => laneFor(o.client, t.protocol) === "translate") : [];
  const attempts: PlannedAttempt[] = [];
  for (const target of [...native, ...foreign]) {
    const lane = laneFor(o.client, target.protocol);
    for (const key of target.pool.order(o.affinity, o.now)) {
      if (attempts.length >= o.maxAttempts) return { attempts, servedAnywhere: true };
      attempts.push({ target, key, lane });
    }
  }
  return { attempts, servedAnywhere: serving.length > 0 };
}
