/**
 * The one upstream HTTP client: an undici Agent with keep-alive pools per origin.
 * Per-request timeouts come from the upstream's settings; aborting the signal
 * (client disconnect) tears the upstream request down.
 */
import { Agent, request, type Dispatcher } from "undici";

export interface UpstreamHttp {
  send(opts: {
    url: string;
    method: "POST" | "GET";
    headers: Record<string, string>;
    body?: Buffer | string;
    signal: AbortSignal;
    headersTimeoutMs: number;
    bodyTimeoutMs: number;
  }): Promise<Dispatcher.ResponseData>;
  close(): Promise<void>;
}

export function createUpstreamHttp(opts: { connectTimeoutMs?: number } = {}): UpstreamHttp {
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connections: 256,
    pipelining: 1,
    connect: { timeout: opts.connectTimeoutMs ?? 10_000 },
  });
  return {
    async send(o) {
      const res = await request(o.url, {
        method: o.method,
        headers: o.headers,
        body: o.body,
        signal: o.signal,
        dispatcher: agent,
        headersTimeout: o.headersTimeoutMs,
        bodyTimeout: o.bodyTimeoutMs,
      });
      // A body that fails while nobody reads it (a reset after the pipeline moved on) would
      // otherwise emit an unhandled 'error' and end the process; readers still see the error.
      res.body.on("error", () => {});
      return res;
    },
    close: () => agent.close(),
  };
}
