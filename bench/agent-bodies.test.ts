import { describe, expect, it } from "vitest";
import { buildClaudeBody, buildCodexBody, buildWorkloadBody, streamEnd } from "./agent-bodies.js";
import { WORKLOADS } from "./settings.js";

const parse = (b: Buffer): Record<string, unknown> => JSON.parse(b.toString("utf8")) as Record<string, unknown>;

describe("agent-shaped bodies", () => {
  it("builds a ~40 KB Codex CLI turn with the capture's field order, items and tools", () => {
    const { bytes, nonAsciiBytes } = buildCodexBody({ stream: true, model: "gpt-5-codex" });
    expect(bytes.length).toBeGreaterThan(38_000);
    expect(bytes.length).toBeLessThan(42_000);
    expect(nonAsciiBytes).toBeGreaterThan(1000);
    const body = parse(bytes);
    expect(Object.keys(body)).toEqual([
      "model",
      "stream",
      "input",
      "tools",
      "tool_choice",
      "parallel_tool_calls",
      "reasoning",
      "store",
      "include",
      "prompt_cache_key",
      "client_metadata",
    ]);
    expect((body.input as Array<{ role: string }>).map((i) => i.role)).toEqual(["developer", "developer", "user", "user"]);
    expect(body.tools).toHaveLength(9);
  });

  it("builds a ~76 KB Claude Code turn: three system blocks, 24 tools, a mid-conversation system message", () => {
    const { bytes } = buildClaudeBody({ stream: false, model: "claude-opus-4-8" });
    expect(bytes.length).toBeGreaterThan(74_000);
    expect(bytes.length).toBeLessThan(79_000);
    const body = parse(bytes);
    expect(body.system).toHaveLength(3);
    expect(body.tools).toHaveLength(24);
    expect((body.messages as Array<{ role: string }>).map((m) => m.role)).toEqual(["user", "system"]);
    expect(body).toMatchObject({ stream: false, max_tokens: 64_000, thinking: { type: "adaptive" } });
  });

  it("is deterministic and carries no mock directive, for every workload", () => {
    for (const w of WORKLOADS) {
      const a = buildWorkloadBody(w.body, w.stream, w.model).bytes;
      expect(a.equals(buildWorkloadBody(w.body, w.stream, w.model).bytes)).toBe(true);
      expect(a.includes("[[mock:")).toBe(false);
      expect(parse(a)).toMatchObject({ model: w.model, stream: w.stream });
    }
  });

  it("knows how each client protocol's stream ends", () => {
    expect(streamEnd("/v1/chat/completions")).toBe("data: [DONE]");
    expect(streamEnd("/v1/responses")).toBe("event: response.completed");
    expect(streamEnd("/v1/messages")).toBe("event: message_stop");
  });

  it("pairs every translate workload with a passthrough twin sending the same body", () => {
    for (const w of WORKLOADS.filter((x) => x.lane === "translate")) {
      const twin = WORKLOADS.find((x) => x.name === w.twin);
      expect(twin).toMatchObject({ lane: "passthrough", body: w.body, stream: w.stream, path: w.path });
    }
  });
});
