/**
 * Three gateway processes sharing one PostgreSQL database and one Redis: the limits of an
 * account chain hold for the cluster as a whole, not per node (Bifrost #3547, LiteLLM
 * #40291), and money stays exact under parallel load from several children on every node:
 * the shared wallet never goes below its overdraft, every balance equals the sum of its
 * ledger rows, and the usage records' charges equal the ledger's debits. Requests are
 * spread round-robin over the nodes and over the children's keys.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { startMockUpstream, type MockUpstream } from "./mock/index.js";
import { createTestDatabase, type TestDatabase } from "./testing/postgres-db.js";
import { startGatewayProcess, type GatewayProcess } from "./testing/gateway-process.js";

const ADMIN = `sya_${randomBytes(24).toString("base64url")}`;
const MASTER = randomBytes(32).toString("hex");
const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const key = (name: string): string => `sk-test-${name}-${randomBytes(8).toString("hex")}`;
const KEYS = { a: key("a"), b: key("b"), busy: key("busy"), w1: key("w1"), w2: key("w2"), w3: key("w3") };
/** The wallet's credit: a few hundred of the small requests below (about 200 micro-units each), not the thousand the waves may send. */
const TOPUP = 60_000;

let mock: MockUpstream;
let db: TestDatabase;
let sql: pg.Client;
const nodes: GatewayProcess[] = [];

interface Answer {
  status: number;
  code: string;
  retryAfter: string | null;
  limit: string | null;
}

/** One chat request through `node` with `secret`. */
async function ask(node: GatewayProcess, secret: string, model = "gpt-4o"): Promise<Answer> {
  const res = await fetch(`${node.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
  });
  const body = (await res.json()) as { error?: { code?: string } };
  return { status: res.status, code: body.error?.code ?? "", retryAfter: res.headers.get("retry-after"), limit: res.headers.get("x-switchyard-limit") };
}

/** `n` requests at once, request i through node i mod 3 with secret i mod secrets.length. */
function burst(n: number, secrets: readonly string[], model?: string): Promise<Answer[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => ask(nodes[i % nodes.length]!, secrets[i % secrets.length]!, model)));
}

async function admin(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${nodes[0]!.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  expect(res.status, text).toBeLessThan(300);
  return JSON.parse(text) as Record<string, unknown>;
}

async function accountId(name: string): Promise<string> {
  const { rows } = await sql.query<{ id: string }>("select id from accounts where name = $1", [name]);
  return rows[0]!.id;
}

beforeAll(async () => {
  mock = await startMockUpstream();
  db = await createTestDatabase();
  sql = new pg.Client({ connectionString: db.url });
  const yaml = `
database_url: ${db.url}
redis_url: ${REDIS_URL}
log_level: warn
server:
  host: 127.0.0.1
governance:
  counters: redis
  on_counters_unavailable: refuse
pricing:
  version: cluster-test
  models:
    gpt-4o: { input: 2500000, output: 10000000 }
upstreams:
  - name: chat
    protocol: openai-chat
    base_url: ${mock.url}/v1
    keys: [mock-chat-key-1]
    models: ["gpt-4o", "gpt-4o-*"]
accounts:
  - name: org
    limits: { rpm: 30 }
  - name: dept-a
    parent: org
    keys: [${KEYS.a}]
  - name: dept-b
    parent: org
    keys: [${KEYS.b}]
  - name: busy
    limits: { concurrency: 4 }
    keys: [${KEYS.busy}]
  - name: wallet
    credit: { overdraft_micros: 0 }
  - name: team-1
    parent: wallet
    credit: { payer: parent }
    keys: [${KEYS.w1}]
  - name: team-2
    parent: wallet
    credit: { payer: parent }
    keys: [${KEYS.w2}]
  - name: team-3
    parent: wallet
    credit: { payer: parent }
    keys: [${KEYS.w3}]
`;
  const env = { SWITCHYARD_ADMIN_TOKEN: ADMIN, SWITCHYARD_MASTER_KEY: MASTER, SWITCHYARD_REDIS_PREFIX: `sytest:${randomBytes(6).toString("hex")}:` };
  // The first alone, so the migrations and the bootstrap run once.
  nodes.push(await startGatewayProcess(yaml, env));
  nodes.push(...(await Promise.all([startGatewayProcess(yaml, env), startGatewayProcess(yaml, env)])));
  await sql.connect();
}, 120_000);

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await sql?.end();
  await db?.drop();
  await mock?.close();
});

describe("three gateways sharing one Redis and one PostgreSQL", () => {
  it("admit exactly the parent's RPM across both children and all three nodes, naming the limit in every refusal", async () => {
    const answers = await burst(90, [KEYS.a, KEYS.b]);
    const refused = answers.filter((a) => a.status === 429);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(30);
    expect(refused).toHaveLength(60);
    for (const r of refused) {
      expect(r.code).toBe("rate_limit_exceeded");
      expect(Number(r.retryAfter)).toBeGreaterThan(0);
      expect(r.limit).toMatch(/^rpm=30; account=org; scope=account/);
    }
  }, 60_000);

  it("hold a concurrency limit across nodes: of 12 slow requests at once exactly 4 run, and every slot comes back", async () => {
    mock.script({ match: (r) => r.path === "/v1/chat/completions", delayMs: 1500, times: 4 });
    const answers = await burst(12, [KEYS.busy]);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(4);
    expect(answers.filter((a) => a.status === 429 && a.code === "concurrency_limit_exceeded")).toHaveLength(8);
    const again = await burst(4, [KEYS.busy]);
    expect(again.map((a) => a.status)).toEqual([200, 200, 200, 200]);
  }, 60_000);

  it("keep a shared prepaid wallet at or above zero under parallel load from three children on three nodes; ledger, balance and usage agree", async () => {
    const wallet = await accountId("wallet");
    await admin("POST", `/accounts/${wallet}/credits/topup`, { amount_micros: TOPUP, kind: "payg", idempotency_key: "cluster-test" });
    const secrets = [KEYS.w1, KEYS.w2, KEYS.w3];
    let answers: Answer[] = [];
    // Waves until the wallet refuses: each wave races all three nodes against the one balance view.
    for (let wave = 0; wave < 20 && !answers.some((a) => a.code === "insufficient_credit"); wave++) answers = [...answers, ...(await burst(60, secrets))];
    const ok = answers.filter((a) => a.status === 200).length;
    const refused = answers.filter((a) => a.status === 402);
    expect(refused.length).toBeGreaterThan(0);
    expect(ok + refused.length).toBe(answers.length);
    for (const r of refused) expect(r.code).toBe("insufficient_credit");

    // A graceful stop writes every record and its debits (docs/billing.md); then the books are read.
    await Promise.all(nodes.map((n) => n.stop()));
    nodes.length = 0;
    const balance = Number((await sql.query("select balance_micros from account_balances where account_id = $1", [wallet])).rows[0].balance_micros);
    const ledger = Number((await sql.query("select coalesce(sum(amount_micros), 0) as s from ledger_entries where account_id = $1", [wallet])).rows[0].s);
    const debits = Number(
      (await sql.query("select coalesce(sum(amount_micros), 0) as s from ledger_entries where account_id = $1 and entry_type = 'debit'", [wallet])).rows[0].s,
    );
    const usage = (
      await sql.query<{ n: string; charged: string }>(
        "select count(*) as n, coalesce(sum(charged_micros), 0) as charged from usage_records where payer_account_id = $1 and http_status = 200",
        [wallet],
      )
    ).rows[0]!;
    expect(balance).toBeGreaterThanOrEqual(0);
    expect(balance).toBe(ledger);
    expect(-debits).toBe(Number(usage.charged));
    expect(Number(usage.n)).toBe(ok);
    expect(TOPUP - balance).toBe(Number(usage.charged));
    console.info(`[cluster-governance] wallet: ${ok} admitted, ${refused.length} refused, balance left ${balance} of ${TOPUP} micros`);
  }, 120_000);
});
