/**
 * GET /v1/models: the models this key may use, in the client's shape
 * (Anthropic clients identify themselves with `anthropic-version`).
 *
 * A model is listed when an enabled upstream serves it and the key's account chain
 * allows it. Upstreams that declare exact names serve those; a pattern (`gpt-5*`)
 * serves an open set, of which the listing names the well-known model ids it matches
 * (routing/known-models.ts) and the exact names the account's own allow-lists give.
 */
import type { IncomingHttpHeaders } from "node:http";
import { modelAllowed, type Principal } from "../governance/principals.js";
import { ownedScope, visibleIn, type CatalogSnapshot, type UpstreamTarget } from "../routing/catalog.js";
import { KNOWN_MODELS } from "../routing/known-models.js";

/** The names each snapshot's gateway-wide upstreams are known to serve, worked out once per snapshot. */
const servedBySnapshot = new WeakMap<CatalogSnapshot, ReadonlySet<string>>();

function addKnown(names: Set<string>, t: UpstreamTarget): void {
  for (const m of t.models.exact) names.add(m);
  if (t.models.patterns.length > 0) for (const m of KNOWN_MODELS[t.protocol]) if (t.models.matches(m)) names.add(m);
}

function knownServed(snapshot: CatalogSnapshot): ReadonlySet<string> {
  let served = servedBySnapshot.get(snapshot);
  if (!served) {
    const names = new Set<string>();
    for (const t of snapshot.upstreams) if (t.upstream.ownerAccountId === null) addKnown(names, t);
    served = names;
    servedBySnapshot.set(snapshot, served);
  }
  return served;
}

/** The model ids the key may use, sorted: from the gateway-wide upstreams and those its own chain owns, never another tenant's. */
export function servedModels(snapshot: CatalogSnapshot, principal: Principal): string[] {
  const ids = new Set(knownServed(snapshot));
  const scope = ownedScope(snapshot, principal.chain);
  const visible = snapshot.upstreams.filter((t) => visibleIn(t, scope));
  for (const t of visible) if (t.upstream.ownerAccountId !== null) addKnown(ids, t);
  // An account that allows an exact name an upstream's pattern serves can use it, known or not.
  for (const list of principal.policy.models) {
    for (const m of list.matcher.exact) if (visible.some((t) => t.models.matches(m))) ids.add(m);
  }
  return [...ids].filter((m) => modelAllowed(principal, m)).sort();
}

export function listModels(snapshot: CatalogSnapshot, principal: Principal, headers: IncomingHttpHeaders, now = new Date()): unknown {
  const ids = servedModels(snapshot, principal);
  if (headers["anthropic-version"] !== undefined) {
    const created = now.toISOString();
    return {
      data: ids.map((id) => ({ type: "model", id, display_name: id, created_at: created })),
      has_more: false,
      first_id: ids[0] ?? null,
      last_id: ids[ids.length - 1] ?? null,
    };
  }
  const created = Math.floor(now.getTime() / 1000);
  return { object: "list", data: ids.map((id) => ({ id, object: "model", created, owned_by: "switchyard" })) };
}
