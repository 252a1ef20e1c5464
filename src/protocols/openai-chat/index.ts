/**
 * OpenAI Chat Completions codecs (https://platform.openai.com/docs/api-reference/chat).
 * Client side: `/v1/chat/completions` callers. Upstream side: OpenAI and the
 * many OpenAI-compatible servers.
 */
import type { ClientCodec, TranslationContext, UpstreamCodec } from "../codec.js";
import { decodeChatRequest } from "./decode-request.js";
import { chatDroppedFields } from "./dropped-fields.js";
import { encodeChatRequest, type ChatEncodeOptions } from "./encode-request.js";
import { decodeChatError, encodeChatError, encodeChatStreamError } from "./errors.js";
import { decodeChatResponse, encodeChatResponse } from "./response.js";
import { createChatStreamDecoder } from "./stream-decode.js";
import { createChatStreamEncoder } from "./stream-encode.js";

export const openaiChatClientCodec: ClientCodec = {
  protocol: "openai-chat",
  decodeRequest: decodeChatRequest,
  droppedFields: chatDroppedFields,
  createStreamEncoder: createChatStreamEncoder,
  encodeResponse: encodeChatResponse,
  encodeError: encodeChatError,
  encodeStreamError: encodeChatStreamError,
};

/** A Chat upstream codec with non-default request mapping choices. */
export function createOpenAIChatUpstreamCodec(opts: ChatEncodeOptions = {}): UpstreamCodec {
  return {
    protocol: "openai-chat",
    supportsNonStream: true,
    encodeRequest: (req, ctx: TranslationContext) => encodeChatRequest(req, ctx, opts),
    createStreamDecoder: createChatStreamDecoder,
    decodeResponse: decodeChatResponse,
    decodeError: decodeChatError,
  };
}

export const openaiChatUpstreamCodec: UpstreamCodec = createOpenAIChatUpstreamCodec();

export { decodeChatRequest, wantsUsageChunk } from "./decode-request.js";
export { encodeChatRequest, type ChatEncodeOptions } from "./encode-request.js";
export { ChatStreamDecoder } from "./stream-decode.js";
export { ChatStreamEncoder, type ChatStreamEncoderOptions } from "./stream-encode.js";
export { foldChatStream } from "./response.js";
export { validateChatStream } from "./validate.js";
export { canonicalToChatUsage } from "./usage.js";
export { chatMeter, chatUsageFromJson, readChatUsage } from "./meter.js";
export { chatFinishToCanonical, canonicalToChatFinish } from "./finish-reason.js";
export type * from "./wire.js";
