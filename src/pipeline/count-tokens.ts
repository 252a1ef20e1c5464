/**
 * POST /v1/messages/count_tokens (PROTOCOLS.md §4.5). Claude Code calls it, so it
 * never 404s: an Anthropic upstream serving the model answers exactly; otherwise
 * the gateway estimates locally (about four bytes of JSON text per token, the
 * usual rule of thumb for English and code; an estimate, labelled as such by the
 * `x-switchyard-estimate: true` header).
 */
import { GatewayError } from "../canonical/errors.js";
import { injectCredential } from "../upstream/credentials.js";
import { upstreamUrl } from "../upstream/endpoints.js";
import { forwardableHeaders } from "../upstream/headers.js";
import { authenticate } from "./authenticate.js";
import { admit } from "./admit.js";
import type { Exchange, PipelineDeps } from "./exchange.js";
import { parseBody } from "./handle-request.js";

export function estimateTokens(body: { read(name: string): unknown }): number {
  let bytes = 0;
  for (const f of ["system", "messages", "tools"]) {
    const v = body.read(f);
    if (v !== undefined) bytes += Buffer.byteLength(typeof v === "string" ? v : JSON.stringify(v));
  }
  return Math.max(1, Math.ceil(bytes / 4));
}

export async function countTokens(deps: PipelineDeps, ex: Exchange): Promise<{ status: number; body: unknown; estimate: boolean }> {
  const snapshot = deps.catalog.snapshot;
  const principal = authenticate(ex.headers, deps.principals.snapshot);
  ex.principal = principal;
  const body = parseBody(ex.body);
  const model = body.read("model");
  if (typeof model !== "string" || !model) {
    throw new GatewayError("invalid_request", "missing_model", "The request must name a model in the 'model' field.", { param: "model" });
  }
  if (!Array.isArray(body.read("messages"))) {
    throw new GatewayError("invalid_request", "invalid_messages", "'messages' must be an array.", { param: "messages" });
  }
  admit(principal, model);
  const target = snapshot.upstreams.find((t) => t.protocol === "anthropic" && t.models.matches(model));
  const key = target?.pool.order(undefined, Date.now())[0];
  if (target && key) {
    const headers = forwardableHeaders(ex.headers);
    headers["content-type"] = "application/json";
    injectCredential(target.upstream, key.secret, headers);
    try {
      const res = await deps.http.send({
        url: upstreamUrl("anthropic", target.upstream.baseUrl, "count_tokens", ex.query),
        method: "POST",
        headers,
        body: ex.body,
        signal: ex.signal,
        headersTimeoutMs: 30_000,
        bodyTimeoutMs: 30_000,
      });
      const json: unknown = await res.body.json();
      if (res.statusCode < 400) return { status: res.statusCode, body: json, estimate: false };
      deps.logger.warn({ requestId: ex.id, status: res.statusCode }, "count_tokens upstream failed; estimating locally");
    } catch (err) {
      if (ex.signal.aborted) throw err;
      deps.logger.warn({ requestId: ex.id, err: (err as Error).message }, "count_tokens upstream unreachable; estimating locally");
    }
  }
  return { status: 200, body: { input_tokens: estimateTokens(body) }, estimate: true };
}
