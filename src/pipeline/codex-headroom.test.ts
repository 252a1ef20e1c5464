/**
 * Subscription headroom end to end (docs/codex.md#subscription-headroom-and-cooldowns): a real
 * gateway in front of the mock Codex backend, three ChatGPT accounts in one pool whose usage
 * windows the mock scripts per account, and what routing, the admin API and /metrics make of
 * them. Time is the gateway's injected clock: cooldowns of hours end by moving it, never by waiting.
 *
 * Latency is part of a key's load cost and is measured for real, so before each request the test
 * sets every key's latency average to the same value: the keys are then "otherwise equally
 * healthy" and only headroom decides, exactly.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RecordedRequest } from "../mock/types.js";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";

const TOKENS = ["sub-token-1", "sub-token-2", "sub-token-3"] as const;
type Token = (typeof TOKENS)[number];
const SUBS = `  - name: subs
    protocol: codex
    base_url: MOCK/backend-api/codex
    account_id: acct-subs
    keys: [${TOKENS.join(", ")}]
    models: ["sub-*"]
`;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let stack: Stack;
const clock = { now: 0 };
beforeAll(async () => {
  // The mock stamps resets in real time; the gateway's clock starts there and only moves forward.
  clock.now = Date.now();
  stack = await startStack({
    extraUpstreamsYaml: SUBS,
    extraYaml: "routing:\n  health:\n    probe_interval_ms: 0\n    usage_limit_cooldown_ms: 1800000\n",
    now: () => clock.now,
  });
});
afterAll(() => stack.close());
beforeEach(() => stack.fresh());

const pool = () => stack.gw.catalog.snapshot.upstreams.find((t) => t.upstream.name === "subs")!.pool.keys;
const keyOf = (token: Token) => pool().find((k) => k.secret === token)!;
const onToken = (token: Token) => (r: RecordedRequest) => r.headers.authorization === `Bearer ${token}`;
const tokenOf = (r: RecordedRequest) => r.headers.authorization?.replace(/^Bearer /, "") as Token;

/** Equal latency on every key: the load costs then differ only by headroom. */
function equalize(): void {
  for (const k of pool()) {
    k.latencyEwmaMs = 100;
    k.errorRate = 0;
    if (k.health) Object.assign(k.health, { latencyMsEwma: 100, errorRate: 0 });
  }
}

/** Scripts each account's usage windows (used percent of the primary window, and optionally of the weekly one). */
function usage(per: Partial<Record<Token, string>>): void {
  for (const [token, scenario] of Object.entries(per)) stack.mock.script({ match: onToken(token as Token), scenario });
}

/** One turn of a session through the gateway; the accounts it was sent to, in order. */
async function turn(session: string): Promise<{ status: number; tried: Token[]; body: string }> {
  equalize();
  const before = stack.mock.requests.length;
  const res = await fetch(`${stack.gw.url}/v1/responses`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({
      model: "sub-model",
      stream: true,
      store: false,
      instructions: "",
      input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }],
      prompt_cache_key: session,
    }),
  });
  const body = await res.text();
  return { status: res.status, tried: stack.mock.requests.slice(before).map(tokenOf), body };
}

async function admin(path: string): Promise<any> {
  const res = await fetch(`${stack.gw.url}/admin/v1${path}`, { headers: { authorization: `Bearer ${stack.gw.adminToken}` } });
  expect(res.status).toBe(200);
  return res.json();
}

/** The subs upstream's keys as the admin API lists them, by token. */
async function adminKeys(): Promise<Record<Token, any>> {
  const ups = await admin("/upstreams");
  const id = ups.data.find((u: { name: string }) => u.name === "subs").id;
  const keys = await admin(`/upstreams/${id}/keys`);
  return Object.fromEntries(keys.data.map((k: { id: string }) => [pool().find((p) => p.id === k.id)!.secret, k])) as Record<Token, any>;
}

const metrics = async (): Promise<string> => (await fetch(`${stack.gw.url}/metrics`)).text();
const iso = (ms: number) => new Date(ms).toISOString();

let sessions = 0;
/** A new session's name. */
const newSession = () => `headroom-session-${++sessions}`;

/**
 * Sends new sessions until each account has answered (each answer's headers teach the gateway that
 * account's usage). Sessions spread by rendezvous hashing; 200 of them all missing one of three
 * accounts has a chance of 3 × (2/3)^200, about 10^-35.
 */
async function learnAll(): Promise<void> {
  const seen = new Set<Token>();
  for (let i = 0; i < 200 && seen.size < TOKENS.length; i++) for (const t of (await turn(newSession())).tried) seen.add(t);
  expect([...seen].sort()).toEqual([...TOKENS]);
}

/**
 * The accounts' usage as the gateway last heard it: 1 at 70 % (weekly 50 %), 2 at 10 % (weekly 3 %),
 * 3 at 40 % (weekly 30 %); the tighter windows order them 2, 3, 1, and the weekly ones alone do too
 * (which holds after the clock passes the 5-hour windows' resets). The mock's rules are then cleared.
 */
const PRIMED = { "sub-token-1": "usage=70,usage_secondary=50", "sub-token-2": "usage=10", "sub-token-3": "usage=40,usage_secondary=30" } as const;
const HEADROOM_ORDER: readonly Token[] = ["sub-token-2", "sub-token-3", "sub-token-1"];
async function prime(): Promise<void> {
  usage(PRIMED);
  await learnAll();
  stack.mock.reset();
}
/** The account with the most headroom other than `p`. */
const bestOther = (p: Token): Token => HEADROOM_ORDER.find((t) => t !== p)!;

/** A new session and the account it is pinned to (its first turn's). */
async function pinnedSession(): Promise<{ session: string; home: Token }> {
  usage(PRIMED);
  const session = newSession();
  const first = await turn(session);
  expect(first.tried).toHaveLength(1);
  stack.mock.reset();
  return { session, home: first.tried[0]! };
}

describe("headroom is recorded per account", () => {
  it("from every answer's x-codex-* headers, and shown by the admin API and /metrics", async () => {
    usage(PRIMED);
    await learnAll();
    const keys = await adminKeys();
    expect(keys["sub-token-1"].headroom).toMatchObject({
      primary: { used_percent: 70, window_minutes: 300 },
      secondary: { used_percent: 50, window_minutes: 10080 },
      credits: { has_credits: false, unlimited: false, balance: null },
      observed_at: iso(clock.now),
    });
    expect(keys["sub-token-2"].headroom).toMatchObject({ primary: { used_percent: 10 }, secondary: { used_percent: 3 } });
    expect(keys["sub-token-3"].headroom.secondary.used_percent).toBe(30);
    // The mock stamps the primary window's reset an hour after its answer.
    const reset = Date.parse(keys["sub-token-1"].headroom.primary.resets_at);
    expect(reset).toBeGreaterThanOrEqual(Math.floor(clock.now / 1000) * 1000 + HOUR);
    expect(reset).toBeLessThanOrEqual(Date.now() + HOUR);
    expect(keys["sub-token-2"]).toMatchObject({ state: "healthy", reason: null, until: null });

    const text = await metrics();
    const fp = keyOf("sub-token-1").fingerprint;
    expect(text).toContain(`switchyard_upstream_key_usage_used_percent{upstream="subs",key="${fp}",window="primary"} 70`);
    expect(text).toContain(`switchyard_upstream_key_usage_used_percent{upstream="subs",key="${fp}",window="secondary"} 50`);
    expect(text).toContain(`switchyard_upstream_key_usage_resets_at_seconds{upstream="subs",key="${fp}",window="primary"} ${reset / 1000}`);
    // Keys of other upstreams have no subscription windows.
    expect(text).not.toMatch(/switchyard_upstream_key_usage_used_percent\{upstream="chat"/);

    // Explain shows the tighter window as key selection reads it.
    const accounts = await admin("/accounts");
    const acme = accounts.data.find((a: { name: string }) => a.name === "acme").id;
    const explained = await admin(`/explain?account=${acme}&model=sub-model&protocol=openai-responses`);
    const subs = explained.upstreams.find((u: { name: string }) => u.name === "subs");
    const used = Object.fromEntries(subs.keys.map((k: { id: string; used_percent: number }) => [pool().find((p) => p.id === k.id)!.secret, k.used_percent]));
    expect(used).toEqual({ "sub-token-1": 70, "sub-token-2": 10, "sub-token-3": 40 });
  });
});

describe("routing prefers headroom", () => {
  it("fails over to the account with the most headroom in its tighter window", async () => {
    await prime();
    const { session, home } = await pinnedSession();
    stack.mock.script({ match: onToken(home), status: 500, times: 1 });
    usage(PRIMED);
    const t = await turn(session);
    expect(t.status).toBe(200);
    expect(t.tried).toEqual([home, bestOther(home)]);
  });

  it("follows the usage as it changes", async () => {
    await prime();
    const { session, home } = await pinnedSession();
    // Account 2 climbs past account 3; the gateway hears it from their next answers.
    const CHANGED = { "sub-token-1": "usage=80", "sub-token-2": "usage=60", "sub-token-3": "usage=50" };
    usage(CHANGED);
    await learnAll();
    stack.mock.reset();
    stack.mock.script({ match: onToken(home), status: 500, times: 1 });
    usage(CHANGED);
    const order: readonly Token[] = ["sub-token-3", "sub-token-2", "sub-token-1"];
    expect((await turn(session)).tried).toEqual([home, order.find((t) => t !== home)]);
  });
});

describe("usage_limit_reached", () => {
  it("fails over to another account in the same request and cools the spent one until its reset", async () => {
    await prime();
    const { session, home } = await pinnedSession();
    // The home account's window runs out: the backend answers usage_limit_reached, resetting in two hours.
    stack.mock.script({ match: onToken(home), scenario: "usage_limit=7200", times: 1 });
    usage(PRIMED);
    const t = await turn(session);
    expect(t.status).toBe(200);
    expect(t.body).toContain("response.completed");
    expect(t.tried).toEqual([home, bestOther(home)]);
    const keys = await adminKeys();
    expect(keys[home]).toMatchObject({ state: "cooling", reason: "usage limit reached", until: iso(clock.now + 2 * HOUR) });
    // The 429's headers put the window at 100 %.
    expect(keys[home].headroom.primary.used_percent).toBe(100);
    expect(await metrics()).toContain('switchyard_upstream_key_cooldowns_total{upstream="subs",class="usage_limit"} 1');
    // Meanwhile the session is served elsewhere.
    for (let i = 0; i < 3; i++) {
      const next = await turn(session);
      expect(next.tried).toHaveLength(1);
      expect(next.tried[0]).not.toBe(home);
    }
  });

  it("takes a reset days away, up to the 7-day bound, and a default when none is stated", async () => {
    stack.mock.script({ match: onToken("sub-token-1"), scenario: "usage_limit=2592000" }); // 30 days
    stack.mock.script({ match: onToken("sub-token-2"), scenario: "usage_limit=259200" }); // 3 days
    stack.mock.script({
      match: onToken("sub-token-3"),
      status: 429,
      body: { error: { type: "usage_limit_reached", message: "The usage limit has been reached", plan_type: "plus" } },
    });
    const t = await turn(newSession());
    // Every account is spent: the client gets the gateway's 429.
    expect(t.status).toBe(429);
    expect([...t.tried].sort()).toEqual([...TOKENS]);
    expect(JSON.parse(t.body).error.code).toBe("upstream_usage_limit");
    const keys = await adminKeys();
    expect(keys["sub-token-1"]).toMatchObject({ state: "cooling", reason: "usage limit reached", until: iso(clock.now + 7 * DAY) });
    expect(keys["sub-token-2"].until).toBe(iso(clock.now + 3 * DAY));
    // No reset in the body nor a used-up window in the headers: usage_limit_cooldown_ms (set to 30 min here).
    expect(keys["sub-token-3"].until).toBe(iso(clock.now + 30 * 60_000));
  });

  it("counts in a stream's opening events too (an error event naming usage_limit_reached, no reset: the default)", async () => {
    await prime();
    const { session, home } = await pinnedSession();
    stack.mock.script({ match: onToken(home), scenario: "stream_error=usage_limit_reached,error_after=0", times: 1 });
    usage(PRIMED);
    const t = await turn(session);
    expect(t.status).toBe(200);
    expect(t.tried).toEqual([home, bestOther(home)]);
    expect((await adminKeys())[home]).toMatchObject({ state: "cooling", reason: "usage limit reached", until: iso(clock.now + 30 * 60_000) });
  });

  it("is ended early by a success on the account (the subscription was restored before the reset)", async () => {
    await prime();
    const { session, home } = await pinnedSession();
    stack.mock.script({ match: onToken(home), scenario: "usage_limit=7200", times: 1 });
    usage(PRIMED);
    expect((await turn(session)).tried).toEqual([home, bestOther(home)]);
    expect((await adminKeys())[home].state).toBe("cooling");
    // The other accounts fail once each; the cooling one is tried as a last resort, answers, and is healthy again.
    stack.mock.reset();
    for (const t of TOKENS) if (t !== home) stack.mock.script({ match: onToken(t), status: 500, times: 1 });
    usage(PRIMED);
    const rescue = await turn(session);
    expect(rescue.status).toBe(200);
    expect(rescue.tried).toHaveLength(3);
    expect(rescue.tried[2]).toBe(home);
    expect((await adminKeys())[home]).toMatchObject({ state: "healthy", reason: null, until: null });
  });
});

describe("an ordinary 429", () => {
  it("keeps the short rate-limit cooldown", async () => {
    await prime();
    const { session, home } = await pinnedSession();
    stack.mock.script({
      match: onToken(home),
      status: 429,
      headers: { "retry-after": "3" },
      body: { error: { type: "rate_limit_exceeded", message: "Rate limit reached" } },
      times: 1,
    });
    usage(PRIMED);
    const t = await turn(session);
    expect(t.status).toBe(200);
    expect(t.tried).toEqual([home, bestOther(home)]);
    expect((await adminKeys())[home]).toMatchObject({ state: "cooling", reason: "rate limited", until: iso(clock.now + 3000) });
    expect(await metrics()).toMatch(/switchyard_upstream_key_cooldowns_total\{upstream="subs",class="rate_limited"\} \d/);
  });
});

// The tests below move the gateway's clock past the mock's (real-time) 5-hour window resets: they run last.
describe("sessions and headroom", () => {
  it("stay pinned while the account has headroom, and move when it is nearly exhausted", async () => {
    const session = newSession();
    const first = await turn(session);
    const home = first.tried[0]!;
    expect(first.tried).toHaveLength(1);
    // Busy (94 %) but not near exhaustion: the session stays, however much headroom the others have.
    usage({ [home]: "usage=94" });
    for (let i = 0; i < 4; i++) expect((await turn(session)).tried).toEqual([home]);
    // Near exhaustion (96 %): the answer that says so is still the home account's; the next turn moves.
    stack.mock.reset();
    usage({ [home]: "usage=96" });
    expect((await turn(session)).tried).toEqual([home]);
    const moved = (await turn(session)).tried;
    expect(moved).toHaveLength(1);
    expect(moved[0]).not.toBe(home);
    // And stays on its new account.
    for (let i = 0; i < 3; i++) expect((await turn(session)).tried).toEqual(moved);
    // After the home account's 5-hour window resets, the session goes home.
    clock.now += HOUR + 60_000;
    expect((await turn(session)).tried).toEqual([home]);
  });
});

describe("a usage-limit cooldown past its reset", () => {
  it("ends by the clock, and the next success clears the state", async () => {
    await prime();
    const { session, home } = await pinnedSession();
    stack.mock.script({ match: onToken(home), scenario: "usage_limit=7200", times: 1 });
    usage(PRIMED);
    expect((await turn(session)).tried).toEqual([home, bestOther(home)]);
    expect((await adminKeys())[home].state).toBe("cooling");
    clock.now += 2 * HOUR + 1000;
    // The reset has passed: the session is back on its account, whose success ends the stale cooldown.
    expect((await turn(session)).tried).toEqual([home]);
    expect((await adminKeys())[home]).toMatchObject({ state: "healthy", reason: null, until: null });
  });
});
