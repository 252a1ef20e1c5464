import { describe, expect, it } from "vitest";
import { estimateTokens } from "./estimate.js";
import { parseBody } from "./request-body.js";

const est = (body: Record<string, unknown>, def?: number) => {
  const raw = Buffer.from(JSON.stringify(body));
  return { raw, e: estimateTokens(parseBody(raw), def) };
};

describe("the token estimate", () => {
  it("takes the output from the request's own cap, in each protocol's name", () => {
    expect(est({ model: "m", max_tokens: 77 }).e.outputTokens).toBe(77);
    expect(est({ model: "m", max_completion_tokens: 88 }).e.outputTokens).toBe(88);
    expect(est({ model: "m", max_output_tokens: 99 }).e.outputTokens).toBe(99);
  });

  it("falls back to the configured default when the request names no usable cap", () => {
    expect(est({ model: "m" }, 1234).e.outputTokens).toBe(1234);
    expect(est({ model: "m", max_tokens: null }, 1234).e.outputTokens).toBe(1234);
    expect(est({ model: "m", max_tokens: "50" }, 1234).e.outputTokens).toBe(1234);
    expect(est({ model: "m", max_tokens: -5, max_output_tokens: 0 }, 1234).e.outputTokens).toBe(1234);
    expect(est({ model: "m" }).e.outputTokens).toBe(4096);
  });

  it("counts the input as the body's bytes / 4, rounded up, multi-byte text by its bytes", () => {
    const { raw, e } = est({ model: "m", messages: [{ role: "user", content: "héllo wörld ✓ ".repeat(20) }] });
    expect(e.inputTokens).toBe(Math.ceil(raw.length / 4));
    expect(raw.length).toBeGreaterThan(JSON.stringify({ model: "m", messages: [{ role: "user", content: "héllo wörld ✓ ".repeat(20) }] }).length);
  });
});
