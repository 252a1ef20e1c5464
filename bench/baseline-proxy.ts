/**
 * Child process: the baseline — a bare pass-through reverse proxy on node:http
 * and an undici keep-alive pool. It forwards method, path, headers and body
 * bytes to the upstream given as the first argument and pipes the response
 * back; nothing else. Whatever Switchyard costs beyond this is its own work.
 */
import { type IncomingHttpHeaders, type OutgoingHttpHeaders, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { type Dispatcher, Pool } from "undici";
import { serveChild } from "./ipc.js";

/** Connection-scoped headers a proxy must not forward (RFC 9110 §7.6.1), plus host, which the pool sets. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"]);

function forwardable(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
  }
  return out;
}

const upstreamUrl = process.argv[2];
if (!upstreamUrl) throw new Error("usage: baseline-proxy.js UPSTREAM_URL");
const upstream = new Pool(new URL(upstreamUrl).origin, { connections: 256, pipelining: 1 });

const server = createServer((req, res) => {
  const method = (req.method ?? "GET") as Dispatcher.HttpMethod;
  const hasBody = method !== "GET" && method !== "HEAD";
  upstream.request({ method, path: req.url ?? "/", headers: forwardable(req.headers), body: hasBody ? req : null }).then(
    (up) => {
      const headers: OutgoingHttpHeaders = forwardable(up.headers);
      res.writeHead(up.statusCode, headers);
      // `pipe` and two listeners rather than `stream.pipeline`, which on Node 20 makes an
      // AbortController for every call and aborts it when the streams finish, building a
      // DOMException with its stack trace for every response (bench/README.md, the nineteenth
      // stop). A bar that pays for that flatters the gateway.
      up.body.on("error", () => res.destroy());
      res.on("close", () => {
        // The client went away before the answer ended: stop reading the upstream's, as pipeline would.
        if (!res.writableFinished) up.body.destroy();
      });
      up.body.pipe(res);
    },
    () => {
      if (res.headersSent) return void res.destroy();
      res.writeHead(502, { "content-type": "text/plain" });
      res.end("bad gateway\n");
    },
  );
});
server.keepAliveTimeout = 65_000;

await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address() as AddressInfo;

serveChild(`http://127.0.0.1:${port}`, {}, async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
  await upstream.close();
});
