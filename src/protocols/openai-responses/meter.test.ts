import { afterEach, describe, expect, it, vi } from "vitest";
import type { Usage } from "../../canonical/usage.js";
import type { InboundEvent } from "../codec.js";
import { ctxFor } from "../anthropic-messages/test-support.js";
import { responsesMeter } from "./meter.js";
import { decodeResponsesResponse } from "./response.js";
import { ResponsesStreamDecoder } from "./stream-decode.js";

let seq = 0;
const ev = (type: string, fields: Record<string, unknown> = {}): InboundEvent => ({
  event: type,
  data: JSON.stringify({ type, sequence_number: seq++, ...fields }),
});
const shell = { id: "resp_1", object: "response", created_at: 1, model: "gpt-5", output: [] };
const USAGE = {
  input_tokens: 5000,
  input_tokens_details: { cached_tokens: 4096, cache_write_tokens: 512 },
  output_tokens: 70,
  output_tokens_details: { reasoning_tokens: 64 },
  total_tokens: 5070,
};
const WANT: Usage = { inputTokens: 5000, cachedInputTokens: 4096, cacheWriteTokens: 512, outputTokens: 70, reasoningTokens: 64 };
const opening = [
  ev("response.created", { response: { ...shell, status: "in_progress", usage: null } }),
  ev("response.output_item.added", { output_index: 0, item: { id: "msg_1", type: "message", role: "assistant", content: [] } }),
  ev("response.content_part.added", { item_id: "msg_1", output_index: 0, content_index: 0, part: { type: "output_text", text: "" } }),
  ev("response.output_text.delta", { item_id: "msg_1", output_index: 0, content_index: 0, delta: "hi" }),
];

function bothLanes(events: InboundEvent[]) {
  const meter = responsesMeter.createStreamMeter();
  const decoder = new ResponsesStreamDecoder(ctxFor());
  let translate: Usage | undefined;
  let failed = false;
  for (const e of events) {
    meter.observe(e);
    for (const p of decoder.push(e)) {
      if (p.type === "usage") translate = p.usage;
      if (p.type === "error") failed = true;
    }
  }
  return { passthrough: meter.usage, translate, completed: meter.completed, errorMessage: meter.errorMessage, failed };
}

afterEach(() => vi.restoreAllMocks());

describe("Responses metering", () => {
  for (const terminal of ["response.completed", "response.incomplete", "response.done"]) {
    it(`reads usage off ${terminal}, cache writes and reasoning included`, () => {
      const lanes = bothLanes([...opening, ev(terminal, { response: { ...shell, status: "completed", usage: USAGE } })]);
      expect(lanes).toEqual({ passthrough: WANT, translate: WANT, completed: true, errorMessage: undefined, failed: false });
    });
  }

  it("bills the tokens a failed response reports, on both lanes", () => {
    const failedResponse = { ...shell, status: "failed", error: { code: "server_error", message: "failed upstream" }, usage: USAGE };
    const lanes = bothLanes([...opening, ev("response.failed", { response: failedResponse })]);
    expect(lanes).toEqual({ passthrough: WANT, translate: WANT, completed: false, errorMessage: "failed upstream", failed: true });
  });

  it("takes the message of an error event, wrapped (Codex WebSocket) or not", () => {
    expect(bothLanes([...opening, ev("error", { code: "server_error", message: "boom" })]).errorMessage).toBe("boom");
    const wrapped = { event: undefined, data: JSON.stringify({ type: "error", status: 429, error: { type: "usage_limit_reached", message: "limit" } }) };
    expect(bothLanes([...opening, wrapped])).toMatchObject({ errorMessage: "limit", completed: false, failed: true });
  });

  it("reads a non-streamed response's usage as the response decoder does", () => {
    const body = {
      ...shell,
      status: "completed",
      output: [{ type: "message", id: "msg_1", role: "assistant", content: [{ type: "output_text", text: "hi" }] }],
      usage: USAGE,
    };
    expect(responsesMeter.usageFromJson(body)).toEqual(WANT);
    expect(decodeResponsesResponse(body, ctxFor()).usage).toEqual(WANT);
    expect(responsesMeter.usageFromJson({ ...body, usage: null })).toEqual({
      inputTokens: 0,
      cachedInputTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: 0,
      reasoningTokens: 0,
    });
  });

  it("parses only the terminal event", () => {
    const events = [...opening, ...opening, ev("response.completed", { response: { ...shell, status: "completed", usage: USAGE } })];
    const parse = vi.spyOn(JSON, "parse");
    const meter = responsesMeter.createStreamMeter();
    for (const e of events) meter.observe(e);
    expect(parse).toHaveBeenCalledTimes(1);
    expect(meter.usage).toEqual(WANT);
  });
});
