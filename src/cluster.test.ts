/**
 * Two gateway processes on one PostgreSQL database: an admin write on node A reaches
 * node B within a bounded wait, over PostgreSQL LISTEN/NOTIFY and over Redis pub/sub.
 * Each wait polls B until the expected answer, up to 5 s, and fails if it never comes.
 * A subscriber that lost its connection forgets everything it cached once it is back.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Redis } from "ioredis";
import pg from "pg";
import { createTestDatabase, type TestDatabase } from "./testing/postgres-db.js";
import { startGatewayProcess, type GatewayProcess } from "./testing/gateway-process.js";

const ADMIN = `sya_${randomBytes(24).toString("base64url")}`;
const MASTER = randomBytes(32).toString("hex");
const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const WAIT_MS = 5_000;

async function admin(node: GatewayProcess, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${node.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  expect(res.status, text).toBeLessThan(300);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** What a data-plane request with this key gets: 404 model_not_found once authenticated and admitted (no upstream is configured). */
async function use(node: GatewayProcess, key: string): Promise<string> {
  const res = await fetch(`${node.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-test", messages: [{ role: "user", content: "hi" }] }),
  });
  const body = (await res.json()) as { error?: { code?: string } };
  return `${res.status} ${body.error?.code ?? ""}`;
}

/** Polls until `probe` answers `expected`, for at most WAIT_MS; returns the last answer. */
async function eventually(probe: () => Promise<string>, expected: string): Promise<string> {
  const deadline = Date.now() + WAIT_MS;
  let last = await probe();
  while (last !== expected && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    last = await probe();
  }
  return last;
}

const ADMITTED = "404 model_not_found";

function clusterSuite(feed: "postgres" | "redis"): void {
  describe(`a cluster over ${feed === "postgres" ? "PostgreSQL LISTEN/NOTIFY" : "Redis pub/sub"}`, () => {
    let db: TestDatabase;
    let a: GatewayProcess;
    let b: GatewayProcess;
    const channel = `sy_test_${randomBytes(6).toString("hex")}`;

    beforeAll(async () => {
      db = await createTestDatabase();
      const yaml = [
        `database_url: ${db.url}`,
        feed === "redis" ? `redis_url: ${REDIS_URL}` : "",
        "log_level: warn",
        "cluster:",
        `  channel: ${channel}`,
        "server:",
        "  host: 127.0.0.1",
        "",
      ].join("\n");
      const env = { SWITCHYARD_ADMIN_TOKEN: ADMIN, SWITCHYARD_MASTER_KEY: MASTER };
      // A first, alone, so the migrations run once.
      a = await startGatewayProcess(yaml, env);
      b = await startGatewayProcess(yaml, env);
    }, 90_000);

    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await db?.drop();
    });

    it("a key created on A works on B; suspending an ancestor and revoking the key on A stop it on B", async () => {
      const org = await admin(a, "POST", "/accounts", { name: "org" });
      const dept = await admin(a, "POST", "/accounts", { name: "dept", parent_id: org.id });
      const team = await admin(a, "POST", "/accounts", { name: "team", parent_id: dept.id });
      const created = await admin(a, "POST", `/accounts/${String(team.id)}/keys`, { name: "k" });
      // The secret is in `key`, shown this once.
      const secret = String(created.key);
      const keyId = String(created.id);

      expect(await use(b, secret)).toBe(ADMITTED);
      // B now holds the key and its chain; the suspension reaches it through the feed.
      await admin(a, "PATCH", `/accounts/${String(org.id)}`, { status: "disabled" });
      expect(await eventually(() => use(b, secret), "403 account_disabled")).toBe("403 account_disabled");
      await admin(a, "PATCH", `/accounts/${String(org.id)}`, { status: "active" });
      expect(await eventually(() => use(b, secret), ADMITTED)).toBe(ADMITTED);
      await admin(a, "DELETE", `/keys/${keyId}`);
      expect(await eventually(() => use(b, secret), "401 invalid_api_key")).toBe("401 invalid_api_key");
    }, 60_000);

    it("a subscriber that lost its connection forgets what it cached once it is back", async () => {
      const acct = await admin(a, "POST", "/accounts", { name: "quiet" });
      const created = await admin(a, "POST", `/accounts/${String(acct.id)}/keys`, { name: "k" });
      const secret = String(created.key);
      const keyId = String(created.id);
      // Notices reach B on their own time, in order: a late one (the key's creation) would drop
      // the key from B's cache below. A suspension and resume that B is seen to apply come
      // last, so once B admits again it has applied every notice and holds the key.
      expect(await eventually(() => use(b, secret), ADMITTED)).toBe(ADMITTED);
      await admin(a, "POST", `/accounts/${String(acct.id)}/suspend`);
      expect(await eventually(() => use(b, secret), "403 account_disabled")).toBe("403 account_disabled");
      await admin(a, "POST", `/accounts/${String(acct.id)}/resume`);
      expect(await eventually(() => use(b, secret), ADMITTED)).toBe(ADMITTED);

      // Revoked behind every node's back: no notice is sent.
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        await client.query("update api_keys set status = 'revoked' where id = $1", [keyId]);
        expect(await use(b, secret)).toBe(ADMITTED); // cached, and nobody said otherwise
        if (feed === "postgres") {
          // Every listening connection on this database drops (A's and B's); they reconnect and reset.
          await client.query("select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'listen%'");
        } else {
          const redis = new Redis(REDIS_URL);
          try {
            const list = (await redis.client("LIST")) as string;
            const ids = list
              .split("\n")
              .filter((line) => line.includes(`name=switchyard-feed-${channel} `))
              .map((line) => /\bid=(\d+)/.exec(line)?.[1])
              .filter((id): id is string => id !== undefined);
            expect(ids.length).toBe(2);
            for (const id of ids) await redis.client("KILL", "ID", id);
          } finally {
            redis.disconnect();
          }
        }
      } finally {
        await client.end();
      }
      expect(await eventually(() => use(b, secret), "401 invalid_api_key")).toBe("401 invalid_api_key");
    }, 60_000);
  });
}

clusterSuite("postgres");
clusterSuite("redis");
