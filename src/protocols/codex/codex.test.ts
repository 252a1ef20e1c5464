import { describe, expect, it } from "vitest";
import type { CanonicalRequest } from "../../canonical/request.js";
import { decodeResponsesRequest } from "../openai-responses/decode-request.js";
import { decodeEvents, loadFixtureBody, sse, testCtx } from "../openai-responses/test-support.js";
import { foldStream } from "../common/fold-stream.js";
import { codexPassthroughPatch, codexRequestHeaders, codexUpstreamCodec, CODEX_STRIPPED_FIELDS } from "./index.js";

const CAPTURES = ["codex/001-POST-v1_responses.json", "codex-toolcall/001-POST-v1_responses.json", "codex-toolcall/002-POST-v1_responses.json"];

describe("codexPassthroughPatch", () => {
  for (const rel of CAPTURES) {
    it(`passes the Codex CLI's own request through unchanged (${rel})`, () => {
      const body = loadFixtureBody(rel);
      const { body: out, warnings } = codexPassthroughPatch(body);
      expect(warnings).toEqual([]);
      // The CLI (custom provider) omits instructions; the backend requires the field.
      expect(out).toEqual({ ...body, instructions: typeof body.instructions === "string" ? body.instructions : "" });
      expect(out.input).toBe(body.input);
      expect(out.tools).toBe(body.tools);
    });
  }

  it("strips every unsupported field the client set, each with a warning", () => {
    const body: Record<string, unknown> = { model: "gpt-5", input: [], store: true, stream: false };
    for (const f of CODEX_STRIPPED_FIELDS) body[f] = f === "service_tier" ? "flex" : 1;
    const { body: out, warnings } = codexPassthroughPatch(body);
    expect(out).toEqual({ model: "gpt-5", input: [], store: false, stream: true, instructions: "", include: ["reasoning.encrypted_content"] });
    expect(warnings.filter((w) => w.code === "unsupported_parameter").map((w) => w.field)).toEqual([...CODEX_STRIPPED_FIELDS]);
    expect(warnings).toContainEqual(expect.objectContaining({ code: "forced_parameter", field: "store" }));
    expect(body.temperature).toBe(1);
  });

  it("keeps service_tier priority and existing include values", () => {
    const { body, warnings } = codexPassthroughPatch({
      model: "m",
      input: [],
      store: false,
      stream: true,
      instructions: "x",
      service_tier: "priority",
      include: ["web_search_call.results"],
    });
    expect(body.service_tier).toBe("priority");
    expect(body.include).toEqual(["web_search_call.results", "reasoning.encrypted_content"]);
    expect(warnings).toEqual([]);
  });

  it("rewrites system to developer, strips prompt_cache_breakpoint and id'd reasoning without a blob", () => {
    const keep = { type: "reasoning", id: "rs_2", summary: [], encrypted_content: "gAAAAok" };
    const { body, warnings } = codexPassthroughPatch({
      model: "m",
      input: [
        { role: "system", content: "be nice" },
        { type: "message", role: "user", content: [{ type: "input_text", text: "hi", prompt_cache_breakpoint: { mode: "explicit" } }] },
        { type: "reasoning", id: "rs_1", summary: [] },
        keep,
      ],
    });
    expect(body.input).toEqual([
      { role: "developer", content: "be nice" },
      { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] },
      keep,
    ]);
    expect(warnings.map((w) => w.code)).toEqual(["unsupported_parameter", "reasoning_dropped"]);
  });
});

describe("codexUpstreamCodec", () => {
  it("only streams", () => {
    expect(codexUpstreamCodec.protocol).toBe("codex");
    expect(codexUpstreamCodec.supportsNonStream).toBe(false);
  });

  it("encodes an Anthropic-shaped request under the backend's rules, warning about what it strips", () => {
    const ctx = testCtx();
    const req: CanonicalRequest = {
      model: "gpt-5-codex",
      stream: false,
      maxOutputTokens: 32000,
      temperature: 1,
      messages: [
        { role: "system", content: [{ type: "text", text: "You are Claude Code." }] },
        { role: "user", content: [{ type: "text", text: "hi" }] },
      ],
      reasoning: { budgetTokens: 10000 },
      promptCacheKey: "sess-1",
    };
    const body = codexUpstreamCodec.encodeRequest(req, ctx);
    expect(body).toEqual({
      model: "gpt-5-codex",
      instructions: "",
      input: [
        { type: "message", role: "developer", content: [{ type: "input_text", text: "You are Claude Code." }] },
        { type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] },
      ],
      reasoning: { effort: "high", summary: "auto" },
      store: false,
      stream: true,
      include: ["reasoning.encrypted_content"],
      prompt_cache_key: "sess-1",
    });
    expect(ctx.warnings.map((w) => w.field)).toEqual(["max_output_tokens", "temperature"]);
  });

  it("sends a Responses client's system input as developer and keeps its instructions", () => {
    const req = decodeResponsesRequest({
      model: "m",
      instructions: "base",
      input: [
        { role: "system", content: "s" },
        { role: "user", content: "u" },
      ],
      store: true,
    });
    const ctx = testCtx();
    const body = codexUpstreamCodec.encodeRequest(req, ctx);
    expect(body.instructions).toBe("base");
    expect((body.input as Array<{ role: string }>).map((i) => i.role)).toEqual(["developer", "user"]);
    expect(body.store).toBe(false);
    expect(ctx.warnings).toContainEqual(expect.objectContaining({ field: "store" }));
  });

  it("translates the Codex capture without warnings and without item ids", () => {
    const ctx = testCtx();
    const body = codexUpstreamCodec.encodeRequest(decodeResponsesRequest(loadFixtureBody(CAPTURES[2]!)), ctx);
    expect(ctx.warnings).toEqual([]);
    expect((body.input as Array<Record<string, unknown>>).every((i) => !("id" in i))).toBe(true);
    expect(body).toMatchObject({ store: false, stream: true, instructions: "" });
  });

  it("folds a stream whose completed event has an empty output from output_item.done", () => {
    const ctx = testCtx();
    const parts = [
      sse("response.created", { response: { id: "resp_c", model: "gpt-5-codex", created_at: 9, output: [] } }),
      sse("response.output_item.added", { output_index: 0, item: { id: "msg_c", type: "message", role: "assistant", content: [] } }),
      sse("response.output_item.done", {
        output_index: 0,
        item: { id: "msg_c", type: "message", role: "assistant", content: [{ type: "output_text", text: "done" }] },
      }),
      sse("response.completed", { response: { id: "resp_c", status: "completed", output: [], usage: { input_tokens: 7, output_tokens: 1 } } }),
    ];
    const d = codexUpstreamCodec.createStreamDecoder(ctx);
    const res = foldStream([...parts.flatMap((e) => d.push(e)), ...d.end()]);
    expect(res.content).toEqual([{ type: "text", text: "done" }]);
    expect(res.usage.inputTokens).toBe(7);
    expect(decodeEvents(parts, ctx)).toEqual(decodeEvents(parts, testCtx()));
  });

  it("decodes the backend's detail errors", () => {
    expect(codexUpstreamCodec.decodeError(400, '{"detail":"Store must be set to false"}')).toMatchObject({
      kind: "invalid_request",
      message: "Store must be set to false",
    });
  });
});

describe("codexRequestHeaders", () => {
  it("builds the non-credential headers of docs/protocols.md#codex-headers", () => {
    expect(codexRequestHeaders({ accountId: "acc-1", sessionId: "s-1" })).toEqual({
      "chatgpt-account-id": "acc-1",
      originator: "codex_cli_rs",
      session_id: "s-1",
      accept: "text/event-stream",
      "content-type": "application/json",
    });
    expect(codexRequestHeaders({ accountId: "a", originator: "codex_exec" })).not.toHaveProperty("session_id");
  });
});
