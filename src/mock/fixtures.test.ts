/**
 * Replays the requests real clients sent (src/protocols/<name>/__fixtures__/) and
 * checks the mock accepts them and answers in the client's protocol.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMockUpstream } from "./server.js";
import { assertAnthropicStream, assertResponsesStream, parseSse, type ParsedEvent } from "./stream-order.js";
import { rawRequest } from "./testing.js";
import type { MockUpstream } from "./types.js";
import { captureDir } from "../testing/real-clients.js";

interface Capture {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown> | null;
}
type Rec = Record<string, unknown>;

function load(dir: string, file: string): Capture {
  return JSON.parse(readFileSync(join(captureDir(dir), file), "utf8")) as Capture;
}
function posts(dir: string): Array<[string, Capture]> {
  return readdirSync(captureDir(dir))
    .filter((f) => f.includes("-POST-"))
    .sort()
    .map((f) => [f, load(dir, f)]);
}
/** The captured headers minus the per-connection ones node:http sets itself. */
function replayHeaders(c: Capture, extra: Record<string, string> = {}): Record<string, string> {
  const { host: _h, "content-length": _l, connection: _c, "accept-encoding": _e, ...rest } = c.headers;
  return { ...rest, ...extra };
}
const ofType = (events: ParsedEvent[], type: string) => events.filter((e) => e.json?.type === type).map((e) => e.json as Rec);

let mock: MockUpstream;
beforeAll(async () => {
  mock = await startMockUpstream();
});
afterAll(() => mock.close());
beforeEach(() => {
  mock.reset();
  mock.clear();
});

describe("Claude Code captures → /v1/messages?beta=true", () => {
  for (const dir of ["claude", "claude-toolcall"]) {
    for (const [file, c] of posts(dir)) {
      it(`${dir}/${file}: streams a valid Messages answer`, async () => {
        expect(c.url).toBe("/v1/messages?beta=true");
        const r = await rawRequest(mock.url, c.url, { headers: replayHeaders(c), body: c.body });
        expect(r.status).toBe(200);
        const events = parseSse(r.body);
        assertAnthropicStream(events);
        expect(mock.requests[0]?.headers["anthropic-beta"]).toContain("claude-code-20250219");
        const endsWithToolResult = file.startsWith("003");
        expect((ofType(events, "message_delta")[0]?.delta as Rec).stop_reason).toBe("end_turn");
        const text = ofType(events, "content_block_delta")
          .map((d) => (d.delta as Rec).text)
          .join("");
        expect(text).toContain("(model claude-opus-4-8)");
        if (!endsWithToolResult) expect(text).toContain("[text of 306 chars");
      });
    }
  }

  it("calls the first tool (Agent) with its required fields on request, then answers the tool result with text", async () => {
    const [[, turn1], [, turn2]] = posts("claude-toolcall") as [[string, Capture], [string, Capture]];
    const first = parseSse(
      (await rawRequest(mock.url, turn1.url, { headers: replayHeaders(turn1, { "x-mock-scenario": "tool_call" }), body: turn1.body })).body,
    );
    assertAnthropicStream(first);
    const block = ofType(first, "content_block_start")[0]?.content_block as Rec;
    expect(block).toMatchObject({ type: "tool_use", name: "Agent" });
    const input = JSON.parse(
      ofType(first, "content_block_delta")
        .map((d) => (d.delta as Rec).partial_json)
        .join(""),
    ) as Rec;
    expect(Object.keys(input).sort()).toEqual(["description", "prompt"]);
    const second = parseSse(
      (await rawRequest(mock.url, turn2.url, { headers: replayHeaders(turn2, { "x-mock-scenario": "tool_call" }), body: turn2.body })).body,
    );
    expect((ofType(second, "message_delta")[0]?.delta as Rec).stop_reason).toBe("end_turn");
  });

  it("reads the cache on the second turn (cache_control in system and messages)", async () => {
    const [[, turn1], [, turn2]] = posts("claude-toolcall") as [[string, Capture], [string, Capture]];
    const usageOf = async (c: Capture) => {
      const events = parseSse((await rawRequest(mock.url, c.url, { headers: replayHeaders(c), body: c.body })).body);
      return ofType(events, "message_delta")[0]?.usage as Record<string, number>;
    };
    const a = await usageOf(turn1);
    const b = await usageOf(turn2);
    expect(a.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(b.cache_read_input_tokens).toBeGreaterThan(0);
    expect(b.input_tokens).toBeGreaterThan(0);
  });

  it("answers the HEAD / pre-connect", async () => {
    const c = load("claude", "001-HEAD-.json");
    expect((await rawRequest(mock.url, c.url, { method: "HEAD", headers: replayHeaders(c) })).status).toBe(200);
  });
});

describe("Codex CLI captures", () => {
  for (const dir of ["codex", "codex-toolcall"]) {
    for (const [file, c] of posts(dir)) {
      it(`${dir}/${file} → /v1/responses: streams a valid Responses answer`, async () => {
        expect(c.url).toBe("/v1/responses");
        const r = await rawRequest(mock.url, c.url, { headers: replayHeaders(c), body: c.body });
        expect(r.status).toBe(200);
        const events = parseSse(r.body);
        const kinds = assertResponsesStream(events);
        expect(kinds[kinds.length - 1]).toBe("response.completed");
        const completed = ofType(events, "response.completed")[0]?.response as Rec;
        expect(completed).toMatchObject({ store: false, prompt_cache_key: c.body?.prompt_cache_key });
        expect((completed.output as Rec[]).map((o) => o.type)).toEqual(["message"]);
      });

      it(`${dir}/${file} → codex backend: as captured it lacks instructions; with instructions it is accepted`, async () => {
        const headers = replayHeaders(c, { "chatgpt-account-id": "acc_mock" });
        const asCaptured = await rawRequest(mock.url, "/backend-api/codex/responses", { headers, body: c.body });
        expect(asCaptured.status).toBe(400);
        expect(asCaptured.json()).toEqual({ detail: "Instructions are required" });
        const fixed = await rawRequest(mock.url, "/backend-api/codex/responses", { headers, body: { ...c.body, instructions: "" } });
        expect(fixed.status).toBe(200);
        const events = parseSse(fixed.body);
        assertResponsesStream(events);
        expect((ofType(events, "response.completed")[0]?.response as Rec).output).toEqual([]);
        expect(ofType(events, "response.output_item.done").map((d) => (d.item as Rec).type)).toEqual(["message"]);
      });
    }
  }

  it("codex-websocket: the upgrade is refused with a plain HTTP answer, so Codex falls back to POST", async () => {
    const c = load("codex-websocket", "001-GET-v1_responses-upgrade.json");
    const r = await rawRequest(mock.url, c.url, { method: "GET", headers: replayHeaders(c) });
    expect(r.status).toBe(404);
    expect((r.json() as { error: Rec }).error.message).toBe("Invalid URL (GET /v1/responses)");
  });

  it("codex-toolcall: turn 1 calls exec_command on request, turn 2 (function_call_output) answers with text and hits the cache", async () => {
    const [[, turn1], [, turn2]] = posts("codex-toolcall") as [[string, Capture], [string, Capture]];
    const run = async (c: Capture) =>
      parseSse((await rawRequest(mock.url, c.url, { headers: replayHeaders(c, { "x-mock-scenario": "tool_call,reasoning" }), body: c.body })).body);
    const first = await run(turn1);
    assertResponsesStream(first);
    const items = ofType(first, "response.output_item.done").map((d) => d.item as Rec);
    expect(items.map((i) => i.type)).toEqual(["reasoning", "function_call"]);
    expect(items[1]).toMatchObject({ name: "exec_command", arguments: '{"cmd":"mock"}' });
    expect(ofType(first, "response.reasoning_summary_part.added").length).toBeGreaterThan(0);
    expect(String(items[0]?.encrypted_content)).toMatch(/^gAAAA/);

    const second = await run(turn2);
    const usage = (ofType(second, "response.completed")[0]?.response as { usage: { input_tokens: number; input_tokens_details: { cached_tokens: number } } })
      .usage;
    expect(ofType(second, "response.output_item.done").map((d) => (d.item as Rec).type)).toEqual(["reasoning", "message"]);
    expect(usage.input_tokens_details.cached_tokens).toBeGreaterThan(0);
    expect(usage.input_tokens_details.cached_tokens).toBeLessThanOrEqual(usage.input_tokens);
  });
});
