/**
 * Model catalogues: `GET /v1/models` in the OpenAI shape, or in the Anthropic
 * shape when the request carries `anthropic-version` (the two APIs share the
 * path), and the Codex backend's `GET /backend-api/codex/models`.
 */
import { type HttpReply, JSON_HEADERS, bearer } from "./adapter.js";
import { anthropicError } from "./anthropic.js";
import { codexAuthError } from "./codex.js";
import { openaiError } from "./openai-shared.js";
import type { RecordedRequest } from "./types.js";

export const OPENAI_MODELS: readonly string[] = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-5", "gpt-5-mini", "gpt-5-codex", "o3", "o4-mini"];
export const ANTHROPIC_MODELS: readonly string[] = ["claude-opus-4-8", "claude-sonnet-4-5", "claude-haiku-4-5"];
export const CODEX_MODELS: readonly string[] = ["gpt-5-codex", "gpt-5", "gpt-5-codex-mini"];

const CREATED = 1_700_000_000;

function ok(body: unknown, headers: Record<string, string>): HttpReply {
  return { status: 200, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export function listModels(req: RecordedRequest, requestId: string): HttpReply {
  if (req.headers["anthropic-version"] !== undefined) {
    if (!req.headers["x-api-key"] && !bearer(req.headers)) return anthropicError(401, "x-api-key header is required", requestId);
    const data = ANTHROPIC_MODELS.map((id) => ({
      type: "model",
      id,
      display_name: id.replace(/^claude-/, "Claude ").replace(/-/g, " "),
      created_at: new Date(CREATED * 1000).toISOString(),
    }));
    return ok({ data, has_more: false, first_id: data[0]?.id ?? null, last_id: data[data.length - 1]?.id ?? null }, { "request-id": requestId });
  }
  if (!bearer(req.headers)) {
    return openaiError(401, "You didn't provide an API key. Send it in the Authorization header as `Bearer YOUR_KEY`.", requestId, { code: null });
  }
  const data = OPENAI_MODELS.map((id) => ({ id, object: "model", created: CREATED, owned_by: "openai" }));
  return ok({ object: "list", data }, { "x-request-id": requestId });
}

export function listCodexModels(req: RecordedRequest, requestId: string): HttpReply {
  const auth = codexAuthError(req, requestId);
  if (auth) return auth;
  const query = new URLSearchParams(req.url.includes("?") ? req.url.slice(req.url.indexOf("?") + 1) : "");
  if (!query.get("client_version")) {
    return { status: 400, headers: { ...JSON_HEADERS, "x-request-id": requestId }, body: JSON.stringify({ detail: "client_version is required" }) };
  }
  const models = CODEX_MODELS.map((slug, priority) => ({
    slug,
    display_name: slug,
    description: `Mock ${slug}`,
    default_reasoning_level: "medium",
    supported_reasoning_levels: ["low", "medium", "high"].map((effort) => ({ effort, description: effort })),
    shell_type: "shell_command",
    visibility: "list",
    supported_in_api: true,
    priority,
    context_window: 272000,
  }));
  return ok({ models }, { "x-request-id": requestId });
}
