/**
 * The wire protocols the gateway speaks, as names every layer may use: the
 * protocols a client can speak to the gateway, and those it can speak to an
 * upstream (`codex` is the ChatGPT Codex backend's flavour of Responses).
 */
export type ClientProtocol = "openai-chat" | "openai-responses" | "anthropic-messages";

export type UpstreamProtocol = "openai-responses" | "openai-chat" | "anthropic" | "codex";
