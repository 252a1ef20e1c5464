import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockUpstream } from "./server.js";
import { ANTHROPIC_HEADERS, OPENAI_HEADERS, rawRequest } from "./testing.js";
import type { MockUpstream } from "./types.js";

let reusing: MockUpstream;
let plain: MockUpstream;
beforeAll(async () => {
  reusing = await startMockUpstream({ maxRecorded: 0, reuseParsedBodies: 4, reuseAnswers: true });
  plain = await startMockUpstream({ maxRecorded: 0, reuseParsedBodies: 4 });
});
afterAll(async () => {
  await reusing.close();
  await plain.close();
});

const chatBody = (content: string, stream = false) => ({ model: "gpt-4o", stream, messages: [{ role: "user", content }] });
/** The head of an answer as the client sees it: what says how its body is framed, and its type. */
const framing = (h: Record<string, string | string[] | undefined>) => [h["content-type"], h["content-length"], h["transfer-encoding"]];

/** Four requests with one body; the answers' bytes. Every answer is framed as the first was. */
async function fourTimes(mock: MockUpstream, path: string, body: unknown, headers: Record<string, string> = OPENAI_HEADERS): Promise<string[]> {
  const out: string[] = [];
  const heads: unknown[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await rawRequest(mock.url, path, { headers, body });
    expect(r.status).toBe(200);
    out.push(r.text());
    heads.push(framing(r.headers));
  }
  // The kept (second) answer goes out framed as it was rendered.
  expect(heads[2]).toEqual(heads[1]);
  expect(heads[3]).toEqual(heads[1]);
  return out;
}

describe("mock: reused answers", () => {
  it("gives a body asked again the second answer it rendered, ids and all", async () => {
    const [first, second, third, fourth] = await fourTimes(reusing, "/v1/chat/completions", chatBody("reuse me"));
    expect(second).not.toBe(first);
    expect(third).toBe(second);
    expect(fourth).toBe(second);
  });

  it("reuses streams too", async () => {
    const [first, second, third] = await fourTimes(reusing, "/v1/chat/completions", chatBody("stream me", true));
    expect(second).not.toBe(first);
    expect(third).toBe(second);
    expect(third).toContain("data: [DONE]");
    // Chunked as a fresh stream is: no length in its head.
    const kept = await rawRequest(reusing.url, "/v1/chat/completions", { headers: OPENAI_HEADERS, body: chatBody("stream me", true) });
    expect(framing(kept.headers).slice(1)).toEqual([undefined, "chunked"]);
  });

  it("keeps the answer after the prompt cache is warm: the second answer's usage, not the first's", async () => {
    const system = [{ type: "text", text: "You are terse. ".repeat(400), cache_control: { type: "ephemeral" } }];
    const body = { model: "claude-opus-4-8", max_tokens: 64, system, messages: [{ role: "user", content: "cache me" }] };
    const answers = await fourTimes(reusing, "/v1/messages", body, ANTHROPIC_HEADERS);
    const usage = answers.map((a) => (JSON.parse(a) as { usage: { cache_read_input_tokens: number; cache_creation_input_tokens: number } }).usage);
    expect(usage[0]!.cache_creation_input_tokens).toBeGreaterThan(0);
    expect(usage[1]!.cache_read_input_tokens).toBeGreaterThan(0);
    expect(usage[3]).toEqual(usage[1]);
  });

  it("renders every answer afresh for a directive, a scenario header or another endpoint", async () => {
    const directed = await fourTimes(reusing, "/v1/chat/completions", chatBody("[[mock:text=hello, there]]"));
    expect(new Set(directed).size).toBe(4);
    const headed = await fourTimes(reusing, "/v1/chat/completions", chatBody("with a header"), { ...OPENAI_HEADERS, "x-mock-scenario": "text=hi" });
    expect(new Set(headed).size).toBe(4);
    // One body, byte for byte, kept for Chat, is answered by Responses as Responses.
    const body = { model: "gpt-4o", input: "one body, two endpoints", messages: [{ role: "user", content: "one body, two endpoints" }] };
    await fourTimes(reusing, "/v1/chat/completions", body);
    const responses = await rawRequest(reusing.url, "/v1/responses", { headers: OPENAI_HEADERS, body });
    expect((responses.json() as { object: string }).object).toBe("response");
  });

  it("still refuses a request its headers do not authorise after an answer was kept", async () => {
    const body = chatBody("authorised first");
    await fourTimes(reusing, "/v1/chat/completions", body);
    const refused = await rawRequest(reusing.url, "/v1/chat/completions", { headers: { "content-type": "application/json" }, body });
    expect(refused.status).toBe(401);
  });

  it("renders every answer without the option", async () => {
    const answers = await fourTimes(plain, "/v1/chat/completions", chatBody("never reused"));
    expect(new Set(answers).size).toBe(4);
  });
});
