/**
 * Billing through a real gateway over sockets (SQLite store, in-memory meter, the mock
 * upstream): a streaming client that disconnects is billed the usage seen, WebSocket
 * turns are charged, an admin top-up reaches the hot path at once, and a graceful stop
 * in the middle of traffic loses no money (docs/billing.md).
 */
import { rm } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { openStore } from "../storage/open-store.js";
import type { Store } from "../storage/ports.js";
import { startStack, type Stack } from "../testing/stack.js";
import type { Pricer } from "./pricing.js";

const PAYER_KEY = "sk-test-payer-00000000000000000009";

/** One micro-unit per token of any kind. */
const flatPricer: Pricer = {
  cost: (_p, _m, u) => ({ micros: u.inputTokens + u.outputTokens, version: "flat" }),
  estimate: (_p, _m, e) => e.inputTokens + e.outputTokens,
};

let stack: Stack;
let payerId: string;

beforeAll(async () => {
  stack = await startStack({
    pricer: flatPricer,
    extraYaml: `  - name: payer
    credit: { overdraft_micros: 0 }
    keys: [${PAYER_KEY}]
  - name: dept
    parent: payer
    credit: { payer: parent }
    keys: [sk-test-dept-000000000000000000010]
`,
  });
  payerId = (await stack.gw.store.accounts.getByName("payer"))!.id;
}, 60_000);
afterAll(async () => {
  await stack?.close();
});

function post(path: string, body: unknown, key = PAYER_KEY, signal?: AbortSignal): Promise<Response> {
  return fetch(`${stack.gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(body),
    signal,
  });
}

async function topUp(amount: number): Promise<void> {
  const res = await fetch(`${stack.gw.url}/admin/v1/accounts/${payerId}/credits/topup`, {
    method: "POST",
    headers: { authorization: `Bearer ${stack.gw.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ amount_micros: amount, kind: "payg" }),
  });
  expect(res.status).toBeLessThan(300);
}

/** Polls an async condition (the recorder writes within its flush interval). */
async function until(check: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What every usage record so far charged the payer (the stack's records are never cleared here). */
function chargedSoFar(): number {
  return stack.usage.filter((r) => r.payerAccountId === payerId).reduce((n, r) => n + r.chargedMicros, 0);
}

/** Waits until the ledger has debited every charge recorded so far. */
async function quiesce(): Promise<void> {
  await until(async () => (await debited(stack.gw.store, payerId)) === chargedSoFar());
}

async function debited(store: Store, accountId: string): Promise<number> {
  return (await store.ledger.entries(accountId, { limit: 100_000 })).filter((e) => e.type === "debit").reduce((n, e) => n - e.amountMicros, 0);
}

describe("billing through the gateway", () => {
  it("refuses an unfunded prepaid wallet in the client's format, and admits at once after an admin top-up", async () => {
    const refused = await post("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    expect(refused.status).toBe(402);
    const body = (await refused.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("insufficient_credit");
    expect(body.error.message).toContain("payer");
    // A department drawing on the same wallet is refused by it too, naming the payer.
    const dept = await post(
      "/v1/messages",
      { model: "claude-test-sonnet", max_tokens: 50, messages: [{ role: "user", content: "hi" }] },
      "sk-test-dept-000000000000000000010",
    );
    expect(dept.status).toBe(402);
    expect(((await dept.json()) as { error: { message: string } }).error.message).toContain("'payer'");

    // The top-up reloads the view (the admin write's onChange): no wait for the view to lapse.
    await topUp(1_000_000);
    const ok = await post("/v1/chat/completions", { model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    expect(ok.status).toBe(200);
    await ok.text();
  });

  it("LiteLLM #33736: a streaming client that disconnects is billed the usage seen", async () => {
    const start = stack.usage.length;
    const ac = new AbortController();
    const res = await post(
      "/v1/messages",
      { model: "claude-test-sonnet", max_tokens: 200, stream: true, messages: [{ role: "user", content: "slow [[mock:chunk_delay=300]]" }] },
      PAYER_KEY,
      ac.signal,
    );
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await until(async () => stack.usage.slice(start).some((r) => r.aborted));
    const rec = stack.usage.slice(start).find((r) => r.aborted)!;
    expect(rec.usage.inputTokens).toBeGreaterThan(0);
    expect(rec.payerAccountId).toBe(payerId);
    expect(rec.chargedMicros).toBe(rec.usage.inputTokens + rec.usage.outputTokens);
    await quiesce();
    const stored = (await stack.gw.store.usage.listByAccount(payerId, { limit: 1000 })).find((r) => r.requestId === rec.requestId);
    expect(stored).toMatchObject({ status: "cancelled", payerAccountId: payerId, chargedMicros: rec.chargedMicros });
  });

  it("new-api #4062: every WebSocket turn is charged", async () => {
    const start = stack.usage.length;
    const ws = new WebSocket(`${stack.gw.url.replace("http", "ws")}/v1/responses`, { headers: { authorization: `Bearer ${PAYER_KEY}` } });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const done: Array<Record<string, unknown>> = [];
    ws.on("message", (d) => {
      const frame = JSON.parse(d.toString()) as Record<string, unknown>;
      if (frame.type === "response.completed") done.push(frame);
    });
    for (let turn = 1; turn <= 2; turn++) {
      ws.send(JSON.stringify({ type: "response.create", model: "gpt-5", input: `turn ${turn}`, store: false }));
      await until(async () => done.length === turn);
    }
    ws.close();
    await until(async () => stack.usage.slice(start).filter((r) => r.model === "gpt-5").length === 2);
    const turns = stack.usage.slice(start).filter((r) => r.model === "gpt-5");
    expect(turns.every((r) => r.chargedMicros > 0 && r.payerAccountId === payerId)).toBe(true);
    await quiesce();
    const stored = await stack.gw.store.usage.listByAccount(payerId, { limit: 1000 });
    for (const t of turns) expect(stored.find((r) => r.requestId === t.requestId)?.chargedMicros).toBe(t.chargedMicros);
  });

  it("a graceful stop in the middle of traffic writes every charge: debits == usage charged == the balance's fall", async () => {
    await quiesce();
    const start = stack.usage.length;
    const store = stack.gw.store;
    const balanceBefore = await store.ledger.balance(payerId);
    const debitedBefore = await debited(store, payerId);
    const requests = Array.from({ length: 30 }, (_, i) =>
      post("/v1/chat/completions", {
        model: "gpt-4o",
        stream: i % 2 === 0,
        messages: [{ role: "user", content: `load ${i} [[mock:chunk_delay=${20 + (i % 5) * 20}]]` }],
      })
        .then((r) => r.text())
        .catch(() => ""),
    );
    // Stop once some have been answered and others are still running.
    await until(async () => stack.usage.length >= start + 5);
    const closing = stack.gw.close(5000);
    await Promise.all(requests);
    await closing;
    const reopened = await openStore({ dataDir: stack.dataDir });
    try {
      const rows = await reopened.usage.listByAccount(payerId, { limit: 10_000 });
      const chargedRows = rows.reduce((n, r) => n + (r.chargedMicros ?? 0), 0);
      const seen = stack.usage.slice(start).reduce((n, r) => n + r.chargedMicros, 0);
      expect(seen).toBeGreaterThan(0);
      const debitsNow = await debited(reopened, payerId);
      // Every settled request reached the store, and its charge the ledger.
      expect(debitsNow - debitedBefore).toBe(seen);
      expect(chargedRows).toBe(debitsNow);
      expect(balanceBefore - (await reopened.ledger.balance(payerId))).toBe(seen);
      const sum = (await reopened.ledger.entries(payerId, { limit: 100_000 })).reduce((n, e) => n + e.amountMicros, 0);
      expect(await reopened.ledger.balance(payerId)).toBe(sum);
    } finally {
      await reopened.close();
    }
    // The stack's own close would stop the gateway again; only the mock and the files are left.
    await stack.mock.close();
    await rm(stack.dataDir, { recursive: true, force: true });
    stack = undefined as unknown as Stack;
  });
});
