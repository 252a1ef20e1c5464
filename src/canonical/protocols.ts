/**
 * The wire protocols the gateway speaks, as names every layer may use: the
 * protocols a client can speak to the gateway, and those it can speak to an
 * upstream (`codex` is the ChatGPT Codex backend's flavour of Responses).
 */
export type ClientProtocol = "openai-chat" | "openai-responses" | "anthropic-messages";

export type UpstreamProtocol = "openai-responses" | "openai-chat" | "anthropic" | "codex";

/**
 * Upstreams that only stream: the ChatGPT Codex backend answers every request
 * as an SSE stream. A client that did not ask for a stream is served by
 * folding it, which is the translate lane's work.
 */
export function streamsOnly(upstream: UpstreamProtocol): boolean {
  return upstream === "codex";
}
