import { describe, expect, it } from "vitest";
import { validateChatStream } from "./validate.js";

type Ev = { event?: string; data: unknown };
const base = { id: "c1", object: "chat.completion.chunk", created: 1, model: "m" };
const c = (delta: Record<string, unknown>, finish: string | null = null, extra: Record<string, unknown> = {}): Ev => ({
  data: { ...base, choices: [{ index: 0, delta, finish_reason: finish }], ...extra },
});
const role = c({ role: "assistant", content: "" });
const fin = c({}, "stop");
const done: Ev = { data: "[DONE]" };
const usage: Ev = { data: { ...base, choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } } };
const tool0 = c({ tool_calls: [{ index: 0, id: "call_1", type: "function", function: { name: "f", arguments: "" } }] });

describe("validateChatStream", () => {
  it("accepts a well-formed stream", () => {
    expect(validateChatStream([role, c({ content: "hi" }), tool0, c({ tool_calls: [{ index: 0, function: { arguments: "{}" } }] }), fin, usage, done])).toEqual(
      [],
    );
  });

  const bad: Array<[string, Ev[], string]> = [
    ["an event name", [{ event: "chunk", data: role.data }, fin, done], "no event name"],
    ["a changing id", [role, { data: { ...base, id: "c2", choices: [{ index: 0, delta: {}, finish_reason: "stop" }] } }, done], "differ"],
    [
      "a wrong object",
      [{ data: { ...base, object: "chat.completion", choices: [{ index: 0, delta: { role: "assistant" }, finish_reason: "stop" }] } }, done],
      "object must be",
    ],
    ["a first chunk without role", [c({ content: "x" }), fin, done], "role"],
    [
      "a first tool fragment without a name",
      [role, c({ tool_calls: [{ index: 0, id: "x", type: "function", function: { arguments: "" } }] }), fin, done],
      "needs function.name",
    ],
    ["a first tool fragment without an id", [role, c({ tool_calls: [{ index: 0, type: "function", function: { name: "f" } }] }), fin, done], "needs an id"],
    ["out-of-order tool indexes", [role, c({ tool_calls: [{ index: 1, id: "x", type: "function", function: { name: "f" } }] }), fin, done], "out of order"],
    ["a repeated id", [role, tool0, c({ tool_calls: [{ index: 0, id: "call_1", function: { arguments: "{}" } }] }), fin, done], "only the first fragment"],
    ["invalid tool JSON at finish", [role, tool0, c({ tool_calls: [{ index: 0, function: { arguments: "{" } }] }), fin, done], "not valid JSON"],
    ["two finish reasons", [role, fin, fin, done], "after finish_reason"],
    ["a usage chunk with choices", [role, fin, c({}, null, { usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }), done], "choices: []"],
    ["a chunk after usage", [role, usage, fin, done], "after the usage chunk"],
    ["a missing [DONE]", [role, fin], "did not end with [DONE]"],
    ["two [DONE]", [role, fin, done, done], "nothing may follow [DONE]"],
    ["anything after an error", [role, { data: { error: { message: "x", type: "server_error" } } }, done], "nothing may follow an error"],
    ["no finish before [DONE]", [role, done], "never got a finish_reason"],
    [
      "a wrong total",
      [role, fin, { data: { ...base, choices: [], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 3 } } }, done],
      "total_tokens",
    ],
  ];
  it.each(bad)("rejects %s", (_name, events, needle) => {
    expect(validateChatStream(events).join("\n")).toContain(needle);
  });
});
