/** The mock's scriptable Codex plan usage: headers on every answer, usage_limit_reached, per account. */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { codexAccount } from "./codex-usage.js";
import { startMockUpstream } from "./server.js";
import { CODEX_HEADERS, rawRequest } from "./testing.js";
import type { MockUpstream } from "./types.js";
import { parseCodexUsage, parseUsageLimitError } from "../upstream/codex-usage.js";

let mock: MockUpstream;
beforeAll(async () => {
  mock = await startMockUpstream();
});
afterAll(() => mock.close());
beforeEach(() => {
  mock.reset();
  mock.clear();
});

const BODY = {
  model: "gpt-5-codex",
  instructions: "",
  input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hello" }] }],
  store: false,
  stream: true,
};
const send = (headers: Record<string, string> = {}) =>
  rawRequest(mock.url, "/backend-api/codex/responses", { headers: { ...CODEX_HEADERS, ...headers }, body: BODY });
const seconds = () => Math.floor(Date.now() / 1000);

describe("Codex usage windows on every answer", () => {
  it("sends both windows and the credits flags by default, in the backend's shapes", async () => {
    const before = seconds();
    const r = await send();
    expect(r.status).toBe(200);
    expect(r.headers).toMatchObject({
      "x-codex-primary-used-percent": "12.5",
      "x-codex-primary-window-minutes": "300",
      "x-codex-secondary-used-percent": "3.0",
      "x-codex-secondary-window-minutes": "10080",
      "x-codex-credits-has-credits": "False",
      "x-codex-credits-unlimited": "False",
    });
    const reset = Number(r.headers["x-codex-primary-reset-at"]);
    expect(reset).toBeGreaterThanOrEqual(before + 3600);
    expect(reset).toBeLessThanOrEqual(seconds() + 3600);
  });

  it("takes the used percent of each window from directives, which the gateway's parser reads back", async () => {
    const r = await send({ "x-mock-scenario": "usage=81.5, usage_secondary=40" });
    expect(r.status).toBe(200);
    const u = parseCodexUsage(r.headers, Date.now());
    expect(u?.primary?.usedPercent).toBe(81.5);
    expect(u?.secondary?.usedPercent).toBe(40);
  });

  it("scripts one account's usage by its chatgpt-account-id", async () => {
    mock.script({ match: codexAccount("acct-busy"), scenario: "usage=97" });
    const busy = await send({ "chatgpt-account-id": "acct-busy" });
    const other = await send({ "chatgpt-account-id": "acct-idle" });
    expect(busy.headers["x-codex-primary-used-percent"]).toBe("97.0");
    expect(other.headers["x-codex-primary-used-percent"]).toBe("12.5");
  });

  it("refuses a used percent that is not one", async () => {
    expect((await send({ "x-mock-scenario": "usage=lots" })).status).toBe(400);
    expect((await send({ "x-mock-scenario": "usage=101" })).status).toBe(400);
  });
});

describe("usage_limit_reached", () => {
  it("answers 429 with the backend's body: both resets, the plan, and the window at 100 % in the headers", async () => {
    mock.script({ match: codexAccount("acct-spent"), scenario: "usage_limit=7200,plan=pro", times: 1 });
    const before = seconds();
    const r = await send({ "chatgpt-account-id": "acct-spent" });
    const after = seconds();
    expect(r.status).toBe(429);
    const e = (r.json() as { error: Record<string, unknown> }).error;
    expect(e).toMatchObject({ type: "usage_limit_reached", message: "The usage limit has been reached", plan_type: "pro", resets_in_seconds: 7200 });
    expect(e.resets_at).toBeGreaterThanOrEqual(before + 7200);
    expect(e.resets_at).toBeLessThanOrEqual(after + 7200);
    expect(r.headers["x-codex-primary-used-percent"]).toBe("100.0");
    expect(Number(r.headers["x-codex-primary-reset-at"])).toBe(e.resets_at);
    expect(parseUsageLimitError(r.text())).toMatchObject({ planType: "pro", resetsInMs: 7_200_000 });
    // The rule fired once: the account answers again.
    expect((await send({ "chatgpt-account-id": "acct-spent" })).status).toBe(200);
  });

  it("defaults to an hour, and works from the message text too", async () => {
    const r = await rawRequest(mock.url, "/backend-api/codex/responses", {
      headers: CODEX_HEADERS,
      body: { ...BODY, input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "[[mock:usage_limit]]" }] }] },
    });
    expect(r.status).toBe(429);
    expect((r.json() as { error: Record<string, unknown> }).error).toMatchObject({ type: "usage_limit_reached", plan_type: "plus", resets_in_seconds: 3600 });
  });
});
