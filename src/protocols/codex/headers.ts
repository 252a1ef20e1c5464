/**
 * Request headers the Codex backend needs besides credentials
 * (docs/protocols.md#codex-headers). `Authorization` is injected by the upstream credential layer, never
 * here.
 */

export const DEFAULT_CODEX_ORIGINATOR = "codex_cli_rs";

export interface CodexHeaderOptions {
  /** `chatgpt_account_id` claim of the ChatGPT login. */
  accountId: string;
  /** Conversation id; the prompt_cache_key is a safe value (docs/protocols.md#codex-headers, docs/protocols.md#openai-prompt-caching). */
  sessionId?: string;
  originator?: string;
}

export function codexRequestHeaders(opts: CodexHeaderOptions): Record<string, string> {
  const headers: Record<string, string> = {
    "chatgpt-account-id": opts.accountId,
    originator: opts.originator ?? DEFAULT_CODEX_ORIGINATOR,
    accept: "text/event-stream",
    // Exactly this: the backend rejects parameters such as "; charset=utf-8".
    "content-type": "application/json",
  };
  if (opts.sessionId) headers.session_id = opts.sessionId;
  return headers;
}
