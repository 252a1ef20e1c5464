/**
 * The ChatGPT Codex backend (docs/protocols.md#codex-backend): Responses on the wire, with the
 * body rules of docs/protocols.md#codex-body-rules and streaming only. Stream decoding is the Responses
 * decoder's; since `response.completed.output` may be empty here, a
 * non-streaming client is served by folding the canonical parts, which come
 * from `output_item.*` events (common/fold-stream.ts).
 */
import { streamsOnly } from "../../canonical/protocols.js";
import type { CanonicalRequest } from "../../canonical/request.js";
import type { TranslationContext, TranslationWarning, UpstreamCodec } from "../codec.js";
import { openaiResponsesUpstreamCodec } from "../openai-responses/index.js";
import { encodeResponsesRequest } from "../openai-responses/encode-request.js";
import { applyCodexRules, type CodexPatch } from "./codex-rules.js";

export function encodeCodexRequest(req: CanonicalRequest, ctx: TranslationContext): Record<string, unknown> {
  const { body, warnings } = applyCodexRules(encodeResponsesRequest(req, ctx));
  ctx.warnings.push(...warnings);
  return body;
}

export const codexUpstreamCodec: UpstreamCodec = {
  protocol: "codex",
  supportsNonStream: !streamsOnly("codex"),
  encodeRequest: encodeCodexRequest,
  createStreamDecoder: openaiResponsesUpstreamCodec.createStreamDecoder,
  streamEventMembers: openaiResponsesUpstreamCodec.streamEventMembers,
  decodeResponse: openaiResponsesUpstreamCodec.decodeResponse,
  responseMembers: openaiResponsesUpstreamCodec.responseMembers,
  decodeError: openaiResponsesUpstreamCodec.decodeError,
};

/**
 * The body rules (docs/protocols.md#codex-body-rules) for the passthrough lane: a client's raw Responses body,
 * patched in place of being translated. Unknown fields and item ids are kept;
 * the Codex CLI's own request passes through unchanged.
 */
export function codexPassthroughPatch(body: Record<string, unknown>): { body: Record<string, unknown>; warnings: TranslationWarning[] } {
  return applyCodexRules(body);
}

export { applyCodexRules, CODEX_STRIPPED_FIELDS } from "./codex-rules.js";
export type { CodexPatch };
export { codexRequestHeaders, DEFAULT_CODEX_ORIGINATOR, type CodexHeaderOptions } from "./headers.js";
