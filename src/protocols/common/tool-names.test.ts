import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { sanitizeToolUseId, shortenCallId, shortenToolNames } from "./tool-names.js";

const VALID = /^[a-zA-Z0-9_-]{1,64}$/;

describe("shortenToolNames", () => {
  it("keeps valid names and shortens MCP names to their last segment", () => {
    const long = `mcp__${"x".repeat(70)}__search_documents`;
    const map = shortenToolNames(["Bash", long]);
    expect(map.get("Bash")).toBe("Bash");
    expect(map.get(long)).toBe("mcp__search_documents");
  });

  it("makes namespaced names wire-valid without clashing with an existing name", () => {
    const map = shortenToolNames(["multi_agent_v1_close_agent", "multi_agent_v1.close_agent"]);
    expect(map.get("multi_agent_v1_close_agent")).toBe("multi_agent_v1_close_agent");
    expect(map.get("multi_agent_v1.close_agent")).toBe("multi_agent_v1_close_agent_1");
  });

  it("always yields distinct valid names, one per distinct input", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: 120 }), { maxLength: 12 }), (names) => {
        const map = shortenToolNames(names);
        const wire = [...map.values()];
        for (const w of wire) expect(w).toMatch(VALID);
        expect(new Set(wire).size).toBe(new Set(names).size);
      }),
    );
  });
});

describe("call ids", () => {
  it("shortens long ids deterministically and sanitizes for Anthropic", () => {
    const id = "call_" + "a".repeat(80);
    expect(shortenCallId(id)).toHaveLength(64);
    expect(shortenCallId(id)).toBe(shortenCallId(id));
    expect(shortenCallId("call_1")).toBe("call_1");
    expect(sanitizeToolUseId("fc.1/2")).toBe("fc_1_2");
  });
});
