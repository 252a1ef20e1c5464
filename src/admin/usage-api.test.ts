/**
 * Metering and the usage API end to end, on a real gateway (SQLite) in front of the mock
 * upstream: every request (HTTP, each WebSocket turn, a client that leaves mid-stream) is
 * stored exactly once, priced with the configured table and naming the price version; the
 * usage routes answer sums that equal the stored rows, per model, per child account and
 * per upstream key, as JSON and as CSV; a manage key reads only its subtree.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { UsageRecord } from "../storage/ports.js";
import { ACME_KEY, TEAM_KEY, eventually, startStack, type Stack } from "../testing/stack.js";

const OPS_KEY = "sk-test-ops-0000000000000000003";

let stack: Stack;
let ids: Record<"acme" | "team" | "ops", string>;

beforeAll(async () => {
  stack = await startStack({
    extraYaml: `  - name: ops
    parent: acme
    keys: [${OPS_KEY}]
pricing:
  version: test-1
  models:
    gpt-4o: { input: 2500000, cached_input: 1250000, output: 10000000 }
    "claude-*": { input: 3000000, cached_input: 300000, cache_write: 3750000, output: 15000000 }
    gpt-5: { input: 1250000, cached_input: 125000, output: 10000000 }
`,
  });
  const accounts = (await admin("GET", "/accounts")).data as Array<{ id: string; name: string }>;
  ids = Object.fromEntries(accounts.map((a) => [a.name, a.id])) as typeof ids;
});
afterAll(() => stack.close());
beforeEach(() => stack.fresh());

async function admin(method: string, path: string, opts: { token?: string; accept?: string; body?: unknown } = {}): Promise<any> {
  const res = await fetch(`${stack.gw.url}/admin/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${opts.token ?? stack.gw.adminToken}`,
      ...(opts.accept ? { accept: opts.accept } : {}),
      ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  if (res.headers.get("content-type")?.startsWith("text/csv")) return { status: res.status, csv: text };
  const json = text ? JSON.parse(text) : undefined;
  return res.ok ? json : { status: res.status, ...json };
}

/** Every stored row of the accounts, once the rows of `requestIds` are among them (the batcher writes a little later). */
async function storedRows(accountIds: readonly string[], requestIds: readonly string[]): Promise<UsageRecord[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const rows = (await Promise.all(accountIds.map((id) => stack.gw.store.usage.listByAccount(id, { limit: 10_000 })))).flat();
    const stored = new Set(rows.map((r) => r.requestId));
    if (requestIds.every((id) => stored.has(id))) return rows;
    if (Date.now() > deadline) throw new Error("usage records not stored in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

function chat(key: string, model: string, text: string, stream = false): Promise<Response> {
  return fetch(`${stack.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, stream, messages: [{ role: "user", content: text }], ...(stream ? { stream_options: { include_usage: true } } : {}) }),
  });
}

describe("metering", () => {
  it("stores one priced record per HTTP request, naming the price version, the tier and a cache-key hash", async () => {
    const res = await chat(ACME_KEY, "gpt-4o", "hello [[mock:cached=5]]");
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    await eventually(() => stack.usage.length === 1);
    const rec = stack.usage[0]!;
    const [row] = (await storedRows([ids.acme], [rec.requestId])).filter((r) => r.requestId === rec.requestId);
    const input = answer.usage.prompt_tokens;
    // (input − 5 cached) × $2.50 + 5 × $1.25 + output × $10 per million, rounded up once.
    const exact = (input - 5) * 2_500_000 + 5 * 1_250_000 + answer.usage.completion_tokens * 10_000_000;
    const cost = Math.ceil(exact / 1_000_000);
    expect(row).toMatchObject({
      costMicros: cost,
      priceVersion: "test-1/gpt-4o",
      tier: 1,
      // acme pays for itself on the credit track (postpaid: no overdraft set), so the whole cost is debited.
      payerAccountId: ids.acme,
      chargedMicros: cost,
      cachedInputTokens: 5,
      inputTokens: input,
    });
    expect(row!.cacheKeyHash).toMatch(/^[0-9a-f]{32}$/);
    // The hash is not the key an upstream saw as prompt_cache_key, nor anything of the prompt.
    const sent = JSON.parse(stack.mock.requests.at(-1)!.body.toString()) as { prompt_cache_key?: string };
    expect(row!.cacheKeyHash).not.toBe(sent.prompt_cache_key);
  });

  it("stores one record per WebSocket turn", async () => {
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const s = new WebSocket(`${stack.gw.url.replace("http", "ws")}/v1/responses`, { headers: { authorization: `Bearer ${TEAM_KEY}` } });
      s.once("open", () => resolve(s));
      s.once("error", reject);
    });
    const turn = (frame: unknown): Promise<any> =>
      new Promise((resolve) => {
        const onMessage = (data: WebSocket.RawData): void => {
          const ev = JSON.parse(data.toString()) as { type: string };
          if (["response.completed", "response.failed", "error"].includes(ev.type)) {
            ws.off("message", onMessage);
            resolve(ev);
          }
        };
        ws.on("message", onMessage);
        ws.send(JSON.stringify(frame));
      });
    const done: any[] = [];
    for (const text of ["one", "two", "three"]) {
      done.push(await turn({ type: "response.create", model: "claude-test-sonnet", store: false, input: text }));
    }
    ws.close();
    expect(done.map((d) => d.type)).toEqual(["response.completed", "response.completed", "response.completed"]);
    await eventually(() => stack.usage.length === 3);
    const requestIds = stack.usage.map((r) => r.requestId);
    expect(new Set(requestIds).size).toBe(3);
    const rows = (await storedRows([ids.team], requestIds)).filter((r) => requestIds.includes(r.requestId));
    expect(rows).toHaveLength(3);
    for (const [i, row] of rows.entries()) {
      expect(row.priceVersion, `turn ${i}`).toBe("test-1/claude-*");
      expect(row.costMicros).toBeGreaterThan(0);
      expect(row.inputTokens).toBeGreaterThan(0);
      expect(row.outputTokens).toBeGreaterThan(0);
    }
    expect(stack.usage).toHaveLength(3);
  });

  it("stores one record with the usage seen so far when the client leaves mid-stream", async () => {
    const ac = new AbortController();
    const res = await fetch(`${stack.gw.url}/v1/messages`, {
      method: "POST",
      signal: ac.signal,
      headers: { "content-type": "application/json", "x-api-key": ACME_KEY, "anthropic-version": "2023-06-01" },
      body: JSON.stringify({
        model: "claude-test-sonnet",
        max_tokens: 200,
        stream: true,
        messages: [{ role: "user", content: "a long answer [[mock:chunk_delay=200,cached=3,cache_write=2]]" }],
      }),
    });
    const reader = res.body!.getReader();
    // message_start (which reports the input) has arrived once the first content does.
    let seen = "";
    while (!seen.includes("content_block_delta")) seen += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    await eventually(() => stack.usage.length === 1, 3000);
    const rec = stack.usage[0]!;
    expect(rec.aborted).toBe(true);
    const [row] = (await storedRows([ids.acme], [rec.requestId])).filter((r) => r.requestId === rec.requestId);
    expect(row).toMatchObject({ status: "cancelled", cachedInputTokens: 3, cacheWriteTokens: 2, priceVersion: "test-1/claude-*" });
    expect(row!.inputTokens).toBeGreaterThan(5);
    expect(row!.costMicros).toBeGreaterThan(0);
    expect(row!.costMicros).toBe(rec.costMicros);
    expect(stack.usage).toHaveLength(1);
  });
});

describe("the usage API", () => {
  it("answers sums equal to the stored rows, per child, per model and per upstream key, as JSON and CSV", async () => {
    const sends: Array<[string, string, string]> = [
      [ACME_KEY, "gpt-4o", "a [[mock:cached=4]]"],
      [ACME_KEY, "gpt-5", "b"],
      [TEAM_KEY, "gpt-4o", "c [[mock:cached=2]]"],
      [TEAM_KEY, "claude-test-sonnet", "d [[mock:cached=1,cache_write=3]]"],
      [TEAM_KEY, "gpt-4o", "e"],
      [OPS_KEY, "gpt-5", "f"],
      [OPS_KEY, "no-such-model", "g"],
    ];
    const answers = await Promise.all(sends.map(([key, model, text]) => chat(key, model, text)));
    for (const a of answers) await a.arrayBuffer();
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200, 200, 404]);
    await eventually(() => stack.usage.length === sends.length);
    // Every row of the tree, this test's and the earlier tests' (each test waited for its own to be stored).
    const rows = await storedRows(
      [ids.acme, ids.team, ids.ops],
      stack.usage.map((r) => r.requestId),
    );

    const sum = (rs: readonly UsageRecord[]) => ({
      requests: rs.length,
      errors: rs.filter((r) => r.status === "error").length,
      input_tokens: rs.reduce((s, r) => s + r.inputTokens, 0),
      cached_input_tokens: rs.reduce((s, r) => s + r.cachedInputTokens, 0),
      cache_write_tokens: rs.reduce((s, r) => s + r.cacheWriteTokens, 0),
      output_tokens: rs.reduce((s, r) => s + r.outputTokens, 0),
      cost_micros: rs.reduce((s, r) => s + r.costMicros, 0),
    });
    const byChild = await admin("GET", `/accounts/${ids.acme}/usage?group_by=descendant`);
    expect(byChild.total).toMatchObject(sum(rows));
    expect(byChild.total.cache_hit_share).toBeCloseTo(sum(rows).cached_input_tokens / sum(rows).input_tokens, 12);
    const groups = new Map((byChild.groups as any[]).map((g) => [g.name, g]));
    for (const name of ["acme", "team", "ops"] as const) {
      expect(groups.get(name), name).toMatchObject(sum(rows.filter((r) => r.accountId === ids[name])));
    }
    const shares = (byChild.groups as any[]).reduce((s, g) => s + g.cost_share, 0);
    expect(shares).toBeCloseTo(1, 12);
    expect(groups.get("team").cost_share).toBeCloseTo(sum(rows.filter((r) => r.accountId === ids.team)).cost_micros / sum(rows).cost_micros, 12);

    const own = await admin("GET", `/accounts/${ids.acme}/usage?scope=self&group_by=model`);
    const acmeRows = rows.filter((r) => r.accountId === ids.acme);
    expect(own.total).toMatchObject(sum(acmeRows));
    for (const g of own.groups) expect(g).toMatchObject(sum(acmeRows.filter((r) => r.model === g.group)));

    // The team's manage key reads its own subtree; the parent's usage answers as a missing account.
    const created = await admin("POST", `/accounts/${ids.team}/keys`, { body: { name: "manager", scopes: ["manage"] } });
    const manageKey = created.key as string;
    const teamView = await admin("GET", `/accounts/${ids.team}/usage`, { token: manageKey });
    expect(teamView.total).toMatchObject(sum(rows.filter((r) => r.accountId === ids.team)));
    const refused = await admin("GET", `/accounts/${ids.acme}/usage`, { token: manageKey });
    const missing = await admin("GET", `/accounts/00000000-0000-4000-8000-000000000000/usage`, { token: manageKey });
    expect(refused.status).toBe(404);
    expect(refused.error.code).toBe(missing.error.code);
    expect((await admin("GET", "/usage/upstream-keys", { token: manageKey })).status).toBe(404);

    // CSV: a stable header, one row per group, the same numbers.
    const csv = await admin("GET", `/accounts/${ids.acme}/usage?group_by=descendant&format=csv`);
    expect(csv.status).toBe(200);
    const lines = (csv.csv as string).trimEnd().split("\r\n");
    expect(lines[0]).toBe(
      "group,name,requests,errors,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,reasoning_tokens,cost_micros,charged_micros,cache_hit_share,cost_share",
    );
    expect(lines).toHaveLength(4);
    const teamLine = lines.find((l) => l.split(",")[1] === "team")!.split(",");
    expect(Number(teamLine[2])).toBe(groups.get("team").requests);
    expect(Number(teamLine[9])).toBe(groups.get("team").cost_micros);
    const viaAccept = await admin("GET", `/accounts/${ids.acme}/usage?group_by=descendant`, { accept: "text/csv" });
    expect(viaAccept.csv).toBe(csv.csv);

    // Per upstream key, gateway-wide: the keys' cache-hit shares from the rows that used them.
    const perKey = await admin("GET", "/usage/upstream-keys");
    const all = rows.filter((r) => r.upstreamKeyId !== null);
    for (const g of perKey.groups as any[]) {
      if (g.group === "") continue;
      const mine = all.filter((r) => r.upstreamKeyId === g.group);
      expect(g).toMatchObject(sum(mine));
      const s = sum(mine);
      expect(g.cache_hit_share).toBe(s.input_tokens > 0 ? s.cached_input_tokens / s.input_tokens : null);
    }
    expect((perKey.groups as any[]).reduce((s: number, g: any) => s + g.requests, 0)).toBe(perKey.total.requests);
  });

  it("refuses a bad window or grouping with invalid_field", async () => {
    const bad = await admin("GET", `/accounts/${ids.acme}/usage?group_by=colour`);
    expect(bad).toMatchObject({ status: 400, error: { code: "invalid_field", param: "group_by" } });
    const reversed = await admin("GET", `/accounts/${ids.acme}/usage?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`);
    expect(reversed).toMatchObject({ status: 400, error: { code: "invalid_field", param: "from" } });
  });
});

describe("account prices", () => {
  it("price a tenant's requests from the moment they are set: the top-level account's replace the gateway's, a child's only raise them", async () => {
    const patched = await admin("PATCH", `/accounts/${ids.acme}`, { body: { prices: { "gpt-5*": { input: 100_000, output: 200_000 } } } });
    expect(patched.prices).toEqual({ "gpt-5*": { input: 100_000, output: 200_000 } });
    // Below the gateway's input price, above on output: the child pays the larger of each.
    await admin("PATCH", `/accounts/${ids.ops}`, { body: { prices: { "gpt-5": { input: 50_000, output: 20_000_000 } } } });
    const effective = await admin("GET", `/accounts/${ids.ops}/effective-policy`);
    expect(effective.prices.map((p: any) => p.set_by.name)).toEqual(["ops", "acme"]);
    for (const key of [ACME_KEY, OPS_KEY]) await (await chat(key, "gpt-5", "priced")).arrayBuffer();
    await eventually(() => stack.usage.length === 2);
    const [acme, ops] = stack.usage;
    const rows = await storedRows([ids.acme, ids.ops], [acme!.requestId, ops!.requestId]);
    const row = (id: string) => rows.find((r) => r.requestId === id)!;
    const a = row(acme!.requestId);
    expect(a.priceVersion).toMatch(/^account:[0-9a-f-]+@[0-9a-f]{8}$/);
    expect(a.costMicros).toBe(Math.ceil((a.inputTokens * 100_000 + a.outputTokens * 200_000) / 1_000_000));
    const o = row(ops!.requestId);
    expect(o.priceVersion).toMatch(/^account:[0-9a-f-]+@[0-9a-f]{8}\+account:[0-9a-f-]+@[0-9a-f]{8}$/);
    expect(o.costMicros).toBe(Math.ceil((o.inputTokens * 100_000 + o.outputTokens * 20_000_000) / 1_000_000));
  });
});
