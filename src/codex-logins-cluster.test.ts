/**
 * Two gateway processes (PostgreSQL and Redis shared) serving one ChatGPT login whose access
 * tokens live about four seconds: both nodes' timers come due together at every rotation,
 * one takes the refresh lease and rotates, the other adopts the stored set. The mock's token
 * endpoint must never see a refresh token twice, and every request through either node must
 * be answered. The test runs until the mock has seen several rotations (no fixed duration).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockUpstream, type MockUpstream } from "./mock/server.js";
import { createTestDatabase, type TestDatabase } from "./testing/postgres-db.js";
import { startGatewayProcess, type GatewayProcess } from "./testing/gateway-process.js";

const MASTER = randomBytes(32).toString("hex");
const REDIS_URL = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const CLIENT_KEY = "sk-test-codex-cluster-00000001";
const ROTATIONS = 5;

describe("a ChatGPT login shared by two gateway processes", () => {
  let db: TestDatabase;
  let mock: MockUpstream;
  let dir: string;
  let a: GatewayProcess;
  let b: GatewayProcess;

  beforeAll(async () => {
    db = await createTestDatabase();
    mock = await startMockUpstream();
    mock.oauth.accessLifetimeMs = 4000;
    dir = await mkdtemp(join(tmpdir(), "switchyard-codex-cluster-"));
    const authFile = join(dir, "auth.json");
    await writeFile(authFile, JSON.stringify(mock.oauth.login({ accountId: "acct-shared" })));
    const yaml = [
      `database_url: ${db.url}`,
      `redis_url: ${REDIS_URL}`,
      "log_level: warn",
      "cluster:",
      `  channel: sy_codex_${randomBytes(6).toString("hex")}`,
      "server:",
      "  host: 127.0.0.1",
      "routing:",
      "  health:",
      "    probe_interval_ms: 0",
      "upstreams:",
      "  - name: chatgpt",
      "    protocol: codex",
      `    base_url: ${mock.url}/backend-api/codex`,
      "    models: [gpt-5-codex]",
      // Refresh two seconds before a four-second token expires: a rotation every two seconds or so.
      `    oauth: { token_url: "${mock.url}/oauth/token", refresh_margin_ms: 2000, timeout_ms: 5000 }`,
      "    keys:",
      `      - { name: shared, codex_auth_file: ${authFile} }`,
      "accounts:",
      "  - name: team",
      `    keys: [${CLIENT_KEY}]`,
      "",
    ].join("\n");
    const env = { SWITCHYARD_MASTER_KEY: MASTER, SWITCHYARD_REDIS_PREFIX: `sy-codex-${randomBytes(4).toString("hex")}:` };
    // A first, alone, so the migrations and the import run once; B finds the login stored.
    a = await startGatewayProcess(yaml, env);
    b = await startGatewayProcess(yaml, env);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await mock?.close();
    await db?.drop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("never presents a refresh token twice, and every request through either node is answered", async () => {
    const statuses: number[] = [];
    const rotated = (): number => mock.oauth.refreshes.filter((r) => r.outcome === "rotated").length;
    const chat = async (node: GatewayProcess): Promise<number> => {
      const res = await fetch(`${node.url}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: `Bearer ${CLIENT_KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ model: "gpt-5-codex", messages: [{ role: "user", content: "hi" }] }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    // Requests to both nodes, two at a time, until the login has rotated ROTATIONS times (bounded at 60 s).
    // (The nodes' timers have been rotating since they started; count from here.)
    const start = rotated();
    const deadline = Date.now() + 60_000;
    // The access tokens the upstream saw, gathered as the requests go: the mock keeps only its
    // last 1000 requests, which a fast machine sends between two rotations.
    const tokens = new Set<unknown>();
    while (rotated() < start + ROTATIONS && Date.now() < deadline) {
      statuses.push(...(await Promise.all([chat(a), chat(b)])));
      for (const r of mock.requests.slice(-2)) if (r.path === "/backend-api/codex/responses") tokens.add(r.headers.authorization);
    }
    expect(mock.oauth.refreshes.map((r) => r.outcome).filter((o) => o !== "rotated")).toEqual([]);
    expect(mock.oauth.reuses).toBe(0);
    expect(rotated()).toBeGreaterThanOrEqual(start + ROTATIONS);
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    // Both nodes served with the login, and with more than one of its access tokens.
    expect(tokens.size).toBeGreaterThan(1);
  }, 90_000);
});
