/**
 * What a request leaves in the database: its usage record carries the time to first
 * byte, and its API key's last_used_at is written (batched, off the request path;
 * closing the gateway writes what is still waiting).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { resolve } from "node:path";
import { openStore } from "../storage/open-store.js";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";
import { hashKey, keyPrefix } from "../governance/api-keys.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

async function chat(model: string, stream: boolean): Promise<Response> {
  return fetch(`${stack.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model, stream, messages: [{ role: "user", content: "hi" }] }),
  });
}

it("records ttfb and last_used_at for answered requests, and no ttfb when the gateway answered the error itself", async () => {
  const keyId = (await stack.gw.store.apiKeys.getByPrefix(keyPrefix(ACME_KEY, hashKey(ACME_KEY))))!.id;
  expect((await stack.gw.store.apiKeys.get(keyId))!.lastUsedAt).toBeNull();

  for (const [model, stream] of [
    ["gpt-4o", true],
    ["claude-test-sonnet", false],
  ] as const) {
    const res = await chat(model, stream);
    expect(res.status).toBe(200);
    await res.text();
  }
  const unknown = await chat("no-such-model", false);
  expect(unknown.status).toBe(404);
  await unknown.text();

  const [streamed, translated, refused] = stack.usage.slice(-3);
  for (const rec of [streamed!, translated!]) {
    expect(rec.ttfbMs).toBeGreaterThan(0);
    expect(rec.ttfbMs).toBeLessThanOrEqual(rec.latencyMs);
  }
  expect(refused!.ttfbMs).toBeUndefined();

  const dataDir = stack.dataDir;
  await stack.gw.close();
  const store = await openStore({ databaseUrl: undefined, dataDir: resolve(dataDir) });
  try {
    const stored = await store.usage.listByAccount(streamed!.accountId);
    const byId = new Map(stored.map((r) => [r.requestId, r]));
    expect(byId.get(streamed!.requestId)!.ttfbMs).toBe(Math.round(streamed!.ttfbMs!));
    expect(byId.get(refused!.requestId)!.ttfbMs).toBeNull();
    expect((await store.apiKeys.get(keyId))!.lastUsedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
  } finally {
    await store.close();
  }
});
