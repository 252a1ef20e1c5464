/**
 * Limits on a real gateway over real sockets (the limits check as main.ts composes it,
 * on a Meter the test can read): N parallel requests against a limit of K admit exactly
 * K; a refusal is a 429 in the client's own format with Retry-After and
 * x-switchyard-limit; a parent's limit is shared by its children; key and per-model
 * limits; token limits admit on the estimate and settle on actual usage; nothing a
 * request took outlives it on any exit path. The clock-driven cases (RPD at local
 * midnight, windows that reset under requests in flight) are in governance/limits.test.ts
 * and at the end here with a hand-moved clock.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { MemoryCounters } from "../governance/counters-memory.js";
import { baseChecks } from "../governance/admission.js";
import { limitKey, limitsCheck, MINUTE } from "../governance/limits.js";
import type { LimitField } from "../governance/policy.js";
import { eventually, startStack, type Stack } from "../testing/stack.js";

const KEYS = {
  burst: "sk-test-burst-0000000000000001",
  kid1: "sk-test-kid1-00000000000000001",
  kid2: "sk-test-kid2-00000000000000001",
  keyed: "sk-test-keyed-0000000000000001",
  permodel: "sk-test-permodel-0000000000001",
  tokens: "sk-test-tokens-000000000000001",
  conc: "sk-test-conc-00000000000000001",
  leak: "sk-test-leak-00000000000000001",
  ws: "sk-test-ws-0000000000000000001",
};

const ACCOUNTS = `
  - name: burst
    limits: { rpm: 5 }
    keys: [${KEYS.burst}]
  - name: dept
    limits: { rpm: 3 }
  - name: kid1
    parent: dept
    limits: { rpm: 2 }
    keys: [${KEYS.kid1}]
  - name: kid2
    parent: dept
    limits: { rpm: 2 }
    keys: [${KEYS.kid2}]
  - name: keyed
    limits: { rpm: 100, concurrency: 10 }
    keys: [${KEYS.keyed}]
  - name: permodel
    limits: { per_model: { "gpt-4o-mini*": { rpm: 1 } } }
    keys: [${KEYS.permodel}]
  - name: tokens
    limits: { tpm: 3000 }
    keys: [${KEYS.tokens}]
  - name: conc
    limits: { concurrency: 3 }
    keys: [${KEYS.conc}]
  - name: leak
    limits: { rpm: 5, concurrency: 2, per_model: { "gpt-4o-mini": { rpm: 1 } } }
    keys: [${KEYS.leak}]
  - name: ws
    limits: { rpm: 1 }
    keys: [${KEYS.ws}]
`;

let stack: Stack;
const meter = new MemoryCounters();
const ids = new Map<string, string>();

beforeAll(async () => {
  stack = await startStack({ extraYaml: ACCOUNTS, meter });
  for (const a of await stack.gw.store.accounts.list()) ids.set(a.name, a.id);
});
afterAll(() => stack.close());

/** An account's own limit key (all test accounts here are roots, except the kids under dept). */
function key(account: string, field: LimitField, pattern?: string, root = account): string {
  return limitKey(ids.get(root)!, field, { accountId: ids.get(account)! }, pattern);
}

interface ChatOpts {
  model?: string;
  stream?: boolean;
  signal?: AbortSignal;
  extra?: Record<string, unknown>;
}

function chatBody(content: string, opts: ChatOpts = {}): string {
  return JSON.stringify({ model: opts.model ?? "gpt-4o", stream: opts.stream ?? false, messages: [{ role: "user", content }], ...opts.extra });
}

function chat(apiKey: string, content: string, opts: ChatOpts = {}): Promise<Response> {
  return fetch(`${stack.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
    body: chatBody(content, opts),
    signal: opts.signal,
  });
}

/** How many usage records have arrived: one per request, once its admission has ended. */
const records = (): number => stack.usage.length;

async function expectRefused(res: Response, code: string, limit: string): Promise<void> {
  expect(res.status).toBe(429);
  expect(res.headers.get("x-switchyard-limit")).toBe(limit);
  expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  const body = (await res.json()) as { error: { code: string; type: string; message: string } };
  expect(body.error).toMatchObject({ code, type: "rate_limit_error" });
}

describe("requests per minute", () => {
  it("N parallel requests against rpm K admit exactly K; the rest get 429 with Retry-After and the limit named", async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => chat(KEYS.burst, "hi")));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    expect(ok).toHaveLength(5);
    expect(refused).toHaveLength(15);
    for (const r of refused) await expectRefused(r, "rate_limit_exceeded", "rpm=5; account=burst; scope=account");
    for (const r of ok) await r.text();
    expect(await meter.counted(key("burst", "rpm"), MINUTE)).toBe(5);
  });

  it("answers the refusal in the Messages protocol's own format", async () => {
    const res = await fetch(`${stack.gw.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": KEYS.burst, "anthropic-version": "2023-06-01", "content-type": "application/json" },
      body: JSON.stringify({ model: "claude-test-sonnet", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(429);
    expect(res.headers.get("x-switchyard-limit")).toBe("rpm=5; account=burst; scope=account");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    const body = (await res.json()) as Record<string, any>;
    expect(body).toMatchObject({ type: "error", error: { type: "rate_limit_error" } });
    expect(body.error.message).toContain("Account 'burst'");
  });

  it("a WebSocket turn is refused with an error frame carrying the status and the headers", async () => {
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const s = new WebSocket(`${stack.gw.url.replace("http", "ws")}/v1/responses`, { headers: { authorization: `Bearer ${KEYS.ws}` } });
      s.once("open", () => resolve(s));
      s.once("error", reject);
    });
    const turn = (): Promise<Record<string, any>> =>
      new Promise((resolve) => {
        const onMessage = (data: WebSocket.RawData): void => {
          const ev = JSON.parse(data.toString()) as Record<string, any>;
          if (["response.completed", "response.failed", "error"].includes(ev.type as string)) {
            ws.off("message", onMessage);
            resolve(ev);
          }
        };
        ws.on("message", onMessage);
        ws.send(JSON.stringify({ type: "response.create", model: "gpt-5", input: "hi", store: false }));
      });
    expect((await turn()).type).toBe("response.completed");
    const refused = await turn();
    ws.close();
    expect(refused).toMatchObject({ type: "error", status: 429, error: { code: "rate_limit_exceeded" } });
    expect(refused.headers["x-switchyard-limit"]).toBe("rpm=1; account=ws; scope=account");
    expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(1);
  });
});

describe("a parent's limit counts its whole subtree", () => {
  it("each child alone stays under its own limit; together they are refused at the parent's", async () => {
    expect((await chat(KEYS.kid1, "a")).status).toBe(200);
    expect((await chat(KEYS.kid1, "b")).status).toBe(200);
    await expectRefused(await chat(KEYS.kid1, "c"), "rate_limit_exceeded", "rpm=2; account=kid1; scope=account");
    expect((await chat(KEYS.kid2, "d")).status).toBe(200);
    const res = await chat(KEYS.kid2, "e");
    expect(res.headers.get("x-switchyard-limit")).toBe("rpm=3; account=dept; scope=account");
    await expectRefused(res, "rate_limit_exceeded", "rpm=3; account=dept; scope=account");
    expect(await meter.counted(key("dept", "rpm"), MINUTE)).toBe(3);
    expect(await meter.counted(key("kid2", "rpm", undefined, "dept"), MINUTE)).toBe(1);
  });
});

describe("a key's own limits", () => {
  async function issueKey(limits: Record<string, number>): Promise<{ id: string; key: string }> {
    const res = await fetch(`${stack.gw.url}/admin/v1/accounts/${ids.get("keyed")}/keys`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.gw.adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "limited", limits }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; key: string };
  }

  it("count for that key only", async () => {
    const k = await issueKey({ rpm: 2 });
    expect((await chat(k.key, "a")).status).toBe(200);
    expect((await chat(k.key, "b")).status).toBe(200);
    await expectRefused(await chat(k.key, "c"), "rate_limit_exceeded", `rpm=2; account=keyed; scope=key; key=${k.id}`);
    // The account's other key is not held back by it.
    expect((await chat(KEYS.keyed, "d")).status).toBe(200);
  });

  it("a key's concurrency: a slot held by a stream refuses the next until the client goes away", async () => {
    const k = await issueKey({ concurrency: 1 });
    const slot = limitKey(ids.get("keyed")!, "concurrency", { keyId: k.id });
    const before = records();
    const ac = new AbortController();
    const held = await chat(k.key, "held [[mock:chunk_delay=60000]]", { stream: true, signal: ac.signal });
    expect(held.status).toBe(200);
    await expectRefused(await chat(k.key, "second"), "concurrency_limit_exceeded", `concurrency=1; account=keyed; scope=key; key=${k.id}`);
    expect(await meter.held(slot)).toBe(1);
    ac.abort();
    await eventually(() => records() === before + 2);
    expect(await meter.held(slot)).toBe(0);
    expect(await meter.held(key("keyed", "concurrency"))).toBe(0);
    expect((await chat(k.key, "third")).status).toBe(200);
  });
});

describe("per-model limits", () => {
  it("count only requests whose served model matches the pattern", async () => {
    expect((await chat(KEYS.permodel, "a", { model: "gpt-4o-mini" })).status).toBe(200);
    await expectRefused(await chat(KEYS.permodel, "b", { model: "gpt-4o-mini" }), "rate_limit_exceeded", "rpm=1; account=permodel; scope=model:gpt-4o-mini*");
    for (const c of ["c", "d", "e"]) expect((await chat(KEYS.permodel, c, { model: "gpt-4o" })).status).toBe(200);
    expect(await meter.counted(key("permodel", "rpm", "gpt-4o-mini*"), MINUTE)).toBe(1);
  });
});

describe("token limits", () => {
  const tpm = (): Promise<number> => meter.counted(key("tokens", "tpm"), MINUTE);
  /** The tokens the mock reported on every settled request of the account so far. */
  const actual = (): number =>
    stack.usage.filter((r) => r.accountId === ids.get("tokens")).reduce((sum, r) => sum + r.usage.inputTokens + r.usage.outputTokens, 0);

  it("admit on the estimate (body bytes / 4 + max_tokens) and settle on the usage the upstream reported", async () => {
    const before = records();
    const ac = new AbortController();
    const opts = { stream: true, signal: ac.signal, extra: { max_tokens: 1000 } };
    const held = await chat(KEYS.tokens, "held [[mock:chunk_delay=60000]]", opts);
    expect(held.status).toBe(200);
    const estimate = Math.ceil(Buffer.byteLength(chatBody("held [[mock:chunk_delay=60000]]", opts)) / 4) + 1000;
    // In flight, the estimate is what counts.
    expect(await tpm()).toBe(estimate);
    // Another estimate of about 2000 does not fit beside it (3000 per minute).
    await expectRefused(
      await chat(KEYS.tokens, "big", { extra: { max_completion_tokens: 2000 } }),
      "rate_limit_exceeded",
      "tpm=3000; account=tokens; scope=account",
    );
    // The client goes away mid-stream: what the upstream reported so far is what counts.
    ac.abort();
    await eventually(() => records() === before + 2);
    expect(await tpm()).toBe(actual());
    // A whole answer settles on exactly what it used, far below its estimate.
    const res = await chat(KEYS.tokens, "say something", { extra: { max_tokens: 2000 } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    await eventually(() => records() === before + 3);
    expect(body.usage.prompt_tokens + body.usage.completion_tokens).toBeGreaterThan(0);
    expect(actual()).toBeGreaterThanOrEqual(body.usage.prompt_tokens + body.usage.completion_tokens);
    expect(await tpm()).toBe(actual());
  });
});

describe("nothing a request took outlives it", () => {
  const slots = (): Promise<number> => meter.held(key("conc", "concurrency"));

  it("N parallel streams against concurrency K: exactly K run, the rest get 429; a client that leaves frees its slot", async () => {
    const before = records();
    const aborts = Array.from({ length: 12 }, () => new AbortController());
    // Admitted streams send their next event a minute later: they hold their slots until the test lets go.
    const results = await Promise.all(aborts.map((ac) => chat(KEYS.conc, "held [[mock:chunk_delay=60000]]", { stream: true, signal: ac.signal })));
    const ok = results.map((r, i) => ({ r, ac: aborts[i]! })).filter((x) => x.r.status === 200);
    expect(ok).toHaveLength(3);
    for (const r of results.filter((r) => r.status !== 200)) await expectRefused(r, "concurrency_limit_exceeded", "concurrency=3; account=conc; scope=account");
    for (const r of results.filter((r) => r.status !== 200)) expect(r.headers.get("retry-after")).toBe("1");
    expect(await slots()).toBe(3);
    for (const x of ok) x.ac.abort();
    await eventually(() => records() === before + 12);
    expect(await slots()).toBe(0);
  });

  it("an upstream error on every attempt, a failover, a stream the upstream cuts: every slot comes back", async () => {
    let before = records();
    const failed = await chat(KEYS.conc, "fail [[mock:error=500]]");
    expect(failed.status).toBeGreaterThanOrEqual(500);
    await failed.text();
    await eventually(() => records() === before + 1);
    expect(await slots()).toBe(0);

    before = records();
    stack.mock.script({ status: 500, times: 1 });
    const failover = await chat(KEYS.conc, "second key answers");
    expect(failover.status).toBe(200);
    await failover.text();
    await eventually(() => records() === before + 1);
    expect(stack.usage.at(-1)!.attempts).toBe(2);
    expect(await slots()).toBe(0);

    before = records();
    const cut = await chat(KEYS.conc, "cut [[mock:reset_after=2]]", { stream: true });
    await cut.text().catch(() => "");
    await eventually(() => records() === before + 1);
    expect(await slots()).toBe(0);
    stack.mock.reset();
  });

  it("1000 refused requests leak nothing: a request under the limit still passes, and the counts are exact", async () => {
    expect((await chat(KEYS.leak, "first", { model: "gpt-4o-mini" })).status).toBe(200);
    for (let batch = 0; batch < 20; batch++) {
      const refused = await Promise.all(Array.from({ length: 50 }, () => chat(KEYS.leak, "again", { model: "gpt-4o-mini" })));
      for (const r of refused) {
        expect(r.status).toBe(429);
        await r.text();
      }
    }
    // Had any refusal kept its account-wide counts, rpm 5 and concurrency 2 would be long gone.
    expect((await chat(KEYS.leak, "other model", { model: "gpt-4o" })).status).toBe(200);
    expect(await meter.counted(key("leak", "rpm"), MINUTE)).toBe(2);
    expect(await meter.counted(key("leak", "rpm", "gpt-4o-mini"), MINUTE)).toBe(1);
    await eventually(() => stack.usage.filter((r) => r.accountId === ids.get("leak")).length === 1002);
    expect(await meter.held(key("leak", "concurrency"))).toBe(0);
  });
});

describe("a natural day in the account's time zone, on a hand-moved clock", () => {
  let daily: Stack;
  let t = Date.parse("2026-12-05T14:59:00Z");
  const now = (): number => t;
  const KEY = "sk-test-daily-0000000000000001";

  beforeAll(async () => {
    const clocked = new MemoryCounters({ now });
    daily = await startStack({
      extraYaml: `
  - name: daily
    time_zone: Asia/Tokyo
    limits: { rpd: 2 }
    keys: [${KEY}]
`,
      admissionChecks: [...baseChecks, limitsCheck(clocked, { now })],
    });
  });
  afterAll(() => daily.close());

  const send = (): Promise<Response> =>
    fetch(`${daily.gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: chatBody("hi"),
    });

  it("RPD resets at local midnight (15:00 UTC in Tokyo), and Retry-After says when", async () => {
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(200);
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(refused.headers.get("x-switchyard-limit")).toBe("rpd=2; account=daily; scope=account");
    expect(refused.headers.get("retry-after")).toBe("60");
    await refused.text();
    t = Date.parse("2026-12-05T15:00:00Z");
    expect((await send()).status).toBe(200);
  });
});
