/**
 * Admin API under /admin/v1 (documented in docs/admin-api.md and served as
 * OpenAPI at /admin/v1/openapi.json): HTTP only. Paths, the admin token, status
 * codes and the JSON views live here; validation, policy checks, transactions,
 * audit and the change notification live in the admin service (service.ts).
 */
import type { IncomingMessage } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { GatewayError } from "../canonical/errors.js";
import type { AdminService } from "./service.js";
import type { AdminContext } from "./context.js";
import { accountView, apiKeyView, effectivePolicyView, upstreamKeyView, upstreamView } from "./views.js";
import { openApiDocument } from "./openapi.js";

/** The query of a GET, as strings (explain reads it). */
export type AdminQuery = Readonly<Record<string, string | undefined>>;

export interface AdminDeps {
  service: AdminService;
  adminToken: string;
  /**
   * Explains where a request would go (GET /admin/v1/explain). It needs governance and
   * routing together, which only the pipeline may see: main.ts composes the pipeline's
   * implementation in here, so this layer imports neither.
   */
  explain(query: AdminQuery): Promise<Record<string, unknown>>;
}

type Handler = (
  service: AdminService,
  params: string[],
  body: unknown,
  ctx: { deps: AdminDeps; query: AdminQuery; admin: AdminContext },
) => Promise<{ status: number; body: unknown }>;

interface Route {
  method: string;
  /** The path under /admin/v1 as documented, `{name}` for a parameter. */
  path: string;
  pattern: RegExp;
  handler: Handler;
  /** Whether the route needs the admin token (only the OpenAPI document is public). */
  auth: boolean;
}

const routes: Route[] = [];
function route(method: string, path: string, handler: Handler, auth = true): void {
  const pattern = new RegExp(`^/admin/v1${path.replace(/\{[a-z_]+\}/g, "([^/]+)")}$`);
  routes.push({ method, path, pattern, handler, auth });
}

/** Every admin route, as `{method, path}` under /admin/v1 (the docs test checks each is documented). */
export function adminRoutes(): Array<{ method: string; path: string }> {
  return routes.map((r) => ({ method: r.method, path: r.path }));
}

const list = <T>(items: T[], view: (item: T) => Record<string, unknown>) => ({ status: 200, body: { data: items.map(view) } });
const noContent = { status: 204, body: undefined };

route("GET", "/openapi.json", async () => ({ status: 200, body: openApiDocument() }), false);

route("GET", "/accounts", async (s, _p, _b, { admin }) => list(await s.listAccounts(admin), accountView));
route("POST", "/accounts", async (s, _p, body, { admin }) => ({ status: 201, body: accountView(await s.createAccount(body, admin)) }));
route("GET", "/accounts/{id}", async (s, [id], _b, { admin }) => ({ status: 200, body: accountView(await s.getAccount(id!, admin)) }));
route("PATCH", "/accounts/{id}", async (s, [id], body, { admin }) => ({ status: 200, body: accountView(await s.updateAccount(id!, body, admin)) }));
route("DELETE", "/accounts/{id}", async (s, [id], _b, { admin }) => {
  await s.deleteAccount(id!, admin);
  return noContent;
});
route("GET", "/accounts/{id}/descendants", async (s, [id], _b, { admin }) => list(await s.descendants(id!, admin), accountView));
route("GET", "/accounts/{id}/effective-policy", async (s, [id], _b, { admin }) => {
  const { chain, policy } = await s.effectivePolicy(id!, admin);
  return { status: 200, body: effectivePolicyView(chain, policy) };
});

route("GET", "/accounts/{id}/keys", async (s, [id], _b, { admin }) => list(await s.listApiKeys(id!, admin), apiKeyView));
route("POST", "/accounts/{id}/keys", async (s, [id], body, { admin }) => {
  const { key, secret } = await s.createApiKey(id!, body, admin);
  // The secret is shown here once and never again.
  return { status: 201, body: { ...apiKeyView(key), key: secret } };
});
route("DELETE", "/keys/{id}", async (s, [id], _b, { admin }) => {
  await s.revokeApiKey(id!, admin);
  return noContent;
});

route("GET", "/upstreams", async (s, _p, _b, { admin }) => list(await s.listUpstreams(admin), upstreamView));
route("POST", "/upstreams", async (s, _p, body, { admin }) => ({ status: 201, body: upstreamView(await s.createUpstream(body, admin)) }));
route("GET", "/upstreams/{id}", async (s, [id], _b, { admin }) => ({ status: 200, body: upstreamView(await s.getUpstream(id!, admin)) }));
route("PATCH", "/upstreams/{id}", async (s, [id], body, { admin }) => ({ status: 200, body: upstreamView(await s.updateUpstream(id!, body, admin)) }));
route("DELETE", "/upstreams/{id}", async (s, [id], _b, { admin }) => {
  await s.deleteUpstream(id!, admin);
  return noContent;
});
route("GET", "/upstreams/{id}/keys", async (s, [id], _b, { admin }) => list(await s.listUpstreamKeys(id!, admin), upstreamKeyView));
route("POST", "/upstreams/{id}/keys", async (s, [id], body, { admin }) => ({ status: 201, body: upstreamKeyView(await s.addUpstreamKey(id!, body, admin)) }));
route("DELETE", "/upstreams/{id}/keys/{key_id}", async (s, [id, keyId], _b, { admin }) => {
  await s.removeUpstreamKey(id!, keyId!, admin);
  return noContent;
});

route("GET", "/explain", async (_s, _p, _b, { deps, query }) => ({ status: 200, body: await deps.explain(query) }));

function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (!presented) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Dispatches one admin request; returns false if the path is not an admin route. */
export async function handleAdmin(
  deps: AdminDeps,
  method: string,
  path: string,
  req: IncomingMessage,
  readJson: () => Promise<unknown>,
  /** The query string, with or without its leading "?". */
  queryString = "",
  /** Where the request came from, for the audit trail. */
  origin: { requestId?: string; clientIp?: string } = {},
): Promise<{ status: number; body: unknown } | undefined> {
  let allowedMethods = false;
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    allowedMethods = true;
    if (r.method !== method) continue;
    if (r.auth) {
      const auth = req.headers.authorization;
      const presented = typeof auth === "string" ? /^Bearer\s+(.+)$/i.exec(auth)?.[1] : undefined;
      if (!tokenMatches(presented, deps.adminToken)) {
        throw new GatewayError("authentication", "invalid_admin_token", "A valid admin token is required: 'Authorization: Bearer <admin token>'.");
      }
    }
    const body = method === "POST" || method === "PATCH" ? await readJson() : undefined;
    const query: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(queryString)) query[k] ??= v;
    // Only the root admin token is accepted today, so every authenticated caller is root.
    const admin: AdminContext = { actor: { type: "root" }, ...origin };
    return r.handler(deps.service, m.slice(1).map(decodeURIComponent), body, { deps, query, admin });
  }
  if (allowedMethods) throw new GatewayError("invalid_request", "method_not_allowed", `${method} is not supported on ${path}.`, { status: 405 });
  return undefined;
}
