/**
 * What a request is expected to use before it runs (token limits admit on it; settlement
 * corrects it to what the upstream reports): docs/governance.md#estimates.
 *
 * Cheap on purpose, since it runs on every request: no JSON.parse of the body, only the
 * few top-level fields json-peek has already located.
 * - Output: the request's own cap (`max_tokens`, Chat's `max_completion_tokens`,
 *   Responses' `max_output_tokens`), else the gateway's `governance.default_output_tokens`.
 * - Input: the body's size in bytes / 4. English text and code run at about 4 bytes per
 *   token, JSON punctuation and non-Latin text at fewer, so this is rough in both
 *   directions (images sent as base64 are overestimated by far); it only decides
 *   admission, and settlement replaces it with the real count.
 */
import type { TokenEstimate } from "../governance/admission.js";
import type { ParsedBody } from "./request-body.js";

export const DEFAULT_OUTPUT_TOKENS = 4096;

/** Bytes of request body counted as one input token. */
export const BYTES_PER_TOKEN = 4;

const OUTPUT_CAPS = ["max_tokens", "max_completion_tokens", "max_output_tokens"] as const;

export function estimateTokens(body: ParsedBody, defaultOutputTokens = DEFAULT_OUTPUT_TOKENS): TokenEstimate {
  let outputTokens = defaultOutputTokens;
  for (const name of OUTPUT_CAPS) {
    if (!body.peek.fields.has(name)) continue;
    const v = body.read(name);
    if (typeof v === "number" && Number.isSafeInteger(v) && v > 0) {
      outputTokens = v;
      break;
    }
  }
  return { inputTokens: Math.ceil(body.raw.length / BYTES_PER_TOKEN), outputTokens };
}
