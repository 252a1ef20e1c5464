import { describe, expect, it } from "vitest";
import { GatewayError } from "../../canonical/errors.js";
import { decodeAnthropicRequest } from "./decode-request.js";

function body(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: "claude-x", max_tokens: 1024, messages: [{ role: "user", content: "hi" }], ...extra };
}

function rejection(b: unknown): GatewayError {
  try {
    decodeAnthropicRequest(b);
  } catch (e) {
    if (e instanceof GatewayError) return e;
    throw e;
  }
  throw new Error("expected a GatewayError");
}

describe("decodeAnthropicRequest validation", () => {
  it("requires max_tokens", () => {
    const err = rejection({ model: "m", messages: [] });
    expect(err.kind).toBe("invalid_request");
    expect(err.param).toBe("max_tokens");
  });

  it("requires messages to be an array", () => {
    expect(rejection({ model: "m", max_tokens: 1 }).param).toBe("messages");
    expect(rejection({ model: "m", max_tokens: 1, messages: {} }).param).toBe("messages");
  });

  it("rejects an unknown role", () => {
    expect(rejection(body({ messages: [{ role: "tool", content: "x" }] })).param).toBe("messages[0].role");
  });

  it("rejects an unknown content block type with its path, never drops it", () => {
    const err = rejection(
      body({
        messages: [
          { role: "user", content: "a" },
          { role: "assistant", content: "b" },
          { role: "user", content: [{ type: "hologram", data: 1 }] },
        ],
      }),
    );
    expect(err.param).toBe("messages[2].content[0].type");
    expect(err.code).toBe("unknown_content_block");
    expect(err.status).toBe(400);
    expect(err.message).toContain("hologram");
  });

  it("rejects blocks in the wrong role", () => {
    const toolUse = { type: "tool_use", id: "t1", name: "x", input: {} };
    expect(rejection(body({ messages: [{ role: "user", content: [toolUse] }] })).param).toBe("messages[0].content[0].type");
    const result = { type: "tool_result", tool_use_id: "t1", content: "ok" };
    expect(rejection(body({ messages: [{ role: "assistant", content: [result] }] })).param).toBe("messages[0].content[0].type");
  });

  it("checks nested fields", () => {
    const bad = { role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/png" } }] };
    expect(rejection(body({ messages: [bad] })).param).toBe("messages[0].content[0].source.data");
    expect(rejection(body({ system: [{ type: "image" }] })).param).toBe("system[0].type");
    expect(rejection(body({ tool_choice: { type: "maybe" } })).param).toBe("tool_choice.type");
    expect(rejection(body({ thinking: { type: "enabled" } })).param).toBe("thinking.budget_tokens");
    expect(rejection(body({ output_config: { effort: "huge" } })).param).toBe("output_config.effort");
  });
});

describe("decodeAnthropicRequest mapping", () => {
  it("puts top-level system first and keeps cache_control", () => {
    const req = decodeAnthropicRequest(
      body({
        system: [
          { type: "text", text: "A" },
          { type: "text", text: "B", cache_control: { type: "ephemeral" } },
        ],
      }),
    );
    expect(req.messages[0]).toEqual({
      role: "system",
      content: [
        { type: "text", text: "A" },
        { type: "text", text: "B", cacheControl: { type: "ephemeral" } },
      ],
    });
    expect(req.messages[1]?.role).toBe("user");
  });

  it("keeps a mid-conversation system message in place, marked as inline", () => {
    const req = decodeAnthropicRequest(
      body({
        messages: [
          { role: "user", content: "q" },
          { role: "system", content: "remember" },
          { role: "assistant", content: "a" },
        ],
      }),
    );
    expect(req.messages.map((m) => m.role)).toEqual(["user", "system", "assistant"]);
    expect(req.messages[1]?.extensions?.["anthropic-messages"]).toMatchObject({ inlineSystem: true });
  });

  it("maps tool_use, tool_result, thinking and redacted thinking", () => {
    const req = decodeAnthropicRequest(
      body({
        messages: [
          { role: "user", content: "go" },
          {
            role: "assistant",
            content: [
              { type: "thinking", thinking: "hmm", signature: "sig-1" },
              { type: "redacted_thinking", data: "opaque" },
              { type: "tool_use", id: "toolu_1", name: "Bash", input: { command: "ls" } },
            ],
          },
          {
            role: "user",
            content: [
              { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "a.txt" }], is_error: false },
              { type: "text", text: "thanks" },
            ],
          },
        ],
      }),
    );
    expect(req.messages[1]?.content).toEqual([
      { type: "reasoning", text: "hmm", signature: "sig-1" },
      { type: "reasoning", text: "", redacted: "opaque" },
      { type: "tool-call", callId: "toolu_1", name: "Bash", arguments: '{"command":"ls"}' },
    ]);
    // Tool results become a canonical tool message, the text after them a user message.
    expect(req.messages[2]).toEqual({
      role: "tool",
      content: [{ type: "tool-result", callId: "toolu_1", content: [{ type: "text", text: "a.txt" }], isError: false }],
    });
    expect(req.messages[3]).toEqual({ role: "user", content: [{ type: "text", text: "thanks" }] });
  });

  it("maps images and documents", () => {
    const req = decodeAnthropicRequest(
      body({
        messages: [
          {
            role: "user",
            content: [
              { type: "image", source: { type: "base64", media_type: "image/png", data: "AAAA" } },
              { type: "image", source: { type: "url", url: "https://x/y.png" } },
              { type: "document", source: { type: "base64", media_type: "application/pdf", data: "JVBE" }, title: "a.pdf" },
              { type: "document", source: { type: "text", media_type: "text/plain", data: "héllo" } },
            ],
          },
        ],
      }),
    );
    expect(req.messages[0]?.content).toEqual([
      { type: "image", source: { kind: "base64", mediaType: "image/png", data: "AAAA" } },
      { type: "image", source: { kind: "url", url: "https://x/y.png" } },
      { type: "file", source: { kind: "base64", mediaType: "application/pdf", data: "JVBE" }, filename: "a.pdf" },
      { type: "file", source: { kind: "base64", mediaType: "text/plain", data: Buffer.from("héllo").toString("base64") } },
    ]);
  });

  it("keeps server-tool blocks verbatim with their position", () => {
    const server = { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: { query: "q" } };
    const req = decodeAnthropicRequest(
      body({
        messages: [
          { role: "user", content: "q" },
          { role: "assistant", content: [{ type: "text", text: "a" }, server] },
        ],
      }),
    );
    expect(req.messages[1]?.content).toEqual([{ type: "text", text: "a" }]);
    expect(req.messages[1]?.extensions?.["anthropic-messages"]).toEqual({ opaque: [{ at: 1, block: server }] });
  });

  it("maps thinking configuration and effort", () => {
    expect(decodeAnthropicRequest(body({ thinking: { type: "enabled", budget_tokens: 4096 } })).reasoning).toEqual({ budgetTokens: 4096 });
    expect(decodeAnthropicRequest(body({ thinking: { type: "adaptive" }, output_config: { effort: "high" } })).reasoning).toEqual({
      adaptive: true,
      effort: "high",
    });
    expect(decodeAnthropicRequest(body({ thinking: { type: "disabled" } })).reasoning).toEqual({ effort: "none" });
    expect(decodeAnthropicRequest(body({ thinking: { type: "adaptive", display: "omitted" } })).reasoning).toEqual({
      adaptive: true,
      summary: "none",
    });
  });

  it("maps tool_choice, tools, sampling and metadata", () => {
    const req = decodeAnthropicRequest(
      body({
        tools: [
          { name: "f", description: "d", input_schema: { type: "object", properties: {} }, cache_control: { type: "ephemeral" }, defer_loading: true },
          { type: "web_search_20250305", name: "web_search", max_uses: 3 },
        ],
        tool_choice: { type: "any", disable_parallel_tool_use: true },
        temperature: 0.5,
        top_k: 5,
        stop_sequences: ["END"],
        metadata: { user_id: "u-1" },
        stream: true,
      }),
    );
    expect(req.tools).toEqual([
      {
        type: "function",
        name: "f",
        description: "d",
        parameters: { type: "object", properties: {} },
        cacheControl: { type: "ephemeral" },
        extensions: { "anthropic-messages": { defer_loading: true } },
      },
      { type: "builtin", protocol: "anthropic-messages", kind: "web_search_20250305", raw: { type: "web_search_20250305", name: "web_search", max_uses: 3 } },
    ]);
    expect(req.toolChoice).toBe("required");
    expect(req.parallelToolCalls).toBe(false);
    expect(req).toMatchObject({ temperature: 0.5, topK: 5, stopSequences: ["END"], stream: true, maxOutputTokens: 1024 });
    // metadata.user_id stays Anthropic-only: kept for an Anthropic upstream, never forwarded as a generic user.
    expect(req.user).toBeUndefined();
    expect(req.extensions?.["anthropic-messages"]?.metadata).toEqual({ user_id: "u-1" });
  });

  it("keeps protocol-only fields in extensions", () => {
    const req = decodeAnthropicRequest(
      body({
        context_management: { edits: [] },
        output_config: { effort: "low" },
        service_tier: "auto",
        container: "c1",
        cache_control: { type: "ephemeral" },
      }),
    );
    expect(req.extensions?.["anthropic-messages"]).toEqual({
      context_management: { edits: [] },
      output_config: { effort: "low" },
      service_tier: "auto",
      container: "c1",
      cache_control: { type: "ephemeral" },
    });
  });
});
