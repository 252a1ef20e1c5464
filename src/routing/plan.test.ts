import { describe, expect, it } from "vitest";
import { laneFor } from "./plan.js";

describe("laneFor: the one place a lane is decided", () => {
  it("passes same-protocol traffic through, the Codex backend counting as Responses", () => {
    expect(laneFor("openai-chat", "openai-chat", false)).toBe("passthrough");
    expect(laneFor("anthropic-messages", "anthropic", false)).toBe("passthrough");
    expect(laneFor("openai-responses", "openai-responses", false)).toBe("passthrough");
    expect(laneFor("openai-responses", "codex", true)).toBe("passthrough");
  });

  it("translates across protocols", () => {
    expect(laneFor("openai-chat", "anthropic", true)).toBe("translate");
    expect(laneFor("anthropic-messages", "codex", true)).toBe("translate");
    expect(laneFor("openai-responses", "openai-chat", false)).toBe("translate");
  });

  it("folds a stream-only upstream's answer for a client that did not ask to stream", () => {
    expect(laneFor("openai-responses", "codex", false)).toBe("translate");
  });
});
