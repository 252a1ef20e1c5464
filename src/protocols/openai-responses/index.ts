/**
 * OpenAI Responses API (docs/protocols.md#openai-responses): the client-facing codec for
 * `/v1/responses` and the upstream codec for api.openai.com-style backends.
 * The Codex backend flavour builds on these in ../codex.
 */
import type { ClientCodec, UpstreamCodec } from "../codec.js";
import { decodeResponsesRequest } from "./decode-request.js";
import { responsesDroppedFields } from "./dropped-fields.js";
import { encodeResponsesRequest } from "./encode-request.js";
import { decodeResponsesError, encodeResponsesError, encodeResponsesStreamError } from "./errors.js";
import { decodeResponsesResponse, encodeResponsesResponse, RESPONSE_MEMBERS } from "./response.js";
import { RESPONSE_EVENT_MEMBERS, ResponsesStreamDecoder } from "./stream-decode.js";
import { ResponsesStreamEncoder } from "./stream-encode.js";

export const openaiResponsesClientCodec: ClientCodec = {
  protocol: "openai-responses",
  decodeRequest: decodeResponsesRequest,
  droppedFields: responsesDroppedFields,
  createStreamEncoder: (ctx) => new ResponsesStreamEncoder(ctx),
  encodeResponse: encodeResponsesResponse,
  encodeError: encodeResponsesError,
  encodeStreamError: encodeResponsesStreamError,
};

export const openaiResponsesUpstreamCodec: UpstreamCodec = {
  protocol: "openai-responses",
  supportsNonStream: true,
  encodeRequest: encodeResponsesRequest,
  createStreamDecoder: (ctx) => new ResponsesStreamDecoder(ctx),
  streamEventMembers: RESPONSE_EVENT_MEMBERS,
  decodeResponse: decodeResponsesResponse,
  responseMembers: RESPONSE_MEMBERS,
  decodeError: decodeResponsesError,
};

export { decodeResponsesRequest } from "./decode-request.js";
export { encodeResponsesRequest, effortFromBudget, ENCRYPTED_REASONING_INCLUDE } from "./encode-request.js";
export { RESPONSE_EVENT_MEMBERS, ResponsesStreamDecoder } from "./stream-decode.js";
export { ResponsesStreamEncoder } from "./stream-encode.js";
export { decodeResponsesResponse, encodeResponsesResponse, RESPONSE_MEMBERS } from "./response.js";
export { decodeResponsesError, encodeResponsesError, encodeResponsesStreamError, errorEnvelope } from "./errors.js";
export { validateResponsesStream } from "./validate.js";
export { encodeUsage as encodeResponsesUsage } from "./usage.js";
export { readResponsesUsage, responsesMeter, responsesUsageFromJson } from "./meter.js";
export { isOpenAIReasoningBlob } from "./guards.js";
export { joinNamespace, splitNamespace, NAMESPACE_SEPARATOR } from "./tool-call-names.js";
export { PROTOCOL as OPENAI_RESPONSES } from "./wire.js";
export type * from "./wire.js";
