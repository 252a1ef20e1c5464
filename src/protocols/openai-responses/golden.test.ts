/**
 * Golden: a real Codex CLI 0.169.0 request (turn 2, after a function call),
 * captured in ./__fixtures__, decoded and re-encoded for a Responses upstream.
 */
import { describe, expect, it } from "vitest";
import { decodeResponsesRequest } from "./decode-request.js";
import { encodeResponsesRequest } from "./encode-request.js";
import { loadFixtureBody, testCtx } from "./test-support.js";

const FIXTURE = "codex-toolcall/002-POST-v1_responses.json";

/** What a stateless re-encode must produce: the same items minus storage ids and item statuses. */
function withoutStorageFields(items: unknown[]): unknown[] {
  return items.map((item) => {
    const { id: _id, status: _status, ...rest } = item as Record<string, unknown>;
    return rest;
  });
}

describe("every captured Codex CLI request decodes and re-encodes without warnings", () => {
  for (const rel of ["codex/001-POST-v1_responses.json", "codex-toolcall/001-POST-v1_responses.json", FIXTURE]) {
    it(rel, () => {
      const body = loadFixtureBody(rel);
      const ctx = testCtx();
      const out = encodeResponsesRequest(decodeResponsesRequest(body), ctx);
      expect(ctx.warnings).toEqual([]);
      expect(JSON.stringify(out.tools)).toBe(JSON.stringify(body.tools));
      expect(out.input).toEqual(withoutStorageFields(body.input as unknown[]));
    });
  }
});

describe("Codex CLI capture → canonical → Responses upstream", () => {
  const body = loadFixtureBody(FIXTURE);

  it("resolves the fixture from the repository root", () => {
    expect(body.model).toBe("gpt-5-codex");
  });

  it("decodes without loss of anything a Responses upstream needs", () => {
    const req = decodeResponsesRequest(body);
    expect(req.messages.map((m) => m.role)).toEqual(["developer", "developer", "user", "user", "assistant", "tool"]);
    expect(req.tools?.map((t) => (t.type === "function" ? t.name : `builtin:${t.kind}`))).toContain("builtin:namespace");
    expect(req.tools?.map((t) => (t.type === "function" ? t.name : `builtin:${t.kind}`))).toContain("builtin:web_search");
    expect(req.promptCacheKey).toBe(body.prompt_cache_key);
  });

  it("re-encodes tools (incl. namespace and web_search), items, cache key, client_metadata, include and reasoning", () => {
    const ctx = testCtx("gpt-5-codex");
    const out = encodeResponsesRequest(decodeResponsesRequest(body), ctx);
    expect(JSON.stringify(out.tools)).toBe(JSON.stringify(body.tools));
    expect(out.input).toEqual(withoutStorageFields(body.input as unknown[]));
    expect(out.prompt_cache_key).toBe(body.prompt_cache_key);
    expect(out.client_metadata).toEqual(body.client_metadata);
    expect(out.include).toEqual(body.include);
    expect(out.reasoning).toEqual(body.reasoning);
    expect(out.text).toEqual(body.text);
    expect(out).toMatchObject({ model: body.model, stream: true, store: false, tool_choice: "auto", parallel_tool_calls: true });
    expect(Object.keys(out).sort()).toEqual(Object.keys(body).sort());
    expect(ctx.warnings).toEqual([]);
  });
});
