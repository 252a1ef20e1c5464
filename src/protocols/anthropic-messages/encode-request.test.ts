import { describe, expect, it } from "vitest";
import type { CanonicalRequest, Message, ReasoningEffort } from "../../canonical/request.js";
import { decodeAnthropicRequest } from "./decode-request.js";
import { encodeAnthropicRequest } from "./encode-request.js";
import { ctxFor } from "./test-support.js";

function req(messages: Message[], extra: Partial<CanonicalRequest> = {}): CanonicalRequest {
  return { model: "claude-x", messages, stream: false, ...extra };
}

const user = (text: string): Message => ({ role: "user", content: [{ type: "text", text }] });
const assistant = (text: string): Message => ({ role: "assistant", content: [{ type: "text", text }] });

describe("encodeAnthropicRequest conversation shape", () => {
  it("sends leading system/developer messages as system blocks", () => {
    const body = encodeAnthropicRequest(
      req([
        { role: "system", content: [{ type: "text", text: "S1", cacheControl: { type: "ephemeral" } }] },
        { role: "developer", content: [{ type: "text", text: "D1" }] },
        user("hi"),
      ]),
      ctxFor(),
    );
    expect(body.system).toEqual([
      { type: "text", text: "S1", cache_control: { type: "ephemeral" } },
      { type: "text", text: "D1" },
    ]);
    expect(body.messages).toEqual([{ role: "user", content: [{ type: "text", text: "hi" }] }]);
  });

  it("turns a mid-conversation system message from another protocol into a system-reminder", () => {
    const body = encodeAnthropicRequest(req([user("q"), { role: "system", content: [{ type: "text", text: "be brief" }] }, assistant("a")]), ctxFor());
    expect(body.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "q" },
          { type: "text", text: "<system-reminder>\nbe brief\n</system-reminder>" },
        ],
      },
      { role: "assistant", content: [{ type: "text", text: "a" }] },
    ]);
  });

  it("keeps an Anthropic client's inline system message, unless told to use reminders", () => {
    const decoded = decodeAnthropicRequest({
      model: "m",
      max_tokens: 10,
      messages: [
        { role: "user", content: "q" },
        { role: "system", content: "note" },
        { role: "assistant", content: "a" },
      ],
    });
    const kept = encodeAnthropicRequest(decoded, ctxFor());
    expect(kept.messages).toEqual([
      { role: "user", content: "q" },
      { role: "system", content: "note" },
      { role: "assistant", content: "a" },
    ]);
    const reminded = encodeAnthropicRequest(decoded, ctxFor(), { inlineSystem: "reminder" });
    expect((reminded.messages as unknown[]).length).toBe(2);
  });

  it("merges adjacent same-role messages so roles alternate", () => {
    const body = encodeAnthropicRequest(req([user("a"), user("b"), assistant("c"), assistant("d")]), ctxFor());
    expect(body.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "a" },
          { type: "text", text: "b" },
        ],
      },
      {
        role: "assistant",
        content: [
          { type: "text", text: "c" },
          { type: "text", text: "d" },
        ],
      },
    ]);
  });

  it("groups consecutive tool results into one user message, before any text", () => {
    const body = encodeAnthropicRequest(
      req([
        user("go"),
        {
          role: "assistant",
          content: [
            { type: "tool-call", callId: "call_1", name: "a", arguments: '{"x":1}' },
            { type: "tool-call", callId: "call_2", name: "b", arguments: "" },
          ],
        },
        user("also this"),
        { role: "tool", content: [{ type: "tool-result", callId: "call_1", content: "one" }] },
        { role: "tool", content: [{ type: "tool-result", callId: "call_2", content: [{ type: "text", text: "two" }], isError: true }] },
      ]),
      ctxFor(),
    );
    expect(body.messages).toEqual([
      { role: "user", content: [{ type: "text", text: "go" }] },
      {
        role: "assistant",
        content: [
          { type: "tool_use", id: "call_1", name: "a", input: { x: 1 } },
          { type: "tool_use", id: "call_2", name: "b", input: {} },
        ],
      },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "call_1", content: "one" },
          { type: "tool_result", tool_use_id: "call_2", content: [{ type: "text", text: "two" }], is_error: true },
          { type: "text", text: "also this" },
        ],
      },
    ]);
  });

  it("drops empty text blocks and the messages they leave empty", () => {
    const body = encodeAnthropicRequest(
      req([user("q"), assistant(""), { role: "assistant", content: [{ type: "text", text: "  " }] }, user("again")]),
      ctxFor(),
    );
    expect(body.messages).toEqual([
      {
        role: "user",
        content: [
          { type: "text", text: "q" },
          { type: "text", text: "again" },
        ],
      },
    ]);
  });

  it("replays only Anthropic thinking signatures", () => {
    const ctx = ctxFor();
    const body = encodeAnthropicRequest(
      req([
        user("q"),
        {
          role: "assistant",
          content: [
            { type: "reasoning", text: "mine", signature: "EqQBCkgIBRABGAI" },
            { type: "reasoning", text: "openai", signature: "gAAAAABo-encrypted" },
            { type: "reasoning", text: "unsigned" },
            { type: "reasoning", text: "", redacted: "blob" },
            { type: "text", text: "answer" },
          ],
        },
      ]),
      ctx,
    );
    expect((body.messages as Array<{ content: unknown }>)[1]?.content).toEqual([
      { type: "thinking", thinking: "mine", signature: "EqQBCkgIBRABGAI" },
      { type: "redacted_thinking", data: "blob" },
      { type: "text", text: "answer" },
    ]);
    expect(ctx.warnings.map((w) => w.code)).toContain("reasoning_dropped");
  });

  it("turns data-URL images into base64 sources and drops unsupported media", () => {
    const ctx = ctxFor();
    const body = encodeAnthropicRequest(
      req([
        {
          role: "user",
          content: [
            { type: "image", source: { kind: "url", url: "data:image/png;base64,iVBO" } },
            { type: "image", source: { kind: "base64", mediaType: "image/bmp", data: "Qk0" } },
            { type: "file", source: { kind: "base64", mediaType: "audio/wav", data: "UklG" } },
          ],
        },
      ]),
      ctx,
    );
    expect(body.messages).toEqual([{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png", data: "iVBO" } }] }]);
    expect(ctx.warnings.filter((w) => w.code === "unsupported_media_dropped")).toHaveLength(2);
  });
});

describe("encodeAnthropicRequest parameters", () => {
  it("defaults max_tokens to 32000 and maps stop sequences", () => {
    const body = encodeAnthropicRequest(req([user("q")], { stopSequences: ["###"] }), ctxFor());
    expect(body.max_tokens).toBe(32000);
    expect(body.stop_sequences).toEqual(["###"]);
  });

  // docs/protocols.md#reasoning-effort-and-thinking-budgets: minimal 512→1024, low 1024, medium 8192, high 24576, xhigh 32768.
  const table: Array<[ReasoningEffort, number]> = [
    ["minimal", 1024],
    ["low", 1024],
    ["medium", 8192],
    ["high", 24576],
    ["xhigh", 32768],
  ];
  it.each(table)("maps effort %s to a %d-token thinking budget", (effort, budget) => {
    const body = encodeAnthropicRequest(req([user("q")], { reasoning: { effort }, maxOutputTokens: 64000 }), ctxFor());
    expect(body.thinking).toEqual({ type: "enabled", budget_tokens: budget });
    expect(body.output_config).toBeUndefined();
  });

  it("keeps max_tokens above the budget", () => {
    const body = encodeAnthropicRequest(req([user("q")], { reasoning: { effort: "high" }, maxOutputTokens: 4000 }), ctxFor());
    expect(body.thinking).toEqual({ type: "enabled", budget_tokens: 3999 });
    const tiny = encodeAnthropicRequest(req([user("q")], { reasoning: { effort: "low" }, maxOutputTokens: 500 }), ctxFor());
    expect(tiny.thinking).toEqual({ type: "enabled", budget_tokens: 1024 });
    expect(tiny.max_tokens).toBe(1524);
  });

  it("uses adaptive thinking with output_config.effort when configured or asked", () => {
    const adaptive = encodeAnthropicRequest(req([user("q")], { reasoning: { effort: "minimal" } }), ctxFor(), { thinkingStyle: "adaptive" });
    expect(adaptive.thinking).toEqual({ type: "adaptive" });
    expect(adaptive.output_config).toEqual({ effort: "low" });
    const none = encodeAnthropicRequest(req([user("q")], { reasoning: { effort: "none" } }), ctxFor());
    expect(none.thinking).toEqual({ type: "disabled" });
  });

  describe("a tool loop whose calls carry no Anthropic thinking (docs/protocols.md#reasoning-signatures)", () => {
    const call: Message = { role: "assistant", content: [{ type: "tool-call", callId: "call_1", name: "exec_command", arguments: '{"cmd":"ls"}' }] };
    const result: Message = { role: "tool", content: [{ type: "tool-result", callId: "call_1", content: "a.txt" }] };
    const tools = [{ type: "function" as const, name: "exec_command", parameters: { type: "object", properties: {} } }];

    it("goes without thinking while it answers those calls, with a warning", () => {
      const ctx = ctxFor();
      const body = encodeAnthropicRequest(req([user("list"), call, result], { reasoning: { effort: "medium" }, tools, temperature: 0.2 }), ctx);
      expect(body.thinking).toBeUndefined();
      expect(body.temperature).toBe(0.2);
      expect(ctx.warnings).toEqual([expect.objectContaining({ code: "thinking_disabled", field: "reasoning" })]);
    });

    it("keeps thinking when the calls come with their Anthropic thinking, or an OpenAI blob is all there is to drop", () => {
      const signed: Message = { role: "assistant", content: [{ type: "reasoning", text: "t", signature: "EqQBCkgIBRABGAI" }, ...call.content] };
      const kept = encodeAnthropicRequest(req([user("list"), signed, result], { reasoning: { effort: "medium" }, tools }), ctxFor());
      expect(kept.thinking).toEqual({ type: "enabled", budget_tokens: 8192 });
      const openai: Message = { role: "assistant", content: [{ type: "reasoning", text: "t", signature: "gAAAAABo-encrypted" }, ...call.content] };
      const ctx = ctxFor();
      const dropped = encodeAnthropicRequest(req([user("list"), openai, result], { reasoning: { effort: "medium" }, tools }), ctx);
      expect(dropped.thinking).toBeUndefined();
      expect(ctx.warnings.map((w) => w.code)).toEqual(["reasoning_dropped", "thinking_disabled"]);
    });

    it("has thinking again once the loop is over, and adaptive thinking is left alone", () => {
      const next = encodeAnthropicRequest(
        req([user("list"), call, result, assistant("a.txt"), user("thanks")], { reasoning: { effort: "medium" }, tools }),
        ctxFor(),
      );
      expect(next.thinking).toEqual({ type: "enabled", budget_tokens: 8192 });
      const adaptive = encodeAnthropicRequest(req([user("list"), call, result], { reasoning: { effort: "medium" }, tools }), ctxFor(), {
        thinkingStyle: "adaptive",
      });
      expect(adaptive.thinking).toEqual({ type: "adaptive" });
    });
  });

  it("drops sampling parameters and forced tools that thinking forbids", () => {
    const ctx = ctxFor();
    const body = encodeAnthropicRequest(
      req([user("q")], {
        reasoning: { effort: "medium" },
        temperature: 0.2,
        topK: 3,
        topP: 0.5,
        tools: [{ type: "function", name: "f", parameters: { type: "object", properties: {} } }],
        toolChoice: "required",
      }),
      ctx,
    );
    expect(body.temperature).toBeUndefined();
    expect(body.top_k).toBeUndefined();
    expect(body.top_p).toBeUndefined();
    expect(body.tool_choice).toEqual({ type: "auto" });
    expect(ctx.warnings.map((w) => w.field)).toEqual(["temperature", "top_k", "top_p", "tool_choice"]);
  });

  it("maps tools, tool_choice and parallel calls; drops other protocols' built-ins", () => {
    const ctx = ctxFor();
    const body = encodeAnthropicRequest(
      req([user("q")], {
        tools: [
          { type: "function", name: "get", description: "d", parameters: { $schema: "x", properties: { a: { type: "string" } } } },
          { type: "builtin", protocol: "openai-responses", kind: "web_search", raw: { type: "web_search" } },
          { type: "builtin", protocol: "anthropic-messages", kind: "web_search_20250305", raw: { type: "web_search_20250305", name: "web_search" } },
        ],
        toolChoice: { name: "get" },
        parallelToolCalls: false,
      }),
      ctx,
    );
    expect(body.tools).toEqual([
      { name: "get", description: "d", input_schema: { type: "object", properties: { a: { type: "string" } } } },
      { type: "web_search_20250305", name: "web_search" },
    ]);
    expect(body.tool_choice).toEqual({ type: "tool", name: "get", disable_parallel_tool_use: true });
    expect(ctx.warnings).toEqual([expect.objectContaining({ code: "builtin_tool_dropped" })]);
  });

  it("maps user, json-schema output and restores its own extensions", () => {
    const body = encodeAnthropicRequest(
      req([user("q")], {
        user: "u-9",
        responseFormat: { type: "json_schema", schema: { type: "object" } },
        extensions: {
          "anthropic-messages": { context_management: { edits: [] }, output_config: { effort: "max", format: null }, service_tier: "auto" },
          "openai-chat": { seed: 7 },
        },
      }),
      ctxFor(),
    );
    expect(body.metadata).toEqual({ user_id: "u-9" });
    expect(body.output_config).toEqual({ format: { type: "json_schema", schema: { type: "object" } } });
    expect(body.context_management).toEqual({ edits: [] });
    expect(body.service_tier).toBe("auto");
    expect(body.seed).toBeUndefined();
  });
});

describe("cache breakpoints", () => {
  it("adds the top-level cache marker only when the request marks none", () => {
    const plain = encodeAnthropicRequest({ model: "m", stream: false, messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }] }, ctxFor("m"));
    expect(plain.cache_control).toEqual({ type: "ephemeral" });
    const marked = encodeAnthropicRequest(
      { model: "m", stream: false, messages: [{ role: "user", content: [{ type: "text", text: "hi", cacheControl: { type: "ephemeral", ttl: "1h" } }] }] },
      ctxFor("m"),
    );
    expect(marked.cache_control).toBeUndefined();
  });
});
