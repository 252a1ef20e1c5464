import { describe, expect, it } from "vitest";
import { errorInAnswer } from "./error-in-answer.js";

describe("errorInAnswer", () => {
  it("finds each protocol's error envelope", () => {
    expect(errorInAnswer({ error: { message: "quota", type: "insufficient_quota", code: "insufficient_quota" } })).toEqual({
      message: "quota",
      code: "insufficient_quota",
    });
    expect(errorInAnswer({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } })).toEqual({
      message: "Overloaded",
      code: "overloaded_error",
    });
    expect(errorInAnswer({ id: "resp_1", object: "response", status: "failed", error: { code: "server_error", message: "boom" }, output: [] })).toEqual({
      message: "boom",
      code: "server_error",
    });
    expect(errorInAnswer({ error: "bad gateway" })).toEqual({ message: "bad gateway", code: undefined });
  });

  it("leaves successes alone, including a Responses object whose error is null", () => {
    expect(errorInAnswer({ id: "resp_1", object: "response", status: "completed", error: null, output: [] })).toBeUndefined();
    expect(errorInAnswer({ id: "chatcmpl-1", choices: [] })).toBeUndefined();
    expect(errorInAnswer({ type: "message", content: [] })).toBeUndefined();
    expect(errorInAnswer([{ error: {} }])).toBeUndefined();
    expect(errorInAnswer("error")).toBeUndefined();
  });
});
