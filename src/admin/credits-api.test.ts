/**
 * Credits and audit over HTTP on a real gateway: the routes, their answers and error
 * bodies, and audit records that carry the admin request's id and address. The YAML
 * bootstrap's own changes are in the same chain, as actor `config`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyAuditChain } from "../governance/audit.js";
import { startStack, type Stack } from "../testing/stack.js";

const TOKEN = "admin-token-for-credit-tests-0123456789";
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ env: { SWITCHYARD_ADMIN_TOKEN: TOKEN } });
});
afterAll(() => stack.close());

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; json: any; requestId: string | null }> {
  const res = await fetch(`${stack.gw.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined, requestId: res.headers.get("x-request-id") };
}

describe("credits over the admin API", () => {
  it("records the YAML bootstrap's changes as actor config", async () => {
    const r = await admin("GET", "/audit?actor=config&limit=1000");
    expect(r.status).toBe(200);
    const actions = r.json.data.map((x: { action: string }) => x.action);
    expect(actions).toEqual(expect.arrayContaining(["upstream.create", "upstream_key.create", "account.create", "api_key.create"]));
    expect(JSON.stringify(r.json.data)).not.toContain("sk-test-acme");
    expect(r.json.data.every((x: { ip: unknown; request_id: unknown }) => x.ip === null && x.request_id === null)).toBe(true);
  });

  it("tops up, grants and claws back, answering movements and balances", async () => {
    const org = (await admin("POST", "/accounts", { name: "credit-org" })).json;
    const team = (await admin("POST", "/accounts", { name: "credit-team", parent_id: org.id })).json;
    const top = await admin("POST", `/accounts/${org.id}/credits/topup`, { amount_micros: 10_000_000, kind: "subscription", note: "plan" });
    expect(top.status).toBe(201);
    expect(top.json).toMatchObject({
      type: "topup",
      account_id: org.id,
      amount_micros: 10_000_000,
      balance_after_micros: 10_000_000,
      kind: "subscription",
      actor: "root",
    });

    const body = { amount_micros: 4_000_000, kind: "payg", idempotency_key: "http-grant-1" };
    // The same call three times at once: one movement.
    const grants = await Promise.all([1, 2, 3].map(() => admin("POST", `/accounts/${team.id}/credits/grant`, body)));
    expect(grants.map((g) => g.status)).toEqual([201, 201, 201]);
    expect(new Set(grants.map((g) => g.json.id)).size).toBe(1);
    expect(grants[0]!.json).toMatchObject({ counterparty_account_id: org.id, balance_after_micros: 4_000_000, counterparty_balance_after_micros: 6_000_000 });

    const back = await admin("POST", `/accounts/${team.id}/credits/clawback`, { amount_micros: 1_000_000 });
    expect(back.json).toMatchObject({ type: "clawback", balance_after_micros: 3_000_000 });
    expect((await admin("GET", `/accounts/${org.id}/credits`)).json).toMatchObject({ balance_micros: 7_000_000 });
    const credits = await admin("GET", `/accounts/${team.id}/credits`);
    expect(credits.json).toEqual({
      balance_micros: 3_000_000,
      grants: [expect.objectContaining({ kind: "payg", amount_micros: 4_000_000, remaining_micros: 3_000_000 })],
    });

    const page1 = await admin("GET", `/accounts/${org.id}/ledger?limit=2`);
    expect(page1.json.data.map((e: { type: string }) => e.type)).toEqual(["clawback_in", "grant_out"]);
    const page2 = await admin("GET", `/accounts/${org.id}/ledger?limit=2&cursor=${page1.json.next_cursor}`);
    expect(page2.json).toEqual({ data: [expect.objectContaining({ type: "topup", seq: 1, note: "plan" })], next_cursor: null });

    const short = await admin("POST", `/accounts/${team.id}/credits/grant`, { amount_micros: 7_000_001, kind: "payg" });
    expect(short.status).toBe(409);
    expect(short.json.error).toMatchObject({ code: "insufficient_balance", param: "amount_micros" });
    expect(short.json.error.message).toContain("7000000");
    const rootGrant = await admin("POST", `/accounts/${org.id}/credits/grant`, { amount_micros: 1, kind: "payg" });
    expect([rootGrant.status, rootGrant.json.error.code]).toEqual([400, "no_parent_account"]);
    const bad = await admin("POST", `/accounts/${team.id}/credits/clawback`, { amount_micros: -5 });
    expect([bad.status, bad.json.error.code, bad.json.error.param]).toEqual([400, "invalid_field", "amount_micros"]);
    const badQuery = await admin("GET", `/accounts/${team.id}/ledger?page=2`);
    expect([badQuery.status, badQuery.json.error.code]).toEqual([400, "invalid_field"]);
    const missing = await admin("GET", `/accounts/00000000-0000-4000-8000-000000000000/credits`);
    expect([missing.status, missing.json.error.code]).toEqual([404, "account_not_found"]);

    // Each movement is in the audit trail with the admin request's id and address.
    const audit = await admin("GET", `/accounts/${team.id}/audit?action=credits.clawback`);
    expect(audit.json.data).toEqual([
      expect.objectContaining({ actor: "root", target_id: team.id, request_id: back.requestId, ip: expect.stringMatching(/127\.0\.0\.1/) }),
    ]);
    const orgView = await admin("GET", `/accounts/${org.id}/audit?limit=100`);
    expect(orgView.json.data.map((x: { action: string }) => x.action)).toEqual([
      "credits.clawback",
      "credits.grant",
      "credits.topup",
      "account.create",
      "account.create",
    ]);
    expect(await verifyAuditChain(stack.gw.store)).toMatchObject({ ok: true });
  });
});
