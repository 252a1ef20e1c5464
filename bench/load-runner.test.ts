import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoadRunner, type LoadSpec } from "./load.js";

/** What the test server answers on each path: how the load generator must count it. */
const ROUTES: Record<string, (req: IncomingMessage, res: ServerResponse, body: Buffer) => void> = {
  // Echoes the request's size, so the test sees the whole body arrived.
  "/v1/chat/completions": (_req, res, body) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ received: body.length }));
  },
  // A stream whose end arrives in a later write than its first byte.
  "/stream/complete": (_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.write('data: {"a":1}\n\n');
    setTimeout(() => res.end("data: [DO" + "NE]\n\n"), 5);
  },
  // A stream that stops before its end.
  "/stream/cut": (_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    res.end('data: {"a":1}\n\n');
  },
  "/refused": (_req, res) => {
    res.writeHead(429, { "content-type": "application/json" });
    res.end('{"error":"slow down"}');
  },
};

let server: Server;
let origin: string;
let bodiesSeen: number[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      bodiesSeen.push(body.length);
      (ROUTES[req.url ?? ""] ?? ROUTES["/v1/chat/completions"]!)(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function spec(path: string, over: Partial<LoadSpec> = {}): LoadSpec {
  return {
    origin,
    path,
    headers: { authorization: "Bearer test" },
    body: { kind: "chat-1k", stream: path.startsWith("/stream"), model: "m" },
    connections: 2,
    durationMs: 10_000,
    maxRequests: 6,
    ...over,
  };
}

describe("LoadRunner", () => {
  it("sends every request's whole body and counts whole answers, with their latency and first byte", async () => {
    const runner = new LoadRunner();
    bodiesSeen = [];
    try {
      const r = await runner.run(spec("/v1/chat/completions"));
      expect(r).toMatchObject({ ok: 6, errors: 0 });
      expect(bodiesSeen).toHaveLength(6);
      expect(new Set(bodiesSeen)).toEqual(new Set([1024]));
      expect(r.responseBytes).toBe(6 * '{"received":1024}'.length);
      expect(r.latency.count).toBe(6);
      expect(r.firstByte.count).toBe(6);
      expect(r.firstByte.p50).toBeGreaterThan(0);
      expect(r.firstByte.p50).toBeLessThanOrEqual(r.latency.p50);
    } finally {
      await runner.close();
    }
  });

  it("counts a stream as whole only once its end arrived, later than its first byte", async () => {
    const runner = new LoadRunner();
    try {
      const whole = await runner.run(spec("/stream/complete", { maxRequests: 4 }));
      expect(whole).toMatchObject({ ok: 4, errors: 0 });
      // Both writes of every stream were read before it counted as whole.
      expect(whole.responseBytes).toBe(4 * 'data: {"a":1}\n\ndata: [DONE]\n\n'.length);
      expect(whole.firstByte.p50).toBeLessThanOrEqual(whole.latency.p50);
      const cut = await runner.run(spec("/stream/cut", { maxRequests: 3 }));
      expect(cut).toMatchObject({ ok: 0, errors: 3, errorKinds: { "incomplete body": 3 } });
      expect(cut.errorSamples[0]).toMatch(/^incomplete body: 15 bytes/);
    } finally {
      await runner.close();
    }
  });

  it("counts an error status as an error, with the start of its body", async () => {
    const runner = new LoadRunner();
    try {
      const r = await runner.run(spec("/refused", { maxRequests: 2 }));
      expect(r).toMatchObject({ ok: 0, errors: 2, errorKinds: { "HTTP 429": 2 } });
      expect(r.errorSamples[0]).toBe('HTTP 429: {"error":"slow down"}');
    } finally {
      await runner.close();
    }
  });

  it("counts a refused connection as an error by its code", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const runner = new LoadRunner();
    try {
      const r = await runner.run(spec("/v1/chat/completions", { origin: `http://127.0.0.1:${port}`, maxRequests: 2 }));
      expect(r).toMatchObject({ ok: 0, errors: 2, errorKinds: { ECONNREFUSED: 2 } });
    } finally {
      await runner.close();
    }
  });
});
