/**
 * Key health end to end: the mock upstream's fault scripts on one of the "chat"
 * upstream's two keys, a real gateway, and what the client, the admin API, /metrics
 * and the log see. Cooldown expiry is the engine's clock (routing/key-health.test.ts);
 * nothing here sleeps for a cooldown.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "../observability/logger.js";
import type { RecordedRequest } from "../mock/types.js";
import { ACME_KEY, eventually, startStack, type Stack } from "../testing/stack.js";

/** Two single-key upstreams beside the stack's own, so every request to their models must use that one key. */
const SOLO = `  - name: solo
    protocol: openai-chat
    base_url: MOCK/v1
    keys: [mock-solo-key]
    models: ["solo-*"]
  - name: spare
    protocol: openai-chat
    base_url: MOCK/v1
    keys: [mock-spare-key]
    models: ["spare-*"]
`;
const SOLO_KEY = "Bearer mock-solo-key";
const onSolo = (r: RecordedRequest): boolean => r.headers.authorization === SOLO_KEY && r.path === "/v1/chat/completions";

/**
 * Matches generation requests on whichever "chat" key the gateway tries first, and only
 * that key from then on: the fault lands on one key without the test depending on the
 * pool's order.
 */
function firstChatKey(): { match: (r: RecordedRequest) => boolean; auth: () => string | undefined } {
  let victim: string | undefined;
  return {
    match: (r) =>
      r.path === "/v1/chat/completions" &&
      r.headers.authorization?.startsWith("Bearer mock-chat-key") === true &&
      (victim ??= r.headers.authorization) === r.headers.authorization,
    auth: () => victim,
  };
}

async function chat(s: Stack, model = "gpt-4o", signal?: AbortSignal): Promise<Response> {
  return fetch(`${s.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] }),
    signal,
  });
}

async function admin(s: Stack, path: string): Promise<any> {
  const res = await fetch(`${s.gw.url}/admin/v1${path}`, { headers: { authorization: `Bearer ${s.gw.adminToken}` } });
  expect(res.status).toBe(200);
  return res.json();
}

/** An upstream's keys as the admin API lists them, by the secret's Authorization header. */
async function keysOf(s: Stack, upstream: string): Promise<Record<string, any>> {
  const ups = await admin(s, "/upstreams");
  const id = ups.data.find((u: { name: string }) => u.name === upstream).id;
  const keys = await admin(s, `/upstreams/${id}/keys`);
  const pool = poolOf(s, upstream);
  return Object.fromEntries(keys.data.map((k: { id: string }) => [`Bearer ${pool.find((p) => p.id === k.id)!.secret}`, k]));
}

async function metrics(s: Stack): Promise<string> {
  return (await fetch(`${s.gw.url}/metrics`)).text();
}

/** The live key objects of an upstream. */
const poolOf = (s: Stack, upstream: string) => s.gw.catalog.snapshot.upstreams.find((t) => t.upstream.name === upstream)!.pool.keys;
const calls = (s: Stack, match: (r: RecordedRequest) => boolean): number => s.mock.requests.filter(match).length;

describe("failure classes through the gateway", () => {
  let stack: Stack;
  const logs: Array<Record<string, unknown>> = [];
  beforeAll(async () => {
    const logger = createLogger("info", { write: (line: string) => void logs.push(JSON.parse(line)) });
    stack = await startStack({ logger, extraUpstreamsYaml: SOLO, extraYaml: "routing:\n  health:\n    breaker_threshold: 3\n    probe_interval_ms: 0\n" });
  });
  afterAll(() => stack.close());
  beforeEach(() => {
    stack.fresh();
    logs.length = 0;
  });

  it("401 disables the key at once: the client never notices, an alert is logged and counted, the admin API shows why", async () => {
    const victim = firstChatKey();
    stack.mock.script({ match: victim.match, status: 401 });
    for (let i = 0; i < 3; i++) expect((await chat(stack)).status).toBe(200);
    expect(calls(stack, victim.match)).toBe(1);
    const keys = await keysOf(stack, "chat");
    const bad = keys[victim.auth()!];
    const good = Object.values(keys).find((k) => k !== bad);
    expect(bad).toMatchObject({ state: "disabled", reason: "rejected by the upstream (401/403)", until: null, in_flight: 0 });
    expect(good).toMatchObject({ state: "healthy", reason: null, until: null, in_flight: 0, error_rate: 0 });
    expect(good.latency_ms_ewma).toBeGreaterThanOrEqual(0);
    const alert = logs.find((l) => l.msg === "upstream key disabled: the upstream rejected it");
    expect(alert).toMatchObject({ level: 50, alert: true, upstream: "chat", key: bad.fingerprint, to: "disabled" });
    expect(JSON.stringify(logs)).not.toContain("mock-chat-key");
    const text = await metrics(stack);
    expect(text).toContain('switchyard_upstream_key_disabled_total{upstream="chat"} 1');
    expect(text).toContain(`switchyard_upstream_key_state{upstream="chat",key="${bad.fingerprint}",state="disabled"} 1`);
    expect(text).toContain(`switchyard_upstream_key_state{upstream="chat",key="${bad.fingerprint}",state="healthy"} 0`);
    expect(text).not.toContain("mock-chat-key");
  });

  it("402 gives the long quota cooldown; a quota answer at 429 is quota too, not a short backoff", async () => {
    let victim = firstChatKey();
    stack.mock.script({ match: victim.match, status: 402, times: 1 });
    const before = Date.now();
    expect((await chat(stack)).status).toBe(200);
    const after = Date.now();
    let bad = (await keysOf(stack, "chat"))[victim.auth()!];
    expect(bad).toMatchObject({ state: "cooling", reason: "quota exhausted" });
    expect(Date.parse(bad.until)).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(Date.parse(bad.until)).toBeLessThanOrEqual(after + 3_600_000);
    expect(await metrics(stack)).toContain('switchyard_upstream_key_cooldowns_total{upstream="chat",class="quota"} 1');

    stack.fresh();
    victim = firstChatKey();
    stack.mock.script({
      match: victim.match,
      status: 429,
      times: 1,
      headers: { "content-type": "application/json", "retry-after": "1" },
      body: {
        error: {
          message: "You exceeded your current quota, please check your plan and billing details.",
          type: "insufficient_quota",
          param: null,
          code: "insufficient_quota",
        },
      },
    });
    const t0 = Date.now();
    expect((await chat(stack)).status).toBe(200);
    bad = (await keysOf(stack, "chat"))[victim.auth()!];
    expect(bad).toMatchObject({ state: "cooling", reason: "quota exhausted" });
    expect(Date.parse(bad.until)).toBeGreaterThanOrEqual(t0 + 3_600_000);
  });

  it("429 honours Retry-After, and the provider's reset headers when there is none", async () => {
    let victim = firstChatKey();
    stack.mock.script({ match: victim.match, status: 429, times: 1, scenario: "retry_after=7" });
    let t0 = Date.now();
    expect((await chat(stack)).status).toBe(200);
    let bad = (await keysOf(stack, "chat"))[victim.auth()!];
    expect(bad).toMatchObject({ state: "cooling", reason: "rate limited" });
    expect(Date.parse(bad.until) - t0).toBeGreaterThanOrEqual(7000);
    expect(Date.parse(bad.until) - Date.now()).toBeLessThanOrEqual(7000);

    stack.fresh();
    victim = firstChatKey();
    stack.mock.script({
      match: victim.match,
      status: 429,
      times: 1,
      headers: {
        "content-type": "application/json",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-reset-tokens": "1s",
      },
      body: { error: { message: "Rate limit reached for requests", type: "requests", param: null, code: "rate_limit_exceeded" } },
    });
    t0 = Date.now();
    expect((await chat(stack)).status).toBe(200);
    bad = (await keysOf(stack, "chat"))[victim.auth()!];
    expect(Date.parse(bad.until) - t0).toBeGreaterThanOrEqual(360_000);
    expect(Date.parse(bad.until) - Date.now()).toBeLessThanOrEqual(360_000);
    expect(await metrics(stack)).toContain('switchyard_upstream_key_cooldowns_total{upstream="chat",class="rate_limited"} 2');
  });

  it("one stray 500 neither opens nor cools the key; three in a row open its breaker", async () => {
    stack.mock.script({ match: onSolo, status: 500, times: 1 });
    expect((await chat(stack, "solo-1")).status).toBe(502);
    let solo = (await keysOf(stack, "solo"))[SOLO_KEY];
    expect(solo).toMatchObject({ state: "healthy", until: null });
    expect(solo.error_rate).toBeGreaterThan(0);
    expect((await chat(stack, "solo-1")).status).toBe(200);

    stack.mock.script({ match: onSolo, status: 500, times: 3 });
    for (let i = 0; i < 2; i++) expect((await chat(stack, "solo-1")).status).toBe(502);
    expect((await keysOf(stack, "solo"))[SOLO_KEY].state).toBe("healthy");
    expect((await chat(stack, "solo-1")).status).toBe(502);
    solo = (await keysOf(stack, "solo"))[SOLO_KEY];
    expect(solo).toMatchObject({ state: "open", reason: "3 consecutive failures (server_error)" });
    expect(await metrics(stack)).toContain('switchyard_upstream_key_transitions_total{upstream="solo",from="healthy",to="open"} 1');
  });
});

describe("the half-open probe through the gateway", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      extraUpstreamsYaml: SOLO,
      extraYaml: "routing:\n  health:\n    breaker_threshold: 2\n    breaker_cooldown_ms: 1\n    probe_interval_ms: 0\n",
    });
  });
  afterAll(() => stack.close());

  it("lets exactly one request test an open key; the others are refused meanwhile, never sent", async () => {
    stack.fresh();
    stack.mock.script({ match: onSolo, status: 503, times: 2 });
    for (let i = 0; i < 2; i++) expect((await chat(stack, "solo-1")).status).toBe(503);
    expect((await keysOf(stack, "solo"))[SOLO_KEY].state).toBe("half_open");
    // The probe: held by the mock until its client gives up.
    stack.mock.script({ match: onSolo, delayMs: 60_000, times: 1 });
    const probeClient = new AbortController();
    const probe = chat(stack, "solo-1", probeClient.signal).catch(() => undefined);
    await eventually(() => calls(stack, onSolo) === 3);
    const burst = await Promise.all(Array.from({ length: 20 }, () => chat(stack, "solo-1")));
    expect(burst.map((r) => r.status)).toEqual(Array(20).fill(503));
    expect((await burst[0]!.json()) as unknown).toMatchObject({ error: { code: "no_upstream_key" } });
    expect(calls(stack, onSolo)).toBe(3);
    expect((await keysOf(stack, "solo"))[SOLO_KEY]).toMatchObject({ state: "half_open", in_flight: 1 });
    probeClient.abort();
    await probe;
    // The probe proved nothing: the next request probes again, succeeds, and closes the breaker.
    await eventually(() => poolOf(stack, "solo")[0]!.inFlight === 0);
    expect((await chat(stack, "solo-1")).status).toBe(200);
    expect(calls(stack, onSolo)).toBe(4);
    expect((await keysOf(stack, "solo"))[SOLO_KEY]).toMatchObject({ state: "healthy", reason: null });
  });
});

describe("the background prober", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({
      extraUpstreamsYaml: SOLO,
      extraYaml: "routing:\n  health:\n    breaker_threshold: 2\n    breaker_cooldown_ms: 1\n    probe_interval_ms: 20\n",
    });
  });
  afterAll(() => stack.close());

  const listed = (auth: string) => (r: RecordedRequest) => r.method === "GET" && r.path === "/v1/models" && r.headers.authorization === auth;

  it("restores an open key with a model listing, with no client request", async () => {
    stack.fresh();
    stack.mock.script({ match: onSolo, status: 500, times: 2 });
    for (let i = 0; i < 2; i++) expect((await chat(stack, "solo-1")).status).toBe(502);
    await eventually(() => calls(stack, listed(SOLO_KEY)) > 0, 10_000);
    await eventually(() => poolOf(stack, "solo")[0]!.health?.state === "healthy", 10_000);
    expect((await keysOf(stack, "solo"))[SOLO_KEY]).toMatchObject({ state: "healthy", reason: null });
    expect(calls(stack, onSolo)).toBe(2);
  });

  it("leaves disabled keys alone unless asked", async () => {
    stack.fresh();
    stack.mock.script({ match: onSolo, status: 401 });
    expect((await chat(stack, "solo-1")).status).toBe(502);
    // Open another key's breaker and wait for its probe: a round has run since, and it did not touch the disabled key.
    const onSpare = (r: RecordedRequest): boolean => r.headers.authorization === "Bearer mock-spare-key" && r.path === "/v1/chat/completions";
    stack.mock.script({ match: onSpare, status: 500, times: 2 });
    for (let i = 0; i < 2; i++) expect((await chat(stack, "spare-1")).status).toBe(502);
    await eventually(() => calls(stack, listed("Bearer mock-spare-key")) > 0, 10_000);
    expect(calls(stack, listed(SOLO_KEY))).toBe(0);
    expect((await keysOf(stack, "solo"))[SOLO_KEY].state).toBe("disabled");
  });
});
