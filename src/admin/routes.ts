/**
 * Admin API under /admin/v1 (documented in docs/admin-api.md and served as
 * OpenAPI at /admin/v1/openapi.json). Every write reloads the runtime catalog,
 * so the data plane sees it at once without touching the database per request.
 */
import type { IncomingMessage } from "node:http";
import { timingSafeEqual } from "node:crypto";
import type { z } from "zod";
import { GatewayError } from "../canonical/errors.js";
import { generateKey } from "../governance/api-keys.js";
import { fingerprint, type SecretBox } from "../governance/secrets.js";
import type { Principals } from "../governance/principals.js";
import type { Catalog } from "../routing/catalog.js";
import { compileModelPatterns } from "../canonical/model-pattern.js";
import { StoreError, type Account, type Store } from "../storage/ports.js";
import * as schemas from "./schemas.js";
import { accountView, apiKeyView, upstreamKeyView, upstreamView } from "./views.js";
import { openApiDocument } from "./openapi.js";

export interface AdminDeps {
  store: Store;
  principals: Principals;
  catalog: Catalog;
  secrets: SecretBox;
  adminToken: string;
}

type Handler = (deps: AdminDeps, params: string[], body: unknown) => Promise<{ status: number; body: unknown }>;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
  /** Whether the route needs the admin token (only the OpenAPI document is public). */
  auth: boolean;
}

const routes: Route[] = [];
function route(method: string, path: string, handler: Handler, auth = true): void {
  const pattern = new RegExp(`^/admin/v1${path.replace(/\{[a-z_]+\}/g, "([^/]+)")}$`);
  routes.push({ method, pattern, handler, auth });
}

function parse<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const param = issue.path.map(String).join(".");
    throw new GatewayError("invalid_request", "invalid_field", `${param || "body"}: ${issue.message}`, param ? { param } : {});
  }
  return r.data;
}

function notFound(what: string, id: string): GatewayError {
  return new GatewayError("not_found", `${what}_not_found`, `No ${what.replace("_", " ")} with id '${id}'.`);
}

/** A child may only narrow what its ancestors allow (DESIGN.md §5). */
async function checkModelsWithinParent(store: Store, parentId: string | null | undefined, models: string[] | null | undefined): Promise<void> {
  if (!parentId || !models) return;
  const parent = await store.accounts.get(parentId);
  if (!parent) throw new GatewayError("not_found", "account_not_found", `No account with id '${parentId}'.`, { param: "parent_id" });
  const chain: Account[] = [parent, ...(await store.accounts.ancestors(parentId))];
  for (const a of chain) {
    const allowed = a.settings.models;
    if (!Array.isArray(allowed)) continue;
    const matcher = compileModelPatterns(allowed as string[]);
    const outside = models.filter((m) => !matcher.matches(m));
    if (outside.length > 0) {
      throw new GatewayError(
        "invalid_request",
        "exceeds_parent",
        `Models ${outside.map((m) => `'${m}'`).join(", ")} are not allowed for ancestor '${a.name}'.`,
        { param: "models" },
      );
    }
  }
}

route("GET", "/openapi.json", async () => ({ status: 200, body: openApiDocument() }), false);

route("GET", "/accounts", async ({ store }) => ({ status: 200, body: { data: (await store.accounts.list()).map(accountView) } }));
route("POST", "/accounts", async ({ store, catalog, principals }, _p, raw) => {
  const b = parse(schemas.createAccount, raw);
  await checkModelsWithinParent(store, b.parent_id, b.models);
  const settings: Record<string, unknown> = b.models ? { models: b.models } : {};
  const a = await store.accounts.create({ name: b.name, parentId: b.parent_id ?? null, status: b.status, settings });
  await Promise.all([principals.reload(), catalog.reload()]);
  return { status: 201, body: accountView(a) };
});
route("GET", "/accounts/{id}", async ({ store }, [id]) => {
  const a = await store.accounts.get(id!);
  if (!a) throw notFound("account", id!);
  return { status: 200, body: accountView(a) };
});
route("PATCH", "/accounts/{id}", async ({ store, catalog, principals }, [id], raw) => {
  const b = parse(schemas.updateAccount, raw);
  const current = await store.accounts.get(id!);
  if (!current) throw notFound("account", id!);
  await checkModelsWithinParent(store, current.parentId, b.models);
  const settings = { ...current.settings };
  if (b.models === null) delete settings.models;
  else if (b.models) settings.models = b.models;
  const a = await store.accounts.update(id!, { name: b.name, status: b.status, settings });
  await Promise.all([principals.reload(), catalog.reload()]);
  return { status: 200, body: accountView(a!) };
});
route("DELETE", "/accounts/{id}", async ({ store, catalog, principals }, [id]) => {
  if (!(await store.accounts.delete(id!))) throw notFound("account", id!);
  await Promise.all([principals.reload(), catalog.reload()]);
  return { status: 204, body: undefined };
});
route("GET", "/accounts/{id}/descendants", async ({ store }, [id]) => {
  if (!(await store.accounts.get(id!))) throw notFound("account", id!);
  return { status: 200, body: { data: (await store.accounts.descendants(id!)).map(accountView) } };
});

route("GET", "/accounts/{id}/keys", async ({ store }, [id]) => {
  if (!(await store.accounts.get(id!))) throw notFound("account", id!);
  return { status: 200, body: { data: (await store.apiKeys.listByAccount(id!)).map(apiKeyView) } };
});
route("POST", "/accounts/{id}/keys", async ({ store, catalog, principals }, [id], raw) => {
  const b = parse(schemas.createApiKey, raw);
  if (!(await store.accounts.get(id!))) throw notFound("account", id!);
  const { secret, prefix, hash } = generateKey();
  const k = await store.apiKeys.create({ accountId: id!, name: b.name, prefix, hash });
  await Promise.all([principals.reload(), catalog.reload()]);
  // The secret is shown here once and never again.
  return { status: 201, body: { ...apiKeyView(k), key: secret } };
});
route("DELETE", "/keys/{id}", async ({ store, catalog, principals }, [id]) => {
  if (!(await store.apiKeys.revoke(id!))) throw notFound("api_key", id!);
  await Promise.all([principals.reload(), catalog.reload()]);
  return { status: 204, body: undefined };
});

route("GET", "/upstreams", async ({ store }) => ({ status: 200, body: { data: (await store.upstreams.list()).map(upstreamView) } }));
route("POST", "/upstreams", async ({ store, catalog, principals }, _p, raw) => {
  const b = parse(schemas.createUpstream, raw);
  const settings: Record<string, unknown> = {};
  if (b.account_id) settings.account_id = b.account_id;
  if (b.timeout_ms) settings.timeout_ms = b.timeout_ms;
  if (b.prompt_cache_key !== undefined) settings.prompt_cache_key = b.prompt_cache_key;
  const u = await store.upstreams.create({ name: b.name, protocol: b.protocol, baseUrl: b.base_url, models: b.models, enabled: b.enabled, settings });
  await Promise.all([principals.reload(), catalog.reload()]);
  return { status: 201, body: upstreamView(u) };
});
route("GET", "/upstreams/{id}", async ({ store }, [id]) => {
  const u = await store.upstreams.get(id!);
  if (!u) throw notFound("upstream", id!);
  return { status: 200, body: upstreamView(u) };
});
route("PATCH", "/upstreams/{id}", async ({ store, catalog, principals }, [id], raw) => {
  const b = parse(schemas.updateUpstream, raw);
  const current = await store.upstreams.get(id!);
  if (!current) throw notFound("upstream", id!);
  const settings = { ...current.settings };
  for (const f of ["account_id", "timeout_ms", "prompt_cache_key"] as const) {
    if (b[f] === null) delete settings[f];
    else if (b[f] !== undefined) settings[f] = b[f];
  }
  const u = await store.upstreams.update(id!, { protocol: b.protocol, baseUrl: b.base_url, models: b.models, enabled: b.enabled, settings });
  await Promise.all([principals.reload(), catalog.reload()]);
  return { status: 200, body: upstreamView(u!) };
});
route("DELETE", "/upstreams/{id}", async ({ store, catalog, principals }, [id]) => {
  if (!(await store.upstreams.delete(id!))) throw notFound("upstream", id!);
  await Promise.all([principals.reload(), catalog.reload()]);
  return { status: 204, body: undefined };
});
route("GET", "/upstreams/{id}/keys", async ({ store }, [id]) => {
  if (!(await store.upstreams.get(id!))) throw notFound("upstream", id!);
  return { status: 200, body: { data: (await store.upstreamKeys.listByUpstream(id!)).map(upstreamKeyView) } };
});
route("POST", "/upstreams/{id}/keys", async ({ store, catalog, principals, secrets }, [id], raw) => {
  const b = parse(schemas.createUpstreamKey, raw);
  if (!(await store.upstreams.get(id!))) throw notFound("upstream", id!);
  const k = await store.upstreamKeys.create({ upstreamId: id!, name: b.name, ciphertext: secrets.seal(b.key), fingerprint: fingerprint(b.key) });
  await Promise.all([principals.reload(), catalog.reload()]);
  return { status: 201, body: upstreamKeyView(k) };
});
route("DELETE", "/upstreams/{id}/keys/{key_id}", async ({ store, catalog, principals }, [id, keyId]) => {
  const k = await store.upstreamKeys.get(keyId!);
  if (!k || k.upstreamId !== id) throw notFound("upstream_key", keyId!);
  await store.upstreamKeys.delete(keyId!);
  await Promise.all([principals.reload(), catalog.reload()]);
  return { status: 204, body: undefined };
});

function tokenMatches(presented: string | undefined, expected: string): boolean {
  if (!presented) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const STORE_ERRORS: Record<StoreError["code"], { kind: GatewayError["kind"]; status?: number }> = {
  conflict: { kind: "invalid_request", status: 409 },
  not_found: { kind: "not_found" },
  has_children: { kind: "invalid_request", status: 409 },
  cycle: { kind: "invalid_request" },
  invalid: { kind: "invalid_request" },
};

/** Dispatches one admin request; returns false if the path is not an admin route. */
export async function handleAdmin(
  deps: AdminDeps,
  method: string,
  path: string,
  req: IncomingMessage,
  readJson: () => Promise<unknown>,
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
    try {
      return await r.handler(deps, m.slice(1).map(decodeURIComponent), body);
    } catch (err) {
      if (err instanceof StoreError) {
        const e = STORE_ERRORS[err.code];
        throw new GatewayError(e.kind, err.code, err.message, e.status ? { status: e.status } : {});
      }
      throw err;
    }
  }
  if (allowedMethods) throw new GatewayError("invalid_request", "method_not_allowed", `${method} is not supported on ${path}.`, { status: 405 });
  return undefined;
}
