/**
 * Credential injection per upstream kind, kept out of protocol translation
 * (the codecs never see a secret).
 */
import type { Upstream } from "../storage/ports.js";

export function injectCredential(upstream: Upstream, secret: string, headers: Record<string, string>): void {
  switch (upstream.protocol) {
    case "anthropic":
      headers["x-api-key"] = secret;
      headers["anthropic-version"] ??= "2023-06-01";
      break;
    case "codex": {
      headers.authorization = `Bearer ${secret}`;
      const accountId = upstream.settings.account_id;
      if (typeof accountId === "string") headers["chatgpt-account-id"] = accountId;
      break;
    }
    default:
      headers.authorization = `Bearer ${secret}`;
  }
  const extra = upstream.settings.headers;
  if (extra && typeof extra === "object") {
    for (const [k, v] of Object.entries(extra as Record<string, unknown>)) if (typeof v === "string") headers[k.toLowerCase()] = v;
  }
}
