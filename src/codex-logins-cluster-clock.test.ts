/**
 * Two gateways on one PostgreSQL database (a database of the test's own) serving one ChatGPT
 * login imported from YAML, on one hand-moved clock: days of token lifetimes in seconds, with
 * requests through both nodes' HTTP servers. The nodes run in this process (so they can share
 * the clock) but share nothing else: each has its own store pool, change feed, catalog and
 * credentials. Both nodes' refresh timers come due together at every rotation; the token
 * endpoint must see each refresh token once. (codex-logins-cluster.test.ts runs the same
 * with two processes in real time.)
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "./config/load.js";
import { startGateway, type Gateway } from "./main.js";
import { startMockUpstream, type MockUpstream } from "./mock/server.js";
import { createLogger } from "./observability/logger.js";
import { ManualClock } from "./testing/manual-clock.js";
import { createTestDatabase, type TestDatabase } from "./testing/postgres-db.js";

const CLIENT_KEY = "sk-test-codex-cluster-clock-0001";
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAYS = 2;

describe("a ChatGPT login shared by two gateways on a simulated clock", () => {
  let db: TestDatabase;
  let mock: MockUpstream;
  let dir: string;
  let clock: ManualClock;
  const nodes: Gateway[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    mock = await startMockUpstream();
    clock = new ManualClock(Date.now());
    mock.oauth.now = () => clock.now();
    mock.oauth.accessLifetimeMs = HOUR;
    dir = await mkdtemp(join(tmpdir(), "switchyard-codex-cluster-clock-"));
    await writeFile(join(dir, "auth.json"), JSON.stringify(mock.oauth.login({ accountId: "acct-shared" })));
    const yaml = `
database_url: ${db.url}
log_level: silent
cluster:
  channel: sy_codex_clock_${randomBytes(6).toString("hex")}
server:
  port: 0
  host: 127.0.0.1
routing:
  health:
    probe_interval_ms: 0
upstreams:
  - name: chatgpt
    protocol: codex
    base_url: ${mock.url}/backend-api/codex
    models: [gpt-5-codex]
    oauth: { token_url: "${mock.url}/oauth/token", refresh_margin_ms: 300000, timeout_ms: 5000 }
    keys:
      - { name: shared, codex_auth_file: auth.json }
accounts:
  - name: team
    keys: [${CLIENT_KEY}]
`;
    const env = { SWITCHYARD_DATA_DIR: dir, SWITCHYARD_MASTER_KEY: randomBytes(32).toString("hex") };
    const source = join(dir, "switchyard.yaml");
    await writeFile(source, yaml);
    // One after the other, as a rolling start would: the first migrates and imports, the second finds the login stored.
    for (let i = 0; i < 2; i++) {
      nodes.push(
        await startGateway({
          config: parseConfig(yaml, source, env),
          source,
          env,
          logger: createLogger("silent"),
          now: () => clock.now(),
          credentialClock: clock,
          credentialLeasePollMs: 5,
        }),
      );
    }
  }, 30_000);

  afterAll(async () => {
    for (const n of nodes) await n.close(1000);
    await mock?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`serves ${DAYS} days through both nodes, each refresh token presented once, one token-endpoint call per rotation`, async () => {
    const chat = async (node: Gateway): Promise<number> => {
      const res = await fetch(`${node.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-5-codex", messages: [{ role: "user", content: "hi" }] }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    const codexCalls = () => mock.requests.filter((r) => r.path === "/backend-api/codex/responses");
    const step = 30 * MINUTE;
    const steps = (DAYS * 24 * HOUR) / step;
    // Every other step lands on the token's exp: both nodes' timers started their refresh 5 minutes
    // before, and each node's request waits for its own node's outcome: the rotation, or the adoption of it.
    for (let i = 0; i < steps; i++) {
      clock.advance(step);
      expect(await Promise.all(nodes.map(chat))).toEqual([200, 200]);
    }
    expect(mock.oauth.refreshes.map((r) => r.outcome)).toEqual(Array(DAYS * 24).fill("rotated"));
    expect(mock.oauth.reuses).toBe(0);
    // No request was refused: both nodes always sent a live token, and at the end the same newest one.
    expect(codexCalls()).toHaveLength(steps * 2);
    const last = codexCalls().slice(-2);
    expect(last[0]!.headers.authorization).toBe(last[1]!.headers.authorization);
    // Each rotation was made by one node and adopted by the other.
    const counts = await Promise.all(
      nodes.map(async (n) => {
        const text = await (await fetch(`${n.url}/metrics`)).text();
        const of = (outcome: string): number =>
          Number(new RegExp(`switchyard_upstream_credential_refreshes_total\\{upstream="chatgpt",outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
        return { refreshed: of("refreshed"), adopted: of("adopted"), transient: of("transient") };
      }),
    );
    expect(counts[0]!.refreshed + counts[1]!.refreshed).toBe(DAYS * 24);
    expect(counts[0]!.adopted + counts[1]!.adopted).toBe(DAYS * 24);
    expect(counts[0]!.transient + counts[1]!.transient).toBe(0);
    const admin = await fetch(`${nodes[1]!.url}/admin/v1/upstreams`, { headers: { authorization: `Bearer ${nodes[1]!.adminToken}` } });
    const upstreamId = ((await admin.json()) as { data: Array<{ id: string }> }).data[0]!.id;
    const keys = await fetch(`${nodes[0]!.url}/admin/v1/upstreams/${upstreamId}/keys`, { headers: { authorization: `Bearer ${nodes[0]!.adminToken}` } });
    expect(((await keys.json()) as { data: Array<{ dead: unknown }> }).data.map((k) => k.dead)).toEqual([null]);
  }, 30_000);
});
