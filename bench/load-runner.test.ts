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

/** Runs `f` with a fresh runner and closes its pools whatever happens. */
async function withRunner(f: (runner: LoadRunner) => Promise<void>): Promise<void> {
  const runner = new LoadRunner();
  try {
    await f(runner);
  } finally {
    await runner.close();
  }
}

describe("LoadRunner", () => {
  it("sends every request's whole body and counts whole answers, with their latency and first byte", async () => {
    bodiesSeen = [];
    await withRunner(async (runner) => {
      const r = await runner.run(spec("/v1/chat/completions"));
      expect(r).toMatchObject({ ok: 6, errors: 0 });
      expect(bodiesSeen).toHaveLength(6);
      expect(new Set(bodiesSeen)).toEqual(new Set([1024]));
      expect(r.responseBytes).toBe(6 * '{"received":1024}'.length);
      expect(r.latency.count).toBe(6);
      expect(r.firstByte.count).toBe(6);
      expect(r.firstByte.p50).toBeGreaterThan(0);
      expect(r.firstByte.p50).toBeLessThanOrEqual(r.latency.p50);
    });
  });

  it("counts a stream as whole only once its end arrived, later than its first byte", async () => {
    await withRunner(async (runner) => {
      const whole = await runner.run(spec("/stream/complete", { maxRequests: 4 }));
      expect(whole).toMatchObject({ ok: 4, errors: 0 });
      // Both writes of every stream were read before it counted as whole.
      expect(whole.responseBytes).toBe(4 * 'data: {"a":1}\n\ndata: [DONE]\n\n'.length);
      expect(whole.firstByte.p50).toBeLessThanOrEqual(whole.latency.p50);
      const cut = await runner.run(spec("/stream/cut", { maxRequests: 3 }));
      expect(cut).toMatchObject({ ok: 0, errors: 3, errorKinds: { "incomplete body": 3 } });
      expect(cut.errorSamples[0]).toMatch(/^incomplete body: 15 bytes/);
    });
  });

  it("counts an error status as an error, with the start of its body", async () => {
    await withRunner(async (runner) => {
      const r = await runner.run(spec("/refused", { maxRequests: 2 }));
      expect(r).toMatchObject({ ok: 0, errors: 2, errorKinds: { "HTTP 429": 2 } });
      expect(r.errorSamples[0]).toBe('HTTP 429: {"error":"slow down"}');
    });
  });

  it("counts a connection the other side drops as an error, by its code", async () => {
    // Drops every connection at once: no port is freed for another process to take meanwhile.
    const dropping = createServer();
    dropping.on("connection", (socket) => socket.destroy());
    await new Promise<void>((resolve) => dropping.listen(0, "127.0.0.1", resolve));
    try {
      await withRunner(async (runner) => {
        const port = (dropping.address() as AddressInfo).port;
        const r = await runner.run(spec("/v1/chat/completions", { origin: `http://127.0.0.1:${port}`, maxRequests: 2 }));
        expect(r).toMatchObject({ ok: 0, errors: 2 });
        // Which of the two a drop shows as depends on when the socket learns of it.
        expect(Object.keys(r.errorKinds).every((kind) => kind === "UND_ERR_SOCKET" || kind === "ECONNRESET")).toBe(true);
        expect(r.errorSamples.length).toBe(2);
      });
    } finally {
      await new Promise<void>((resolve) => dropping.close(() => resolve()));
    }
  });
});
