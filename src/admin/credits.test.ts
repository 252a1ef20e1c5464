/**
 * Credit operations through the admin service on both engines, with the real audit
 * chain: the money rules, who may move credit, idempotency, and a parallel storm after
 * which every balance still equals its ledger rows and the audit chain verifies.
 */
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GatewayError } from "../canonical/errors.js";
import { AuditChain, verifyAuditChain } from "../governance/audit.js";
import { SecretBox } from "../governance/secrets.js";
import type { Account, Store } from "../storage/ports.js";
import { ENGINES, openTestStore, type TestStore } from "../testing/test-stores.js";
import type { AdminContext } from "./context.js";
import { releaseBalanceOnDelete } from "./credits.js";
import { AdminService } from "./service.js";
import { failure } from "../testing/gateway-error.js";

describe.each(ENGINES)("credits on %s", (engine) => {
  let t: TestStore;
  let store: Store;
  let service: AdminService;
  let changes: string[];
  let org: Account;
  let team: Account;
  let squad: Account;
  let other: Account;

  beforeEach(async () => {
    t = await openTestStore(engine);
    store = t.store;
    changes = [];
    service = new AdminService({
      store,
      secrets: new SecretBox(randomBytes(32)),
      onChange: async (e) => void changes.push(e.action),
      audit: new AuditChain(),
    });
    org = await service.createAccount({ name: "org" });
    team = await service.createAccount({ name: "team", parent_id: org.id });
    squad = await service.createAccount({ name: "squad", parent_id: team.id });
    other = await service.createAccount({ name: "other" });
    changes = [];
  });
  afterEach(() => t?.dispose());

  const keyOf = (account: Account): AdminContext => ({ actor: { type: "api_key", keyId: `key-of-${account.name}`, accountId: account.id } });

  it("tops up, grants down the tree and claws back, each movement audited", async () => {
    await service.topUpCredit(org.id, { amount_micros: 5_000_000, kind: "subscription", note: "plan" });
    const g = await service.grantCredit(team.id, { amount_micros: 2_000_000, kind: "payg", expires_at: "2999-01-01T00:00:00+01:00" });
    expect(g).toMatchObject({
      type: "grant",
      accountId: team.id,
      counterpartyId: org.id,
      balanceAfterMicros: 2_000_000,
      counterpartyBalanceAfterMicros: 3_000_000,
    });
    expect(g.expiresAt).toBe("2998-12-31T23:00:00.000Z");
    await service.grantCredit(squad.id, { amount_micros: 500_000, kind: "addon" });
    await service.clawBackCredit(squad.id, { amount_micros: 200_000 });
    expect(await service.credits(org.id)).toMatchObject({ balance_micros: 3_000_000 });
    expect(await service.credits(team.id)).toMatchObject({ balance_micros: 1_700_000 });
    expect(await service.credits(squad.id)).toEqual({
      balance_micros: 300_000,
      grants: [expect.objectContaining({ kind: "addon", amount_micros: 500_000, remaining_micros: 300_000, source_account_id: team.id })],
    });
    const ledger = await service.ledger(team.id, {});
    expect(ledger.data.map((e) => [e.type, e.amount_micros, e.balance_after_micros])).toEqual([
      ["clawback_in", 200_000, 1_700_000],
      ["grant_out", -500_000, 1_500_000],
      ["grant", 2_000_000, 2_000_000],
    ]);
    expect(ledger.next_cursor).toBeNull();
    const page = await service.ledger(team.id, { limit: "2" });
    expect(page.next_cursor).toBe("2");
    expect((await service.ledger(team.id, { limit: "2", cursor: page.next_cursor! })).data.map((e) => e.type)).toEqual(["grant"]);

    expect(changes).toEqual(["credits.topup", "credits.grant", "credits.grant", "credits.clawback"]);
    const audit = await service.accountAudit(squad.id, { action: "credits.clawback" });
    expect(audit.data).toEqual([
      expect.objectContaining({
        actor: "root",
        target_type: "account",
        target_id: squad.id,
        before: { balance_micros: 500_000, counterparty_balance_micros: 1_500_000 },
        after: expect.objectContaining({
          type: "clawback",
          amount_micros: 200_000,
          balance_after_micros: 300_000,
          counterparty_balance_after_micros: 1_700_000,
        }),
      }),
    ]);
    // The parent sees its sub-accounts' movements; a stranger's subtree does not.
    expect((await service.accountAudit(org.id, { action: "credits.grant" })).data).toHaveLength(2);
    expect((await service.accountAudit(other.id, {})).data.map((r) => r.action)).toEqual(["account.create"]);
    expect(await verifyAuditChain(store)).toMatchObject({ ok: true });
  });

  it("refuses what the money rules forbid, with a stable code, writing nothing", async () => {
    await service.topUpCredit(org.id, { amount_micros: 1_000, kind: "payg" });
    changes = [];
    const short = await failure(service.grantCredit(team.id, { amount_micros: 1_001, kind: "payg" }));
    expect(short).toMatchObject({ code: "insufficient_balance", status: 409, param: "amount_micros" });
    expect(short.message).toMatch(/1000 micro-units .* 1001 were requested/);
    await service.grantCredit(team.id, { amount_micros: 400, kind: "payg" });
    changes = [];
    expect(await failure(service.clawBackCredit(team.id, { amount_micros: 401 }))).toMatchObject({
      code: "insufficient_balance",
      message: expect.stringContaining("400"),
    });
    expect(await failure(service.grantCredit(org.id, { amount_micros: 1, kind: "payg" }))).toMatchObject({ code: "no_parent_account" });
    expect(await failure(service.clawBackCredit(org.id, { amount_micros: 1 }))).toMatchObject({ code: "no_parent_account" });
    expect(await failure(service.grantCredit(team.id, { amount_micros: 1, kind: "payg", expires_at: "2001-01-01T00:00:00Z" }))).toMatchObject({
      code: "invalid_field",
      param: "expires_at",
    });
    for (const [body, param] of [
      [{ amount_micros: 0, kind: "payg" }, "amount_micros"],
      [{ amount_micros: 1.5, kind: "payg" }, "amount_micros"],
      [{ amount_micros: "10", kind: "payg" }, "amount_micros"],
      [{ amount_micros: 10, kind: "gift" }, "kind"],
      [{ amount_micros: 10, kind: "payg", expires_at: "tomorrow" }, "expires_at"],
      [{ amount_micros: 10, kind: "payg", extra: 1 }, "body"],
    ] as const) {
      const e = await failure(service.grantCredit(team.id, body));
      expect(e.code, JSON.stringify(body)).toBe("invalid_field");
      if (param !== "body") expect(e.param).toBe(param);
    }
    expect(await failure(service.grantCredit("00000000-0000-4000-8000-000000000000", { amount_micros: 1, kind: "payg" }))).toMatchObject({
      code: "account_not_found",
    });
    expect(changes).toEqual([]);
    expect(await service.credits(org.id)).toMatchObject({ balance_micros: 600 });
    expect(await service.credits(team.id)).toMatchObject({ balance_micros: 400 });
    // More money than a JS number holds exactly is refused, not rounded.
    await service.topUpCredit(other.id, { amount_micros: Number.MAX_SAFE_INTEGER, kind: "payg" });
    expect(await failure(service.topUpCredit(other.id, { amount_micros: 1, kind: "payg" }))).toMatchObject({ code: "invalid", status: 400 });
    expect(await service.credits(other.id)).toMatchObject({ balance_micros: Number.MAX_SAFE_INTEGER });
  });

  it("answers a repeated idempotency key with the first result, and refuses it for another operation", async () => {
    await service.topUpCredit(org.id, { amount_micros: 1_000, kind: "payg" });
    const body = { amount_micros: 300, kind: "payg", idempotency_key: "invoice-42" } as const;
    const first = await service.grantCredit(team.id, body);
    changes = [];
    const again = await service.grantCredit(team.id, body);
    expect(again).toEqual(first);
    expect(changes).toEqual([]);
    expect((await service.auditLog({ action: "credits.grant" })).data).toHaveLength(1);
    expect(await failure(service.grantCredit(team.id, { ...body, amount_micros: 301 }))).toMatchObject({ code: "idempotency_key_reused", status: 409 });
    expect(await failure(service.clawBackCredit(team.id, { amount_micros: 300, idempotency_key: "invoice-42" }))).toMatchObject({
      code: "idempotency_key_reused",
    });
    expect(await service.credits(team.id)).toMatchObject({ balance_micros: 300 });
  });

  it("lets a manage key move credit below its account only, and hides what lies outside", async () => {
    await service.topUpCredit(org.id, { amount_micros: 1_000, kind: "payg" });
    await service.grantCredit(team.id, { amount_micros: 600, kind: "payg" });
    // The team's key grants from the team to the squad, and takes it back.
    const asTeam = keyOf(team);
    await service.grantCredit(squad.id, { amount_micros: 100, kind: "addon" }, asTeam);
    await service.clawBackCredit(squad.id, { amount_micros: 40 }, asTeam);
    expect((await service.credits(squad.id, asTeam)).balance_micros).toBe(60);
    expect((await service.credits(team.id, asTeam)).balance_micros).toBe(540);
    expect((await service.ledger(team.id, {}, asTeam)).data).toHaveLength(3);
    // Never into or out of its own account, never a top-up.
    expect(await failure(service.grantCredit(team.id, { amount_micros: 1, kind: "payg" }, asTeam))).toMatchObject({
      code: "credit_not_permitted",
      status: 403,
    });
    expect(await failure(service.clawBackCredit(team.id, { amount_micros: 1 }, asTeam))).toMatchObject({ code: "credit_not_permitted" });
    expect(await failure(service.topUpCredit(squad.id, { amount_micros: 1, kind: "payg" }, asTeam))).toMatchObject({ code: "root_only", status: 403 });
    // Outside its subtree, accounts do not exist for it.
    for (const target of [org, other]) {
      expect(await failure(service.grantCredit(target.id, { amount_micros: 1, kind: "payg" }, asTeam))).toMatchObject({ code: "account_not_found" });
      expect(await failure(service.credits(target.id, asTeam))).toMatchObject({ code: "account_not_found" });
      expect(await failure(service.ledger(target.id, {}, asTeam))).toMatchObject({ code: "account_not_found" });
      expect(await failure(service.accountAudit(target.id, {}, asTeam))).toMatchObject({ code: "account_not_found" });
    }
    expect(await failure(service.auditLog({}, asTeam))).toMatchObject({ code: "root_only" });
    const seen = await service.accountAudit(team.id, { actor: "api_key:key-of-team" }, asTeam);
    expect(seen.data.map((r) => r.action)).toEqual(["credits.clawback", "credits.grant"]);
    // The CLI and the YAML file act as the root.
    await service.topUpCredit(squad.id, { amount_micros: 5, kind: "payg" }, { actor: { type: "cli" } });
    expect((await service.credits(squad.id)).balance_micros).toBe(65);
  });

  it("returns a deleted account's credit to its parent, and writes off a root's", async () => {
    await service.topUpCredit(org.id, { amount_micros: 1_000, kind: "payg" });
    await service.grantCredit(team.id, { amount_micros: 300, kind: "addon" });
    await service.grantCredit(squad.id, { amount_micros: 100, kind: "addon" });
    const released = await store.transaction(async (tx) => {
      const m = await releaseBalanceOnDelete(tx, squad, { actor: { type: "root" } });
      await tx.accounts.delete(squad.id);
      return m;
    });
    expect(released).toMatchObject({ type: "release", amountMicros: 100, counterpartyId: team.id, counterpartyBalanceAfterMicros: 300 });
    expect(await store.ledger.balance(team.id)).toBe(300);
    // The deleted account's rows stay in the ledger and still sum to its final balance, 0.
    expect((await store.ledger.entries(squad.id)).reduce((n, e) => n + e.amountMicros, 0)).toBe(0);
    expect(await store.transaction((tx) => releaseBalanceOnDelete(tx, other, { actor: { type: "root" } }))).toBeUndefined();
    const writtenOff = await store.transaction((tx) => releaseBalanceOnDelete(tx, org, { actor: { type: "root" } }));
    expect(writtenOff).toMatchObject({ amountMicros: 700, balanceAfterMicros: 0 });
    expect((await store.ledger.entries(org.id))[0]).toMatchObject({ type: "adjustment", amountMicros: -700 });
  });

  it("returns a deleted subtree's unspent credit up the tree to the first survivor, audited", async () => {
    await service.topUpCredit(org.id, { amount_micros: 1_000, kind: "payg" });
    await service.grantCredit(team.id, { amount_micros: 300, kind: "addon" });
    await service.grantCredit(squad.id, { amount_micros: 100, kind: "addon" });
    await service.deleteAccount(team.id, { cascade: true });
    // squad's 100 went to team, then team's 300 to org: nothing lost, nothing created.
    expect(await store.ledger.balance(org.id)).toBe(1_000);
    for (const a of [org, team, squad]) {
      expect((await store.ledger.entries(a.id)).reduce((n, e) => n + e.amountMicros, 0)).toBe(await store.ledger.balance(a.id));
    }
    expect((await service.accountAudit(org.id, { action: "credits.release" })).data).toHaveLength(2);
    expect(await verifyAuditChain(store)).toMatchObject({ ok: true });
  });

  it("keeps balances equal to their ledger rows, never negative, through a parallel storm with retries", async () => {
    const accounts = [org, team, squad];
    const a2 = await service.createAccount({ name: "team-2", parent_id: org.id });
    const s2 = await service.createAccount({ name: "squad-2", parent_id: team.id });
    accounts.push(a2, s2);
    const children = [team, squad, a2, s2];
    await service.topUpCredit(org.id, { amount_micros: 50_000, kind: "subscription" });
    let seed = 11;
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    type Call = { op: "topup" | "grant" | "clawback"; account: Account; body: Record<string, unknown> };
    const calls: Call[] = [];
    for (let i = 0; i < 90; i++) {
      const account = children[rand(children.length)]!;
      const roll = rand(10);
      const op = roll < 1 ? "topup" : roll < 7 ? "grant" : "clawback";
      const body: Record<string, unknown> = { amount_micros: 1 + rand(4_000), ...(op === "clawback" ? {} : { kind: "payg" }), idempotency_key: `call-${i}` };
      calls.push({ op, account, body });
      // A client retrying: the same call again, at the same time.
      if (rand(3) === 0) calls.push({ op, account, body });
    }
    const run = (c: Call) =>
      c.op === "topup"
        ? service.topUpCredit(c.account.id, c.body)
        : c.op === "grant"
          ? service.grantCredit(c.account.id, c.body)
          : service.clawBackCredit(c.account.id, c.body);
    const outcomes = await Promise.all(
      calls.map((c) =>
        run(c).then(
          (m) => ({ ok: true as const, m }),
          (e: unknown) => ({ ok: false as const, e }),
        ),
      ),
    );

    const moved = new Map<string, string>();
    let topped = 50_000;
    for (const [i, o] of outcomes.entries()) {
      const key = String(calls[i]!.body.idempotency_key);
      if (!o.ok) {
        expect(o.e).toBeInstanceOf(GatewayError);
        expect((o.e as GatewayError).code).toBe("insufficient_balance");
        continue;
      }
      if (moved.has(key)) {
        expect(moved.get(key)).toBe(o.m.id);
        continue;
      }
      moved.set(key, o.m.id);
      if (calls[i]!.op === "topup") topped += o.m.amountMicros;
    }
    expect(moved.size).toBeGreaterThan(20);
    let total = 0;
    for (const a of accounts) {
      const balance = await store.ledger.balance(a.id);
      const rows = await store.ledger.entries(a.id, { limit: 1000 });
      expect(balance, a.name).toBeGreaterThanOrEqual(0);
      expect(
        rows.reduce((n, e) => n + e.amountMicros, 0),
        a.name,
      ).toBe(balance);
      expect(rows[0]?.balanceAfterMicros ?? 0).toBe(balance);
      total += balance;
    }
    expect(total).toBe(topped);
    // One audit record per movement made, none for the retries, in one unbroken chain.
    expect(
      (await service.auditLog({ limit: "1000", action: "credits.grant" })).data.length +
        (await service.auditLog({ limit: "1000", action: "credits.clawback" })).data.length,
    ).toBe([...moved.keys()].filter((k) => calls.find((c) => c.body.idempotency_key === k)!.op !== "topup").length);
    expect(await verifyAuditChain(store)).toMatchObject({ ok: true });
  });
});
