/**
 * A real Claude Code 2.1.197 turn (after a Bash tool_use) from
 * __fixtures__/claude-toolcall: decode must accept it and an
 * Anthropic upstream must get the same body back.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { anthropicClientCodec, anthropicUpstreamCodec } from "./index.js";
import { ctxFor, FIXTURES } from "./test-support.js";

interface Capture {
  url: string;
  body: Record<string, unknown>;
}

const capture = JSON.parse(readFileSync(new URL("claude-toolcall/003-POST-v1_messages.json", FIXTURES), "utf8")) as Capture;

describe("Claude Code tool-call turn", () => {
  const req = anthropicClientCodec.decodeRequest(capture.body);

  it("decodes into the canonical model", () => {
    expect(req.model).toBe("claude-opus-4-8");
    expect(req.stream).toBe(true);
    expect(req.maxOutputTokens).toBe(64000);
    expect(req.reasoning).toEqual({ adaptive: true, effort: "high" });
    expect(req.messages.map((m) => m.role)).toEqual(["system", "user", "system", "assistant", "tool"]);
    expect(req.messages[3]?.content).toEqual([
      { type: "tool-call", callId: "toolu_mock0001", name: "Bash", arguments: '{"command":"echo hello-from-mock","description":"Print a greeting"}' },
    ]);
    expect(req.messages[4]?.content[0]).toMatchObject({ type: "tool-result", callId: "toolu_mock0001", cacheControl: { type: "ephemeral" } });
    expect(req.tools).toHaveLength(24);
    expect(JSON.stringify(req.extensions?.["anthropic-messages"]?.metadata)).toContain("session_id");
    expect(req.user).toBeUndefined();
  });

  it("re-encodes for an Anthropic upstream without loss, less the per-request billing block", () => {
    const ctx = ctxFor(req.model);
    const out = anthropicUpstreamCodec.encodeRequest(req, ctx);
    for (const key of ["model", "messages", "tools", "metadata", "max_tokens", "thinking", "context_management", "output_config", "stream"]) {
      expect(out[key], key).toEqual(capture.body[key]);
    }
    // Decoding drops Claude Code's attribution block (its hash changes every request); the
    // passthrough lane, which never decodes, still gives Anthropic the original bytes.
    const system = capture.body.system as Array<{ text: string }>;
    expect(system[0]!.text.startsWith("x-anthropic-billing-header:")).toBe(true);
    expect(out.system).toEqual(system.slice(1));
    expect(Object.keys(out).sort()).toEqual(Object.keys(capture.body).sort());
    expect(ctx.warnings).toEqual([]);
  });
});
