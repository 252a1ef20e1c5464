/**
 * `routing.deadline_ms` bounds the time before the first byte across all attempts
 * (docs/routing.md#failover): an attempt's wait for a head is cut to what is left,
 * no attempt starts after it, and a wait it cut is not held against the key.
 */
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";
import { storedUsage } from "./settle.js";
import { ACME_KEY, eventually, startStack, type Stack } from "../testing/stack.js";

let stack: Stack;
beforeAll(async () => {
  // The chat upstream has two keys; its own timeout is the default ten minutes.
  stack = await startStack({ extraYaml: "routing:\n  deadline_ms: 1500\n" });
});
afterAll(() => stack.close());
beforeEach(() => stack.fresh());

it("answers upstream_timeout when no head came before the deadline, without trying the next key or charging the first", async () => {
  stack.mock.script({ delayMs: 10_000 });
  const res = await fetch(`${stack.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }),
  });
  expect(res.status).toBe(504);
  expect(await res.json()).toMatchObject({ error: { code: "upstream_timeout" } });
  await eventually(() => stack.usage.length === 1);
  const rec = stack.usage[0]!;
  expect(rec.attempts).toBe(1);
  expect(rec.attemptTrail).toMatchObject([{ upstream: "chat", outcome: "timeout", httpStatus: null }]);
  expect(stack.mock.requests).toHaveLength(1);
  // The deadline cut the wait: the key is as healthy as before.
  const keys = stack.gw.catalog.snapshot.upstreams.find((t) => t.upstream.name === "chat")!.pool.keys;
  expect(keys.every((k) => k.coolingUntil === 0 && k.failures === 0)).toBe(true);
  // The stored form carries the trail as it is.
  expect(storedUsage(rec).attemptTrail).toEqual(rec.attemptTrail);
});

it("still fails over within the deadline", async () => {
  stack.mock.script({ status: 500, times: 1 });
  const res = await fetch(`${stack.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }),
  });
  expect(res.status).toBe(200);
  await eventually(() => stack.usage.length === 1);
  expect(stack.usage[0]!.attemptTrail.map((a) => a.outcome)).toEqual(["server_error", "ok"]);
});
