/**
 * The drain sequence (docs/deployment.md#shutdown), in process: the listener
 * stays open while work is in flight, so a load balancer can see /readyz fail;
 * new model traffic is refused in its own protocol with `connection: close`;
 * idle keep-alive connections are closed; what runs past the grace is stopped
 * with an error event and recorded as `server_shutting_down`.
 *
 * "In flight" is held deterministically by a request whose body the test
 * sends only when it is done checking.
 */
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ACME_KEY, eventually, stackYaml, startStack, type Stack } from "../testing/stack.js";
import { readSse, validateStream } from "../testing/sse-client.js";
import { freshRequest, openRawConnection, type RawConnection } from "../testing/raw-http.js";

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const auth = { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" };

function stream(s: Stack, content: string, model = "gpt-4o"): Promise<Response> {
  return fetch(`${s.gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content }] }),
  });
}

async function inFlight(s: Stack): Promise<number> {
  const text = (await freshRequest(s.gw.url, "GET", "/metrics")).text;
  return Number(/^switchyard_requests_in_flight (\d+)/m.exec(text)?.[1] ?? 0);
}

/** A chat request whose head and half its body are sent now, the rest by `release()`: in flight until then. */
async function heldRequest(s: Stack): Promise<{ conn: RawConnection; release(): void }> {
  const body = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "held" }] });
  const half = Math.floor(body.length / 2);
  const head = [
    "POST /v1/chat/completions HTTP/1.1",
    "Host: gateway",
    `authorization: Bearer ${ACME_KEY}`,
    "content-type: application/json",
    `content-length: ${body.length}`,
  ].join("\r\n");
  const before = await inFlight(s);
  const conn = await openRawConnection(s.gw.url, `${head}\r\n\r\n${body.slice(0, half)}`);
  // The gateway has begun handling it (the metrics request counts itself, hence "more than before").
  for (let i = 0; (await inFlight(s)) <= before; i++) {
    if (i > 200) throw new Error("the held request never started");
    await new Promise((r) => setTimeout(r, 10));
  }
  return { conn, release: () => conn.socket.write(body.slice(half)) };
}

/** A keep-alive connection that has completed one request and now sits idle. */
async function idleKeepAlive(s: Stack): Promise<RawConnection> {
  const conn = await openRawConnection(s.gw.url, "GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n");
  await conn.responses(1);
  return conn;
}

describe("graceful shutdown", () => {
  it("keeps the listener open while draining: /readyz fails, new requests are refused in their protocol, in-flight work finishes", async () => {
    stack = await startStack();
    const s = stack;
    const idle = await idleKeepAlive(s);
    const slow = await stream(s, "slow [[mock:chunk_delay=60]]");
    expect(slow.status).toBe(200);
    const held = await heldRequest(s);

    const closing = s.gw.close(30_000);
    // Idle keep-alive connections are closed at once.
    await idle.closed;
    // The listener is still open: readiness answers, and says draining.
    const ready = await freshRequest(s.gw.url, "GET", "/readyz");
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.text)).toEqual({ status: "draining" });
    expect(ready.headers.connection).toBe("close");
    // New model traffic is refused in the client's protocol, and told to reconnect.
    const chat = await freshRequest(s.gw.url, "POST", "/v1/chat/completions", auth, JSON.stringify({ model: "gpt-4o", messages: [] }));
    expect(chat.status).toBe(503);
    expect(chat.headers.connection).toBe("close");
    expect(JSON.parse(chat.text)).toMatchObject({ error: { code: "server_draining", type: "server_error" } });
    const messages = await freshRequest(
      s.gw.url,
      "POST",
      "/v1/messages",
      { ...auth, "anthropic-version": "2023-06-01" },
      JSON.stringify({ model: "claude-test-sonnet", max_tokens: 5, messages: [] }),
    );
    // Anthropic's own pair for an overloaded service (docs/errors.md): 529 with overloaded_error.
    expect(messages.status).toBe(529);
    expect(JSON.parse(messages.text)).toMatchObject({ type: "error", error: { type: "overloaded_error" } });
    // Admitted work runs to its end: the stream, and the held request once its body arrives.
    const events = await readSse(slow);
    expect(validateStream("openai-chat", events)).toEqual([]);
    expect(events.at(-1)!.data).toBe("[DONE]");
    held.release();
    const [answer] = await held.conn.responses(1);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    // Its connection is idle after the answer: closed too.
    await held.conn.closed;

    await closing;
    // Only now is the listener closed.
    await expect(freshRequest(s.gw.url, "GET", "/healthz")).rejects.toThrow();
  });

  it("with server.drain_delay_ms, still serves while readiness fails, then refuses", async () => {
    stack = await startStack({ yaml: (url) => stackYaml(url).replace("shutdown_grace_ms: 5000", "shutdown_grace_ms: 5000\n  drain_delay_ms: 3000") });
    const s = stack;
    const held = await heldRequest(s);
    const closing = s.gw.close(30_000);
    expect((await freshRequest(s.gw.url, "GET", "/readyz")).status).toBe(503);
    // During the delay a request is served, and its connection closed after the answer.
    const body = JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] });
    const served = await freshRequest(s.gw.url, "POST", "/v1/chat/completions", auth, body);
    expect(served.status).toBe(200);
    expect(served.headers.connection).toBe("close");
    // Then the refusals begin.
    let refused: Awaited<ReturnType<typeof freshRequest>> | undefined;
    for (let i = 0; i < 200 && refused?.status !== 503; i++) {
      refused = await freshRequest(s.gw.url, "POST", "/v1/chat/completions", auth, body);
      if (refused.status !== 503) await new Promise((r) => setTimeout(r, 50));
    }
    expect(refused?.status).toBe(503);
    expect(JSON.parse(refused!.text)).toMatchObject({ error: { code: "server_draining" } });
    held.release();
    expect((await held.conn.responses(1))[0]).toMatch(/^HTTP\/1\.1 200/);
    await closing;
  });

  it("closes idle WebSocket connections (1001) and refuses new upgrades while draining", async () => {
    stack = await startStack();
    const s = stack;
    const wsUrl = `${s.gw.url.replace("http", "ws")}/v1/responses`;
    const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${ACME_KEY}` } });
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const closedWith = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    const held = await heldRequest(s);
    const closing = s.gw.close(30_000);
    expect(await closedWith).toBe(1001);
    const refused = await new Promise<number>((resolve, reject) => {
      const late = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${ACME_KEY}` } });
      late.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
      late.once("open", () => reject(new Error("upgrade accepted while draining")));
      late.once("error", () => undefined);
    });
    expect(refused).toBe(503);
    held.release();
    await closing;
  });

  it("stops what outlives the grace with an error in its protocol, recorded as server_shutting_down", async () => {
    stack = await startStack();
    const s = stack;
    const passthrough = await stream(s, "very slow [[mock:chunk_delay=2000]]");
    const translated = await stream(s, "very slow [[mock:chunk_delay=2000]]", "claude-test-sonnet");
    expect([passthrough.status, translated.status]).toEqual([200, 200]);
    // A body still arriving at the end of the grace is not waited for either.
    const uploading = await heldRequest(s);
    await s.gw.close(200);
    for (const res of [passthrough, translated]) {
      const events = await readSse(res);
      expect(events.some((e) => (e.data as { error?: { code?: string } }).error?.code === "server_shutting_down")).toBe(true);
    }
    const [answer] = await uploading.conn.responses(1);
    expect(answer).toMatch(/^HTTP\/1\.1 503/);
    expect(answer).toContain("server_shutting_down");
    expect(answer!.toLowerCase()).toContain("connection: close");
    await eventually(() => s.usage.length === 2);
    for (const rec of s.usage) expect(rec).toMatchObject({ status: 503, errorCode: "server_shutting_down", aborted: false });
  });
});
