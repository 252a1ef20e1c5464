/**
 * SIGTERM to a real gateway process (started from the CLI) whose streams
 * outlive the grace: at the end of the grace every open stream, HTTP SSE on
 * both lanes and a WebSocket turn, gets its protocol's error event and ends;
 * the process exits 0 and the usage rows say the gateway cut them
 * (`server_shutting_down`, 503, status error), not that the client cancelled.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startMockUpstream, type MockUpstream } from "../mock/server.js";
import { ACME_KEY, stackYaml } from "../testing/stack.js";
import { startGatewayProcess, type GatewayProcess } from "../testing/gateway-process.js";
import { readSse } from "../testing/sse-client.js";
import { openStore } from "../storage/open-store.js";

let mock: MockUpstream;
let gw: GatewayProcess;

beforeAll(async () => {
  mock = await startMockUpstream();
  // The grace is far shorter than the streams (15 events, one every 2 s).
  gw = await startGatewayProcess(stackYaml(mock.url).replace("shutdown_grace_ms: 5000", "shutdown_grace_ms: 1000"), { LOG_LEVEL: "warn" });
}, 60_000);
afterAll(async () => {
  await gw?.stop();
  await mock?.close();
});

const SLOW = "slow [[mock:chunk_delay=2000]]";

function post(path: string, body: unknown): Promise<Response> {
  return fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(body),
  });
}

/** Opens a WebSocket, starts a turn and resolves once its first event has arrived; collects the rest. */
async function wsTurn(): Promise<{ frames: Array<Record<string, unknown>>; closed: Promise<number> }> {
  const ws = new WebSocket(`${gw.url.replace("http", "ws")}/v1/responses`, { headers: { authorization: `Bearer ${ACME_KEY}` } });
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  const frames: Array<Record<string, unknown>> = [];
  const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
  const first = new Promise<void>((resolve) =>
    ws.on("message", (d) => {
      frames.push(JSON.parse(d.toString()) as Record<string, unknown>);
      resolve();
    }),
  );
  ws.send(JSON.stringify({ type: "response.create", model: "gpt-5", input: SLOW, store: false }));
  await first;
  return { frames, closed };
}

describe("SIGTERM with streams longer than the grace", () => {
  it("ends every open stream with its protocol's error event and records server_shutting_down", async () => {
    const chat = await post("/v1/chat/completions", { model: "gpt-4o", stream: true, messages: [{ role: "user", content: SLOW }] });
    const translated = await post("/v1/chat/completions", { model: "claude-test-sonnet", stream: true, messages: [{ role: "user", content: SLOW }] });
    const messages = await post("/v1/messages", { model: "claude-test-sonnet", max_tokens: 50, stream: true, messages: [{ role: "user", content: SLOW }] });
    for (const res of [chat, translated, messages]) expect(res.status).toBe(200);
    const turn = await wsTurn();

    gw.child.kill("SIGTERM");

    // Chat clients (passthrough and translated): an error chunk with the code.
    for (const res of [chat, translated]) {
      const events = await readSse(res);
      expect(events.find((e) => (e.data as { error?: unknown }).error)?.data).toMatchObject({ error: { code: "server_shutting_down", type: "server_error" } });
    }
    // Anthropic: `event: error` with its envelope (no code field in that protocol).
    const anthropic = await readSse(messages);
    expect(anthropic.at(-1)).toMatchObject({ event: "error", data: { type: "error", error: { type: "overloaded_error" } } });
    // WebSocket: the in-band error frame with its status (Codex CLI ignores one without), then the connection goes away (1001).
    expect(await turn.closed).toBe(1001);
    expect(turn.frames.at(-1)).toMatchObject({ type: "error", status: 503, error: { code: "server_shutting_down" } });

    expect(await gw.exit).toBe(0);
    const store = await openStore({ dataDir: gw.dataDir });
    try {
      const acme = (await store.accounts.getByName("acme"))!;
      const rows = await store.usage.listByAccount(acme.id);
      expect(rows).toHaveLength(4);
      for (const row of rows) expect(row).toMatchObject({ status: "error", httpStatus: 503, errorCode: "server_shutting_down" });
    } finally {
      await store.close();
    }
  });
});
