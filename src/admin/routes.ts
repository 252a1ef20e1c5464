/**
 * Admin API under /admin/v1 (documented in docs/admin-api.md and served as
 * OpenAPI at /admin/v1/openapi.json): HTTP only. Paths, who the bearer token stands
 * for, status codes and the JSON views live here; validation, authorization (which
 * accounts a manage key reaches: authorize.ts), policy checks, transactions, audit and
 * the change notification live in the admin service (service.ts).
 */
import type { IncomingMessage } from "node:http";
import { timingSafeEqual } from "node:crypto";
import { GatewayError } from "../canonical/errors.js";
import type { AdminService } from "./service.js";
import type { AdminActor, AdminContext } from "./context.js";
import { invalidToken } from "./authorize.js";
import { accountView, apiKeyView, effectivePolicyView, upstreamKeyView, upstreamView } from "./views.js";
import { creditMovementView } from "./credits.js";
import { openApiDocument } from "./openapi.js";
import type { z } from "zod";
import { deleteAccountQuery } from "./schemas.js";
import { usageCsv, type UsageView } from "./usage-reads.js";

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
  /**
   * The live health of an upstream's keys on this node, by key id (GET /upstreams/{id}/keys).
   * Key health is routing's, which this layer may not import: main.ts injects it. Keys
   * not in service (revoked, or the upstream disabled) are absent.
   */
  keyStates?(upstreamId: string): ReadonlyMap<string, KeyStateView>;
}

/** One key's health as the admin API shows it (docs/admin-api.md#upstreams). */
export interface KeyStateView {
  state: "healthy" | "cooling" | "open" | "half_open" | "disabled";
  reason: string | null;
  /** Epoch ms when a cooling or open key may be tried again. */
  until: number | null;
  in_flight: number;
  latency_ms_ewma: number | null;
  error_rate: number;
  /** A subscription account's usage windows from its last answer (Codex backend); null for other keys and before the first answer. */
  headroom?: KeyHeadroomView | null;
}

/** One usage window of a subscription account (docs/codex.md#subscription-headroom-and-cooldowns); times are epoch ms here, ISO 8601 in the answer. */
export interface UsageWindowView {
  used_percent: number;
  window_minutes: number | null;
  resets_at: number | null;
}

export interface KeyHeadroomView {
  primary: UsageWindowView | null;
  secondary: UsageWindowView | null;
  credits: { has_credits: boolean | null; unlimited: boolean | null; balance: string | null } | null;
  observed_at: number;
}

const NOT_IN_SERVICE = { state: null, reason: null, until: null, in_flight: 0, latency_ms_ewma: null, error_rate: null, headroom: null };

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function headroomAnswer(h: KeyHeadroomView | null | undefined): Record<string, unknown> | null {
  if (!h) return null;
  const w = (x: UsageWindowView | null) => x && { ...x, resets_at: iso(x.resets_at) };
  return { primary: w(h.primary), secondary: w(h.secondary), credits: h.credits, observed_at: iso(h.observed_at) };
}

/** The stored key with its live health merged in. */
function keyWithHealth(live: ReadonlyMap<string, KeyStateView> | undefined): (k: Parameters<typeof upstreamKeyView>[0]) => Record<string, unknown> {
  return (k) => {
    const h = live?.get(k.id);
    return { ...upstreamKeyView(k), ...(h ? { ...h, until: iso(h.until), headroom: headroomAnswer(h.headroom) } : NOT_IN_SERVICE) };
  };
}

/** An answer: a JSON body, or (with `contentType`) a text body sent as is (CSV exports). */
export interface AdminAnswer {
  status: number;
  body: unknown;
  contentType?: string;
}

type Handler = (
  service: AdminService,
  params: string[],
  body: unknown,
  ctx: { deps: AdminDeps; query: AdminQuery; admin: AdminContext; accept: string | undefined },
) => Promise<AdminAnswer>;

interface Route {
  method: string;
  /** The path under /admin/v1 as documented, `{name}` for a parameter. */
  path: string;
  pattern: RegExp;
  handler: Handler;
  /** Whether the route needs a bearer token (only the OpenAPI document is public). */
  auth: boolean;
  /**
   * Gateway-wide: the root admin token only. To a manage key the route answers as an
   * unknown route would, so it learns nothing from it (the service refuses too).
   */
  rootOnly: boolean;
}

/** Gateway-wide routes, for the root admin token only (until resources there get owners). */
function isRootOnly(path: string): boolean {
  return path === "/explain" || path === "/audit" || path === "/usage/upstream-keys";
}

const routes: Route[] = [];
function route(method: string, path: string, handler: Handler, auth = true): void {
  const pattern = new RegExp(`^/admin/v1${path.replace(/\{[a-z_]+\}/g, "([^/]+)")}$`);
  routes.push({ method, path, pattern, handler, auth, rootOnly: isRootOnly(path) });
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
route("DELETE", "/accounts/{id}", async (s, [id], _b, { admin, query }) => {
  const { cascade } = parseQuery(deleteAccountQuery, query);
  await s.deleteAccount(id!, { cascade: cascade === "true" }, admin);
  return noContent;
});
route("POST", "/accounts/{id}/suspend", async (s, [id], _b, { admin }) => ({ status: 200, body: accountView(await s.suspendAccount(id!, admin)) }));
route("POST", "/accounts/{id}/resume", async (s, [id], _b, { admin }) => ({ status: 200, body: accountView(await s.resumeAccount(id!, admin)) }));
route("GET", "/accounts/{id}/children", async (s, [id], _b, { admin }) => list(await s.children(id!, admin), accountView));
route("GET", "/accounts/{id}/descendants", async (s, [id], _b, { admin, query }) => {
  const page = await s.descendantPage(id!, query, admin);
  return { status: 200, body: { data: page.items.map((a) => ({ ...accountView(a), depth: a.depth })), next_cursor: page.nextCursor } };
});
route("GET", "/accounts/{id}/ancestors", async (s, [id], _b, { admin }) => list(await s.ancestors(id!, admin), accountView));
route("GET", "/accounts/{id}/effective-policy", async (s, [id], _b, { admin }) => {
  const { visible, policy } = await s.effectivePolicy(id!, admin);
  return { status: 200, body: effectivePolicyView(visible, policy) };
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
route("POST", "/keys/{id}/rotate", async (s, [id], body, { admin }) => {
  const { key, secret, old } = await s.rotateApiKey(id!, body, admin);
  // The new secret is shown here once; the old one works until `replaces.expires_at`.
  return { status: 201, body: { ...apiKeyView(key), key: secret, replaces: { id: old.id, expires_at: old.expiresAt } } };
});

route("GET", "/upstreams", async (s, _p, _b, { admin }) => list(await s.listUpstreams(admin), upstreamView));
route("POST", "/upstreams", async (s, _p, body, { admin }) => ({ status: 201, body: upstreamView(await s.createUpstream(body, admin)) }));
route("GET", "/upstreams/{id}", async (s, [id], _b, { admin }) => ({ status: 200, body: upstreamView(await s.getUpstream(id!, admin)) }));
route("PATCH", "/upstreams/{id}", async (s, [id], body, { admin }) => ({ status: 200, body: upstreamView(await s.updateUpstream(id!, body, admin)) }));
route("DELETE", "/upstreams/{id}", async (s, [id], _b, { admin }) => {
  await s.deleteUpstream(id!, admin);
  return noContent;
});
route("GET", "/upstreams/{id}/keys", async (s, [id], _b, { admin, deps }) => {
  const keys = await s.listUpstreamKeys(id!, admin);
  return list(keys, keyWithHealth(deps.keyStates?.(id!)));
});
route("POST", "/upstreams/{id}/keys", async (s, [id], body, { admin }) => ({ status: 201, body: upstreamKeyView(await s.addUpstreamKey(id!, body, admin)) }));
route("DELETE", "/upstreams/{id}/keys/{key_id}", async (s, [id, keyId], _b, { admin }) => {
  await s.removeUpstreamKey(id!, keyId!, admin);
  return noContent;
});

// Credits and audit (money rules: credits.ts). A repeated idempotency key answers the first result again.
route("POST", "/accounts/{id}/credits/topup", async (s, [id], body, { admin }) => ({
  status: 201,
  body: creditMovementView(await s.topUpCredit(id!, body, admin)),
}));
route("POST", "/accounts/{id}/credits/grant", async (s, [id], body, { admin }) => ({
  status: 201,
  body: creditMovementView(await s.grantCredit(id!, body, admin)),
}));
route("POST", "/accounts/{id}/credits/clawback", async (s, [id], body, { admin }) => ({
  status: 201,
  body: creditMovementView(await s.clawBackCredit(id!, body, admin)),
}));
route("GET", "/accounts/{id}/credits", async (s, [id], _b, { admin }) => ({ status: 200, body: await s.credits(id!, admin) }));
route("GET", "/accounts/{id}/ledger", async (s, [id], _b, { admin, query }) => ({ status: 200, body: await s.ledger(id!, query, admin) }));
route("GET", "/accounts/{id}/audit", async (s, [id], _b, { admin, query }) => ({ status: 200, body: await s.accountAudit(id!, query, admin) }));
// Usage over hourly rollups (usage-reads.ts), as JSON or, with format=csv or Accept: text/csv, CSV.
route("GET", "/accounts/{id}/usage", async (s, [id], _b, { admin, query, accept }) => usageAnswer(await s.usage(id!, query, admin), query, accept));
route("GET", "/usage/upstream-keys", async (s, _p, _b, { admin, query, accept }) => usageAnswer(await s.upstreamKeyUsage(query, admin), query, accept));
route("GET", "/audit", async (s, _p, _b, { admin, query }) => ({ status: 200, body: await s.auditLog(query, admin) }));

route("GET", "/explain", async (_s, _p, _b, { deps, query }) => ({ status: 200, body: await deps.explain(query) }));

function usageAnswer(view: UsageView, query: AdminQuery, accept: string | undefined): AdminAnswer {
  const csv = query.format === "csv" || (query.format === undefined && accept !== undefined && /(^|,)\s*text\/csv\b/i.test(accept));
  return csv ? { status: 200, body: usageCsv(view), contentType: "text/csv; charset=utf-8" } : { status: 200, body: view };
}

function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (!presented) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Who the bearer token stands for: the root admin token, or a manage key (checked by the service against the store). */
async function actorOf(deps: AdminDeps, req: IncomingMessage): Promise<AdminActor> {
  const auth = req.headers.authorization;
  const presented = typeof auth === "string" ? /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim() : undefined;
  if (!presented) throw invalidToken();
  if (tokenMatches(presented, deps.adminToken)) return { type: "root" };
  return deps.service.actorForKey(presented);
}

/** A query validated like a body: a bad value is `invalid_field` naming the parameter. */
function parseQuery<T extends z.ZodType>(schema: T, query: AdminQuery): z.output<T> {
  const r = schema.safeParse(query);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const param = issue.path.map(String).join(".") || "query";
  throw new GatewayError("invalid_request", "invalid_field", `${param}: ${issue.message}`, { param });
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
): Promise<AdminAnswer | undefined> {
  let allowedMethods = false;
  for (const r of routes) {
    const m = r.pattern.exec(path);
    if (!m) continue;
    allowedMethods = true;
    if (r.method !== method) continue;
    // The public route runs as root but reads nothing an actor could be refused.
    const actor: AdminActor = r.auth ? await actorOf(deps, req) : { type: "root" };
    if (r.rootOnly && actor.type !== "root") throw new GatewayError("not_found", "unknown_route", `No route for ${method} ${path}.`);
    const body = method === "POST" || method === "PATCH" ? await readJson() : undefined;
    const query: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(queryString)) query[k] ??= v;
    const admin: AdminContext = { actor, ...origin };
    const accept = typeof req.headers.accept === "string" ? req.headers.accept : undefined;
    return r.handler(deps.service, m.slice(1).map(decodeURIComponent), body, { deps, query, admin, accept });
  }
  if (allowedMethods) throw new GatewayError("invalid_request", "method_not_allowed", `${method} is not supported on ${path}.`, { status: 405 });
  return undefined;
}
