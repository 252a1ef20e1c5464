/**
 * What each client codec reports as lost when its request goes to an upstream of
 * another protocol (the translate lane adds these warnings; pipeline/lossy-translation.test.ts
 * checks the header per protocol pair).
 */
import { describe, expect, it } from "vitest";
import { CLIENT_CODECS } from "./registry.js";
import { newTranslationContext } from "./codec.js";
import { encodeAnthropicRequest } from "./anthropic-messages/encode-request.js";

const fields = (client: keyof typeof CLIENT_CODECS, body: unknown): string[] => {
  const codec = CLIENT_CODECS[client];
  return codec.droppedFields(codec.decodeRequest(body)).map((w) => `${w.code}:${w.field ?? ""}`);
};

describe("droppedFields", () => {
  it("a plain request of each protocol loses nothing", () => {
    expect(fields("openai-chat", { model: "m", messages: [{ role: "user", content: "hi" }], temperature: 0.3, stream: true })).toEqual([]);
    expect(fields("openai-responses", { model: "m", input: "hi", reasoning: { effort: "low", summary: "auto" }, text: { format: { type: "text" } } })).toEqual(
      [],
    );
    expect(
      fields("anthropic-messages", {
        model: "m",
        max_tokens: 10,
        messages: [{ role: "user", content: [{ type: "text", text: "hi", cache_control: { type: "ephemeral" } }] }],
        cache_control: { type: "ephemeral" },
        output_config: { effort: "low", format: { type: "json_schema", schema: { type: "object" } } },
        tools: [{ type: "custom", name: "t", input_schema: { type: "object" }, cache_control: { type: "ephemeral" } }],
      }),
    ).toEqual([]);
  });

  it("Responses: built-in input items, store:true and reasoning leftovers are named", () => {
    const body = {
      model: "m",
      store: true,
      reasoning: { effort: "low", context: "all" },
      input: [
        { type: "web_search_call", id: "ws_1", status: "completed", action: { type: "search", query: "x" } },
        { role: "user", content: "hi" },
      ],
    };
    expect(fields("openai-responses", body).sort()).toEqual(
      ["content_dropped:input[type=web_search_call]", "unsupported_parameter:reasoning.context", "unsupported_parameter:store"].sort(),
    );
  });

  it("Anthropic: server tool blocks and a format without a canonical form are named", () => {
    const body = {
      model: "m",
      max_tokens: 10,
      output_config: { format: { type: "grammar" } },
      messages: [
        { role: "user", content: "search" },
        {
          role: "assistant",
          content: [
            { type: "server_tool_use", id: "srvtoolu_1", name: "web_search", input: { query: "x" } },
            { type: "text", text: "found" },
          ],
        },
        { role: "user", content: "thanks" },
      ],
    };
    expect(fields("anthropic-messages", body).sort()).toEqual(
      ["content_dropped:messages[].content[type=server_tool_use]", "unsupported_parameter:output_config.format"].sort(),
    );
  });
});

describe("Anthropic encoder", () => {
  it("names OpenAI metadata, which Anthropic has no place for", () => {
    const ctx = newTranslationContext("m");
    const body = encodeAnthropicRequest(
      { model: "m", stream: false, messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }], metadata: { team: "a" } },
      ctx,
    );
    expect(body).not.toHaveProperty("metadata");
    expect(ctx.warnings).toEqual([expect.objectContaining({ code: "unsupported_parameter", field: "metadata" })]);
  });
});
