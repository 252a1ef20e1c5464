/**
 * Which codec speaks which protocol. The pipeline looks codecs up here; adding
 * a protocol means adding its folder and one line per side below, plus its meter.
 */
import type { ClientCodec, ClientProtocol, ProtocolMeter, UpstreamCodec, UpstreamProtocol } from "./codec.js";
import { anthropicClientCodec, anthropicMeter, anthropicUpstreamCodec } from "./anthropic-messages/index.js";
import { chatMeter, openaiChatClientCodec, openaiChatUpstreamCodec } from "./openai-chat/index.js";
import { openaiResponsesClientCodec, openaiResponsesUpstreamCodec, responsesMeter } from "./openai-responses/index.js";
import { codexUpstreamCodec } from "./codex/index.js";

export const CLIENT_CODECS: Record<ClientProtocol, ClientCodec> = {
  "anthropic-messages": anthropicClientCodec,
  "openai-chat": openaiChatClientCodec,
  "openai-responses": openaiResponsesClientCodec,
};

export const UPSTREAM_CODECS: Record<UpstreamProtocol, UpstreamCodec> = {
  anthropic: anthropicUpstreamCodec,
  "openai-chat": openaiChatUpstreamCodec,
  "openai-responses": openaiResponsesUpstreamCodec,
  codex: codexUpstreamCodec,
};

/**
 * How each upstream protocol's answers are metered. The passthrough lane uses
 * these directly; the translate lane meters through the codecs above, whose
 * decoders read usage with the same per-protocol functions.
 */
export const METERS: Record<UpstreamProtocol, ProtocolMeter> = {
  anthropic: anthropicMeter,
  "openai-chat": chatMeter,
  "openai-responses": responsesMeter,
  // The Codex backend speaks Responses, usage included.
  codex: responsesMeter,
};
