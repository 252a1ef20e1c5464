/**
 * Rotating the master key while a gateway serves, end to end, on SQLite and on
 * PostgreSQL: a gateway process restarted with the new key and the old one as previous, keeps answering
 * every request while `switchyard keys rotate-master` re-wraps the credentials (an
 * interrupted first run, admin writes and reloads in the middle, then the command
 * finishing the job); afterwards it starts and serves with the new key alone, and
 * refuses to start with only the old one.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rotateMasterKey } from "../governance/master-rotation.js";
import { masterKeyId, SecretBox } from "../governance/secrets.js";
import { startMockUpstream, type MockUpstream } from "../mock/server.js";
import { openStore } from "../storage/open-store.js";
import { startGatewayProcess, type GatewayProcess } from "../testing/gateway-process.js";
import { createTestDatabase, type TestDatabase } from "../testing/postgres-db.js";
import type { CliIo } from "./io.js";
import { runCli } from "./program.js";

const OLD = randomBytes(32).toString("hex");
const NEW = randomBytes(32).toString("hex");
const ADMIN = "rotation-admin-token-0123456789abcdefghij";
const API_KEY = "sk-test-rotation-000000000000000001";
const KEYS = 12;

describe.each(["sqlite", "postgres"] as const)("switchyard keys rotate-master while a gateway serves, on %s", (engine) => {
  let mock: MockUpstream;
  let dataDir: string;
  let yaml: string;
  let pgDb: TestDatabase | undefined;
  const databaseUrl = () => pgDb?.url;

  beforeAll(async () => {
    mock = await startMockUpstream();
    dataDir = await mkdtemp(join(tmpdir(), "switchyard-rotation-"));
    if (engine === "postgres") pgDb = await createTestDatabase();
    yaml = `log_level: silent\nserver:\n  host: 127.0.0.1\n${pgDb ? `database_url: ${pgDb.url}\n` : ""}accounts:\n  - name: acme\n    keys: [${API_KEY}]\n`;
  });
  afterAll(async () => {
    await mock?.close();
    await rm(dataDir, { recursive: true, force: true });
    await pgDb?.drop();
  });

  const start = (env: NodeJS.ProcessEnv) => startGatewayProcess(yaml, { SWITCHYARD_ADMIN_TOKEN: ADMIN, ...env }, { dataDir });

  async function admin(gw: GatewayProcess, method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(`${gw.url}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    expect(res.status).toBeLessThan(300);
    return res.status === 204 ? undefined : res.json();
  }

  async function chat(gw: GatewayProcess): Promise<number> {
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }),
    });
    await res.arrayBuffer();
    return res.status;
  }

  /** The keys in the gateway's pool for the upstream, as explain shows them. */
  async function poolKeys(gw: GatewayProcess): Promise<string[]> {
    const explained = await admin(gw, "GET", "/explain?account=acme&model=gpt-4o");
    return (explained.upstreams[0]?.keys ?? []).map((k: { id: string }) => k.id).sort();
  }

  async function storedEnvelopes(): Promise<Map<string, string>> {
    const store = await openStore({ dataDir, databaseUrl: databaseUrl() });
    try {
      return new Map((await store.upstreamKeys.listAll()).map((k) => [k.id, k.ciphertext]));
    } finally {
      await store.close();
    }
  }

  it("re-wraps every credential without a failed request, and the gateway then runs on the new key alone", async () => {
    // Before: a gateway on the old key, with an upstream and its keys added over the API.
    let gw = await start({ SWITCHYARD_MASTER_KEY: OLD });
    const upstream = await admin(gw, "POST", "/upstreams", { name: "pool", protocol: "openai-chat", base_url: `${mock.url}/v1`, models: ["gpt-4o"] });
    for (let i = 0; i < KEYS; i++)
      await admin(gw, "POST", `/upstreams/${upstream.id}/keys`, { name: `k${i}`, key: `sk-pool-${i}-${randomBytes(8).toString("hex")}` });
    expect(await chat(gw)).toBe(200);
    await gw.stop();
    for (const c of (await storedEnvelopes()).values()) expect(c.split(".").slice(0, 2)).toEqual(["v2", masterKeyId(Buffer.from(OLD, "hex"))]);

    // Step 2: restarted with the new key current and the old one previous.
    const during = { SWITCHYARD_MASTER_KEY: NEW, SWITCHYARD_MASTER_KEY_PREVIOUS: OLD };
    gw = await start(during);
    try {
      expect(await poolKeys(gw)).toHaveLength(KEYS);

      // Requests all through the rotation; every one must succeed.
      let rotating = true;
      const statuses: number[] = [];
      const traffic = (async () => {
        while (rotating && statuses.length < 5000) statuses.push(await chat(gw));
      })();

      // Step 3a: a first run, interrupted after its third batch, with admin writes (and so
      // catalog reloads over a mix of old- and new-wrapped keys) between batches.
      const box = new SecretBox(Buffer.from(NEW, "hex"), [Buffer.from(OLD, "hex")]);
      const store = await openStore({ dataDir, databaseUrl: databaseUrl() });
      let added: { id: string } | undefined;
      const interrupted = new Error("operator pressed ctrl-c");
      try {
        await expect(
          rotateMasterKey(store, box, {
            batchSize: 3,
            onBatch: async (r) => {
              if (r.batches === 1)
                added = await admin(gw, "POST", `/upstreams/${upstream.id}/keys`, { name: "mid", key: `sk-mid-${randomBytes(8).toString("hex")}` });
              if (r.batches === 2) await admin(gw, "PATCH", `/upstreams/${upstream.id}`, { timeout_ms: 30000 });
              if (r.batches === 3) throw interrupted;
            },
          }),
        ).rejects.toBe(interrupted);
      } finally {
        await store.close();
      }
      const mixed = [...(await storedEnvelopes()).values()].map((c) => c.split(".")[1]);
      expect(new Set(mixed)).toEqual(new Set([masterKeyId(Buffer.from(OLD, "hex")), masterKeyId(Buffer.from(NEW, "hex"))]));

      // Step 3b: the command finishes the job.
      let out = "";
      let err = "";
      const io: CliIo = {
        env: { ...during, SWITCHYARD_DATA_DIR: dataDir },
        out: (t) => void (out += t),
        err: (t) => void (err += t),
        readStdin: async () => "",
      };
      const code = await runCli(["keys", "rotate-master", "--batch-size", "4", "--config", join(dataDir, "switchyard.yaml")], io);
      expect([code, err.includes("switchyard:")]).toEqual([0, false]);
      expect(out).toMatch(
        new RegExp(`^master key ${masterKeyId(Buffer.from(NEW, "hex"))}: ${KEYS + 1} upstream keys, \\d+ re-wrapped now, \\d+ already under it\\n$`),
      );

      // A reload after the rotation (an admin write) still serves every key.
      await admin(gw, "PATCH", `/upstreams/${upstream.id}`, { timeout_ms: 40000 });
      rotating = false;
      await traffic;
      expect(statuses.length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s !== 200)).toEqual([]);
      expect(await poolKeys(gw)).toHaveLength(KEYS + 1);
      expect(await poolKeys(gw)).toContain(added!.id);

      // Idempotent: a second run changes nothing.
      const before = await storedEnvelopes();
      out = "";
      expect(await runCli(["keys", "rotate-master", "--json", "--config", join(dataDir, "switchyard.yaml")], io)).toBe(0);
      expect(JSON.parse(out)).toMatchObject({ examined: KEYS + 1, rewrapped: 0, alreadyCurrent: KEYS + 1, unreadable: [] });
      expect(await storedEnvelopes()).toEqual(before);
    } finally {
      await gw.stop();
    }
    for (const c of (await storedEnvelopes()).values()) expect(c.split(".").slice(0, 2)).toEqual(["v2", masterKeyId(Buffer.from(NEW, "hex"))]);

    // Step 4: the previous key dropped; every credential opens with the new key alone.
    gw = await start({ SWITCHYARD_MASTER_KEY: NEW });
    try {
      expect(await poolKeys(gw)).toHaveLength(KEYS + 1);
      for (let i = 0; i < 5; i++) expect(await chat(gw)).toBe(200);
    } finally {
      await gw.stop();
    }

    // And the old key alone no longer opens anything: the gateway says so and does not start.
    const refused = await start({ SWITCHYARD_MASTER_KEY: OLD }).then(
      () => undefined,
      (e: Error) => e.message,
    );
    expect(refused).toContain(`was sealed under master key ${masterKeyId(Buffer.from(NEW, "hex"))}, which this process does not hold`);
  }, 180_000);
});
