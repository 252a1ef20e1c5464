import { afterEach, describe, expect, it, vi } from "vitest";
import { classifyOpeningEvent } from "./stream-opening.js";

const ev = (event: string | undefined, data: unknown) => ({ event, data: typeof data === "string" ? data : JSON.stringify(data) });

afterEach(() => vi.restoreAllMocks());

describe("the opening events of an upstream stream", () => {
  it("Chat: the role-only first chunk opens, a content delta or finish is content, an error chunk is an error", () => {
    const head = { id: "c1", object: "chat.completion.chunk", created: 1, model: "m" };
    expect(
      classifyOpeningEvent(
        "openai-chat",
        ev(undefined, { ...head, choices: [{ index: 0, delta: { role: "assistant", content: "", refusal: null }, finish_reason: null }] }),
      ),
    ).toEqual({ kind: "opening" });
    expect(classifyOpeningEvent("openai-chat", ev(undefined, { ...head, choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }] }))).toEqual({
      kind: "content",
    });
    expect(
      classifyOpeningEvent("openai-chat", ev(undefined, { ...head, choices: [{ index: 0, delta: { tool_calls: [{ index: 0 }] }, finish_reason: null }] })),
    ).toEqual({ kind: "content" });
    expect(classifyOpeningEvent("openai-chat", ev(undefined, { ...head, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] }))).toEqual({
      kind: "content",
    });
    expect(classifyOpeningEvent("openai-chat", ev(undefined, "[DONE]"))).toEqual({ kind: "content" });
    expect(
      classifyOpeningEvent("openai-chat", ev(undefined, { error: { message: "Rate limit reached", type: "requests", code: "rate_limit_exceeded" } })),
    ).toEqual({
      kind: "error",
      error: { message: "Rate limit reached", code: "rate_limit_exceeded" },
    });
  });

  it("Chat: a chunk of text is content without a parse; an error member, or the same characters inside a string, still goes to the parse", () => {
    const head = { id: "c1", object: "chat.completion.chunk", created: 1, model: "m" };
    const parse = vi.spyOn(JSON, "parse");
    expect(classifyOpeningEvent("openai-chat", ev(undefined, { ...head, choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }] }))).toEqual({
      kind: "content",
    });
    // A content that starts with an (escaped) quote is not empty either.
    expect(classifyOpeningEvent("openai-chat", ev(undefined, { ...head, choices: [{ index: 0, delta: { content: '"Hi"' } }] }))).toEqual({ kind: "content" });
    expect(parse).not.toHaveBeenCalled();
    // Text next to an error member: the error wins, as the parse says.
    expect(classifyOpeningEvent("openai-chat", ev(undefined, { error: { message: "boom" }, choices: [{ index: 0, delta: { content: "partial" } }] }))).toEqual({
      kind: "error",
      error: { message: "boom", code: undefined },
    });
    // `"content":"x` written inside a string value is escaped there, so it does not end the hold.
    const roleOnly = { ...head, note: 'said "content":"x"', choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] };
    expect(classifyOpeningEvent("openai-chat", ev(undefined, roleOnly))).toEqual({ kind: "opening" });
    expect(parse).toHaveBeenCalledTimes(1);
  });

  it("Chat: the role-only first chunk as OpenAI and DeepSeek write it opens without a parse; other forms are parsed", () => {
    const head = { id: "c1", object: "chat.completion.chunk", created: 1, model: "m", service_tier: "default", system_fingerprint: "fp" };
    const parse = vi.spyOn(JSON, "parse");
    const openai = { index: 0, delta: { role: "assistant", content: "", refusal: null }, logprobs: null, finish_reason: null };
    const deepseek = { index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null };
    expect(classifyOpeningEvent("openai-chat", ev(undefined, { ...head, choices: [openai], usage: null }))).toEqual({ kind: "opening" });
    expect(classifyOpeningEvent("openai-chat", ev(undefined, { ...head, choices: [deepseek] }))).toEqual({ kind: "opening" });
    expect(parse).not.toHaveBeenCalled();
    // Members in another order, a second choice with text, a finish, or an error member: the parse decides.
    const reordered = { delta: { content: "", role: "assistant" }, index: 0, logprobs: null, finish_reason: null };
    expect(classifyOpeningEvent("openai-chat", ev(undefined, { ...head, choices: [reordered] }))).toEqual({ kind: "opening" });
    const second = { index: 1, delta: { role: "assistant", content: null, tool_calls: [{ index: 0, function: { name: "f" } }] }, finish_reason: null };
    expect(classifyOpeningEvent("openai-chat", ev(undefined, { ...head, choices: [openai, second] }))).toEqual({ kind: "content" });
    expect(classifyOpeningEvent("openai-chat", ev(undefined, { ...head, choices: [{ ...openai, finish_reason: "length" }] }))).toEqual({ kind: "content" });
    expect(classifyOpeningEvent("openai-chat", ev(undefined, { ...head, error: { message: "overloaded" }, choices: [openai] }))).toEqual({
      kind: "error",
      error: { message: "overloaded", code: undefined },
    });
    expect(parse).toHaveBeenCalledTimes(4);
  });

  it("Anthropic: message_start, ping and an empty block start open; a delta is content; event: error is an error", () => {
    expect(classifyOpeningEvent("anthropic", ev("message_start", { type: "message_start", message: { id: "msg_1", content: [] } }))).toEqual({
      kind: "opening",
    });
    expect(classifyOpeningEvent("anthropic", ev("ping", { type: "ping" }))).toEqual({ kind: "opening" });
    expect(
      classifyOpeningEvent("anthropic", ev("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } })),
    ).toEqual({ kind: "opening" });
    expect(
      classifyOpeningEvent(
        "anthropic",
        ev("content_block_start", { type: "content_block_start", index: 0, content_block: { type: "tool_use", id: "t", name: "x", input: {} } }),
      ),
    ).toEqual({ kind: "content" });
    expect(
      classifyOpeningEvent("anthropic", ev("content_block_delta", { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hi" } })),
    ).toEqual({ kind: "content" });
    expect(classifyOpeningEvent("anthropic", ev("error", { type: "error", error: { type: "overloaded_error", message: "Overloaded" } }))).toEqual({
      kind: "error",
      error: { message: "Overloaded", code: "overloaded_error" },
    });
  });

  it("Anthropic: an empty text or thinking block start as Anthropic writes it opens without a parse; other forms are parsed", () => {
    const parse = vi.spyOn(JSON, "parse");
    const start = (block: unknown) => ev("content_block_start", { type: "content_block_start", index: 0, content_block: block });
    expect(classifyOpeningEvent("anthropic", start({ type: "text", text: "" }))).toEqual({ kind: "opening" });
    expect(classifyOpeningEvent("anthropic", start({ type: "thinking", thinking: "" }))).toEqual({ kind: "opening" });
    expect(classifyOpeningEvent("anthropic", start({ type: "thinking", thinking: "", signature: "" }))).toEqual({ kind: "opening" });
    expect(parse).not.toHaveBeenCalled();
    // Text already in the block, another order, a tool block, or the block nested deeper: the parse decides.
    expect(classifyOpeningEvent("anthropic", start({ type: "text", text: "Hi" }))).toEqual({ kind: "content" });
    expect(classifyOpeningEvent("anthropic", start({ text: "", type: "text" }))).toEqual({ kind: "opening" });
    expect(classifyOpeningEvent("anthropic", start({ type: "tool_use", id: "t", name: "x", input: { content_block: { type: "text", text: "" } } }))).toEqual({
      kind: "content",
    });
    expect(parse).toHaveBeenCalledTimes(3);
  });

  it("Responses and Codex: the empty item and part added as OpenAI writes them open without a parse; other forms are parsed", () => {
    const parse = vi.spyOn(JSON, "parse");
    const itemAdded = (item: unknown) => ev("response.output_item.added", { type: "response.output_item.added", sequence_number: 2, output_index: 0, item });
    const partAdded = (part: unknown) =>
      ev("response.content_part.added", { type: "response.content_part.added", sequence_number: 3, item_id: "msg_1", output_index: 0, content_index: 0, part });
    const message = { id: "msg_1", type: "message", status: "in_progress", content: [], role: "assistant" };
    const reasoning = { id: "rs_1", type: "reasoning", summary: [] };
    const part = { type: "output_text", annotations: [], logprobs: [], text: "" };
    for (const p of ["openai-responses", "codex"] as const) {
      expect(classifyOpeningEvent(p, itemAdded(message))).toEqual({ kind: "opening" });
      expect(classifyOpeningEvent(p, itemAdded(reasoning))).toEqual({ kind: "opening" });
      expect(classifyOpeningEvent(p, partAdded(part))).toEqual({ kind: "opening" });
      expect(classifyOpeningEvent(p, partAdded({ type: "output_text", annotations: [], text: "" }))).toEqual({ kind: "opening" });
    }
    expect(parse).not.toHaveBeenCalled();
    // Another order, a reasoning item with more, text already in the part, the item nested deeper, or the
    // shape under another event's name: the parse decides.
    expect(classifyOpeningEvent("codex", itemAdded({ ...message, id: undefined, status: "in_progress", extra: 1 }))).toEqual({ kind: "opening" });
    expect(classifyOpeningEvent("codex", itemAdded({ ...reasoning, encrypted_content: "gAAA" }))).toEqual({ kind: "opening" });
    expect(classifyOpeningEvent("codex", partAdded({ ...part, text: "Hi" }))).toEqual({ kind: "content" });
    const nested = ev("response.output_item.added", {
      type: "response.output_item.added",
      item: { type: "function_call", name: "f", wrapper: { item: message } },
    });
    expect(classifyOpeningEvent("codex", nested)).toEqual({ kind: "content" });
    const failed = ev("response.failed", { type: "response.failed", response: { status: "failed", error: { code: "server_error", message: "boom" } }, part });
    expect(classifyOpeningEvent("codex", failed)).toEqual({ kind: "error", error: { message: "boom", code: "server_error" } });
    expect(parse).toHaveBeenCalledTimes(5);
  });

  it("Responses and Codex: created, in_progress and empty adds open; a delta is content; response.failed and error are errors", () => {
    for (const p of ["openai-responses", "codex"] as const) {
      expect(classifyOpeningEvent(p, ev("response.created", { type: "response.created", response: { status: "in_progress" } }))).toEqual({ kind: "opening" });
      expect(classifyOpeningEvent(p, ev("response.in_progress", { type: "response.in_progress" }))).toEqual({ kind: "opening" });
      expect(
        classifyOpeningEvent(
          p,
          ev("response.output_item.added", { type: "response.output_item.added", item: { type: "message", content: [], role: "assistant" } }),
        ),
      ).toEqual({ kind: "opening" });
      expect(
        classifyOpeningEvent(
          p,
          ev("response.output_item.added", { type: "response.output_item.added", item: { type: "function_call", name: "x", arguments: "" } }),
        ),
      ).toEqual({ kind: "content" });
      expect(classifyOpeningEvent(p, ev("response.output_text.delta", { type: "response.output_text.delta", delta: "Hi" }))).toEqual({ kind: "content" });
      expect(
        classifyOpeningEvent(
          p,
          ev("response.failed", { type: "response.failed", response: { status: "failed", error: { code: "server_error", message: "boom" } } }),
        ),
      ).toEqual({ kind: "error", error: { message: "boom", code: "server_error" } });
      expect(
        classifyOpeningEvent(p, ev("error", { type: "error", code: "rate_limit_exceeded", message: "slow down", param: null, sequence_number: 2 })),
      ).toEqual({
        kind: "error",
        error: { message: "slow down", code: "rate_limit_exceeded" },
      });
      // The terminal events are the answer itself: never held.
      expect(classifyOpeningEvent(p, ev("response.completed", { type: "response.completed" }))).toEqual({ kind: "content" });
    }
  });
});
