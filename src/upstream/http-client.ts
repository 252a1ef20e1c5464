/**
 * The HTTP transport to upstreams: an undici Agent with keep-alive pools per
 * origin. Per-request timeouts come from the upstream's settings (upstream/timeouts.ts); aborting the
 * signal (client disconnect) tears the upstream request down. undici's types
 * stay in this file: callers see UpstreamResponse.
 */
import { Agent, request, type Dispatcher } from "undici";
import { UpstreamTransportError, type UpstreamHeaders, type UpstreamResponse, type UpstreamTransport } from "./response.js";
import { DEFAULT_CONNECT_TIMEOUT_MS } from "./timeouts.js";

/** undici error codes that mean the upstream was too slow rather than unreachable. */
const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT"]);

function toResponse(res: Dispatcher.ResponseData): UpstreamResponse {
  // A body that fails while nobody reads it (a reset after the pipeline moved on) would
  // otherwise emit an unhandled 'error' and end the process; readers still see the error.
  res.body.on("error", () => {});
  return {
    status: res.statusCode,
    headers: res.headers as UpstreamHeaders,
    body: res.body as AsyncIterable<Buffer>,
    bytes: async () => Buffer.from(await res.body.arrayBuffer()),
    discard: () => void res.body.dump().catch(() => undefined),
  };
}

export function createUpstreamHttp(opts: { connectTimeoutMs?: number } = {}): UpstreamTransport {
  const defaultConnect = opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  // undici sets the connect timeout per Agent, so each distinct timeout the upstreams ask
  // for gets an Agent (and keep-alive pools) of its own; there are as many as settings differ.
  const agents = new Map<number, Agent>();
  const agentFor = (connectTimeoutMs: number): Agent => {
    let agent = agents.get(connectTimeoutMs);
    if (!agent) {
      agent = new Agent({
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        connections: 256,
        pipelining: 1,
        connect: { timeout: connectTimeoutMs },
      });
      agents.set(connectTimeoutMs, agent);
    }
    return agent;
  };
  agentFor(defaultConnect);
  return {
    async send(o) {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(o.url, {
          method: o.method,
          headers: o.headers,
          body: o.body,
          signal: o.signal,
          dispatcher: agentFor(o.connectTimeoutMs ?? defaultConnect),
          headersTimeout: o.headersTimeoutMs,
          bodyTimeout: o.bodyTimeoutMs,
        });
      } catch (err) {
        if (o.signal.aborted) throw err;
        const code = (err as { code?: string }).code ?? "";
        throw new UpstreamTransportError(TIMEOUT_CODES.has(code) ? "timeout" : "network", (err as Error).message, err);
      }
      return toResponse(res);
    },
    close: async () => {
      await Promise.all([...agents.values()].map((a) => a.close()));
    },
  };
}
