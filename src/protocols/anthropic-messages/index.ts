/**
 * Anthropic Messages codecs (https://docs.anthropic.com/en/api/messages).
 * Client side: `/v1/messages` callers such as Claude Code. Upstream side:
 * api.anthropic.com and compatible servers.
 */
import type { ClientCodec, TranslationContext, UpstreamCodec } from "../codec.js";
import { decodeAnthropicRequest } from "./decode-request.js";
import { anthropicDroppedFields } from "./dropped-fields.js";
import { encodeAnthropicRequest, type AnthropicEncodeOptions } from "./encode-request.js";
import { decodeAnthropicError, encodeAnthropicError, encodeAnthropicStreamError } from "./errors.js";
import { decodeAnthropicResponse, encodeAnthropicResponse } from "./response.js";
import { createAnthropicStreamDecoder } from "./stream-decode.js";
import { createAnthropicStreamEncoder } from "./stream-encode.js";

export const anthropicClientCodec: ClientCodec = {
  protocol: "anthropic-messages",
  decodeRequest: decodeAnthropicRequest,
  droppedFields: anthropicDroppedFields,
  createStreamEncoder: createAnthropicStreamEncoder,
  encodeResponse: encodeAnthropicResponse,
  encodeError: encodeAnthropicError,
  encodeStreamError: encodeAnthropicStreamError,
};

/** An Anthropic upstream codec with non-default request mapping choices. */
export function createAnthropicUpstreamCodec(opts: AnthropicEncodeOptions = {}): UpstreamCodec {
  return {
    protocol: "anthropic-messages",
    supportsNonStream: true,
    encodeRequest: (req, ctx: TranslationContext) => encodeAnthropicRequest(req, ctx, opts),
    createStreamDecoder: createAnthropicStreamDecoder,
    decodeResponse: decodeAnthropicResponse,
    decodeError: decodeAnthropicError,
  };
}

export const anthropicUpstreamCodec: UpstreamCodec = createAnthropicUpstreamCodec();

export { decodeAnthropicRequest } from "./decode-request.js";
export { encodeAnthropicRequest, DEFAULT_MAX_TOKENS, type AnthropicEncodeOptions } from "./encode-request.js";
export { AnthropicStreamDecoder } from "./stream-decode.js";
export { AnthropicStreamEncoder } from "./stream-encode.js";
export { foldAnthropicStream } from "./response.js";
export { validateAnthropicStream } from "./validate.js";
export { canonicalToAnthropicUsage } from "./usage.js";
export { anthropicMeter, anthropicToCanonicalUsage, anthropicUsageFromJson, AnthropicUsageFold } from "./meter.js";
export { anthropicStopToFinish, finishToAnthropicStop } from "./stop-reason.js";
export { budgetToEffort, effortToBudget } from "./reasoning.js";
export { isOpenAIReasoningBlob } from "../common/reasoning-blob.js";
export type * from "./wire.js";
