/**
 * Redis counters going away under a real gateway, against a redis-server this file starts
 * on a spare port (never the machine's shared one): with `on_counters_unavailable:
 * refuse` a limited request is answered 503 `limits_unavailable` in the client's own
 * protocol; with `local` the node goes on enforcing the limit by itself. Once Redis
 * answers again it is used again.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ownRedis, type OwnRedis } from "../testing/redis-server.js";
import { startStack, type Stack } from "../testing/stack.js";

const LIMITED = "sk-test-limited-0000000000000009";
let redis: OwnRedis;
const stacks: Stack[] = [];

function yaml(mode: "refuse" | "local"): string {
  return `  - name: limited
    limits: { rpm: 3 }
    keys: [${LIMITED}]
redis_url: ${redis.url}
governance:
  counters: redis
  on_counters_unavailable: ${mode}
`;
}

async function chat(stack: Stack): Promise<{ status: number; code?: string; type?: string; retryAfter: string | null }> {
  const res = await fetch(`${stack.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${LIMITED}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }),
  });
  const body = (await res.json()) as { error?: { code?: string; type?: string } };
  return { status: res.status, code: body.error?.code, type: body.error?.type, retryAfter: res.headers.get("retry-after") };
}

async function messages(stack: Stack): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${stack.gw.url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": LIMITED, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model: "claude-test-sonnet", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
  });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  redis = await ownRedis();
  await redis.start();
});

// Each test starts with Redis up, whatever the one before left behind.
beforeEach(async () => {
  await redis.start();
});

afterAll(async () => {
  for (const s of stacks) await s.close();
  await redis?.stop();
});

describe("Redis counters unreachable", () => {
  it("refuse: 503 limits_unavailable in each client's format while Redis is away; admitted again once it is back", async () => {
    const stack = await startStack({ extraYaml: yaml("refuse") });
    stacks.push(stack);
    expect((await chat(stack)).status).toBe(200);
    await redis.stop();
    expect(await chat(stack)).toMatchObject({ status: 503, code: "limits_unavailable", retryAfter: "1" });
    const m = await messages(stack);
    // Anthropic says "overloaded" with its own status, 529.
    expect(m.status).toBe(529);
    expect(m.body).toMatchObject({ type: "error", error: { type: "overloaded_error" } });
    await redis.start();
    // The fallback tries Redis again a second after the failure; poll until it does.
    const deadline = Date.now() + 10_000;
    let last = await chat(stack);
    while (last.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      last = await chat(stack);
    }
    expect(last.status).toBe(200);
  }, 30_000);

  it("local: the node enforces the limit by itself while Redis is away", async () => {
    const stack = await startStack({ extraYaml: yaml("local") });
    stacks.push(stack);
    await redis.stop();
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await chat(stack));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429]);
    expect(answers[3]).toMatchObject({ code: "rate_limit_exceeded" });
    await redis.start();
  }, 30_000);
});
