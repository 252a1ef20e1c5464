/**
 * Settlement holds on every exit path: whatever happens to a request after
 * admission, what admission reserved is given back exactly once (settled when
 * an upstream was tried, released when none was), and N parallel requests
 * against a concurrency limit of K are admitted exactly K at a time. The limit is
 * the real limits check (governance/limits.ts) on an account whose policy states
 * `concurrency: 3`, on a meter the test reads.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { eventually, startStack, type Stack } from "../testing/stack.js";
import { MemoryCounters } from "../governance/counters-memory.js";
import { baseChecks, type AdmissionCheck } from "../governance/admission.js";
import { limitKey, limitsCheck } from "../governance/limits.js";

const HELD_KEY = "sk-test-held-00000000000000001";
/** The account's limit of requests in flight. */
const LIMIT = 3;

let stack: Stack;
const counters = new MemoryCounters();
let heldId = "";
/** How each admitted request's reservation ended, in order. */
const ends: Array<"settle" | "release"> = [];

const spy: AdmissionCheck = {
  // Never refuses; its code is never shown.
  code: "internal_error",
  kind: "internal",
  run: () => ({
    settle: async () => void ends.push("settle"),
    release: async () => void ends.push("release"),
  }),
};

beforeAll(async () => {
  stack = await startStack({
    extraYaml: `  - name: held\n    limits: { concurrency: ${LIMIT} }\n    keys: [${HELD_KEY}]\n`,
    admissionChecks: [...baseChecks, limitsCheck(counters), spy],
  });
  heldId = (await stack.gw.store.accounts.list()).find((a) => a.name === "held")!.id;
});
afterAll(() => stack.close());
beforeEach(() => {
  ends.length = 0;
  stack.fresh();
});

function chat(content: string, opts: { model?: string; stream?: boolean; signal?: AbortSignal; extra?: Record<string, unknown> } = {}): Promise<Response> {
  return fetch(`${stack.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${HELD_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: opts.model ?? "gpt-4o", stream: opts.stream ?? false, messages: [{ role: "user", content }], ...opts.extra }),
    signal: opts.signal,
  });
}

/** Slots in use on the account's concurrency line (a top-level account: its own id is the key's hash tag). */
const held = (): Promise<number> => counters.held(limitKey(heldId, "concurrency", { accountId: heldId }));

async function settledOnce(kind: "settle" | "release"): Promise<void> {
  await eventually(() => ends.length > 0);
  // Give a stray second end the chance to show up before asserting there is none.
  await new Promise((r) => setImmediate(r));
  expect(ends).toEqual([kind]);
  expect(await held()).toBe(0);
}

describe("every exit path ends the admission exactly once", () => {
  it("a JSON answer", async () => {
    expect((await chat("hi")).status).toBe(200);
    await settledOnce("settle");
  });

  it("a streamed answer", async () => {
    const res = await chat("hi", { stream: true });
    await res.text();
    await settledOnce("settle");
  });

  it("an upstream error on every attempt", async () => {
    const res = await chat("fail [[mock:error=500]]");
    expect(res.status).toBeGreaterThanOrEqual(500);
    await settledOnce("settle");
  });

  it("an upstream refusal (4xx) passed to the client", async () => {
    expect((await chat("no [[mock:error=400]]")).status).toBe(400);
    await settledOnce("settle");
  });

  it("a stream the upstream cuts", async () => {
    const res = await chat("cut [[mock:reset_after=2]]", { stream: true });
    await res.text().catch(() => "");
    await settledOnce("settle");
  });

  it("an error thrown inside a lane (a body the translate lane cannot decode)", async () => {
    const res = await chat("x", { model: "claude-test-sonnet", extra: { messages: [{ role: "user", content: [{ type: "no_such_part" }] }] } });
    expect(res.status).toBe(400);
    await settledOnce("settle");
  });

  it("a model no upstream serves: released, since no upstream was tried", async () => {
    expect((await chat("x", { model: "no-such-model" })).status).toBe(404);
    await settledOnce("release");
  });

  it("a client that goes away mid-stream", async () => {
    const ac = new AbortController();
    const res = await chat("slow [[mock:chunk_delay=200]]", { stream: true, signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await settledOnce("settle");
    await eventually(() => stack.usage.length === 1);
    expect(stack.usage[0]!.aborted).toBe(true);
  });
});

describe("a concurrency limit under parallel load", () => {
  it("admits exactly K of N parallel requests, refuses the rest in the client's format, and frees every slot", async () => {
    const n = 12;
    // Admitted streams never finish on their own (a minute between events): they hold their
    // slots until the test lets go, so the count cannot depend on timing.
    const aborts = Array.from({ length: n }, () => new AbortController());
    const results = await Promise.all(
      aborts.map(async (ac) => {
        const res = await chat("held [[mock:chunk_delay=60000]]", { stream: true, signal: ac.signal });
        return { status: res.status, body: res.status === 200 ? "" : await res.text(), ac };
      }),
    );
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    expect(ok.length).toBe(LIMIT);
    expect(refused.length).toBe(n - LIMIT);
    for (const r of refused) expect(JSON.parse(r.body)).toMatchObject({ error: { code: "concurrency_limit_exceeded", type: "rate_limit_error" } });
    expect(await held()).toBe(LIMIT);
    for (const r of ok) r.ac.abort();
    await eventually(() => ends.length === LIMIT);
    expect(await held()).toBe(0);
    // The slots came back: the next request is admitted.
    expect((await chat("again")).status).toBe(200);
  });
});
