import { describe, expect, it } from "vitest";
import { GatewayError } from "../../canonical/errors.js";
import { decodeResponsesRequest } from "./decode-request.js";

function decodeError(body: unknown): GatewayError {
  try {
    decodeResponsesRequest(body);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected a GatewayError");
}

describe("decodeResponsesRequest", () => {
  it("treats a string input as one user message", () => {
    const req = decodeResponsesRequest({ model: "gpt-5", input: "hi" });
    expect(req).toEqual({ model: "gpt-5", stream: false, messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }] });
  });

  it("turns instructions into a leading, marked system message", () => {
    const req = decodeResponsesRequest({ model: "m", instructions: "Be brief.", input: [{ role: "user", content: "q" }] });
    expect(req.messages[0]).toEqual({
      role: "system",
      content: [{ type: "text", text: "Be brief." }],
      extensions: { "openai-responses": { instructions: true } },
    });
    expect(req.messages[1]).toEqual({ role: "user", content: [{ type: "text", text: "q" }] });
  });

  it("keeps an empty instructions string in extensions instead of a message", () => {
    const req = decodeResponsesRequest({ model: "m", instructions: "", input: [] });
    expect(req.messages).toEqual([]);
    expect(req.extensions?.["openai-responses"]?.instructions).toBe("");
  });

  it("decodes every content part kind", () => {
    const req = decodeResponsesRequest({
      model: "m",
      input: [
        {
          type: "message",
          role: "user",
          content: [
            { type: "input_text", text: "look" },
            { type: "input_image", image_url: "data:image/png;base64,AAAA", detail: "high" },
            { type: "input_image", image_url: "https://x/y.png" },
            { type: "input_file", file_data: "data:application/pdf;base64,JVBE", filename: "a.pdf" },
            { type: "input_file", file_id: "file_1" },
          ],
        },
        {
          role: "assistant",
          content: [
            { type: "output_text", text: "ok" },
            { type: "refusal", refusal: "no" },
          ],
        },
      ],
    });
    expect(req.messages[0]?.content).toEqual([
      { type: "text", text: "look" },
      { type: "image", source: { kind: "base64", mediaType: "image/png", data: "AAAA" }, detail: "high" },
      { type: "image", source: { kind: "url", url: "https://x/y.png" } },
      { type: "file", source: { kind: "base64", mediaType: "application/pdf", data: "JVBE" }, filename: "a.pdf" },
      { type: "file", source: { kind: "id", fileId: "file_1" } },
    ]);
    expect(req.messages[1]?.content).toEqual([
      { type: "text", text: "ok" },
      { type: "text", text: "no" },
    ]);
  });

  it("folds reasoning, assistant text and calls into one assistant message; outputs into one tool message", () => {
    const req = decodeResponsesRequest({
      model: "m",
      input: [
        { role: "user", content: "go" },
        {
          type: "reasoning",
          id: "rs_1",
          summary: [
            { type: "summary_text", text: "a" },
            { type: "summary_text", text: "b" },
          ],
          encrypted_content: "gAAAAx",
        },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "calling" }], phase: "commentary" },
        { type: "function_call", call_id: "c1", name: "f", arguments: "{}" },
        { type: "function_call", call_id: "c2", name: "close_agent", namespace: "multi_agent_v1", arguments: '{"target":"x"}' },
        { type: "function_call_output", call_id: "c1", output: "done" },
        { type: "function_call_output", call_id: "c2", output: [{ type: "input_text", text: "closed" }] },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "first" }] },
        { type: "message", role: "assistant", content: [{ type: "output_text", text: "second" }] },
      ],
    });
    expect(req.messages.map((m) => m.role)).toEqual(["user", "assistant", "tool", "assistant", "assistant"]);
    expect(req.messages[1]).toEqual({
      role: "assistant",
      content: [
        { type: "reasoning", text: "a\n\nb", signature: "gAAAAx" },
        { type: "text", text: "calling" },
        { type: "tool-call", callId: "c1", name: "f", arguments: "{}" },
        { type: "tool-call", callId: "c2", name: "multi_agent_v1.close_agent", arguments: '{"target":"x"}' },
      ],
      extensions: { "openai-responses": { phase: "commentary" } },
    });
    expect(req.messages[2]?.content).toEqual([
      { type: "tool-result", callId: "c1", content: "done" },
      { type: "tool-result", callId: "c2", content: [{ type: "text", text: "closed" }] },
    ]);
  });

  it("carries built-in items verbatim", () => {
    const item = { type: "web_search_call", id: "ws_1", status: "completed", action: { type: "search", query: "q" } };
    const req = decodeResponsesRequest({ model: "m", input: [item] });
    expect(req.messages).toEqual([{ role: "assistant", content: [], extensions: { "openai-responses": { item } } }]);
  });

  it("rejects unknown item and part types with a precise param", () => {
    const input = [
      { role: "user", content: "a" },
      { role: "user", content: "b" },
      { role: "user", content: "c" },
      { type: "message", role: "user", content: [{ type: "input_hologram", data: "?" }] },
    ];
    const e = decodeError({ model: "m", input });
    expect(e.kind).toBe("invalid_request");
    expect(e.param).toBe("input[3].content[0].type");
    expect(decodeError({ model: "m", input: [{ type: "telepathy" }] }).param).toBe("input[0].type");
    expect(decodeError({ model: "m", input: [{ type: "message", role: "robot", content: "x" }] }).param).toBe("input[0].role");
    expect(decodeError({ model: "m", input: [{ type: "function_call", name: "f" }] }).param).toBe("input[0].call_id");
    expect(decodeError({ input: "x" }).param).toBe("model");
    expect(decodeError("nope").kind).toBe("invalid_request");
    expect(decodeError({ model: "m", reasoning: { effort: "extreme" } }).param).toBe("reasoning.effort");
    expect(decodeError({ model: "m", metadata: { a: 1 } }).param).toBe("metadata.a");
  });

  it("maps tools, tool_choice, sampling, reasoning, text and keeps the rest in extensions", () => {
    const ns = { type: "namespace", name: "multi_agent_v1", description: "d", tools: [] };
    const req = decodeResponsesRequest({
      model: "m",
      input: "x",
      stream: true,
      tools: [{ type: "function", name: "f", description: "does f", parameters: { type: "object", properties: {} }, strict: true }, { type: "web_search" }, ns],
      tool_choice: { type: "function", name: "f" },
      parallel_tool_calls: false,
      max_output_tokens: 500,
      temperature: 0.2,
      top_p: 0.9,
      user: "u1",
      metadata: { k: "v" },
      prompt_cache_key: "pck",
      reasoning: { effort: "high", summary: "auto", context: "all_turns" },
      text: { format: { type: "json_schema", name: "out", schema: { type: "object" }, strict: true }, verbosity: "low" },
      include: ["reasoning.encrypted_content"],
      store: false,
      client_metadata: { a: "b" },
      service_tier: "priority",
      previous_response_id: "resp_1",
    });
    expect(req.tools).toEqual([
      { type: "function", name: "f", description: "does f", parameters: { type: "object", properties: {} }, strict: true },
      { type: "builtin", protocol: "openai-responses", kind: "web_search", raw: { type: "web_search" } },
      { type: "builtin", protocol: "openai-responses", kind: "namespace", raw: ns },
    ]);
    expect(req.toolChoice).toEqual({ name: "f" });
    expect(req).toMatchObject({
      stream: true,
      parallelToolCalls: false,
      maxOutputTokens: 500,
      temperature: 0.2,
      topP: 0.9,
      user: "u1",
      metadata: { k: "v" },
      promptCacheKey: "pck",
      reasoning: { effort: "high", summary: "auto" },
      responseFormat: { type: "json_schema", name: "out", schema: { type: "object" }, strict: true },
    });
    expect(req.extensions?.["openai-responses"]).toEqual({
      include: ["reasoning.encrypted_content"],
      store: false,
      client_metadata: { a: "b" },
      service_tier: "priority",
      previous_response_id: "resp_1",
      reasoning: { context: "all_turns" },
      text: { verbosity: "low" },
    });
  });

  it("records that a reasoning request without summary wants no reasoning text back", () => {
    expect(decodeResponsesRequest({ model: "m", input: "x", reasoning: { effort: "low" } }).reasoning).toEqual({ effort: "low", summary: "none" });
    expect(decodeResponsesRequest({ model: "m", input: "x", reasoning: { generate_summary: "concise" } }).reasoning).toEqual({ summary: "concise" });
  });

  it("keeps tool_choice shapes the canonical model lacks in extensions", () => {
    const choice = { type: "allowed_tools", mode: "auto", tools: [{ type: "function", name: "f" }] };
    const req = decodeResponsesRequest({ model: "m", input: "x", tool_choice: choice });
    expect(req.toolChoice).toBeUndefined();
    expect(req.extensions?.["openai-responses"]?.tool_choice).toEqual(choice);
  });
});
