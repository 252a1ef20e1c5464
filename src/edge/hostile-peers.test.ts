/**
 * A hostile or broken peer costs only its own connection. The gateway process
 * (a real one, started from the CLI) closes a WebSocket that breaks RFC 6455
 * with the right close code, counts and logs it, and keeps serving everyone
 * else, including another tenant's streams in flight; fuzzed frames and
 * fuzzed HTTP requests never stop it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { startMockUpstream, type MockUpstream } from "../mock/server.js";
import { ACME_KEY, TEAM_KEY, stackYaml } from "../testing/stack.js";
import { startGatewayProcess, type GatewayProcess } from "../testing/gateway-process.js";
import { clientFrame, closeCodeOf, openRawWebSocket } from "../testing/raw-websocket.js";
import { readSse } from "../testing/sse-client.js";
import { connect } from "node:net";

let mock: MockUpstream;
let gw: GatewayProcess;

beforeAll(async () => {
  mock = await startMockUpstream();
  gw = await startGatewayProcess(stackYaml(mock.url), { LOG_LEVEL: "warn" });
}, 60_000);
afterAll(async () => {
  await gw?.stop();
  await mock?.close();
});

const auth = { authorization: `Bearer ${ACME_KEY}` };
const text = (s: string): Buffer => Buffer.from(s, "utf8");

/** Each violation with the close code RFC 6455 §7.4.1 prescribes for it. */
const VIOLATIONS: Array<{ name: string; bytes: () => Buffer; code: number; wsCode: string }> = [
  { name: "invalid UTF-8 in a text frame", bytes: () => clientFrame(0x81, Buffer.from([0xff, 0xfe])), code: 1007, wsCode: "WS_ERR_INVALID_UTF8" },
  {
    name: "a frame over the size limit",
    bytes: () => clientFrame(0x81, Buffer.alloc(0), { declaredLength: 64n * 1024n * 1024n }),
    code: 1009,
    wsCode: "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH",
  },
  {
    name: "a declared length of 2^62",
    bytes: () => clientFrame(0x81, Buffer.alloc(0), { declaredLength: 2n ** 62n }),
    code: 1009,
    wsCode: "WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH",
  },
  { name: "an unmasked client frame", bytes: () => clientFrame(0x81, text("hi"), { masked: false }), code: 1002, wsCode: "WS_ERR_EXPECTED_MASK" },
  { name: "a reserved opcode", bytes: () => clientFrame(0x83, text("x")), code: 1002, wsCode: "WS_ERR_INVALID_OPCODE" },
  { name: "a ping without FIN", bytes: () => clientFrame(0x09, Buffer.alloc(0)), code: 1002, wsCode: "WS_ERR_EXPECTED_FIN" },
  { name: "close code 999", bytes: () => clientFrame(0x88, Buffer.from([0x03, 0xe7])), code: 1002, wsCode: "WS_ERR_INVALID_CLOSE_CODE" },
  { name: "RSV2 set without an extension", bytes: () => clientFrame(0xa1, text("x")), code: 1002, wsCode: "WS_ERR_UNEXPECTED_RSV_2_3" },
  { name: "a continuation with nothing to continue", bytes: () => clientFrame(0x80, text("x")), code: 1002, wsCode: "WS_ERR_INVALID_OPCODE" },
  { name: "a control frame over 125 bytes", bytes: () => clientFrame(0x89, Buffer.alloc(126)), code: 1002, wsCode: "WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH" },
  {
    name: "a new text frame inside a fragmented message",
    bytes: () => Buffer.concat([clientFrame(0x01, text("{")), clientFrame(0x81, text("}"))]),
    code: 1002,
    wsCode: "WS_ERR_INVALID_OPCODE",
  },
];

function slowStream(key: string): Promise<Response> {
  return fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "gpt-4o", stream: true, messages: [{ role: "user", content: "slow [[mock:chunk_delay=40]]" }] }),
  });
}

async function metricValue(name: string, label: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{${label}}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

describe("WebSocket protocol errors", () => {
  it("close only the offending connection, with the right close code, while another tenant's streams finish", async () => {
    const streams = await Promise.all([slowStream(TEAM_KEY), slowStream(TEAM_KEY), slowStream(TEAM_KEY)]);
    for (const res of streams) expect(res.status).toBe(200);

    for (const v of VIOLATIONS) {
      const ws = await openRawWebSocket(gw.url, "/v1/responses", auth);
      ws.socket.write(v.bytes());
      await ws.closed;
      expect({ violation: v.name, code: closeCodeOf(ws.received()) }).toEqual({ violation: v.name, code: v.code });
      expect(gw.exited()).toBeUndefined();
    }

    for (const res of streams) {
      const events = await readSse(res);
      expect(events.at(-1)!.data).toBe("[DONE]");
    }
    const health = await fetch(`${gw.url}/healthz`);
    expect(health.status).toBe(200);
    for (const wsCode of new Set(VIOLATIONS.map((v) => v.wsCode))) {
      expect(await metricValue("switchyard_websocket_protocol_errors_total", `code="${wsCode}"`)).toBeGreaterThan(0);
    }
    expect(gw.output()).toContain("websocket connection closed on a protocol error");
  });

  it("a well-formed turn still works on a new connection afterwards", async () => {
    const ws = await openRawWebSocket(gw.url, "/v1/responses", auth);
    const frame = { type: "response.create", model: "gpt-5", input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "hi" }] }] };
    ws.socket.write(clientFrame(0x81, text(JSON.stringify(frame))));
    await expect.poll(() => ws.received().toString("latin1"), { timeout: 10_000 }).toContain("response.completed");
    ws.socket.destroy();
  });

  it("survives fuzzed frames", async () => {
    const frame = fc.record({
      fin: fc.boolean(),
      rsv: fc.integer({ min: 0, max: 7 }),
      opcode: fc.integer({ min: 0, max: 15 }),
      masked: fc.boolean(),
      payload: fc.uint8Array({ maxLength: 300 }),
      // Mostly the true length; sometimes a lie, short or long, up to 2^63-1.
      declared: fc.option(fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }), { freq: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 4 }), async (frames) => {
        const ws = await openRawWebSocket(gw.url, "/v1/responses", auth);
        for (const f of frames) {
          const first = (f.fin ? 0x80 : 0) | (f.rsv << 4) | f.opcode;
          ws.socket.write(clientFrame(first, Buffer.from(f.payload), { masked: f.masked, declaredLength: f.declared ?? undefined }));
        }
        // Half-close: whatever the server still waits for, it sees the end of the stream and closes.
        ws.socket.end();
        await ws.closed;
        expect(gw.exited()).toBeUndefined();
      }),
      { numRuns: 200 },
    );
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });
});

/** Writes raw bytes as one HTTP exchange, half-closes, and waits until the server has closed. */
function rawHttp(bytes: Buffer): Promise<string> {
  const { hostname, port } = new URL(gw.url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let answer = "";
    socket.on("data", (d: Buffer) => (answer += d.toString("latin1")));
    socket.on("error", () => {});
    socket.on("close", () => resolve(answer));
    socket.once("connect", () => socket.end(bytes));
  });
}

describe("fuzzed HTTP requests", () => {
  it("never stop the gateway, and every answer is well-formed HTTP", async () => {
    const token = fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}$/);
    const request = fc.record({
      method: fc.oneof(fc.constantFrom("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"), token),
      path: fc.oneof(
        fc.constantFrom("/v1/chat/completions", "/v1/messages", "/v1/responses", "/v1/models", "/v1/messages/count_tokens", "/admin/v1/accounts", "/healthz"),
        fc.webPath(),
        fc.string({ maxLength: 40 }),
      ),
      headers: fc.array(fc.tuple(fc.oneof(token, fc.string({ maxLength: 20 })), fc.string({ maxLength: 60 })), { maxLength: 6 }),
      withKey: fc.boolean(),
      body: fc.oneof(fc.json(), fc.string({ maxLength: 200 }), fc.constant('{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}')),
      // The true length, a lie either way, or chunked framing with garbage.
      framing: fc.constantFrom("length", "short", "long", "chunked", "none"),
    });
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const body = Buffer.from(r.body);
        const lines = [`${r.method} ${r.path} HTTP/1.1`, "Host: 127.0.0.1"];
        if (r.withKey) lines.push(`Authorization: Bearer ${ACME_KEY}`);
        for (const [k, v] of r.headers) lines.push(`${k}: ${v}`);
        if (r.framing === "length") lines.push(`Content-Length: ${body.length}`);
        if (r.framing === "short") lines.push(`Content-Length: ${Math.max(0, body.length - 3)}`);
        if (r.framing === "long") lines.push(`Content-Length: ${body.length + 50}`);
        if (r.framing === "chunked") lines.push("Transfer-Encoding: chunked");
        const payload = r.framing === "chunked" ? `${body.length.toString(16)}\r\n${r.body}\r\nzz\r\n` : r.body;
        const answer = await rawHttp(Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), Buffer.from(payload)]));
        // Either an HTTP answer or a closed connection; never half an answer line.
        if (answer.length > 0) expect(answer).toMatch(/^HTTP\/1\.1 \d{3} /);
        expect(gw.exited()).toBeUndefined();
      }),
      { numRuns: 150 },
    );
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });
});
