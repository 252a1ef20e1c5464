/**
 * POST /v1/messages/count_tokens (docs/protocols.md#anthropic-token-counting). Claude Code calls it, so it
 * never 404s: an Anthropic upstream serving the model answers exactly; otherwise
 * the gateway estimates locally (about four bytes of JSON text per token, the
 * usual rule of thumb for English and code; an estimate, labelled as such by the
 * `x-switchyard-estimate: true` header).
 */
import { GatewayError } from "../canonical/errors.js";
import { upstreamUrl } from "../upstream/endpoints.js";
import { upstreamHeaders } from "../upstream/headers.js";
import { authenticate } from "./authenticate.js";
import { admitRequest } from "./admit.js";
import type { Exchange, PipelineDeps } from "./exchange.js";
import { parseBody, requireModel } from "./request-body.js";
import { resolveModel } from "../routing/resolve-model.js";
import { patchBody } from "./json-peek.js";
import { mappingSource } from "./mapping.js";

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
  const principal = (ex.principal ??= await authenticate(ex.headers, deps.principals));
  const body = parseBody(ex.body);
  const model = requireModel(body);
  if (!Array.isArray(body.read("messages"))) {
    throw new GatewayError("invalid_request", "invalid_messages", "'messages' must be an array.", { param: "messages" });
  }
  // Counted for the model that would serve the request: a mapped Claude name is counted by
  // the model it maps to (estimated, unless that model is on an Anthropic upstream).
  const resolution = resolveModel(snapshot, ex.protocol, model, mappingSource(principal.policy), principal.chain);
  const served = resolution.served;
  // Nothing is generated: the admission only checks, and gives back at once whatever a check held.
  const origin = typeof ex.headers.origin === "string" ? ex.headers.origin : undefined;
  await (await admitRequest(deps, principal, { model: served, stream: false, clientAddress: ex.clientAddress, origin })).release();
  // Among the upstreams this caller may use serving that very model, in their order (its own
  // tenant pool first, then tier by tier): a route's other tiers may serve other models.
  const target = resolution.tiers
    .flatMap((t) => t.targets)
    .filter((x) => x.model === served)
    .flatMap((x) => x.upstreams)
    .find((t) => t.protocol === "anthropic");
  const key = target && deps.keyHealth.order(target.pool, undefined, Date.now(), 1)[0];
  if (target && key) {
    const headers = upstreamHeaders(ex.headers, { foreign: false, stream: false, policy: target.headers });
    try {
      await deps.credentials(target.upstream, key).authorize(headers, ex.signal);
      const res = await deps.transport.send({
        url: upstreamUrl("anthropic", target.upstream.baseUrl, "count_tokens", ex.query),
        method: "POST",
        headers,
        body: served === model ? ex.body : patchBody(ex.body, body.peek, { model: served }),
        signal: ex.signal,
        headersTimeoutMs: 30_000,
        bodyTimeoutMs: 30_000,
      });
      const json: unknown = JSON.parse((await res.bytes()).toString("utf8"));
      if (res.status < 400) return { status: res.status, body: json, estimate: false };
      deps.logger.warn({ requestId: ex.id, status: res.status }, "count_tokens upstream failed; estimating locally");
    } catch (err) {
      if (ex.signal.aborted) throw err;
      deps.logger.warn({ requestId: ex.id, err: (err as Error).message }, "count_tokens upstream unreachable; estimating locally");
    }
  }
  return { status: 200, body: { input_tokens: estimateTokens(body) }, estimate: true };
}
