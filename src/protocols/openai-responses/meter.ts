/**
 * Metering of Responses answers (the Codex backend's too), for both lanes:
 * the stream decoder, the response decoder and the passthrough stream meter
 * all read usage through readResponsesUsage, so the same answer is billed the
 * same on either lane.
 *
 * The mapping to canonical Usage is field for field, as both count the whole
 * prompt as input and reasoning inside output
 * (https://platform.openai.com/docs/api-reference/responses/object#responses/object-usage):
 * - inputTokens ← `input_tokens`; cachedInputTokens ← `input_tokens_details.cached_tokens`;
 *   cacheWriteTokens ← `input_tokens_details.cache_write_tokens`, reported by
 *   models with explicit caching and absent otherwise
 *   (https://platform.openai.com/docs/guides/prompt-caching).
 * - outputTokens ← `output_tokens`; reasoningTokens ← `output_tokens_details.reasoning_tokens`.
 *
 * A stream reports usage once, on its terminal event's `response` object:
 * `response.completed`, `response.incomplete` or `response.failed`
 * (https://platform.openai.com/docs/api-reference/responses-streaming); the
 * WebSocket mode names the first one `response.done`.
 */
import type { Usage } from "../../canonical/usage.js";
import { emptyUsage } from "../../canonical/usage.js";
import type { InboundEvent, ProtocolMeter, StreamMeter } from "../codec.js";
import { isRecord, tryParseJson } from "../common/guards.js";
import { eventNameTriggers, tokenCount } from "../common/metering.js";

/** Undefined when `raw` is not a usage object (a failed response may carry `usage: null`). */
export function readResponsesUsage(raw: unknown): Usage | undefined {
  if (!isRecord(raw)) return undefined;
  const inDetails = isRecord(raw.input_tokens_details) ? raw.input_tokens_details : {};
  const outDetails = isRecord(raw.output_tokens_details) ? raw.output_tokens_details : {};
  return {
    inputTokens: tokenCount(raw.input_tokens) ?? 0,
    cachedInputTokens: tokenCount(inDetails.cached_tokens) ?? 0,
    cacheWriteTokens: tokenCount(inDetails.cache_write_tokens) ?? 0,
    outputTokens: tokenCount(raw.output_tokens) ?? 0,
    reasoningTokens: tokenCount(outDetails.reasoning_tokens) ?? 0,
  };
}

/** Usage of a non-streamed response object. */
export function responsesUsageFromJson(body: unknown): Usage {
  return (isRecord(body) ? readResponsesUsage(body.usage) : undefined) ?? emptyUsage();
}

/** The events that end a Responses stream; only they (and `error`) are parsed by the meter. */
const TERMINAL = new Set(["response.completed", "response.done", "response.incomplete", "response.failed"]);

/** Follows the stream decoder's rules: usage from the terminal event, nothing after it or after `error` counts. */
class ResponsesStreamMeter implements StreamMeter {
  usage = emptyUsage();
  completed = false;
  errorMessage: string | undefined;
  private done = false;

  observe(ev: InboundEvent): void {
    if (this.done) return;
    if (ev.event !== undefined && ev.event !== "error" && !TERMINAL.has(ev.event)) return;
    const data = tryParseJson(ev.data.trim());
    if (!isRecord(data)) return;
    const type = typeof data.type === "string" ? data.type : ev.event;
    if (type === "error") {
      // The Codex WebSocket wraps the error object; the HTTP stream does not.
      const inner = isRecord(data.error) ? data.error : data;
      this.errorMessage = typeof inner.message === "string" ? inner.message : "upstream stream error";
      this.done = true;
      return;
    }
    if (type === undefined || !TERMINAL.has(type)) return;
    const response = isRecord(data.response) ? data.response : {};
    const usage = readResponsesUsage(response.usage);
    if (usage) this.usage = usage;
    this.done = true;
    if (type === "response.failed") {
      const err = isRecord(response.error) ? response.error : {};
      this.errorMessage = typeof err.message === "string" ? err.message : "response failed";
    } else {
      this.completed = true;
    }
  }
}

export const responsesMeter: ProtocolMeter = {
  createStreamMeter: () => new ResponsesStreamMeter(),
  // What ResponsesStreamMeter.observe reads: the type, a bare error's `error`/`message`, the response's usage and error.
  eventMembers: { type: true, error: true, message: true, response: { usage: true, error: true } },
  usageFromJson: responsesUsageFromJson,
  ...eventNameTriggers("response.completed", "response.done", "response.incomplete", "response.failed", "error"),
};
