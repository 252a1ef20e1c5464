/**
 * What a request is expected to use before it runs (governance/admission.ts TokenEstimate),
 * for credit holds, quotas and spend caps: settled on what the upstream reports. The input
 * from the body's size (about four bytes of JSON per token, no re-serialising on the hot
 * path), the output from the request's own cap or the gateway's default.
 */
import type { TokenEstimate } from "../governance/admission.js";

/** Output tokens assumed when a request names no cap (config `governance.default_output_tokens`'s default). */
export const DEFAULT_OUTPUT_TOKENS = 4096;

const OUTPUT_CAPS = ["max_tokens", "max_output_tokens", "max_completion_tokens"] as const;

export function tokenEstimate(bodyBytes: number, body: { read(name: string): unknown }, defaultOutputTokens = DEFAULT_OUTPUT_TOKENS): TokenEstimate {
  let outputTokens = defaultOutputTokens;
  for (const f of OUTPUT_CAPS) {
    const v = body.read(f);
    if (typeof v === "number" && Number.isSafeInteger(v) && v > 0) {
      outputTokens = v;
      break;
    }
  }
  return { inputTokens: Math.max(1, Math.ceil(bodyBytes / 4)), outputTokens };
}
