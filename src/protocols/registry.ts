/**
 * Which codec speaks which protocol. The pipeline looks codecs up here; adding
 * a protocol means adding its folder and one line per side below.
 */
import type { ClientCodec, ClientProtocol, UpstreamCodec, UpstreamProtocol } from "./codec.js";
import { anthropicClientCodec, anthropicUpstreamCodec } from "./anthropic-messages/index.js";
import { openaiChatClientCodec, openaiChatUpstreamCodec } from "./openai-chat/index.js";
import { openaiResponsesClientCodec, openaiResponsesUpstreamCodec } from "./openai-responses/index.js";
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
