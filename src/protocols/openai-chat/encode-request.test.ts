import { describe, expect, it } from "vitest";
import type { CanonicalRequest, Message } from "../../canonical/request.js";
import { ctxFor, runDecoder } from "../anthropic-messages/test-support.js";
import { decodeChatRequest } from "./decode-request.js";
import { encodeChatRequest } from "./encode-request.js";
import { ChatStreamDecoder } from "./stream-decode.js";

function req(messages: Message[], extra: Partial<CanonicalRequest> = {}): CanonicalRequest {
  return { model: "gpt-x", messages, stream: false, ...extra };
}
const user = (text: string): Message => ({ role: "user", content: [{ type: "text", text }] });

const LONG = "mcp__a_very_long_server_name_that_goes_on_and_on__and_a_tool_called_search_everything";

describe("encodeChatRequest", () => {
  it("shortens long MCP tool names and maps them back in the stream", () => {
    const ctx = ctxFor();
    const body = encodeChatRequest(
      req(
        [
          user("q"),
          { role: "assistant", content: [{ type: "tool-call", callId: "toolu_1", name: LONG, arguments: "{}" }] },
          { role: "tool", content: [{ type: "tool-result", callId: "toolu_1", content: "ok" }] },
        ],
        { tools: [{ type: "function", name: LONG, parameters: { type: "object", properties: {} } }], toolChoice: { name: LONG } },
      ),
      ctx,
    );
    const short = "mcp__and_a_tool_called_search_everything";
    expect(body.tools).toEqual([{ type: "function", function: { name: short, parameters: { type: "object", properties: {} } } }]);
    expect(body.tool_choice).toEqual({ type: "function", function: { name: short } });
    expect((body.messages as Array<{ tool_calls?: Array<{ function: { name: string } }> }>)[1]?.tool_calls?.[0]?.function.name).toBe(short);
    expect(ctx.toolNames.get(short)).toBe(LONG);

    const parts = runDecoder(new ChatStreamDecoder(ctx), [
      {
        event: undefined,
        data: JSON.stringify({
          id: "c",
          object: "chat.completion.chunk",
          created: 1,
          model: "m",
          choices: [
            {
              index: 0,
              delta: { tool_calls: [{ index: 0, id: "call_9", type: "function", function: { name: short, arguments: "{}" } }] },
              finish_reason: null,
            },
          ],
        }),
      },
      {
        event: undefined,
        data: JSON.stringify({
          id: "c",
          object: "chat.completion.chunk",
          created: 1,
          model: "m",
          choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }],
        }),
      },
      { event: undefined, data: "[DONE]" },
    ]);
    expect(parts).toContainEqual({ type: "tool-call-start", id: "c0", callId: "call_9", name: LONG });
  });

  it("shortens long call ids the same way on every turn", () => {
    const id = `toolu_${"x".repeat(80)}`;
    const messages: Message[] = [
      user("q"),
      { role: "assistant", content: [{ type: "tool-call", callId: id, name: "f", arguments: "" }] },
      { role: "tool", content: [{ type: "tool-result", callId: id, content: "ok" }] },
    ];
    const a = encodeChatRequest(req(messages), ctxFor()).messages as Array<Record<string, unknown>>;
    const b = encodeChatRequest(req(messages), ctxFor()).messages as Array<Record<string, unknown>>;
    const callId = (a[1]?.tool_calls as Array<{ id: string; function: { arguments: string } }>)[0];
    expect(callId?.id).toHaveLength(64);
    expect(callId?.function.arguments).toBe("{}");
    expect(a[2]?.tool_call_id).toBe(callId?.id);
    expect(b).toEqual(a);
  });

  it("sends Anthropic-shaped history as Chat messages", () => {
    const ctx = ctxFor();
    const body = encodeChatRequest(
      req([
        {
          role: "system",
          content: [
            { type: "text", text: "x-anthropic-billing-header: cc_version=1; cch=abc;" },
            { type: "text", text: "You are helpful." },
            { type: "text", text: "Be brief." },
          ],
        },
        user("q"),
        {
          role: "assistant",
          content: [
            { type: "reasoning", text: "hmm", signature: "sig" },
            { type: "text", text: "Let me look." },
            { type: "tool-call", callId: "toolu_1", name: "Read", arguments: '{"path":"a"}' },
            { type: "tool-call", callId: "toolu_2", name: "Read", arguments: '{"path":"b"}' },
          ],
        },
        {
          role: "tool",
          content: [
            {
              type: "tool-result",
              callId: "toolu_1",
              content: [
                { type: "text", text: "A" },
                { type: "image", source: { kind: "url", url: "https://i" } },
              ],
            },
            { type: "tool-result", callId: "toolu_2", content: "B", isError: true },
            { type: "tool-result", callId: "toolu_zz", content: "orphan" },
          ],
        },
        {
          role: "user",
          content: [
            { type: "text", text: "" },
            { type: "text", text: "thanks" },
          ],
        },
        { role: "assistant", content: [{ type: "text", text: "" }] },
      ]),
      ctx,
    );
    expect(body.messages).toEqual([
      { role: "system", content: "You are helpful.\n\nBe brief." },
      { role: "user", content: "q" },
      {
        role: "assistant",
        content: "Let me look.",
        tool_calls: [
          { id: "toolu_1", type: "function", function: { name: "Read", arguments: '{"path":"a"}' } },
          { id: "toolu_2", type: "function", function: { name: "Read", arguments: '{"path":"b"}' } },
        ],
      },
      { role: "tool", tool_call_id: "toolu_1", content: "A" },
      { role: "tool", tool_call_id: "toolu_2", content: "B" },
      { role: "user", content: "thanks" },
    ]);
    expect(ctx.warnings.map((w) => w.code).sort()).toEqual(["orphan_tool_result_dropped", "unsupported_media_dropped"]);
  });

  it("drops tool calls that never got a result", () => {
    const ctx = ctxFor();
    const body = encodeChatRequest(
      req([user("q"), { role: "assistant", content: [{ type: "tool-call", callId: "c1", name: "f", arguments: "{}" }] }, user("never mind")]),
      ctx,
    );
    expect(body.messages).toEqual([
      { role: "user", content: "q" },
      { role: "user", content: "never mind" },
    ]);
    expect(ctx.warnings.map((w) => w.code)).toEqual(["orphan_tool_call_dropped"]);
  });

  it("replays reasoning_content only when asked or when the client sent it", () => {
    const history: Message[] = [
      user("q"),
      {
        role: "assistant",
        content: [
          { type: "reasoning", text: "r" },
          { type: "text", text: "a" },
        ],
      },
    ];
    expect((encodeChatRequest(req(history), ctxFor()).messages as unknown[])[1]).toEqual({ role: "assistant", content: "a" });
    expect((encodeChatRequest(req(history), ctxFor(), { reasoningContent: "replay" }).messages as unknown[])[1]).toEqual({
      role: "assistant",
      content: "a",
      reasoning_content: "r",
    });
    const fromChat = decodeChatRequest({
      model: "m",
      messages: [
        { role: "user", content: "q" },
        { role: "assistant", content: "a", reasoning_content: "r" },
      ],
    });
    expect((encodeChatRequest(fromChat, ctxFor()).messages as unknown[])[1]).toEqual({ role: "assistant", content: "a", reasoning_content: "r" });
  });

  it("always asks for usage when streaming and uses max_completion_tokens", () => {
    const body = encodeChatRequest(
      req([user("q")], { stream: true, maxOutputTokens: 500, extensions: { "openai-chat": { stream_options: { include_obfuscation: false } } } }),
      ctxFor(),
    );
    expect(body.stream_options).toEqual({ include_obfuscation: false, include_usage: true });
    expect(body.max_completion_tokens).toBe(500);
    expect(body.max_tokens).toBeUndefined();
    const legacy = encodeChatRequest(req([user("q")], { maxOutputTokens: 500 }), ctxFor(), { maxTokensField: "max_tokens" });
    expect(legacy.max_tokens).toBe(500);
    expect(legacy.stream_options).toBeUndefined();
  });

  it("maps reasoning, schemas, response format and drops foreign built-ins", () => {
    const ctx = ctxFor();
    const body = encodeChatRequest(
      req([user("q")], {
        reasoning: { budgetTokens: 8000 },
        tools: [
          { type: "function", name: "f", parameters: { $schema: "https://json-schema.org/draft/2020-12/schema", type: "object" } },
          { type: "builtin", protocol: "anthropic-messages", kind: "web_search_20250305", raw: {} },
        ],
        responseFormat: { type: "json_schema", schema: { type: "object" } },
        topK: 4,
        stopSequences: ["a", "b"],
        promptCacheKey: "key",
        extensions: { "openai-chat": { seed: 1 }, "anthropic-messages": { context_management: {} } },
      }),
      ctx,
    );
    expect(body).toMatchObject({
      reasoning_effort: "medium",
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: {} } } }],
      response_format: { type: "json_schema", json_schema: { name: "response", schema: { type: "object" } } },
      stop: ["a", "b"],
      prompt_cache_key: "key",
      seed: 1,
    });
    expect(body.context_management).toBeUndefined();
    expect(ctx.warnings.map((w) => w.code).sort()).toEqual(["builtin_tool_dropped", "sampling_param_dropped"]);
    expect(encodeChatRequest(req([user("q")], { reasoning: { adaptive: true } }), ctxFor()).reasoning_effort).toBeUndefined();
    expect(encodeChatRequest(req([user("q")], { reasoning: { effort: "max" } }), ctxFor()).reasoning_effort).toBe("xhigh");
  });
});
