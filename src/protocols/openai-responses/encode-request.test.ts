import { describe, expect, it } from "vitest";
import type { CanonicalRequest } from "../../canonical/request.js";
import { decodeResponsesRequest } from "./decode-request.js";
import { effortFromBudget, encodeResponsesRequest } from "./encode-request.js";
import { decodeEvents, testCtx, upstreamToolCallStream } from "./test-support.js";

const LONG = `mcp__${"very_long_server_name_".repeat(3)}__lookup_customer_record_by_identifier`;

function encode(req: CanonicalRequest, ctx = testCtx()) {
  return encodeResponsesRequest(req, ctx);
}

describe("encodeResponsesRequest", () => {
  it("round-trips a Responses client body (minus item ids and statuses)", () => {
    const body = {
      model: "gpt-5",
      instructions: "You are terse.",
      input: [
        { type: "message", role: "developer", content: [{ type: "input_text", text: "dev note" }] },
        { type: "message", role: "system", content: [{ type: "input_text", text: "sys note" }] },
        {
          type: "message",
          role: "user",
          content: [
            { type: "input_text", text: "hi" },
            { type: "input_image", image_url: "data:image/png;base64,AAAA", detail: "low" },
          ],
        },
        { type: "reasoning", summary: [{ type: "summary_text", text: "plan" }], encrypted_content: "gAAAAenc" },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "sure" }], phase: "commentary" },
        { type: "function_call", call_id: "call_1", name: "f", arguments: '{"a":1}' },
        { type: "function_call_output", call_id: "call_1", output: "ok" },
        { type: "custom_tool_call", call_id: "ct_1", name: "apply_patch", input: "*** Begin Patch" },
        { type: "custom_tool_call_output", call_id: "ct_1", output: "applied" },
      ],
      tools: [{ type: "function", name: "f", description: "f it", strict: false, parameters: { type: "object", properties: { a: { type: "number" } } } }],
      tool_choice: "auto",
      parallel_tool_calls: true,
      reasoning: { effort: "medium", summary: "auto" },
      store: false,
      stream: true,
      include: ["reasoning.encrypted_content"],
      prompt_cache_key: "k1",
      text: { verbosity: "low" },
      client_metadata: { x: "y" },
    };
    const out = encode(decodeResponsesRequest(body));
    expect(out).toEqual(body);
  });

  it("shortens tool names over 64 characters and maps them back from the stream", () => {
    const ctx = testCtx();
    const req: CanonicalRequest = {
      model: "m",
      stream: true,
      messages: [
        { role: "user", content: [{ type: "text", text: "x" }] },
        { role: "assistant", content: [{ type: "tool-call", callId: "c1", name: LONG, arguments: "{}" }] },
        { role: "tool", content: [{ type: "tool-result", callId: "c1", content: "r" }] },
      ],
      tools: [{ type: "function", name: LONG, parameters: { type: "object", properties: {} } }],
      toolChoice: { name: LONG },
    };
    const out = encodeResponsesRequest(req, ctx);
    const short = (out.tools?.[0] as { name: string }).name;
    expect(short.length).toBeLessThanOrEqual(64);
    expect(short).toBe("mcp__lookup_customer_record_by_identifier");
    expect(out.input[1]).toMatchObject({ type: "function_call", name: short });
    expect(out.tool_choice).toEqual({ type: "function", name: short });
    expect(ctx.toolNames.get(short)).toBe(LONG);
    const parts = decodeEvents(upstreamToolCallStream(short, ['{"id":', "7}"]), ctx);
    expect(parts.find((p) => p.type === "tool-call-start")).toMatchObject({ name: LONG, callId: "call_1" });
  });

  it("shortens call ids over 64 characters the same way on call and output", () => {
    const longId = `toolu_${"x".repeat(80)}`;
    const out = encode({
      model: "m",
      stream: false,
      messages: [
        { role: "assistant", content: [{ type: "tool-call", callId: longId, name: "f", arguments: "{}" }] },
        { role: "user", content: [{ type: "tool-result", callId: longId, content: "r" }] },
      ],
    });
    const call = out.input[0] as { call_id: string };
    const result = out.input[1] as { call_id: string };
    expect(call.call_id.length).toBe(64);
    expect(result.call_id).toBe(call.call_id);
  });

  it("normalises schemas and sends strict:false", () => {
    const out = encode({
      model: "m",
      stream: false,
      messages: [],
      tools: [
        { type: "function", name: "a", parameters: { $schema: "http://json-schema.org/draft-07/schema#", type: "object" }, strict: true },
        { type: "function", name: "b", parameters: {} },
      ],
    });
    expect(out.tools).toEqual([
      { type: "function", name: "a", strict: false, parameters: { type: "object", properties: {} } },
      { type: "function", name: "b", strict: false, parameters: { type: "object", properties: {} } },
    ]);
  });

  it("keeps only OpenAI reasoning blobs, without ids", () => {
    const out = encode({
      model: "m",
      stream: false,
      messages: [
        { role: "user", content: [{ type: "text", text: "q" }] },
        {
          role: "assistant",
          content: [
            { type: "reasoning", text: "claude thought", signature: "EqQBCkYIBxgCKkB..." },
            { type: "reasoning", text: "", signature: "gAAAAopenai" },
            { type: "reasoning", text: "no signature" },
            { type: "text", text: "answer" },
          ],
        },
      ],
    });
    expect(out.input).toEqual([
      { type: "message", role: "user", content: [{ type: "input_text", text: "q" }] },
      { type: "reasoning", summary: [], encrypted_content: "gAAAAopenai" },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: "answer" }] },
    ]);
  });

  it("closes the current message before tool calls and does not emit empty messages (Anthropic-shaped input)", () => {
    const out = encode({
      model: "m",
      stream: false,
      messages: [
        {
          role: "system",
          content: [
            { type: "text", text: "sys" },
            { type: "text", text: "" },
          ],
        },
        { role: "user", content: [{ type: "text", text: "do it" }] },
        {
          role: "assistant",
          content: [
            { type: "text", text: "on it" },
            { type: "tool-call", callId: "t1", name: "a", arguments: "{}" },
            { type: "tool-call", callId: "t2", name: "b", arguments: "{}" },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool-result", callId: "t1", content: "one" },
            { type: "tool-result", callId: "t2", content: [{ type: "text", text: "two" }], isError: true },
            { type: "text", text: "and now?" },
          ],
        },
        { role: "assistant", content: [{ type: "tool-call", callId: "t3", name: "a", arguments: "{}" }] },
      ],
    });
    expect(out.instructions).toBeUndefined();
    expect(out.input).toEqual([
      { type: "message", role: "developer", content: [{ type: "input_text", text: "sys" }] },
      { type: "message", role: "user", content: [{ type: "input_text", text: "do it" }] },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: "on it" }] },
      { type: "function_call", call_id: "t1", name: "a", arguments: "{}" },
      { type: "function_call", call_id: "t2", name: "b", arguments: "{}" },
      { type: "function_call_output", call_id: "t1", output: "one" },
      { type: "function_call_output", call_id: "t2", output: [{ type: "input_text", text: "Error: two" }] },
      { type: "message", role: "user", content: [{ type: "input_text", text: "and now?" }] },
      { type: "function_call", call_id: "t3", name: "a", arguments: "{}" },
    ]);
  });

  it("encodes images and files as data URLs, URLs or file ids", () => {
    const out = encode({
      model: "m",
      stream: false,
      messages: [
        {
          role: "user",
          content: [
            { type: "image", source: { kind: "base64", mediaType: "image/jpeg", data: "/9j/" } },
            { type: "file", source: { kind: "base64", mediaType: "application/pdf", data: "JVBE" } },
            { type: "file", source: { kind: "url", url: "https://x/doc.pdf" }, filename: "doc.pdf" },
            { type: "file", source: { kind: "id", fileId: "file_1" } },
          ],
        },
      ],
    });
    expect(out.input).toEqual([
      {
        type: "message",
        role: "user",
        content: [
          { type: "input_image", image_url: "data:image/jpeg;base64,/9j/" },
          { type: "input_file", file_data: "data:application/pdf;base64,JVBE", filename: "document.pdf" },
          { type: "input_file", file_url: "https://x/doc.pdf", filename: "doc.pdf" },
          { type: "input_file", file_id: "file_1" },
        ],
      },
    ]);
  });

  it("drops orphan tool outputs with a warning (docs/protocols.md#call-and-output-pairing)", () => {
    const ctx = testCtx();
    const out = encodeResponsesRequest(
      {
        model: "m",
        stream: false,
        messages: [
          { role: "user", content: [{ type: "text", text: "q" }] },
          { role: "tool", content: [{ type: "tool-result", callId: "ghost", content: "?" }] },
        ],
      },
      ctx,
    );
    expect(out.input).toEqual([{ type: "message", role: "user", content: [{ type: "input_text", text: "q" }] }]);
    expect(ctx.warnings).toEqual([expect.objectContaining({ code: "orphan_tool_result" })]);
  });

  it("maps Anthropic web search to the built-in and drops other foreign built-ins with a warning", () => {
    const ctx = testCtx();
    const out = encodeResponsesRequest(
      {
        model: "m",
        stream: false,
        messages: [],
        tools: [
          { type: "builtin", protocol: "anthropic-messages", kind: "web_search_20250305", raw: { type: "web_search_20250305", name: "web_search" } },
          { type: "builtin", protocol: "anthropic-messages", kind: "bash_20250124", raw: { type: "bash_20250124", name: "bash" } },
        ],
      },
      ctx,
    );
    expect(out.tools).toEqual([{ type: "web_search" }]);
    expect(ctx.warnings).toEqual([expect.objectContaining({ code: "tool_dropped", field: "tools" })]);
  });

  it("derives effort from a thinking budget (docs/protocols.md#reasoning-effort-and-thinking-budgets) and asks for encrypted reasoning", () => {
    expect([0, 512, 1024, 8192, 24576, 32000].map(effortFromBudget)).toEqual(["none", "minimal", "low", "medium", "high", "xhigh"]);
    const out = encode({ model: "m", stream: true, messages: [], reasoning: { budgetTokens: 4000, summary: "auto" } });
    expect(out.reasoning).toEqual({ effort: "medium", summary: "auto" });
    expect(out.include).toEqual(["reasoning.encrypted_content"]);
    expect(encode({ model: "m", stream: true, messages: [], reasoning: { adaptive: true } }).reasoning).toEqual({ effort: "xhigh", summary: "auto" });
    expect(encode({ model: "m", stream: true, messages: [], reasoning: { effort: "low", summary: "none" } }).reasoning).toEqual({ effort: "low" });
    expect(encode(decodeResponsesRequest({ model: "m", input: "x", reasoning: { effort: "low" } })).reasoning).toEqual({ effort: "low" });
    expect(encode({ model: "m", stream: true, messages: [], reasoning: { effort: "none" } }).include).toBeUndefined();
  });

  it("maps sampling, format and identity fields; warns about fields Responses lacks", () => {
    const ctx = testCtx();
    const out = encodeResponsesRequest(
      {
        model: "m",
        stream: false,
        messages: [],
        maxOutputTokens: 100,
        temperature: 0.5,
        topP: 0.8,
        topK: 40,
        stopSequences: ["END"],
        user: "u",
        metadata: { a: "b" },
        promptCacheKey: "pk",
        responseFormat: { type: "json_schema", schema: { type: "object" } },
      },
      ctx,
    );
    expect(out).toMatchObject({
      max_output_tokens: 100,
      temperature: 0.5,
      top_p: 0.8,
      user: "u",
      metadata: { a: "b" },
      prompt_cache_key: "pk",
      store: false,
      text: { format: { type: "json_schema", name: "response", schema: { type: "object" } } },
    });
    expect(ctx.warnings.map((w) => w.field)).toEqual(["top_k", "stop_sequences"]);
  });
});
