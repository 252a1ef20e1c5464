/**
 * Free-form (`custom`) tools through the Responses codec: decoded into canonical
 * function tools whose calls carry `{"input": text}`, re-encoded as the same
 * custom tool and custom_tool_call items, and streamed back to a Responses client
 * as custom_tool_call with raw text, whichever upstream produced the call.
 */
import { describe, expect, it } from "vitest";
import { decodeResponsesRequest } from "./decode-request.js";
import { encodeResponsesRequest } from "./encode-request.js";
import { encodeResponsesResponse } from "./response.js";
import { decodeEvents, encodeParts, sse, testCtx } from "./test-support.js";
import { validateResponsesStream } from "./validate.js";

const PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n";
const applyPatch = {
  type: "custom",
  name: "apply_patch",
  description: "Edit files.",
  format: { type: "grammar", syntax: "lark", definition: 'start: "*** Begin Patch"' },
};
const body = {
  model: "m",
  tools: [applyPatch],
  tool_choice: { type: "custom", name: "apply_patch" },
  input: [
    { type: "message", role: "user", content: [{ type: "input_text", text: "edit" }] },
    { type: "custom_tool_call", call_id: "call_1", name: "apply_patch", input: PATCH },
    { type: "custom_tool_call_output", call_id: "call_1", output: "Done" },
  ],
};

describe("free-form tools in the Responses codec", () => {
  it("decodes the tool into a one-string-field function, and calls and outputs into ordinary parts", () => {
    const req = decodeResponsesRequest(body);
    const tool = req.tools![0]!;
    expect(tool).toMatchObject({ type: "function", name: "apply_patch", description: "Edit files.", freeform: { format: applyPatch.format } });
    expect(tool.type === "function" && tool.parameters).toMatchObject({ type: "object", required: ["input"] });
    expect(JSON.stringify(tool)).toContain("*** Begin Patch");
    expect(req.toolChoice).toEqual({ name: "apply_patch" });
    expect(req.messages[1]!.content).toEqual([
      { type: "tool-call", callId: "call_1", name: "apply_patch", arguments: JSON.stringify({ input: PATCH }), freeform: true },
    ]);
    expect(req.messages[2]!.content).toEqual([{ type: "tool-result", callId: "call_1", content: "Done" }]);
  });

  it("encodes them back as the same custom tool, tool_choice and items", () => {
    const ctx = testCtx();
    const wire = encodeResponsesRequest(decodeResponsesRequest(body), ctx);
    expect(wire.tools).toEqual([applyPatch]);
    expect(wire.tool_choice).toEqual({ type: "custom", name: "apply_patch" });
    expect(wire.input.slice(1)).toEqual(body.input.slice(1));
  });

  it("streams a call of a free-form tool as custom_tool_call with the raw text", () => {
    const ctx = testCtx();
    ctx.clientRequest = decodeResponsesRequest(body);
    const args = JSON.stringify({ input: PATCH });
    const events = encodeParts(
      [
        { type: "response-start", meta: { id: "resp_1", model: "m", created: 1 } },
        { type: "tool-call-start", id: "c", callId: "toolu_1", name: "apply_patch" },
        { type: "tool-call-delta", id: "c", delta: args.slice(0, 9) },
        { type: "tool-call-delta", id: "c", delta: args.slice(9) },
        { type: "tool-call-end", id: "c", arguments: args },
        { type: "finish", reason: "tool-calls" },
      ],
      ctx,
    );
    expect(validateResponsesStream(events)).toEqual([]);
    const done = events.find((e) => (e.data as { type: string }).type === "response.output_item.done")!.data as { item: Record<string, unknown> };
    expect(done.item).toEqual({ type: "custom_tool_call", id: expect.stringMatching(/^ctc_/), call_id: "toolu_1", name: "apply_patch", input: PATCH });
    expect(events.map((e) => (e.data as { type: string }).type)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.custom_tool_call_input.delta",
      "response.custom_tool_call_input.done",
      "response.output_item.done",
      "response.completed",
    ]);
  });

  it("sends the text that arrived when a call is cut off, and nothing for empty arguments, never JSON", () => {
    const inputOf = (parts: Parameters<typeof encodeParts>[0]): unknown => {
      const ctx = testCtx();
      ctx.clientRequest = decodeResponsesRequest(body);
      const events = encodeParts([{ type: "response-start", meta: { id: "resp_c", model: "m", created: 1 } }, ...parts], ctx);
      expect(validateResponsesStream(events)).toEqual([]);
      return (events.find((e) => (e.data as { type: string }).type === "response.output_item.done")!.data as { item: { input: unknown } }).item.input;
    };
    const cut = JSON.stringify({ input: PATCH }).slice(0, 30); // {"input":"*** Begin Patch\n***
    expect(
      inputOf([
        { type: "tool-call-start", id: "c", callId: "k", name: "apply_patch" },
        { type: "tool-call-delta", id: "c", delta: cut },
        { type: "finish", reason: "length" },
      ]),
    ).toBe("*** Begin Patch\n***");
    expect(
      inputOf([
        { type: "tool-call-start", id: "c", callId: "k", name: "apply_patch" },
        { type: "tool-call-end", id: "c", arguments: "{}" },
        { type: "finish", reason: "tool-calls" },
      ]),
    ).toBe("");
  });

  it("keeps a namespaced custom call's namespace, and leaves a tool_choice naming an undeclared custom tool to the upstream", () => {
    const item = { type: "custom_tool_call", call_id: "call_2", namespace: "editing", name: "apply_patch", input: PATCH };
    const wire = encodeResponsesRequest(decodeResponsesRequest({ model: "m", input: [item] }), testCtx());
    expect(wire.input).toEqual([item]);
    const choice = { type: "custom", name: "not_declared" };
    const req = decodeResponsesRequest({ model: "m", input: "x", tools: [applyPatch], tool_choice: choice });
    expect(req.toolChoice).toBeUndefined();
    expect(encodeResponsesRequest(req, testCtx()).tool_choice).toEqual(choice);
  });

  it("answers a non-streaming client with a custom_tool_call item", () => {
    const ctx = testCtx();
    ctx.clientRequest = decodeResponsesRequest(body);
    const res = encodeResponsesResponse(
      {
        meta: { id: "resp_2", model: "m", created: 1 },
        content: [{ type: "tool-call", callId: "toolu_2", name: "apply_patch", arguments: JSON.stringify({ input: PATCH }) }],
        finishReason: "tool-calls",
        usage: { inputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, outputTokens: 1, reasoningTokens: 0 },
      },
      ctx,
    );
    expect(res.output).toEqual([{ type: "custom_tool_call", id: expect.stringMatching(/^ctc_/), call_id: "toolu_2", name: "apply_patch", input: PATCH }]);
  });

  it("decodes an upstream's custom_tool_call stream into one tool call carrying {input}", () => {
    const parts = decodeEvents([
      sse("response.created", { response: { id: "resp_3", model: "m", created_at: 1 } }),
      sse("response.output_item.added", {
        output_index: 0,
        item: { id: "ctc_1", type: "custom_tool_call", call_id: "call_9", name: "apply_patch", input: "" },
      }),
      sse("response.custom_tool_call_input.delta", { output_index: 0, item_id: "ctc_1", delta: PATCH.slice(0, 10) }),
      sse("response.custom_tool_call_input.delta", { output_index: 0, item_id: "ctc_1", delta: PATCH.slice(10) }),
      sse("response.custom_tool_call_input.done", { output_index: 0, item_id: "ctc_1", input: PATCH }),
      sse("response.output_item.done", {
        output_index: 0,
        item: { id: "ctc_1", type: "custom_tool_call", call_id: "call_9", name: "apply_patch", input: PATCH },
      }),
      sse("response.completed", { response: { id: "resp_3", status: "completed", output: [] } }),
    ]);
    const args = parts.flatMap((p) => (p.type === "tool-call-delta" ? [p.delta] : [])).join("");
    expect(JSON.parse(args)).toEqual({ input: PATCH });
    expect(parts.find((p) => p.type === "tool-call-start")).toMatchObject({ callId: "call_9", name: "apply_patch" });
    expect(parts.find((p) => p.type === "tool-call-end")).toMatchObject({ arguments: args });
    expect(parts.at(-1)).toEqual({ type: "finish", reason: "tool-calls" });
  });
});

describe("validateResponsesStream on custom tool calls", () => {
  const ctx = testCtx();
  ctx.clientRequest = decodeResponsesRequest(body);
  const events = encodeParts(
    [
      { type: "tool-call-start", id: "c", callId: "k", name: "apply_patch" },
      { type: "tool-call-end", id: "c", arguments: JSON.stringify({ input: PATCH }) },
      { type: "finish", reason: "tool-calls" },
    ],
    ctx,
  );
  const typeOf = (e: (typeof events)[number]) => (e.data as { type: string }).type;

  it("rejects an item done before its input is done, and an input that differs from the deltas", () => {
    expect(validateResponsesStream(events)).toEqual([]);
    const noDone = events.filter((e) => typeOf(e) !== "response.custom_tool_call_input.done");
    expect(validateResponsesStream(noDone).some((m) => m.includes("before custom_tool_call_input.done"))).toBe(true);
    const changed = events.map((e) => (typeOf(e) === "response.custom_tool_call_input.done" ? { ...e, data: { ...(e.data as object), input: "other" } } : e));
    expect(validateResponsesStream(changed).some((m) => m.includes("input differs from the deltas"))).toBe(true);
  });
});
