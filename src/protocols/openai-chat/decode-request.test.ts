import { describe, expect, it } from "vitest";
import { GatewayError } from "../../canonical/errors.js";
import { decodeChatRequest, wantsUsageChunk } from "./decode-request.js";

function body(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: "gpt-x", messages: [{ role: "user", content: "hi" }], ...extra };
}

function rejection(b: unknown): GatewayError {
  try {
    decodeChatRequest(b);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected a GatewayError");
}

describe("decodeChatRequest validation", () => {
  it("requires messages", () => {
    expect(rejection({ model: "m" }).param).toBe("messages");
  });

  it("rejects n > 1", () => {
    const err = rejection(body({ n: 2 }));
    expect(err).toMatchObject({ kind: "invalid_request", param: "n", status: 400 });
  });

  it("rejects unknown roles and part types with their path", () => {
    expect(rejection(body({ messages: [{ role: "function", content: "x" }] })).param).toBe("messages[0].role");
    const err = rejection(
      body({
        messages: [
          {
            role: "user",
            content: [
              { type: "text", text: "a" },
              { type: "video_url", video_url: {} },
            ],
          },
        ],
      }),
    );
    expect(err.param).toBe("messages[0].content[1].type");
    expect(rejection(body({ messages: [{ role: "system", content: [{ type: "image_url", image_url: { url: "x" } }] }] })).param).toBe(
      "messages[0].content[0].type",
    );
    expect(rejection(body({ messages: [{ role: "tool", content: "x" }] })).param).toBe("messages[0].tool_call_id");
    expect(rejection(body({ reasoning_effort: "extreme" })).param).toBe("reasoning_effort");
    expect(rejection(body({ tool_choice: "sometimes" })).param).toBe("tool_choice");
  });
});

describe("decodeChatRequest mapping", () => {
  it("maps all roles and content parts", () => {
    const req = decodeChatRequest(
      body({
        messages: [
          { role: "system", content: "S" },
          { role: "developer", content: [{ type: "text", text: "D" }] },
          {
            role: "user",
            name: "ann",
            content: [
              { type: "text", text: "look" },
              { type: "image_url", image_url: { url: "data:image/png;base64,iVBO", detail: "high" } },
              { type: "image_url", image_url: { url: "https://x/y.jpg" } },
              { type: "input_audio", input_audio: { data: "UklG", format: "wav" } },
              { type: "file", file: { file_data: "data:application/pdf;base64,JVBE", filename: "a.pdf" } },
              { type: "file", file: { file_id: "file-1" } },
            ],
          },
          {
            role: "assistant",
            content: null,
            reasoning_content: "thinking",
            tool_calls: [
              { id: "call_1", type: "function", function: { name: "f", arguments: '{"a":1}' } },
              { type: "function", function: { name: "g", arguments: "{}" } },
              { id: "call_1", type: "function", function: { name: "dup", arguments: "{}" } },
            ],
          },
          { role: "tool", tool_call_id: "call_1", content: "r1" },
          { role: "tool", tool_call_id: "call_missing_3_1", content: [{ type: "text", text: "r2" }] },
        ],
      }),
    );
    expect(req.messages.map((m) => m.role)).toEqual(["system", "developer", "user", "assistant", "tool"]);
    expect(req.messages[2]?.extensions).toEqual({ "openai-chat": { name: "ann" } });
    expect(req.messages[2]?.content).toEqual([
      { type: "text", text: "look" },
      { type: "image", source: { kind: "base64", mediaType: "image/png", data: "iVBO" }, detail: "high" },
      { type: "image", source: { kind: "url", url: "https://x/y.jpg" } },
      { type: "file", source: { kind: "base64", mediaType: "audio/wav", data: "UklG" } },
      { type: "file", source: { kind: "base64", mediaType: "application/pdf", data: "JVBE" }, filename: "a.pdf" },
      { type: "file", source: { kind: "id", fileId: "file-1" } },
    ]);
    expect(req.messages[3]).toEqual({
      role: "assistant",
      content: [
        { type: "reasoning", text: "thinking" },
        { type: "tool-call", callId: "call_1", name: "f", arguments: '{"a":1}' },
        { type: "tool-call", callId: "call_missing_3_1", name: "g", arguments: "{}" },
      ],
      extensions: { "openai-chat": { reasoningContent: true } },
    });
    // Consecutive tool messages fold into one canonical tool message.
    expect(req.messages[4]?.content).toEqual([
      { type: "tool-result", callId: "call_1", content: "r1" },
      { type: "tool-result", callId: "call_missing_3_1", content: [{ type: "text", text: "r2" }] },
    ]);
  });

  it("maps parameters; the larger token cap wins", () => {
    const req = decodeChatRequest(
      body({
        tools: [
          { type: "function", function: { name: "f", description: "d", parameters: { type: "object" }, strict: true } },
          { type: "custom", custom: { name: "c" } },
        ],
        tool_choice: { type: "function", function: { name: "f" } },
        parallel_tool_calls: false,
        max_tokens: 100,
        max_completion_tokens: 300,
        stop: "END",
        temperature: 0.1,
        top_p: 0.9,
        response_format: { type: "json_schema", json_schema: { name: "r", schema: { type: "object" }, strict: true } },
        reasoning_effort: "low",
        prompt_cache_key: "k",
        user: "u",
        metadata: { a: "b" },
        stream: true,
        stream_options: { include_usage: true },
        seed: 3,
      }),
    );
    expect(req).toMatchObject({
      toolChoice: { name: "f" },
      parallelToolCalls: false,
      maxOutputTokens: 300,
      stopSequences: ["END"],
      temperature: 0.1,
      topP: 0.9,
      responseFormat: { type: "json_schema", name: "r", schema: { type: "object" }, strict: true },
      reasoning: { effort: "low" },
      promptCacheKey: "k",
      user: "u",
      metadata: { a: "b" },
      stream: true,
    });
    expect(req.tools?.[0]).toEqual({ type: "function", name: "f", description: "d", parameters: { type: "object" }, strict: true });
    expect(req.tools?.[1]).toMatchObject({ type: "builtin", protocol: "openai-chat", kind: "custom" });
    expect(req.extensions).toEqual({ "openai-chat": { stream_options: { include_usage: true }, seed: 3 } });
    expect(wantsUsageChunk(req)).toBe(true);
    expect(wantsUsageChunk(decodeChatRequest(body()))).toBe(false);
  });
});
