/**
 * GET /v1/models: the models this key may use, in the client's shape
 * (Anthropic clients identify themselves with `anthropic-version`).
 * Wildcard upstream patterns cannot be listed; exact names are.
 */
import type { IncomingHttpHeaders } from "node:http";
import { modelAllowed, type Principal } from "../governance/principals.js";
import type { CatalogSnapshot } from "../routing/catalog.js";

export function listModels(snapshot: CatalogSnapshot, principal: Principal, headers: IncomingHttpHeaders, now = new Date()): unknown {
  const owners = new Map<string, string>();
  for (const t of snapshot.upstreams) {
    for (const m of t.models.exact) if (!owners.has(m) && modelAllowed(principal, m)) owners.set(m, t.upstream.name);
  }
  const ids = [...owners.keys()].sort();
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
