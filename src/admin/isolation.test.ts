/**
 * The isolation matrix: every admin route × {own account, child, sibling, ancestor,
 * other tenant}, called with the manage key of the "own" account over real HTTP, must
 * answer exactly as listed below; where the answer is 404 its body must be the one a
 * truly missing id gets, so a manage key learns nothing outside its subtree. A route
 * without an entry fails the first test: whoever adds a route decides its row here.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../testing/stack.js";
import { adminRoutes } from "./routes.js";

const ROOT = "admin-token-for-isolation-0123456789-abcdef";
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { SWITCHYARD_ADMIN_TOKEN: ROOT } });
});
afterAll(() => stack.close());

interface Answer {
  status: number;
  json: any;
}

async function call(token: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${stack.gw.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function ok(token: string, method: string, path: string, body?: unknown): Promise<any> {
  const r = await call(token, method, path, body);
  expect(r.status, `${method} ${path}: ${JSON.stringify(r.json)}`).toBeLessThan(300);
  return r.json;
}

const TARGETS = ["own", "child", "sibling", "ancestor", "other"] as const;
type Target = (typeof TARGETS)[number];

/**
 * Tenant A: A → A1 (own) → A11 (child); A → A2 (sibling). Tenant B: B (other). Every
 * account has an inference key; A1 also has the manage key the matrix runs with.
 */
interface World {
  tag: string;
  accounts: Record<Target, string>;
  keys: Record<Target, string>;
  manage: string;
  /** An upstream owned by each target account, with one key. */
  upstreams: Record<Target, string>;
  upstreamKeys: Record<Target, string>;
}

let worlds = 0;
async function buildWorld(): Promise<World> {
  const tag = `w${++worlds}-${randomUUID().slice(0, 6)}`;
  const account = async (name: string, parent?: string) => (await ok(ROOT, "POST", "/accounts", { name: `${tag}-${name}`, parent_id: parent })).id as string;
  const a = await account("A");
  const a1 = await account("A1", a);
  const a11 = await account("A11", a1);
  const a2 = await account("A2", a);
  const b = await account("B");
  const accounts: Record<Target, string> = { own: a1, child: a11, sibling: a2, ancestor: a, other: b };
  const keys = {} as Record<Target, string>;
  for (const t of TARGETS) keys[t] = (await ok(ROOT, "POST", `/accounts/${accounts[t]}/keys`, { name: `${t}-key` })).id;
  const manage = (await ok(ROOT, "POST", `/accounts/${a1}/keys`, { name: "a1-admin", scopes: ["manage"] })).key as string;
  const upstreams = {} as Record<Target, string>;
  const upstreamKeys = {} as Record<Target, string>;
  for (const t of TARGETS) {
    const body = { name: `${tag}-up-${t}`, protocol: "openai-chat", base_url: "http://127.0.0.1:9/v1", models: ["iso-*"], owner_account_id: accounts[t] };
    upstreams[t] = (await ok(ROOT, "POST", "/upstreams", body)).id;
    upstreamKeys[t] = (await ok(ROOT, "POST", `/upstreams/${upstreams[t]}/keys`, { key: `sk-${tag}-${t}` })).id;
  }
  // Credit down the chain A → A1 → A11, so grants and clawbacks inside the subtree can succeed.
  await ok(ROOT, "POST", `/accounts/${a}/credits/topup`, { amount_micros: 1_000_000, kind: "payg" });
  await ok(ROOT, "POST", `/accounts/${a1}/credits/grant`, { amount_micros: 100_000, kind: "payg" });
  await ok(ROOT, "POST", `/accounts/${a11}/credits/grant`, { amount_micros: 10_000, kind: "payg" });
  return { tag, accounts, keys, manage, upstreams, upstreamKeys };
}

type Expect = Record<Target, number>;
const subtreeRead: Expect = { own: 200, child: 200, sibling: 404, ancestor: 404, other: 404 };
const subtreeCreate: Expect = { own: 201, child: 201, sibling: 404, ancestor: 404, other: 404 };
const descendantWrite = (status: number): Expect => ({ own: 403, child: status, sibling: 404, ancestor: 404, other: 404 });
const keyWrite = (status: number): Expect => ({ own: status, child: status, sibling: 404, ancestor: 404, other: 404 });
const everywhere = (status: number): Expect => ({ own: status, child: status, sibling: status, ancestor: status, other: status });
const absent = everywhere(404);

interface Case {
  /** The id a target stands for in this route (an account, a key, or a gateway-wide resource). */
  id: (w: World, t: Target) => string;
  path: (id: string, w: World) => string;
  body?: (id: string, w: World) => unknown;
  /** What the manage key of "own" gets. */
  manage: Expect;
  /** What the root token gets on each target of a fresh world (targets in the order own, child, sibling, ancestor, other). */
  root: number | Expect;
  /** The code of the manage key's 403s; own_account_read_only unless stated. */
  refused?: string;
}

const account = (w: World, t: Target) => w.accounts[t];
const key = (w: World, t: Target) => w.keys[t];
const upstream = (w: World, t: Target) => w.upstreams[t];
/** The key of the world's upstream `id`; for a missing upstream, a missing key. */
const upstreamKeyOf = (w: World, id: string): string => {
  const t = TARGETS.find((x) => w.upstreams[x] === id);
  return t ? w.upstreamKeys[t] : randomUUID();
};

const MATRIX: Record<string, Case> = {
  "GET /openapi.json": { id: account, path: () => "/openapi.json", manage: everywhere(200), root: 200 },
  // Lists the key's own subtree (checked in delegation.test.ts), whatever the target.
  "GET /accounts": { id: account, path: () => "/accounts", manage: everywhere(200), root: 200 },
  "POST /accounts": {
    id: account,
    path: () => "/accounts",
    body: (id, w) => ({ name: `${w.tag}-new-${randomUUID().slice(0, 8)}`, parent_id: id }),
    manage: subtreeCreate,
    root: 201,
  },
  "GET /accounts/{id}": { id: account, path: (id) => `/accounts/${id}`, manage: subtreeRead, root: 200 },
  "PATCH /accounts/{id}": {
    id: account,
    path: (id) => `/accounts/${id}`,
    body: (_id, w) => ({ name: `${w.tag}-renamed-${randomUUID().slice(0, 8)}` }),
    manage: descendantWrite(200),
    root: 200,
  },
  // Cascade, so the root's answer does not depend on the order the targets are deleted in.
  "DELETE /accounts/{id}": {
    id: account,
    path: (id) => `/accounts/${id}?cascade=true`,
    manage: descendantWrite(204),
    root: { own: 204, child: 404, sibling: 204, ancestor: 204, other: 204 },
  },
  "POST /accounts/{id}/suspend": { id: account, path: (id) => `/accounts/${id}/suspend`, manage: descendantWrite(200), root: 200 },
  "POST /accounts/{id}/resume": { id: account, path: (id) => `/accounts/${id}/resume`, manage: descendantWrite(200), root: 200 },
  "GET /accounts/{id}/children": { id: account, path: (id) => `/accounts/${id}/children`, manage: subtreeRead, root: 200 },
  "GET /accounts/{id}/descendants": { id: account, path: (id) => `/accounts/${id}/descendants?limit=10`, manage: subtreeRead, root: 200 },
  "GET /accounts/{id}/ancestors": { id: account, path: (id) => `/accounts/${id}/ancestors`, manage: subtreeRead, root: 200 },
  "GET /accounts/{id}/effective-policy": { id: account, path: (id) => `/accounts/${id}/effective-policy`, manage: subtreeRead, root: 200 },
  "GET /accounts/{id}/keys": { id: account, path: (id) => `/accounts/${id}/keys`, manage: subtreeRead, root: 200 },
  "POST /accounts/{id}/keys": { id: account, path: (id) => `/accounts/${id}/keys`, body: () => ({ name: "matrix" }), manage: subtreeCreate, root: 201 },
  "DELETE /keys/{id}": { id: key, path: (id) => `/keys/${id}`, manage: keyWrite(204), root: 204 },
  "POST /keys/{id}/rotate": { id: key, path: (id) => `/keys/${id}/rotate`, body: () => ({ grace_seconds: 60 }), manage: keyWrite(201), root: 201 },
  // A manage key lists the upstreams its subtree owns, whatever the target.
  "GET /upstreams": { id: upstream, path: () => "/upstreams", manage: everywhere(200), root: 200 },
  "POST /upstreams": {
    id: account,
    path: () => "/upstreams",
    body: (id) => ({
      name: `iso-${randomUUID().slice(0, 8)}`,
      protocol: "openai-chat",
      base_url: "http://127.0.0.1:9/v1",
      models: ["iso-x"],
      owner_account_id: id,
    }),
    manage: subtreeCreate,
    root: 201,
  },
  "GET /upstreams/{id}": { id: upstream, path: (id) => `/upstreams/${id}`, manage: subtreeRead, root: 200 },
  "PATCH /upstreams/{id}": { id: upstream, path: (id) => `/upstreams/${id}`, body: () => ({ enabled: true }), manage: keyWrite(200), root: 200 },
  "DELETE /upstreams/{id}": { id: upstream, path: (id) => `/upstreams/${id}`, manage: keyWrite(204), root: 204 },
  "GET /upstreams/{id}/keys": { id: upstream, path: (id) => `/upstreams/${id}/keys`, manage: subtreeRead, root: 200 },
  "POST /upstreams/{id}/keys": {
    id: upstream,
    path: (id) => `/upstreams/${id}/keys`,
    body: () => ({ key: `sk-${randomUUID()}` }),
    manage: subtreeCreate,
    root: 201,
  },
  "DELETE /upstreams/{id}/keys/{key_id}": {
    id: upstream,
    path: (id, w) => `/upstreams/${id}/keys/${upstreamKeyOf(w, id)}`,
    manage: keyWrite(204),
    root: 204,
  },
  "POST /accounts/{id}/credits/topup": {
    id: account,
    path: (id) => `/accounts/${id}/credits/topup`,
    body: () => ({ amount_micros: 5, kind: "addon" }),
    manage: { own: 403, child: 403, sibling: 404, ancestor: 404, other: 404 },
    refused: "root_only",
    root: 201,
  },
  // From the target's parent: A1 holds credit for A11; A has some left for A1 and A2; a primary account has no parent.
  "POST /accounts/{id}/credits/grant": {
    id: account,
    path: (id) => `/accounts/${id}/credits/grant`,
    body: () => ({ amount_micros: 1, kind: "payg" }),
    manage: { own: 403, child: 201, sibling: 404, ancestor: 404, other: 404 },
    refused: "credit_not_permitted",
    root: { own: 201, child: 201, sibling: 201, ancestor: 400, other: 400 },
  },
  // A2 holds nothing to take back.
  "POST /accounts/{id}/credits/clawback": {
    id: account,
    path: (id) => `/accounts/${id}/credits/clawback`,
    body: () => ({ amount_micros: 1 }),
    manage: { own: 403, child: 201, sibling: 404, ancestor: 404, other: 404 },
    refused: "credit_not_permitted",
    root: { own: 201, child: 201, sibling: 409, ancestor: 400, other: 400 },
  },
  "GET /accounts/{id}/credits": { id: account, path: (id) => `/accounts/${id}/credits`, manage: subtreeRead, root: 200 },
  "GET /accounts/{id}/ledger": { id: account, path: (id) => `/accounts/${id}/ledger?limit=10`, manage: subtreeRead, root: 200 },
  "GET /accounts/{id}/audit": { id: account, path: (id) => `/accounts/${id}/audit?limit=10`, manage: subtreeRead, root: 200 },
  "GET /accounts/{id}/usage": { id: account, path: (id) => `/accounts/${id}/usage?group_by=descendant`, manage: subtreeRead, root: 200 },
  "GET /usage/upstream-keys": { id: account, path: () => "/usage/upstream-keys", manage: absent, root: 200 },
  "GET /audit": { id: account, path: () => "/audit?limit=10", manage: absent, root: 200 },
  "GET /explain": { id: account, path: (id) => `/explain?account=${id}&model=gpt-4o`, manage: absent, root: 200 },
};

/** An error body with the request's own id and the target's id taken out, for comparing a refusal with a missing id's. */
function normalized(json: any, id: string): unknown {
  const { request_id: _ignored, ...rest } = json as Record<string, unknown>;
  return JSON.parse(JSON.stringify(rest).replaceAll(id, "<id>"));
}

describe("isolation matrix", () => {
  it("has a row for every admin route, and no other", () => {
    expect(Object.keys(MATRIX).sort()).toEqual(
      adminRoutes()
        .map((r) => `${r.method} ${r.path}`)
        .sort(),
    );
  });

  for (const [name, c] of Object.entries(MATRIX)) {
    const [method] = name.split(" ") as [string];

    it(`${name}: a manage key reaches its subtree and nothing else, and outside it answers as for a missing id`, async () => {
      const w = await buildWorld();
      for (const t of TARGETS) {
        const id = c.id(w, t);
        const r = await call(w.manage, method, c.path(id, w), c.body?.(id, w));
        expect(r.status, `${name} on ${t}: ${String(JSON.stringify(r.json)).slice(0, 300)}`).toBe(c.manage[t]);
        if (r.status === 403) expect(r.json.error.code).toBe(c.refused ?? "own_account_read_only");
        if (r.status === 404) {
          const missing = randomUUID();
          const m = await call(w.manage, method, c.path(missing, w), c.body?.(missing, w));
          expect(m.status).toBe(404);
          expect(normalized(r.json, id), `${name} on ${t}`).toEqual(normalized(m.json, missing));
        }
      }
    });

    it(`${name}: the root token reaches every account`, async () => {
      const w = await buildWorld();
      for (const t of TARGETS) {
        const id = c.id(w, t);
        const r = await call(ROOT, method, c.path(id, w), c.body?.(id, w));
        const expected = typeof c.root === "number" ? c.root : c.root[t];
        expect(r.status, `${name} on ${t}: ${String(JSON.stringify(r.json)).slice(0, 300)}`).toBe(expected);
      }
    });
  }
});
