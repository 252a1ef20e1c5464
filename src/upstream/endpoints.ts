/**
 * Where each upstream protocol's endpoints live under its configured base URL.
 * Base URLs follow the official SDKs' convention:
 *   openai-chat / openai-responses: https://api.openai.com/v1  (+ /chat/completions, /responses)
 *   anthropic:                      https://api.anthropic.com  (+ /v1/messages; a base ending in /v1 is accepted too)
 *   codex:                          https://chatgpt.com/backend-api/codex (+ /responses)
 */
import type { UpstreamProtocol } from "../storage/ports.js";

export type UpstreamOperation = "generate" | "count_tokens";

export function upstreamUrl(protocol: UpstreamProtocol, baseUrl: string, op: UpstreamOperation, query = ""): string {
  const base = baseUrl.replace(/\/+$/, "");
  let path: string;
  switch (protocol) {
    case "openai-chat":
      path = "/chat/completions";
      break;
    case "openai-responses":
    case "codex":
      path = "/responses";
      break;
    case "anthropic": {
      const v1 = base.endsWith("/v1") ? "" : "/v1";
      path = op === "count_tokens" ? `${v1}/messages/count_tokens` : `${v1}/messages`;
      break;
    }
  }
  return base + path + query;
}
