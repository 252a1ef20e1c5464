import { describe, expect, it } from "vitest";
import { ResponsesConversation } from "./responses-conversation.js";

describe("ResponsesConversation", () => {
  const user = (text: string) => ({ role: "user", content: text });

  it("rebuilds a follow-up from the last request and its output, without server-side item ids", () => {
    const c = new ResponsesConversation();
    const first = c.turn({ model: "m", instructions: "i", input: [user("one")] }, undefined);
    expect(first).toEqual({ kind: "turn", body: { model: "m", instructions: "i", input: [user("one")] } });
    c.completed({ model: "m", instructions: "i", input: [user("one")] }, "resp_1", [{ id: "msg_1", type: "message", role: "assistant", content: [] }]);
    const next = c.turn({ input: [user("two")] }, "resp_1");
    expect(next).toEqual({
      kind: "turn",
      body: { model: "m", instructions: "i", input: [user("one"), { type: "message", role: "assistant", content: [] }, user("two")] },
      chained: { fields: { model: "m", instructions: "i", input: [user("two")] }, previousId: "resp_1" },
    });
  });

  it("knows only the last response; null means none", () => {
    const c = new ResponsesConversation();
    expect(c.turn({ input: [] }, "resp_x")).toEqual({ kind: "unknown_previous", previous: "resp_x" });
    c.completed({ model: "m", input: [] }, "resp_1", []);
    c.completed({ model: "m", input: [] }, "resp_2", []);
    expect(c.turn({ input: [] }, "resp_1").kind).toBe("unknown_previous");
    expect(c.turn({ model: "m", input: [] }, null)).toEqual({ kind: "turn", body: { model: "m", input: [] } });
  });
});
