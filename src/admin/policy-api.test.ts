/**
 * Account policies through the admin API over HTTP: the fields on create and update,
 * refusals that explain themselves, the effective policy with who set each value, and a
 * parent's tightening reaching its sub-accounts' keys at once.
 */
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../testing/stack.js";

const TOKEN = "admin-token-for-tests-0123456789-abcdef";
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { SWITCHYARD_ADMIN_TOKEN: TOKEN } });
});
afterAll(() => stack?.close());

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${stack.gw.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

describe("account policies over the admin API", () => {
  it("builds a tree whose every level narrows the one above, and shows each level's own values", async () => {
    const org = await admin("POST", "/accounts", {
      name: "pol-org",
      limits: { rpm: 100, tpm: 50_000, per_model: { "gpt-4o*": { rpm: 40 } } },
      spend_caps: { monthly_micros: 5_000_000 },
      price_multiplier: 1.2,
      time_zone: "Europe/Paris",
      deny_models: ["gpt-4o-realtime*"],
    });
    expect(org.status).toBe(201);
    expect(org.json).toMatchObject({ limits: { rpm: 100 }, time_zone: "Europe/Paris", ip_allow: null, origins: null, upstreams: null });
    const dept = await admin("POST", "/accounts", {
      name: "pol-dept",
      parent_id: org.json.id,
      limits: { rpm: 60, per_model: { "gpt-4o-mini": { rpm: 30 } } },
      ip_allow: ["127.0.0.0/8", "10.0.0.0/8"],
      upstreams: ["chat", "responses"],
      price_multiplier: 1.5,
    });
    expect(dept.status).toBe(201);
    const team = await admin("POST", "/accounts", { name: "pol-team", parent_id: dept.json.id, limits: { concurrency: 3 }, ip_allow: ["127.0.0.1"] });
    expect(team.status).toBe(201);

    const eff = await admin("GET", `/accounts/${team.json.id}/effective-policy`);
    expect(eff.status).toBe(200);
    const org_ = { id: org.json.id, name: "pol-org" };
    const dept_ = { id: dept.json.id, name: "pol-dept" };
    const team_ = { id: team.json.id, name: "pol-team" };
    expect(eff.json).toMatchObject({
      account: team_,
      chain: [team_, dept_, org_],
      limits: {
        rpm: { value: 60, set_by: dept_ },
        tpm: { value: 50_000, set_by: org_ },
        concurrency: { value: 3, set_by: team_ },
        rph: null,
        per_model: { "gpt-4o*": { rpm: { value: 40, set_by: org_ } }, "gpt-4o-mini": { rpm: { value: 30, set_by: dept_ } } },
        chain: [
          { set_by: team_, limits: { concurrency: 3 } },
          { set_by: dept_, limits: { rpm: 60 } },
          { set_by: org_, limits: { rpm: 100 } },
        ],
      },
      spend_caps: { monthly_micros: { value: 5_000_000, set_by: org_ }, daily_micros: null },
      ip_allow: { value: ["127.0.0.1"], set_by: team_, also_within: [] },
      upstreams: { value: ["chat", "responses"], set_by: dept_ },
      origins: { value: null, set_by: null },
      models: { value: null, set_by: null },
      deny_models: [{ value: ["gpt-4o-realtime*"], set_by: org_ }],
      price_multiplier: { value: 1.5, set_by: dept_ },
      time_zone: { value: "Europe/Paris", set_by: org_ },
    });
    const top = await admin("GET", `/accounts/${org.json.id}/effective-policy`);
    expect(top.json.price_multiplier).toEqual({ value: 1.2, set_by: org_ });
    expect((await admin("GET", "/accounts/no-such-account/effective-policy")).json.error.code).toBe("account_not_found");
  });

  it("refuses a child beyond an ancestor, naming the field, the value, the bound and the ancestor that set it", async () => {
    const org = await admin("POST", "/accounts", { name: "ref-org", limits: { rpm: 100 }, ip_allow: ["10.0.0.0/8"] });
    const mid = await admin("POST", "/accounts", { name: "ref-mid", parent_id: org.json.id });
    const e = await admin("POST", "/accounts", { name: "ref-leaf", parent_id: mid.json.id, limits: { rpm: 500 } });
    expect(e.status).toBe(400);
    expect(e.json.error).toMatchObject({ code: "exceeds_parent", param: "limits.rpm" });
    expect(e.json.error.message).toBe(
      `The policy reaches beyond what an ancestor allows: limits.rpm: 500 is above the limit of 100, set by account 'ref-org' (${org.json.id}).`,
    );
    const ip = await admin("POST", "/accounts", { name: "ref-leaf", parent_id: mid.json.id, ip_allow: ["192.168.0.0/16"] });
    expect(ip.json.error).toMatchObject({ code: "exceeds_parent", param: "ip_allow" });
    expect(ip.json.error.message).toContain("'192.168.0.0/16' is not within [10.0.0.0/8]");
    const low = await admin("POST", "/accounts", { name: "ref-leaf", price_multiplier: 0.5 });
    expect(low.json.error.message).toContain("price_multiplier: 0.5 is below the multiplier of 1, set by the gateway's default");
    expect((await admin("GET", "/accounts")).json.data.map((a: { name: string }) => a.name)).not.toContain("ref-leaf");
  });

  it("validates every policy field, naming it", async () => {
    const cases: Array<[unknown, string]> = [
      [{ limits: { rpm: 0 } }, "limits.rpm"],
      [{ limits: { per_model: { "gpt-*": { tpm: -1 } } } }, "limits.per_model.gpt-*.tpm"],
      [{ limits: { rpx: 1 } }, "limits"],
      [{ spend_caps: { daily_micros: 1.5 } }, "spend_caps.daily_micros"],
      [{ ip_allow: ["10.0.0.0/40"] }, "ip_allow.0"],
      [{ origins: ["https://app.example.com/"] }, "origins.0"],
      [{ upstreams: ["no spaces"] }, "upstreams.0"],
      [{ time_zone: "Nowhere/Land" }, "time_zone"],
      [{ price_multiplier: -1 }, "price_multiplier"],
    ];
    for (const [fields, param] of cases) {
      const r = await admin("POST", "/accounts", { name: "invalid", ...(fields as object) });
      expect([r.status, r.json.error.code, r.json.error.param], JSON.stringify(fields)).toEqual([400, "invalid_field", param]);
    }
  });

  it("lets a parent tighten a numeric bound below its children at once, without rewriting them; lists must not strand a child", async () => {
    const org = await admin("POST", "/accounts", { name: "tight-org", limits: { rpm: 100 }, ip_allow: ["127.0.0.0/8", "10.0.0.0/8"] });
    const child = await admin("POST", "/accounts", { name: "tight-child", parent_id: org.json.id, limits: { rpm: 80 }, ip_allow: ["10.0.0.0/8"] });
    const key = await admin("POST", `/accounts/${child.json.id}/keys`, {});

    // Lowering below the child's own 80 is allowed; the child's row is untouched and the parent's value binds.
    expect((await admin("PATCH", `/accounts/${org.json.id}`, { limits: { rpm: 20 } })).status).toBe(200);
    expect((await admin("GET", `/accounts/${child.json.id}`)).json.limits).toEqual({ rpm: 80 });
    expect((await admin("GET", `/accounts/${child.json.id}/effective-policy`)).json.limits.rpm).toEqual({
      value: 20,
      set_by: { id: org.json.id, name: "tight-org" },
    });
    // The child can still change what it did not change before, but not restate more than binds now.
    expect((await admin("PATCH", `/accounts/${child.json.id}`, { name: "tight-child-renamed", limits: { rpm: 80, tpm: 1000 } })).status).toBe(200);
    const raise = await admin("PATCH", `/accounts/${child.json.id}`, { limits: { rpm: 90 } });
    expect(raise.json.error).toMatchObject({ code: "exceeds_parent", param: "limits.rpm" });

    // Narrowing the parent's address list below the child's is refused, naming the child.
    const strand = await admin("PATCH", `/accounts/${org.json.id}`, { ip_allow: ["127.0.0.0/8"] });
    expect(strand.status).toBe(409);
    expect(strand.json.error).toMatchObject({ code: "children_outside_policy", param: "ip_allow" });
    expect(strand.json.error.message).toContain("'tight-child-renamed' (ip_allow: 10.0.0.0/8)");

    // The child's key, used from 127.0.0.1, is outside its own 10.0.0.0/8: refused at once, in OpenAI's format.
    const client = new OpenAI({ apiKey: key.json.key, baseURL: `${stack.gw.url}/v1`, maxRetries: 0 });
    const refused = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 403, code: "ip_not_allowed" });
    // null clears the child's own list: it inherits the parent's, which allows loopback, at once.
    expect((await admin("PATCH", `/accounts/${child.json.id}`, { ip_allow: null })).json.ip_allow).toBeNull();
    const ok = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    expect(ok.choices[0]!.message.content).toBeTruthy();
  });

  it("shows a manage key the effective policy of its subtree, without naming the accounts above its own", async () => {
    const org = await admin("POST", "/accounts", { name: "mk-org", limits: { rpm: 50 } });
    const dept = await admin("POST", "/accounts", { name: "mk-dept", parent_id: org.json.id, limits: { tpm: 900 } });
    const team = await admin("POST", "/accounts", { name: "mk-team", parent_id: dept.json.id });
    const key = await admin("POST", `/accounts/${dept.json.id}/keys`, { scopes: ["manage"] });
    const asKey = async (path: string) => {
      const res = await fetch(`${stack.gw.url}/admin/v1${path}`, { headers: { authorization: `Bearer ${key.json.key}` } });
      return { status: res.status, json: (await res.json()) as any };
    };
    const eff = await asKey(`/accounts/${team.json.id}/effective-policy`);
    expect(eff.status).toBe(200);
    expect(eff.json.chain).toEqual([
      { id: team.json.id, name: "mk-team" },
      { id: dept.json.id, name: "mk-dept" },
    ]);
    expect(eff.json.limits.rpm).toEqual({ value: 50, set_by: { id: null, name: null } });
    expect(eff.json.limits.tpm).toEqual({ value: 900, set_by: { id: dept.json.id, name: "mk-dept" } });
    // Outside its subtree: absent, exactly like an unknown id.
    expect((await asKey(`/accounts/${org.json.id}/effective-policy`)).json.error.code).toBe("account_not_found");
  });

  it("documents the route and the policy fields in the OpenAPI document", async () => {
    const doc = (await (await fetch(`${stack.gw.url}/admin/v1/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    };
    expect(doc.paths["/admin/v1/accounts/{id}/effective-policy"]).toBeDefined();
    for (const schema of ["CreateAccount", "UpdateAccount", "Account"]) {
      expect(Object.keys(doc.components.schemas[schema]!.properties!)).toEqual(
        expect.arrayContaining(["deny_models", "limits", "spend_caps", "ip_allow", "origins", "upstreams", "price_multiplier", "time_zone"]),
      );
    }
  });
});
