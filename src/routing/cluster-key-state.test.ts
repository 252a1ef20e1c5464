/**
 * Two gateway processes sharing one PostgreSQL store and one Redis: a key the upstream
 * revokes (401), seen by node A, is out of node B's rotation within a second, and B
 * sends it nothing more.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockUpstream, type MockUpstream } from "../mock/server.js";
import type { RecordedRequest } from "../mock/types.js";
import { startGatewayProcess, type GatewayProcess } from "../testing/gateway-process.js";
import { createTestDatabase, type TestDatabase } from "../testing/postgres-db.js";

const ADMIN = "cluster-admin-token-0123456789abcdefghij";
const API_KEY = "sk-test-cluster-000000000000000001";
const REDIS = process.env.TEST_REDIS_URL ?? "redis://127.0.0.1:6379";

describe("key state across a cluster", () => {
  let mock: MockUpstream;
  let db: TestDatabase;
  const nodes: GatewayProcess[] = [];

  beforeAll(async () => {
    mock = await startMockUpstream();
    db = await createTestDatabase();
    const yaml = `log_level: warn
server:
  host: 127.0.0.1
database_url: ${db.url}
redis_url: ${REDIS}
upstreams:
  - name: pool
    protocol: openai-chat
    base_url: ${mock.url}/v1
    keys: [mock-pool-key-1, mock-pool-key-2]
    models: ["gpt-4o"]
routing:
  health:
    probe_interval_ms: 0
accounts:
  - name: acme
    keys: [${API_KEY}]
`;
    const env = { SWITCHYARD_ADMIN_TOKEN: ADMIN, SWITCHYARD_MASTER_KEY: randomBytes(32).toString("hex"), SWITCHYARD_REDIS_PREFIX: `test:${randomUUID()}:` };
    // One after the other: the second applies the same file to the store the first set up.
    nodes.push(await startGatewayProcess(yaml, env));
    nodes.push(await startGatewayProcess(yaml, env));
  }, 90_000);
  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await mock?.close();
    await db?.drop();
  });

  const chat = (node: GatewayProcess): Promise<Response> =>
    fetch(`${node.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }),
    });

  async function keyStates(node: GatewayProcess): Promise<Record<string, string>> {
    const get = async (path: string): Promise<any> => (await fetch(`${node.url}/admin/v1${path}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json();
    const pool = (await get("/upstreams")).data.find((u: { name: string }) => u.name === "pool");
    return Object.fromEntries((await get(`/upstreams/${pool.id}/keys`)).data.map((k: { name: string; state: string }) => [k.name, k.state]));
  }

  it("a key revoked upstream, seen by node A, is out of node B's rotation within a second", async () => {
    const [a, b] = nodes as [GatewayProcess, GatewayProcess];
    // Revoke whichever key node A tries first.
    let victim: string | undefined;
    const onVictim = (r: RecordedRequest): boolean =>
      r.path === "/v1/chat/completions" &&
      r.headers.authorization?.startsWith("Bearer mock-pool-key") === true &&
      (victim ??= r.headers.authorization) === r.headers.authorization;
    mock.script({ match: onVictim, status: 401 });
    expect((await chat(a)).status).toBe(200);
    const seenAt = Date.now();
    const name = `key-${victim!.slice(-1)}`;
    expect((await keyStates(a))[name]).toBe("disabled");

    // Node B learns it from Redis: poll its admin API. The design promises well under a second
    // (one Redis round trip); the bound leaves room for a CI machine busy with the whole suite.
    let states = await keyStates(b);
    while (states[name] !== "disabled" && Date.now() - seenAt < 3000) states = await keyStates(b);
    expect(states[name]).toBe("disabled");

    const before = mock.requests.filter(onVictim).length;
    for (let i = 0; i < 6; i++) expect((await chat(b)).status).toBe(200);
    expect(mock.requests.filter(onVictim).length).toBe(before);
    // The alert names the key by its fingerprint only.
    expect(a.output()).toContain("upstream key disabled");
    expect(nodes.map((n) => n.output()).join("\n")).not.toContain("mock-pool-key");
  }, 30_000);
});
