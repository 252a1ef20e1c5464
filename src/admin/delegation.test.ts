/**
 * Delegated administration over real HTTP against a real gateway: manage keys build and
 * run their own part of the tree, scopes and expiry are enforced on both planes, and
 * revocation, rotation and suspension take effect at once.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startStack, type Stack } from "../testing/stack.js";

const ROOT = "admin-token-for-delegation-0123456789-abcdef";
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { SWITCHYARD_ADMIN_TOKEN: ROOT } });
});
afterAll(() => stack.close());

async function admin(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${stack.gw.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

async function ok(token: string, method: string, path: string, body?: unknown): Promise<any> {
  const r = await admin(token, method, path, body);
  expect(r.status, `${method} ${path}: ${JSON.stringify(r.json)}`).toBeLessThan(300);
  return r.json;
}

/** One chat request with the key; the status and the error code when refused. */
async function chat(key: string, model = "gpt-4o"): Promise<{ status: number; code?: string }> {
  const res = await fetch(`${stack.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
  });
  const json = (await res.json()) as { error?: { code?: string } };
  return { status: res.status, ...(json.error?.code ? { code: json.error.code } : {}) };
}

async function anthropic(key: string): Promise<{ status: number; type?: string }> {
  const res = await fetch(`${stack.gw.url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model: "claude-test-sonnet", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
  });
  const json = (await res.json()) as { type?: string; error?: { type?: string } };
  return { status: res.status, ...(json.error?.type ? { type: json.error.type } : {}) };
}

/** A Responses WebSocket upgrade with the key: 101, or the refusal's status and code. */
function upgrade(key: string): Promise<{ status: number; code?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${stack.gw.url.replace("http", "ws")}/v1/responses`, { headers: { authorization: `Bearer ${key}` } });
    ws.once("open", () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.once("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (c: Buffer) => (text += c.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, code: (JSON.parse(text) as { error: { code: string } }).error.code }));
    });
    ws.once("error", reject);
  });
}

const unique = (name: string) => `${name}-${randomUUID().slice(0, 8)}`;

async function tenant(models?: string[]): Promise<{ id: string; manage: string; manageId: string }> {
  const a = await ok(ROOT, "POST", "/accounts", { name: unique("tenant"), ...(models ? { models } : {}) });
  const k = await ok(ROOT, "POST", `/accounts/${a.id}/keys`, { name: "admin", scopes: ["manage"] });
  return { id: a.id, manage: k.key, manageId: k.id };
}

describe("scopes", () => {
  it("refuses an inference key on the admin API and a manage key on the data plane, each with its code", async () => {
    const t = await tenant();
    const inference = (await ok(ROOT, "POST", `/accounts/${t.id}/keys`, {})).key;
    const r = await admin(inference, "GET", `/accounts/${t.id}`);
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe("key_scope_inference_only");
    expect(await chat(inference)).toEqual({ status: 200 });

    expect(await chat(t.manage)).toEqual({ status: 403, code: "key_scope_manage_only" });
    expect(await anthropic(t.manage)).toEqual({ status: 403, type: "permission_error" });
    expect(await upgrade(t.manage)).toEqual({ status: 403, code: "key_scope_manage_only" });
    expect(await upgrade(inference)).toEqual({ status: 101 });
    expect((await admin(t.manage, "GET", `/accounts/${t.id}`)).status).toBe(200);

    const both = (await ok(t.manage, "POST", `/accounts/${t.id}/keys`, { scopes: ["inference", "manage"] })).key;
    expect(await chat(both)).toEqual({ status: 200 });
    expect((await admin(both, "GET", `/accounts/${t.id}`)).status).toBe(200);

    // Unknown tokens stay 401 invalid_admin_token.
    expect((await admin("sy_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET", "/accounts")).json.error.code).toBe("invalid_admin_token");
  });

  it("narrows a key to its own models and refuses a key wider than its account", async () => {
    const t = await tenant(["gpt-4o*", "claude-*"]);
    const key = await ok(t.manage, "POST", `/accounts/${t.id}/keys`, { models: ["gpt-4o"], limits: { rpm: 10, concurrency: 1 } });
    expect(key).toMatchObject({ models: ["gpt-4o"], limits: { rpm: 10, concurrency: 1 }, scopes: ["inference"], expires_at: null });
    expect(await chat(key.key, "gpt-4o")).toEqual({ status: 200 });
    expect(await chat(key.key, "claude-test-sonnet")).toEqual({ status: 403, code: "model_not_allowed" });
    const wide = await admin(t.manage, "POST", `/accounts/${t.id}/keys`, { models: ["gpt-*"] });
    expect(wide.status).toBe(400);
    expect(wide.json.error).toMatchObject({ code: "exceeds_account", param: "models.0" });
    const bad = await admin(t.manage, "POST", `/accounts/${t.id}/keys`, { limits: { rpm: 0 } });
    expect(bad.json.error).toMatchObject({ code: "invalid_field", param: "limits.rpm" });
    const past = await admin(t.manage, "POST", `/accounts/${t.id}/keys`, { expires_at: "2001-01-01T00:00:00Z" });
    expect(past.json.error).toMatchObject({ code: "invalid_field", param: "expires_at" });
  });
});

describe("revocation, rotation and expiry", () => {
  it("stops a revoked key at once, on both planes", async () => {
    const t = await tenant();
    const inference = await ok(ROOT, "POST", `/accounts/${t.id}/keys`, {});
    const second = await ok(ROOT, "POST", `/accounts/${t.id}/keys`, { scopes: ["manage"] });
    expect(await chat(inference.key)).toEqual({ status: 200 });
    await ok(t.manage, "DELETE", `/keys/${inference.id}`);
    expect(await chat(inference.key)).toEqual({ status: 401, code: "invalid_api_key" });
    // A manage key may revoke another manage key of its account, and that key stops at once.
    await ok(t.manage, "DELETE", `/keys/${second.id}`);
    const r = await admin(second.key, "GET", `/accounts/${t.id}`);
    expect(r.status).toBe(401);
    expect(r.json.error.code).toBe("invalid_admin_token");
  });

  it("rotates: the new secret works at once, the old one during the grace, and with no grace it expires at once on both planes", async () => {
    const t = await tenant();
    const key = await ok(t.manage, "POST", `/accounts/${t.id}/keys`, { name: "ci" });
    const rotated = await admin(t.manage, "POST", `/keys/${key.id}/rotate`, { grace_seconds: 3600 });
    expect(rotated.status).toBe(201);
    expect(rotated.json).toMatchObject({ name: "ci", scopes: ["inference"], replaces: { id: key.id } });
    expect(rotated.json.key).not.toBe(key.key);
    expect(await chat(rotated.json.key)).toEqual({ status: 200 });
    expect(await chat(key.key)).toEqual({ status: 200 });
    const listed = (await ok(t.manage, "GET", `/accounts/${t.id}/keys`)).data.find((k: { id: string }) => k.id === key.id);
    expect(listed).toMatchObject({ replaced_by: rotated.json.id, expires_at: rotated.json.replaces.expires_at });
    expect((await admin(t.manage, "POST", `/keys/${key.id}/rotate`, {})).json.error.code).toBe("key_not_rotatable");
    expect((await admin(t.manage, "POST", `/keys/${key.id}/rotate`, { grace_seconds: 604801 })).json.error).toMatchObject({
      code: "invalid_field",
      param: "grace_seconds",
    });

    // No grace: the old secret is expired at once; its own code on the data plane…
    const again = await ok(t.manage, "POST", `/keys/${rotated.json.id}/rotate`, { grace_seconds: 0 });
    expect(await chat(rotated.json.key)).toEqual({ status: 401, code: "api_key_expired" });
    expect(await chat(again.key)).toEqual({ status: 200 });
    // …and on the admin API, for a manage key rotating itself.
    const self = await ok(t.manage, "POST", `/keys/${t.manageId}/rotate`, { grace_seconds: 0 });
    const expired = await admin(t.manage, "GET", `/accounts/${t.id}`);
    expect(expired.status).toBe(401);
    expect(expired.json.error.code).toBe("api_key_expired");
    expect((await admin(self.key, "GET", `/accounts/${t.id}`)).status).toBe(200);
    expect(self.scopes).toEqual(["manage"]);
  });

  it("lets exactly one of many concurrent rotations of one key win", async () => {
    const t = await tenant();
    const key = await ok(t.manage, "POST", `/accounts/${t.id}/keys`, {});
    const answers = await Promise.all(Array.from({ length: 6 }, () => admin(t.manage, "POST", `/keys/${key.id}/rotate`, {})));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    for (const a of answers.filter((x) => x.status !== 201)) expect(a).toMatchObject({ status: 409, json: { error: { code: "key_not_rotatable" } } });
    expect((await ok(ROOT, "GET", `/accounts/${t.id}/keys`)).data).toHaveLength(3);
  });

  it("does not let a manage key issue a key for its own account that outlives it", async () => {
    const a = await ok(ROOT, "POST", "/accounts", { name: unique("short") });
    const until = new Date(Date.now() + 3600_000).toISOString();
    const m = await ok(ROOT, "POST", `/accounts/${a.id}/keys`, { scopes: ["manage"], expires_at: until });
    const forever = await admin(m.key, "POST", `/accounts/${a.id}/keys`, { scopes: ["manage"] });
    expect(forever).toMatchObject({ status: 403, json: { error: { code: "key_outlives_issuer" } } });
    expect((await admin(m.key, "POST", `/accounts/${a.id}/keys`, { expires_at: until })).status).toBe(201);
    // Rotating a permanent key of the account would hand out a permanent secret just the same.
    const permanent = await ok(ROOT, "POST", `/accounts/${a.id}/keys`, { scopes: ["manage"] });
    expect((await admin(m.key, "POST", `/keys/${permanent.id}/rotate`, {})).json.error.code).toBe("key_outlives_issuer");
    expect((await admin(m.key, "DELETE", `/keys/${permanent.id}`)).status).toBe(204);
    // Keys for a sub-account are its own business.
    const child = await ok(m.key, "POST", "/accounts", { name: unique("child"), parent_id: a.id });
    expect((await admin(m.key, "POST", `/accounts/${child.id}/keys`, { scopes: ["manage"] })).status).toBe(201);
  });
});

describe("the account tree", () => {
  it("builds a five-level org, each level administered by its own manage key, each handing a narrower policy and credit to the next", async () => {
    const models = [["gpt-*", "claude-*"], ["gpt-*", "claude-*"], ["gpt-4o*", "claude-*"], ["gpt-4o*"], ["gpt-4o"]];
    // Each level halves the rate limit and passes on half of the credit it received.
    const rpm = (i: number) => 1_024 / 2 ** i;
    const credit = (i: number) => 8_000_000 / 2 ** i;
    const l1 = await ok(ROOT, "POST", "/accounts", { name: unique("L1"), models: models[0], limits: { rpm: rpm(0) } });
    await ok(ROOT, "POST", `/accounts/${l1.id}/credits/topup`, { amount_micros: credit(0), kind: "subscription" });
    let level = { id: l1.id as string, key: (await ok(ROOT, "POST", `/accounts/${l1.id}/keys`, { scopes: ["manage"] })).key as string };
    const levels = [level];
    for (let i = 1; i < 5; i++) {
      // More than the level may hand out is refused, each refusal saying why.
      const tooFast = await admin(level.key, "POST", "/accounts", { name: unique(`L${i + 1}`), parent_id: level.id, limits: { rpm: rpm(i - 1) + 1 } });
      expect(tooFast.json.error).toMatchObject({ code: "exceeds_parent", param: "limits.rpm" });
      expect(tooFast.json.error.message).toContain(`above the limit of ${rpm(i - 1)}`);
      const next = await ok(level.key, "POST", "/accounts", { name: unique(`L${i + 1}`), parent_id: level.id, models: models[i], limits: { rpm: rpm(i) } });
      const tooMuch = await admin(level.key, "POST", `/accounts/${next.id}/credits/grant`, { amount_micros: credit(i - 1) + 1, kind: "payg" });
      expect(tooMuch.json.error).toMatchObject({ code: "insufficient_balance" });
      await ok(level.key, "POST", `/accounts/${next.id}/credits/grant`, { amount_micros: credit(i), kind: "payg", idempotency_key: `L${i + 1}-grant` });
      const key = await ok(level.key, "POST", `/accounts/${next.id}/keys`, { scopes: ["manage"] });
      // Its credit comes from the level above, never from itself.
      expect((await admin(key.key, "POST", `/accounts/${next.id}/credits/grant`, { amount_micros: 1, kind: "payg" })).json.error.code).toBe(
        "credit_not_permitted",
      );
      // The level above cannot be widened from below, nor seen.
      expect((await admin(key.key, "PATCH", `/accounts/${next.id}`, { models: ["*"] })).json.error.code).toBe("own_account_read_only");
      expect((await admin(key.key, "GET", `/accounts/${level.id}`)).status).toBe(404);
      level = { id: next.id, key: key.key };
      levels.push(level);
    }
    // Each level's key reaches its part of the tree only.
    for (const [i, l] of levels.entries()) {
      const seen = (await ok(l.key, "GET", "/accounts")).data.map((a: { id: string }) => a.id);
      expect(seen).toEqual(levels.slice(i).map((x) => x.id));
      const ancestors = (await ok(l.key, "GET", `/accounts/${levels[4]!.id}/ancestors`)).data.map((a: { id: string }) => a.id);
      expect(ancestors).toEqual(
        levels
          .slice(i, 4)
          .map((x) => x.id)
          .reverse(),
      );
    }
    // A too-wide child is refused with the field named, at any level.
    const wide = await admin(levels[2]!.key, "POST", "/accounts", { name: unique("wide"), parent_id: levels[3]!.id, models: ["claude-*"] });
    expect(wide.json.error).toMatchObject({ code: "exceeds_parent", param: "models" });
    // Balances follow the grants down the chain; the leaf's limits say which level set them.
    for (const [i, l] of levels.entries()) {
      const held = i < 4 ? credit(i) - credit(i + 1) : credit(4);
      expect((await ok(l.key, "GET", `/accounts/${l.id}/credits`)).balance_micros).toBe(held);
    }
    const leafPolicy = await ok(levels[4]!.key, "GET", `/accounts/${levels[4]!.id}/effective-policy`);
    expect(leafPolicy.limits.rpm).toMatchObject({ value: rpm(4), set_by: { id: levels[4]!.id } });
    // Tightening the top level binds the whole org at once, without rewriting anyone below;
    // the leaf's own key learns the bound but not who above it set it.
    await ok(ROOT, "PATCH", `/accounts/${levels[0]!.id}`, { limits: { rpm: 10 } });
    const leafPath = `/accounts/${levels[4]!.id}/effective-policy`;
    expect((await ok(levels[4]!.key, "GET", leafPath)).limits.rpm).toEqual({ value: 10, set_by: { id: null, name: null } });
    expect((await ok(ROOT, "GET", leafPath)).limits.rpm).toMatchObject({ value: 10, set_by: { id: levels[0]!.id } });
    // The fifth level's inference key gets what the whole chain allows.
    const leaf = (await ok(levels[4]!.key, "POST", `/accounts/${levels[4]!.id}/keys`, {})).key;
    expect(await chat(leaf, "gpt-4o")).toEqual({ status: 200 });
    expect(await chat(leaf, "gpt-4o-mini")).toEqual({ status: 403, code: "model_not_allowed" });
    // The first level lists the whole org, paged.
    const page1 = await ok(levels[0]!.key, "GET", `/accounts/${levels[0]!.id}/descendants?limit=3`);
    expect(page1.data.map((a: { depth: number }) => a.depth)).toEqual([1, 2, 3]);
    const page2 = await ok(levels[0]!.key, "GET", `/accounts/${levels[0]!.id}/descendants?limit=3&cursor=${page1.next_cursor}`);
    expect(page2).toMatchObject({ data: [{ id: levels[4]!.id, depth: 4 }], next_cursor: null });
  });

  it("suspends a whole subtree at once, three levels down, and resumes it", async () => {
    const t = await tenant();
    const a1 = await ok(t.manage, "POST", "/accounts", { name: unique("a1"), parent_id: t.id });
    const a11 = await ok(t.manage, "POST", "/accounts", { name: unique("a11"), parent_id: a1.id });
    const a111 = await ok(t.manage, "POST", "/accounts", { name: unique("a111"), parent_id: a11.id });
    const leaf = (await ok(t.manage, "POST", `/accounts/${a111.id}/keys`, {})).key;
    const midAdmin = (await ok(t.manage, "POST", `/accounts/${a11.id}/keys`, { scopes: ["manage"] })).key;
    expect(await chat(leaf)).toEqual({ status: 200 });

    expect((await ok(t.manage, "POST", `/accounts/${a1.id}/suspend`)).status).toBe("disabled");
    expect(await chat(leaf)).toEqual({ status: 403, code: "account_disabled" });
    // A manage key under a suspended account is refused on the admin API too.
    expect((await admin(midAdmin, "GET", `/accounts/${a11.id}`)).json.error.code).toBe("account_disabled");
    // Nothing below was rewritten: the sub-accounts keep their own status.
    expect((await ok(t.manage, "GET", `/accounts/${a111.id}`)).status).toBe("active");
    const suspended = await ok(t.manage, "GET", `/accounts/${t.id}/descendants?status=disabled`);
    expect(suspended.data.map((a: { id: string }) => a.id)).toEqual([a1.id]);

    await ok(t.manage, "POST", `/accounts/${a1.id}/resume`);
    expect(await chat(leaf)).toEqual({ status: 200 });
    // The root suspending the tenant stops everything in it, the tenant's own manage key included.
    await ok(ROOT, "POST", `/accounts/${t.id}/suspend`);
    expect(await chat(leaf)).toEqual({ status: 403, code: "account_disabled" });
    expect((await admin(t.manage, "GET", `/accounts/${t.id}`)).json.error.code).toBe("account_disabled");
    await ok(ROOT, "POST", `/accounts/${t.id}/resume`);
    expect(await chat(leaf)).toEqual({ status: 200 });
  });

  it("moves accounts only within the manage key's subtree", async () => {
    const t = await tenant();
    const other = await tenant();
    const x = await ok(t.manage, "POST", "/accounts", { name: unique("x"), parent_id: t.id });
    const y = await ok(t.manage, "POST", "/accounts", { name: unique("y"), parent_id: t.id });
    const moved = await admin(t.manage, "PATCH", `/accounts/${x.id}`, { parent_id: y.id });
    expect(moved).toMatchObject({ status: 200, json: { parent_id: y.id } });
    const out = await admin(t.manage, "PATCH", `/accounts/${x.id}`, { parent_id: other.id });
    expect(out).toMatchObject({ status: 404, json: { error: { code: "account_not_found", param: "parent_id" } } });
    const top = await admin(t.manage, "PATCH", `/accounts/${x.id}`, { parent_id: null });
    expect(top.json.error).toMatchObject({ code: "parent_required", param: "parent_id" });
    const primary = await admin(t.manage, "POST", "/accounts", { name: unique("primary") });
    expect(primary.json.error.code).toBe("parent_required");
    expect((await ok(t.manage, "PATCH", `/accounts/${x.id}`, { parent_id: t.id })).parent_id).toBe(t.id);
  });

  it("deletes an account with sub-accounts only with cascade, taking the subtree's keys with it", async () => {
    const t = await tenant();
    const a = await ok(t.manage, "POST", "/accounts", { name: unique("a"), parent_id: t.id });
    const b = await ok(t.manage, "POST", "/accounts", { name: unique("b"), parent_id: a.id });
    const key = (await ok(t.manage, "POST", `/accounts/${b.id}/keys`, {})).key;
    expect(await chat(key)).toEqual({ status: 200 });
    const refused = await admin(t.manage, "DELETE", `/accounts/${a.id}`);
    expect(refused).toMatchObject({ status: 409, json: { error: { code: "has_children" } } });
    expect((await admin(t.manage, "DELETE", `/accounts/${a.id}?cascade=maybe`)).json.error).toMatchObject({ code: "invalid_field", param: "cascade" });
    expect((await admin(t.manage, "DELETE", `/accounts/${a.id}?cascade=true`)).status).toBe(204);
    expect(await chat(key)).toEqual({ status: 401, code: "invalid_api_key" });
    expect((await admin(t.manage, "GET", `/accounts/${b.id}`)).status).toBe(404);
    expect((await ok(t.manage, "GET", `/accounts/${t.id}/children`)).data).toEqual([]);
  });

  it("lists children, and descendants filtered by name, status and depth", async () => {
    const t = await tenant();
    const tag = randomUUID().slice(0, 6);
    const make = async (name: string, parent: string) => (await ok(t.manage, "POST", "/accounts", { name: `${tag}-${name}`, parent_id: parent })).id as string;
    const sales = await make("Sales", t.id);
    const ops = await make("ops", t.id);
    await make("sales-emea", sales);
    await make("ops-night", ops);
    const names = (r: { data: Array<{ name: string }> }) => r.data.map((a) => a.name.slice(tag.length + 1));
    expect(names(await ok(t.manage, "GET", `/accounts/${t.id}/children`))).toEqual(["Sales", "ops"]);
    expect(names(await ok(t.manage, "GET", `/accounts/${t.id}/descendants?name=SALES`))).toEqual(["Sales", "sales-emea"]);
    expect(names(await ok(t.manage, "GET", `/accounts/${t.id}/descendants?depth=2`))).toEqual(["ops-night", "sales-emea"]);
    expect(names(await ok(t.manage, "GET", `/accounts/${t.id}/descendants?max_depth=1&name=ops`))).toEqual(["ops"]);
    expect((await admin(t.manage, "GET", `/accounts/${t.id}/descendants?limit=0`)).json.error).toMatchObject({ code: "invalid_field", param: "limit" });
    expect((await admin(t.manage, "GET", `/accounts/${t.id}/descendants?cursor=zzz`)).json.error).toMatchObject({ code: "invalid_field", param: "cursor" });
  });
});
