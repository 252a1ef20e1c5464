/**
 * What a crash loses of the usage records. A gateway process (started from
 * the CLI, SQLite in its data dir) answers requests and is SIGKILLed right
 * after the last answer; restarted on the same data dir, its table is
 * compared with the requests that were answered. The figures this prints are
 * quoted in docs/deployment.md#crashes-what-a-kill-loses.
 *
 * With pauses between requests longer than the batcher's flush interval,
 * each record is written in the event-loop turn its request settled in, so at
 * most the very last answer's record can be missing (the kill may land
 * between the answer's last byte and that turn's write). Under sustained load
 * at most one flush interval of records waits; that case is measured and
 * printed, and checked only for consistency.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startMockUpstream, type MockUpstream } from "../mock/server.js";
import { ACME_KEY, stackYaml } from "../testing/stack.js";
import { startGatewayProcess, type GatewayProcess } from "../testing/gateway-process.js";
import { openStore } from "../storage/open-store.js";
import { DEFAULT_FLUSH_INTERVAL_MS } from "./usage-recorder.js";

let mock: MockUpstream;
const dirs: string[] = [];

beforeAll(async () => {
  mock = await startMockUpstream();
});
afterAll(async () => {
  await mock?.close();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function freshDataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "switchyard-crash-"));
  dirs.push(dir);
  return dir;
}

function start(dataDir: string): Promise<GatewayProcess> {
  return startGatewayProcess(stackYaml(mock.url), { LOG_LEVEL: "warn" }, { dataDir });
}

/** One answered chat request; its request id. */
async function ask(gw: GatewayProcess): Promise<string> {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }),
  });
  await res.arrayBuffer();
  expect(res.status).toBe(200);
  return res.headers.get("x-request-id")!;
}

/** Restarts a gateway on the crashed one's data dir (it must come up), stops it, and reads the request ids stored. */
async function storedAfterRestart(dataDir: string): Promise<Set<string>> {
  const again = await start(dataDir);
  expect((await fetch(`${again.url}/readyz`)).status).toBe(200);
  await again.stop();
  const store = await openStore({ dataDir });
  try {
    const acme = (await store.accounts.getByName("acme"))!;
    return new Set((await store.usage.listByAccount(acme.id, { limit: 1_000_000 })).map((r) => r.requestId));
  } finally {
    await store.close();
  }
}

describe("SIGKILL right after the last answer", () => {
  it("with pauses between requests, loses only the latest answers' records (measured: at most the last one)", async () => {
    const dataDir = await freshDataDir();
    const gw = await start(dataDir);
    const answered: string[] = [];
    for (let i = 0; i < 5; i++) {
      // Longer than the flush interval, so each record is written as soon as its request settles.
      if (i > 0) await new Promise((r) => setTimeout(r, 3 * DEFAULT_FLUSH_INTERVAL_MS));
      answered.push(await ask(gw));
    }
    await gw.kill();
    const stored = await storedAfterRestart(dataDir);
    const lost = answered.filter((id) => !stored.has(id));
    console.info(`[usage-crash] paced: answered ${answered.length}, stored ${answered.length - lost.length}, lost ${lost.length}`);
    // How many are lost is a measurement (a stalled machine can delay a write past the pause), printed above and
    // quoted in docs/deployment.md; what must always hold is that records are written in order, so only the latest go.
    expect(lost).toEqual(answered.slice(answered.length - lost.length));
  }, 60_000);

  it("under sustained load, loses at most the records of the last flush interval (measured)", async () => {
    const dataDir = await freshDataDir();
    const gw = await start(dataDir);
    const total = 400;
    const concurrency = 8;
    const answered: string[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next++;
          answered.push(await ask(gw));
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    await gw.kill();
    const stored = await storedAfterRestart(dataDir);
    const lost = answered.filter((id) => !stored.has(id));
    const rate = answered.length / seconds;
    console.info(
      `[usage-crash] sustained: answered ${answered.length} at ${rate.toFixed(0)} req/s (concurrency ${concurrency}), ` +
        `stored ${answered.length - lost.length}, lost ${lost.length} (= ${((lost.length / rate) * 1000).toFixed(0)} ms of traffic)`,
    );
    // Consistency only: nothing stored that was not answered, and the lost ones are the latest answers.
    expect(stored.size).toBe(answered.length - lost.length);
    for (const id of lost) expect(answered.indexOf(id)).toBeGreaterThanOrEqual(answered.length - lost.length - concurrency);
  }, 120_000);
});
