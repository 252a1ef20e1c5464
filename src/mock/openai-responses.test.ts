import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMockUpstream } from "./server.js";
import { assertResponsesStream, parseSse, type ParsedEvent } from "./stream-order.js";
import { OPENAI_HEADERS, rawRequest } from "./testing.js";
import type { MockUpstream } from "./types.js";

let mock: MockUpstream;
beforeAll(async () => {
  mock = await startMockUpstream();
});
afterAll(() => mock.close());
beforeEach(() => {
  mock.reset();
  mock.clear();
});

type Rec = Record<string, unknown>;
const TOOLS = [
  { type: "function", name: "exec_command", parameters: { type: "object", properties: { cmd: { type: "string" } }, required: ["cmd"] } },
  { type: "web_search" },
  { type: "function", name: "view_image", parameters: { type: "object", properties: { path: { type: "string" } }, required: ["path"] } },
];

function responses(body: Rec) {
  return rawRequest(mock.url, "/v1/responses", { headers: OPENAI_HEADERS, body: { model: "gpt-5", ...body } });
}
const userInput = (text: string) => [{ type: "message", role: "user", content: [{ type: "input_text", text }] }];
const ofType = (events: ParsedEvent[], type: string) => events.filter((e) => e.json?.type === type).map((e) => e.json as Rec);

const TEXT_ORDER = (deltas: number) => [
  "response.created",
  "response.in_progress",
  "response.output_item.added",
  "response.content_part.added",
  ...Array<string>(deltas).fill("response.output_text.delta"),
  "response.output_text.done",
  "response.content_part.done",
  "response.output_item.done",
];

describe("OpenAI Responses: stream", () => {
  it("emits the text sequence of docs/protocols.md#responses-streaming with sequence_number from 0, event lines and no [DONE]", async () => {
    const r = await responses({ stream: true, input: userInput("Say hi") });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    const text = r.text();
    expect(text).not.toContain("[DONE]");
    for (const frame of text.split("\n\n").filter(Boolean)) expect(frame).toMatch(/^event: [a-z_.]+\ndata: [^\n]+$/);
    const events = parseSse(r.body);
    const kinds = assertResponsesStream(events);
    const deltas = kinds.filter((k) => k === "response.output_text.delta").length;
    expect(deltas).toBeGreaterThan(3);
    expect(kinds).toEqual([...TEXT_ORDER(deltas), "response.completed"]);
    expect(events.map((e) => e.json?.sequence_number)).toEqual(events.map((_, i) => i));

    const joined = ofType(events, "response.output_text.delta")
      .map((d) => d.delta)
      .join("");
    const done = ofType(events, "response.output_text.done")[0];
    expect(done?.text).toBe(joined);
    expect(joined).toBe("Hello from mock openai-responses (model gpt-5). You said: “Say hi”. Ünïcödé check: café ✓ 🚀");
    const created = ofType(events, "response.created")[0]?.response as Rec;
    expect(created).toMatchObject({ status: "in_progress", output: [] });
    const completed = ofType(events, "response.completed")[0]?.response as Rec;
    expect(completed.status).toBe("completed");
    expect(completed.id).toBe(created.id);
    const out = completed.output as Rec[];
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text: joined }] });
    const usage = completed.usage as Rec;
    expect(usage.total_tokens).toBe((usage.input_tokens as number) + (usage.output_tokens as number));
    expect(usage.input_tokens_details).toEqual({ cached_tokens: 0 });
  });

  it("streams a function call: added with name and call_id, argument deltas, done with full arguments", async () => {
    const events = parseSse((await responses({ stream: true, tools: TOOLS, input: userInput("[[mock:tool_call]] run ls") })).body);
    const kinds = assertResponsesStream(events);
    expect(kinds).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const added = ofType(events, "response.output_item.added")[0]?.item as Rec;
    expect(added).toMatchObject({ type: "function_call", name: "exec_command", arguments: "", status: "in_progress" });
    expect(String(added.call_id)).toMatch(/^call_/);
    const args = ofType(events, "response.function_call_arguments.delta")
      .map((d) => d.delta)
      .join("");
    expect(JSON.parse(args)).toEqual({ cmd: "mock" });
    expect(ofType(events, "response.function_call_arguments.done")[0]).toMatchObject({ arguments: args, name: "exec_command" });
    expect(ofType(events, "response.output_item.done")[0]?.item).toMatchObject({ call_id: added.call_id, arguments: args, status: "completed" });
  });

  it("streams parallel calls as further items with higher output_index", async () => {
    const events = parseSse((await responses({ stream: true, tools: TOOLS, input: userInput("[[mock:parallel_tools]]") })).body);
    assertResponsesStream(events);
    const items = ofType(events, "response.output_item.done");
    expect(items.map((d) => d.output_index)).toEqual([0, 1]);
    expect(items.map((d) => (d.item as Rec).name)).toEqual(["exec_command", "view_image"]);
  });

  it("streams a reasoning item with summary parts; encrypted_content only on output_item.done", async () => {
    const body = {
      stream: true,
      reasoning: { effort: "high", summary: "auto" },
      include: ["reasoning.encrypted_content"],
      input: userInput("[[mock:reasoning]] why?"),
    };
    const events = parseSse((await responses(body)).body);
    const kinds = assertResponsesStream(events);
    const firstMsg = kinds.indexOf("response.content_part.added");
    const reasoningKinds = kinds.slice(2, firstMsg - 1);
    expect(reasoningKinds[0]).toBe("response.output_item.added");
    expect(reasoningKinds[1]).toBe("response.reasoning_summary_part.added");
    expect(reasoningKinds[reasoningKinds.length - 1]).toBe("response.output_item.done");
    expect(reasoningKinds.filter((k) => k === "response.reasoning_summary_part.added")).toHaveLength(2);
    const added = ofType(events, "response.output_item.added")[0]?.item as Rec;
    expect(added).toEqual({ id: added.id, type: "reasoning", summary: [] });
    const done = ofType(events, "response.output_item.done")[0]?.item as { encrypted_content: string; summary: Rec[] };
    expect(done.encrypted_content.startsWith("gAAAA")).toBe(true);
    expect(Buffer.from(done.encrypted_content, "base64url")[0]).toBe(0x80);
    expect(done.summary.map((s) => s.type)).toEqual(["summary_text", "summary_text"]);
    const completed = ofType(events, "response.completed")[0]?.response as {
      usage: { output_tokens: number; output_tokens_details: { reasoning_tokens: number } };
    };
    expect(completed.usage.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
    expect(completed.usage.output_tokens).toBeGreaterThan(completed.usage.output_tokens_details.reasoning_tokens);
  });

  it("sends no summary events without reasoning.summary and no encrypted_content without include", async () => {
    const events = parseSse((await responses({ stream: true, input: "[[mock:reasoning]]" })).body);
    const kinds = assertResponsesStream(events);
    expect(kinds.some((k) => k.includes("reasoning_summary"))).toBe(false);
    const item = ofType(events, "response.output_item.done")[0]?.item as Rec;
    expect(item).toEqual({ id: item.id, type: "reasoning", summary: [] });
  });

  it("ends with response.failed on [[mock:stream_error]]", async () => {
    const events = parseSse((await responses({ stream: true, input: "[[mock:stream_error=rate_limit_exceeded]]" })).body);
    const kinds = assertResponsesStream(events);
    expect(kinds.slice(-3)).toEqual(["response.output_text.delta", "response.output_text.delta", "response.failed"]);
    const failed = ofType(events, "response.failed")[0]?.response as Rec;
    expect(failed).toMatchObject({ status: "failed", error: { code: "rate_limit_exceeded" } });
  });

  it("ends with response.incomplete (max_output_tokens) on [[mock:max_tokens]]", async () => {
    const events = parseSse((await responses({ stream: true, input: "[[mock:max_tokens]]" })).body);
    const kinds = assertResponsesStream(events);
    expect(kinds[kinds.length - 1]).toBe("response.incomplete");
    const resp = ofType(events, "response.incomplete")[0]?.response as Rec;
    expect(resp).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" } });
    expect((ofType(events, "response.output_item.done")[0]?.item as Rec).status).toBe("incomplete");
  });

  it("cuts the connection mid-stream on [[mock:reset_after=4]]", async () => {
    const r = await responses({ stream: true, input: "[[mock:reset_after=4]]" });
    expect(r.complete).toBe(false);
    expect(parseSse(r.body).map((e) => e.event)).toEqual(TEXT_ORDER(1).slice(0, 4));
  });
});

describe("OpenAI Responses: non-stream", () => {
  it("returns the response object with output items and usage", async () => {
    const r = await responses({ input: "plain string input", instructions: "be brief" });
    expect(r.status).toBe(200);
    const j = r.json() as Rec;
    expect(j).toMatchObject({ object: "response", status: "completed", model: "gpt-5", instructions: "be brief", error: null, incomplete_details: null });
    const out = j.output as Array<{ content: Rec[] }>;
    expect(out[0]?.content[0]?.text).toContain("You said: “plain string input”");
  });

  it("returns reasoning + function_call items and status incomplete when truncated", async () => {
    const body = { tools: TOOLS, include: ["reasoning.encrypted_content"], input: userInput("[[mock:reasoning]][[mock:tool_call]]") };
    const j = (await responses(body)).json() as { output: Rec[] };
    expect(j.output.map((o) => o.type)).toEqual(["reasoning", "function_call"]);
    const cut = (await responses({ input: "x", max_output_tokens: 4 })).json() as Rec;
    expect(cut).toMatchObject({ status: "incomplete", incomplete_details: { reason: "max_output_tokens" } });
  });

  it("reports cached tokens (included in input_tokens) for a repeated prompt_cache_key", async () => {
    const body = { input: "long enough prompt", prompt_cache_key: "sess-9" };
    const a = (await responses(body)).json() as { usage: { input_tokens: number; input_tokens_details: { cached_tokens: number } } };
    const b = (await responses(body)).json() as typeof a;
    expect(a.usage.input_tokens_details.cached_tokens).toBe(0);
    expect(b.usage.input_tokens_details.cached_tokens).toBe(b.usage.input_tokens);
    expect(b.usage.input_tokens_details).not.toHaveProperty("cache_write_tokens");
  });

  it("reports cache writes inside input_tokens on [[mock:cache_write=N]], on response.completed too", async () => {
    const j = (await responses({ input: "[[mock:cached=5,cache_write=7]]" })).json() as { usage: Rec };
    expect(j.usage.input_tokens_details).toEqual({ cached_tokens: 5, cache_write_tokens: 7 });
    const events = parseSse((await responses({ input: "[[mock:cache_write=7]]", stream: true })).body);
    const completed = ofType(events, "response.completed")[0] as { response: { usage: Rec } };
    expect(completed.response.usage.input_tokens_details).toEqual({ cached_tokens: 0, cache_write_tokens: 7 });
  });

  it("answers errors in the OpenAI envelope; stream_error on non-stream is a 500", async () => {
    const e = await responses({ input: "[[mock:error=503]]" });
    expect(e.status).toBe(503);
    expect((e.json() as { error: Rec }).error.type).toBe("server_error");
    expect((await responses({ input: "[[mock:stream_error]]" })).status).toBe(500);
    const noKey = await rawRequest(mock.url, "/v1/responses", { headers: { "content-type": "application/json" }, body: { model: "m", input: "x" } });
    expect(noKey.status).toBe(401);
  });
});

describe("OpenAI Responses: free-form (custom) tools", () => {
  const applyPatch = { type: "custom", name: "apply_patch", format: { type: "grammar", syntax: "lark", definition: 'start: "*** Begin Patch" LF' } };

  it("calls the tool named by tool=NAME with raw text, streamed as custom_tool_call_input events", async () => {
    const r = await responses({ stream: true, tools: [...TOOLS, applyPatch], input: userInput("patch it [[mock:tool=apply_patch]]") });
    const events = parseSse(r.body);
    const kinds = assertResponsesStream(events);
    expect(kinds.slice(2)).toEqual([
      "response.output_item.added",
      "response.custom_tool_call_input.delta",
      "response.custom_tool_call_input.delta",
      "response.custom_tool_call_input.delta",
      "response.custom_tool_call_input.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const item = ofType(events, "response.output_item.done")[0]!.item as Rec;
    expect(item).toMatchObject({ type: "custom_tool_call", name: "apply_patch", status: "completed" });
    expect(item.id).toMatch(/^ctc_/);
    expect(item.input).toMatch(/^\*\*\* Begin Patch\n[\s\S]*\*\*\* End Patch\n$/);
    const deltas = ofType(events, "response.custom_tool_call_input.delta").map((e) => e.delta as string);
    expect(deltas.join("")).toBe(item.input);
  });

  it("answers JSON with the custom_tool_call item; a tool name that is not declared falls back to the first tool", async () => {
    const json = (await responses({ tools: [applyPatch], input: userInput("[[mock:tool=apply_patch]]") })).json() as { output: Rec[] };
    expect(json.output).toEqual([expect.objectContaining({ type: "custom_tool_call", name: "apply_patch", call_id: expect.any(String) })]);
    const fallback = (await responses({ tools: TOOLS, input: userInput("[[mock:tool=nope]]") })).json() as { output: Rec[] };
    expect(fallback.output[0]).toMatchObject({ type: "function_call", name: "exec_command" });
  });
});
