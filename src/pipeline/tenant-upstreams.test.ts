/**
 * Tenant-owned upstreams end to end: an upstream owned by an account serves that
 * account's subtree first and is invisible to everyone else, in routing, in
 * /v1/models, in count_tokens and in explain.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACME_KEY, startStack, TEAM_KEY, type Stack } from "../testing/stack.js";

const ADMIN = "admin-token-for-tenant-upstreams-0123456789";
const BETA_KEY = "sk-test-beta-000000000000000003";
const BETA_DEV_KEY = "sk-test-beta-dev-0000000000000004";
const BETA_CREDENTIAL = "sk-beta-own-provider-credential-42";

let stack: Stack;
let betaPoolId: string;

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${stack.gw.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function chat(key: string, model: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${stack.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  return { status: res.status, json: await res.json() };
}

async function models(key: string): Promise<string[]> {
  const res = await fetch(`${stack.gw.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
  return ((await res.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id);
}

beforeAll(async () => {
  stack = await startStack({
    env: { SWITCHYARD_ADMIN_TOKEN: ADMIN },
    extraYaml: `  - name: beta\n    keys: [${BETA_KEY}]\n  - name: beta-dev\n    parent: beta\n    keys: [${BETA_DEV_KEY}]\n`,
  });
  const beta = (await stack.gw.store.accounts.getByName("beta"))!;
  // Serves a model of its own and one the gateway-wide "chat" upstream serves too.
  const pool = await admin("POST", "/upstreams", {
    name: "chat",
    owner_account_id: beta.id,
    protocol: "openai-chat",
    base_url: `${stack.mock.url}/v1`,
    models: ["beta-private-model", "gpt-4o"],
  });
  expect(pool.status).toBe(201);
  expect(pool.json.owner_account_id).toBe(beta.id);
  betaPoolId = pool.json.id;
  expect((await admin("POST", `/upstreams/${betaPoolId}/keys`, { key: BETA_CREDENTIAL })).status).toBe(201);
});
afterAll(() => stack?.close());

describe("tenant-owned upstreams", () => {
  it("serve the owner and its sub-accounts with the tenant's own credential, before the gateway's pool", async () => {
    for (const key of [BETA_KEY, BETA_DEV_KEY]) {
      for (const model of ["beta-private-model", "gpt-4o"]) {
        stack.fresh();
        const r = await chat(key, model);
        expect(r.status).toBe(200);
        expect(stack.mock.requests.map((q) => q.headers.authorization)).toEqual([`Bearer ${BETA_CREDENTIAL}`]);
        expect(stack.usage[0]!.upstreamId).toBe(betaPoolId);
      }
    }
  });

  it("are invisible to other tenants: not routed to, not listed, the model unknown", async () => {
    stack.fresh();
    const hidden = await chat(ACME_KEY, "beta-private-model");
    expect(hidden.status).toBe(404);
    expect(hidden.json.error.code).toBe("model_not_found");
    expect(stack.mock.requests).toEqual([]);
    for (const key of [ACME_KEY, TEAM_KEY]) expect(await models(key)).not.toContain("beta-private-model");
    stack.fresh();
    expect((await chat(ACME_KEY, "gpt-4o")).status).toBe(200);
    expect(stack.mock.requests[0]!.headers.authorization).not.toBe(`Bearer ${BETA_CREDENTIAL}`);
    expect(stack.usage[0]!.upstreamId).not.toBe(betaPoolId);
    expect(await models(BETA_DEV_KEY)).toContain("beta-private-model");
  });

  it("appear in explain for the owner's subtree only", async () => {
    const forBeta = await admin("GET", `/explain?account=beta-dev&model=gpt-4o`);
    const beta = (await stack.gw.store.accounts.getByName("beta"))!;
    // The tenant's pool first, then the gateway-wide ones.
    expect(forBeta.json.upstreams.map((u: any) => u.owner_account_id)).toEqual([beta.id, ...forBeta.json.upstreams.slice(1).map(() => null)]);
    expect(forBeta.json.upstreams.length).toBeGreaterThan(1);
    expect(forBeta.json.attempt_order[0].upstream_id).toBe(betaPoolId);
    const forAcme = await admin("GET", `/explain?account=acme&model=beta-private-model`);
    expect(forAcme.json.served_anywhere).toBe(false);
    expect(JSON.stringify(forAcme.json)).not.toContain(betaPoolId);
    const acmeGpt = await admin("GET", `/explain?account=acme&model=gpt-4o`);
    expect(JSON.stringify(acmeGpt.json)).not.toContain(betaPoolId);
  });
});
