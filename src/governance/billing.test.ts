/**
 * Dual-track billing on real stores (SQLite and PostgreSQL) with the in-memory meter: the
 * admission check, settlement, and the usage recorder's debits, under parallel load. Each
 * test is one of the public bugs other gateways shipped (docs/billing.md#what-the-tests-prove).
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { GatewayError } from "../canonical/errors.js";
import { emptyUsage, type Usage } from "../canonical/usage.js";
import { createLogger } from "../observability/logger.js";
import type { Account, Store, UsageRecord } from "../storage/ports.js";
import { ENGINES, openTestStore, type TestStore } from "../testing/test-stores.js";
import { admit, admitAtOnce, type AdmissionSubject, type Admission } from "./admission.js";
import { Billing } from "./billing.js";
import { dayWindow, monthWindow } from "./calendar.js";
import { MemoryCounters } from "./counters-memory.js";
import { foldPolicies, policyOf, type Policy } from "./policy.js";
import type { Pricer } from "./pricing.js";
import { UsageRecorder } from "./usage-recorder.js";

/** One micro-unit per token, input and output alike: costs are easy to read off. */
const flatPricer: Pricer = {
  cost: (_p, _m, u) => ({ micros: u.inputTokens + u.outputTokens, version: "flat" }),
  estimate: (_p, _m, e) => e.inputTokens + e.outputTokens,
};

function usage(input: number, output: number): Usage {
  return { ...emptyUsage(), inputTokens: input, outputTokens: output };
}

describe.each(ENGINES)("billing on %s", (engine) => {
  let t: TestStore;
  let store: Store;
  let now: number;
  let meter: MemoryCounters;
  let billing: Billing;
  let recorder: UsageRecorder;

  beforeEach(async () => {
    t = await openTestStore(engine);
    store = t.store;
    // The store's debits read the real clock (grant expiry), so the test's clock starts from it.
    now = Date.now();
    meter = new MemoryCounters({ now: () => now });
    billing = new Billing({ meter, pricer: flatPricer, ledger: store.ledger, nodeId: "n1", now: () => now });
    recorder = new UsageRecorder(store.usage, createLogger("silent"), {
      flushIntervalMs: 60_000,
      maxBatch: 10_000,
      charging: { debited: (w) => billing.debited(w) },
    });
  });
  afterEach(async () => {
    await recorder?.close();
    await t?.dispose();
  });

  const account = (name: string, policy: Policy = {}, parent?: Account) =>
    store.accounts.create({ name: `${name}-${randomUUID().slice(0, 6)}`, parentId: parent?.id ?? null, settings: policy as Record<string, unknown> });
  const topUp = (a: Account, amountMicros: number, expiresAt: string | null = null, at?: string) =>
    store.ledger.move({ type: "topup", accountId: a.id, amountMicros, kind: "payg", expiresAt, now: at });

  /** The admission subject of a key on `a`, whose chain is `chain` (a first, the root last). */
  function subject(chain: readonly Account[]): AdmissionSubject {
    return {
      accountId: chain[0]!.id,
      apiKeyId: `key-${chain[0]!.id}`,
      chain: chain.map((a) => ({ id: a.id, name: a.name, status: "active" })),
      modelAllowed: () => true,
      policy: foldPolicies(chain.map((a) => ({ accountId: a.id, policy: policyOf(a.settings).policy }))),
    };
  }

  type Ending = { usage: Usage; status?: number; aborted?: boolean } | "release";

  /** One request: admitted on the estimate, ended as told, its usage record handed to the recorder as the pipeline does. */
  async function request(s: AdmissionSubject, estimate: { inputTokens: number; outputTokens: number }, ending: Ending): Promise<Admission | GatewayError> {
    let admission: Admission;
    try {
      admission = await admit([billing.check], s, { model: "m", stream: false, estimate });
    } catch (e) {
      if (e instanceof GatewayError) return e;
      throw e;
    }
    if (ending === "release") {
      await admission.release();
      return admission;
    }
    const cost = flatPricer.cost(undefined, "m", ending.usage).micros;
    await admission.settle({ status: ending.status ?? 200, usage: ending.usage, aborted: ending.aborted ?? false, costMicros: cost });
    const charge = admission.charge;
    recorder.record(record(s, ending, cost, charge?.payerAccountId, charge?.track === "credit" ? cost : 0));
    return admission;
  }

  function record(s: AdmissionSubject, ending: Exclude<Ending, "release">, cost: number, payer: string | undefined, charged: number): UsageRecord {
    return {
      requestId: randomUUID(),
      accountId: s.accountId,
      apiKeyId: null as unknown as string,
      model: "m",
      upstreamModel: "m",
      upstreamId: null,
      upstreamKeyId: null,
      clientProtocol: "openai-chat",
      upstreamProtocol: "openai-chat",
      stream: false,
      inputTokens: ending.usage.inputTokens,
      cachedInputTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: ending.usage.outputTokens,
      reasoningTokens: 0,
      costMicros: cost,
      status: ending.aborted ? "cancelled" : (ending.status ?? 200) >= 400 ? "error" : "ok",
      httpStatus: ending.status ?? 200,
      errorCode: null,
      attempts: 1,
      latencyMs: 1,
      ttfbMs: 1,
      createdAt: new Date(now).toISOString(),
      payerAccountId: payer ?? null,
      chargedMicros: charged,
    };
  }

  const admitted = (results: readonly (Admission | GatewayError)[]) => results.filter((r) => !(r instanceof GatewayError)).length;
  const refusals = (results: readonly (Admission | GatewayError)[]) => results.filter((r): r is GatewayError => r instanceof GatewayError);

  /** Sum of an account's ledger rows. */
  async function ledgerSum(a: Account): Promise<number> {
    return (await store.ledger.entries(a.id, { limit: 100_000 })).reduce((n, e) => n + e.amountMicros, 0);
  }
  async function debits(a: Account): Promise<number> {
    return (await store.ledger.entries(a.id, { limit: 100_000 })).filter((e) => e.type === "debit").reduce((n, e) => n - e.amountMicros, 0);
  }
  /** Sum of charged_micros over every usage row paid by `payer`, read back from the store. */
  async function chargedTo(payer: Account, accounts: readonly Account[]): Promise<number> {
    let total = 0;
    for (const a of accounts)
      for (const r of await store.usage.listByAccount(a.id, { limit: 100_000 })) if (r.payerAccountId === payer.id) total += r.chargedMicros ?? 0;
    return total;
  }
  async function reconciled(payer: Account, accounts: readonly Account[]): Promise<void> {
    const balance = await store.ledger.balance(payer.id);
    expect(balance).toBe(await ledgerSum(payer));
    const grants = await store.ledger.grants(payer.id);
    const debts = (await store.ledger.wallet(payer.id)).spendableMicros;
    expect(debts).toBeLessThanOrEqual(balance);
    void grants;
    expect(await debits(payer)).toBe(await chargedTo(payer, accounts));
  }

  it("admits within the call once the payer's view is loaded, and waits for the store only while it is not", async () => {
    const org = await account("org", { credit: { overdraft_micros: 0 } });
    await topUp(org, 1_000);
    const s = subject([org]);
    const ask = () => admitAtOnce([billing.check], s, { model: "m", stream: false, estimate: { inputTokens: 100, outputTokens: 100 } });
    // The first request finds no view: the wallet is read from the store.
    const first = ask();
    expect(first).toBeInstanceOf(Promise);
    const a = await first;
    const second = ask();
    expect(second).not.toBeInstanceOf(Promise);
    const b = second as Admission;
    expect(b.charge).toEqual({ payerAccountId: org.id, track: "credit" });
    // Both hold their estimate of 200, so 600 is left: a request estimated at 700 is refused, as a rejected promise.
    const big = admitAtOnce([billing.check], s, { model: "m", stream: false, estimate: { inputTokens: 350, outputTokens: 350 } });
    expect(big).toBeInstanceOf(Promise);
    await expect(big).rejects.toMatchObject({ code: "insufficient_credit" });
    expect(b.settle({ status: 200, usage: usage(100, 50), aborted: false, costMicros: 150 })).toBeUndefined();
    expect(a.release()).toBeUndefined();
  });

  it("LiteLLM #40002: five parallel large requests against a balance that covers one admit exactly one", async () => {
    const org = await account("org", { credit: { overdraft_micros: 0 } });
    await topUp(org, 1_000);
    const s = subject([org]);
    const results = await Promise.all(Array.from({ length: 5 }, () => request(s, { inputTokens: 100, outputTokens: 500 }, { usage: usage(100, 500) })));
    expect(admitted(results)).toBe(1);
    for (const r of refusals(results)) {
      expect(r.code).toBe("insufficient_credit");
      expect(r.status).toBe(402);
      expect(r.message).toContain(org.name);
      expect(r.message).toContain("Credit track");
      // What is left once the one admitted request holds its estimate: 1000 less its cost.
      expect(r.headers?.["x-switchyard-limit"]).toMatch(new RegExp(`^credit_micros=\\d+; account=${encodeURIComponent(org.name)}; scope=wallet$`));
    }
    await recorder.flush();
    expect(await store.ledger.balance(org.id)).toBe(400);
    await reconciled(org, [org]);
  });

  it("LiteLLM #17054: a parent's spend cap is shared by its children, who together cannot exceed it", async () => {
    const org = await account("org", { spend_caps: { daily_micros: 1_000 } });
    const a = await account("a", {}, org);
    const b = await account("b", {}, org);
    const [sa, sb] = [subject([a, org]), subject([b, org])];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => request(i % 2 ? sa : sb, { inputTokens: 50, outputTokens: 50 }, { usage: usage(50, 50) })),
    );
    expect(admitted(results)).toBe(10);
    for (const r of refusals(results)) {
      expect(r.code).toBe("spend_cap_exceeded");
      expect(r.status).toBe(429);
      expect(r.message).toContain(org.name);
      expect(r.headers?.["x-switchyard-limit"]).toBe(`spend_caps.daily_micros=1000; account=${encodeURIComponent(org.name)}; scope=account`);
      expect(Number(r.headers?.["retry-after"])).toBe(Math.ceil((dayWindow("UTC", now).endsAt - now) / 1000));
    }
    // Postpaid (no overdraft anywhere): each child's own wallet paid, into debt.
    await recorder.flush();
    expect((await store.ledger.balance(a.id)) + (await store.ledger.balance(b.id))).toBe(-1_000);
    await reconciled(a, [a]);
    await reconciled(b, [b]);
  });

  it("new-api #5690: parallel requests from several children of a payer: parent wallet never push it below its overdraft", async () => {
    const org = await account("org", { credit: { overdraft_micros: 500 } });
    const kids = await Promise.all(["x", "y", "z"].map((n) => account(n, { credit: { payer: "parent" } }, org)));
    await topUp(org, 2_000);
    const subjects = kids.map((k) => subject([k, org]));
    let total = 0;
    // Waves of 50 until the wallet refuses everything; the recorder writes between (and during) waves.
    for (let wave = 0; wave < 4; wave++) {
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => request(subjects[i % 3]!, { inputTokens: 40, outputTokens: 60 }, { usage: usage(40, 50 + (i % 11)) })),
      );
      total += admitted(results);
      for (const r of refusals(results)) expect(r.code).toBe("insufficient_credit");
      if (wave === 1) void recorder.flush();
      else await recorder.flush();
      expect(await store.ledger.balance(org.id)).toBeGreaterThanOrEqual(-500);
    }
    await recorder.flush();
    const balance = await store.ledger.balance(org.id);
    expect(balance).toBeGreaterThanOrEqual(-500);
    // Every admission held 100 against 2,500 available and settled at most 100: at least 25 fit, and the rest was refused.
    expect(total).toBeGreaterThanOrEqual(25);
    expect(balance).toBeLessThan(-500 + 100);
    await reconciled(org, kids);
  });

  it("LiteLLM #34733: spend settling after a window reset corrects the old window and never overwrites the new one", async () => {
    const org = await account("org", { spend_caps: { daily_micros: 150 } });
    const s = subject([org]);
    now = Date.parse("2026-06-15T23:59:59.500Z");
    const early = await admit([billing.check], s, { model: "m", stream: false, estimate: { inputTokens: 50, outputTokens: 50 } });
    now = Date.parse("2026-06-16T00:00:00.500Z");
    const late = await request(s, { inputTokens: 50, outputTokens: 50 }, { usage: usage(50, 50) });
    expect(late).not.toBeInstanceOf(GatewayError);
    // The early request settles after midnight, at more than its estimate.
    await early.settle({ status: 200, usage: usage(60, 60), aborted: false, costMicros: 120 });
    const newDay = dayWindow("UTC", now);
    expect(await meter.counted(`{${org.id}}:spend:${org.id}:day`, newDay)).toBe(100);
    const third = await request(s, { inputTokens: 50, outputTokens: 50 }, { usage: usage(50, 50) });
    expect(third).toBeInstanceOf(GatewayError);
    expect((third as GatewayError).code).toBe("spend_cap_exceeded");
  });

  it("LiteLLM #36926: reservations never leak: after refused, released, failed and aborted requests the available credit is the balance exactly", async () => {
    const org = await account("org", { credit: { overdraft_micros: 0 } });
    await topUp(org, 1_000);
    const s = subject([org]);
    const endings: Ending[] = [
      "release",
      { usage: usage(0, 0), status: 502 },
      { usage: usage(3, 2), aborted: true, status: 499 },
      { usage: usage(0, 0), status: 504 },
    ];
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => request(s, { inputTokens: 300, outputTokens: 300 }, endings[i % endings.length]!)));
    expect(refusals(results).every((r) => r.code === "insufficient_credit")).toBe(true);
    await recorder.flush();
    const balance = await store.ledger.balance(org.id);
    const key = `{${org.id}}:balance:${org.id}`;
    expect(await meter.held(key)).toBe(0);
    expect(balance).toBe(1_000 - 5 * refusalsFree(results, endings));
    // The whole balance is available again: a request estimated at exactly it is admitted, one micro-unit more is not.
    const exact = await request(s, { inputTokens: balance, outputTokens: 0 }, "release");
    expect(exact).not.toBeInstanceOf(GatewayError);
    const over = await request(s, { inputTokens: balance + 1, outputTokens: 0 }, "release");
    expect((over as GatewayError).code).toBe("insufficient_credit");
    await reconciled(org, [org]);
  });

  /** How many of the admitted requests were the aborted ones (each billed 5, the usage seen). */
  function refusalsFree(results: readonly (Admission | GatewayError)[], endings: readonly Ending[]): number {
    return results.filter((r, i) => !(r instanceof GatewayError) && i % endings.length === 2).length;
  }

  it("spends unexpired grants earliest expiry first and never an expired one", async () => {
    const org = await account("org", { credit: { overdraft_micros: 0 } });
    const past = new Date(now - 86_400_000).toISOString();
    await topUp(org, 500, new Date(now - 3_600_000).toISOString(), past); // expired an hour ago
    await topUp(org, 300, null);
    await topUp(org, 300, new Date(now + 2 * 86_400_000).toISOString());
    await topUp(org, 300, new Date(now + 3_600_000).toISOString());
    const s = subject([org]);
    // 900 unexpired: a request estimated above it is refused although the balance (1,400) would cover it.
    expect(((await request(s, { inputTokens: 901, outputTokens: 0 }, "release")) as GatewayError).code).toBe("insufficient_credit");
    await request(s, { inputTokens: 400, outputTokens: 0 }, { usage: usage(400, 0) });
    await recorder.flush();
    const grants = await store.ledger.grants(org.id);
    const left = Object.fromEntries(
      grants.map((g) => [g.expiresAt === null ? "never" : g.expiresAt < new Date(now).toISOString() ? "expired" : g.expiresAt, g.remainingMicros]),
    );
    expect(left).toEqual({ expired: 500, [new Date(now + 2 * 86_400_000).toISOString()]: 200, never: 300 });
    expect((await store.ledger.wallet(org.id, new Date(now).toISOString())).spendableMicros).toBe(500);
    await reconciled(org, [org]);
  });

  it("a view lapses when its earliest credit expires and is reloaded at the same ledger seq without that credit", async () => {
    const org = await account("org", { credit: { overdraft_micros: 0 } });
    await topUp(org, 1_000, new Date(now + 60_000).toISOString());
    await topUp(org, 200);
    const s = subject([org]);
    expect(await request(s, { inputTokens: 900, outputTokens: 0 }, "release")).not.toBeInstanceOf(GatewayError);
    now += 61_000;
    // No ledger row was written, yet the expired 1,000 may no longer be spent.
    expect(((await request(s, { inputTokens: 900, outputTokens: 0 }, "release")) as GatewayError).code).toBe("insufficient_credit");
    expect(await request(s, { inputTokens: 200, outputTokens: 0 }, "release")).not.toBeInstanceOf(GatewayError);
  });

  it("postpaid runs into debt, carried as a negative grant that the next top-up repays first", async () => {
    const org = await account("org");
    await topUp(org, 100);
    const s = subject([org]);
    await request(s, { inputTokens: 1, outputTokens: 1 }, { usage: usage(200, 50) });
    await recorder.flush();
    expect(await store.ledger.balance(org.id)).toBe(-150);
    expect((await store.ledger.wallet(org.id)).spendableMicros).toBe(-150);
    await topUp(org, 1_000, new Date(now + 86_400_000).toISOString());
    await request(s, { inputTokens: 1, outputTokens: 1 }, { usage: usage(10, 0) });
    await recorder.flush();
    // The debt was repaid from the new grant first, then the charge: 1,000 - 150 - 10 left on it, no debt row.
    const grants = await store.ledger.grants(org.id);
    expect(grants.map((g) => g.remainingMicros)).toEqual([840]);
    expect(await store.ledger.balance(org.id)).toBe(840);
    await reconciled(org, [org]);
  });

  it("a quota covers requests until it runs out, then pay-as-you-go bills credit; with refuse the next is refused with the reset", async () => {
    const payg = await account("payg", { quotas: [{ per: "day", requests: 3 }], on_quota_exhausted: "pay_as_you_go", credit: { overdraft_micros: 0 } });
    await topUp(payg, 1_000);
    const s = subject([payg]);
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await request(s, { inputTokens: 10, outputTokens: 10 }, { usage: usage(10, 10) }));
    expect(results.map((r) => (r as Admission).charge?.track)).toEqual(["quota", "quota", "quota", "credit", "credit"]);
    await recorder.flush();
    expect(await store.ledger.balance(payg.id)).toBe(960);
    await reconciled(payg, [payg]);

    const strict = await account("strict", { quotas: [{ per: "month", tokens: 100 }], time_zone: "Europe/Paris" });
    const st = subject([strict]);
    expect(await request(st, { inputTokens: 40, outputTokens: 40 }, { usage: usage(30, 30) })).not.toBeInstanceOf(GatewayError);
    const refused = (await request(st, { inputTokens: 20, outputTokens: 30 }, { usage: usage(1, 1) })) as GatewayError;
    expect(refused.code).toBe("quota_exceeded");
    expect(refused.status).toBe(429);
    expect(refused.message).toContain(strict.name);
    expect(refused.message).toContain("Quota track");
    expect(refused.headers?.["x-switchyard-limit"]).toBe(`quota.tokens.month=100; account=${encodeURIComponent(strict.name)}; scope=account`);
    // The month ends at local midnight in Paris.
    expect(Number(refused.headers?.["retry-after"])).toBe(Math.ceil((monthWindow("Europe/Paris", now).endsAt - now) / 1000));
    // What is left (40 tokens) still admits a request that fits.
    expect(await request(st, { inputTokens: 20, outputTokens: 20 }, { usage: usage(20, 20) })).not.toBeInstanceOf(GatewayError);
  });

  it("a parent's quota counts its whole subtree's usage", async () => {
    const org = await account("org", { quotas: [{ per: "day", requests: 7 }] });
    const a = await account("a", { quotas: [{ per: "day", requests: 5 }] }, org);
    const b = await account("b", {}, org);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => request(i % 2 ? subject([a, org]) : subject([b, org]), { inputTokens: 1, outputTokens: 1 }, { usage: usage(1, 1) })),
    );
    expect(admitted(results)).toBe(7);
    expect(refusals(results).every((r) => r.code === "quota_exceeded")).toBe(true);
  });

  it("after parallel load across a tree, balances equal their ledger rows and usage charged equals the debits", async () => {
    const org = await account("org", { credit: { overdraft_micros: 1_000 } });
    const team = await account("team", { credit: { overdraft_micros: 0 } }, org);
    const shared = await account("shared", { credit: { payer: "parent" } }, team);
    await topUp(org, 50_000);
    await store.ledger.move({ type: "grant", accountId: team.id, counterpartyId: org.id, amountMicros: 5_000, kind: "payg" });
    const s = [subject([org]), subject([team, org]), subject([shared, team, org])];
    const all = [];
    for (let wave = 0; wave < 3; wave++) {
      all.push(
        ...(await Promise.all(Array.from({ length: 60 }, (_, i) => request(s[i % 3]!, { inputTokens: 50, outputTokens: 100 }, { usage: usage(50, i % 100) })))),
      );
      void recorder.flush();
    }
    await recorder.flush();
    // shared pays from team's wallet.
    expect(all.filter((r) => !(r instanceof GatewayError) && (r as Admission).charge?.payerAccountId === shared.id)).toHaveLength(0);
    expect(await store.ledger.balance(team.id)).toBeGreaterThanOrEqual(0);
    await reconciled(org, [org]);
    await reconciled(team, [team, shared]);
  });
});
