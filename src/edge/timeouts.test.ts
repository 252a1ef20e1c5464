/**
 * Slow and partial requests: a client that sends its head or its body too
 * slowly (or never) is answered 408 and its connection closed once
 * `server.headers_timeout_ms` / `server.request_timeout_ms` pass, even with a
 * valid key; the answer itself may take as long as it needs. The timeouts
 * here are small so the test is quick; what is checked is the outcome, never
 * a duration.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../observability/logger.js";
import { ACME_KEY, eventually, stackYaml, startStack, type Stack } from "../testing/stack.js";
import { openRawConnection } from "../testing/raw-http.js";
import { readSse, validateStream } from "../testing/sse-client.js";

type Line = Record<string, unknown>;
const lines: Line[] = [];
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    yaml: (url) => stackYaml(url).replace("shutdown_grace_ms: 5000", "shutdown_grace_ms: 5000\n  headers_timeout_ms: 1000\n  request_timeout_ms: 2000"),
    logger: createLogger("info", { write: (s: string) => void lines.push(JSON.parse(s) as Line) }),
  });
});
afterAll(() => stack.close());

describe("request deadlines", () => {
  it("answers 408 and closes the connection when an authenticated body never completes", async () => {
    const conn = await openRawConnection(
      stack.gw.url,
      [
        "POST /v1/chat/completions HTTP/1.1",
        "Host: gateway",
        `authorization: Bearer ${ACME_KEY}`,
        "content-type: application/json",
        "content-length: 1000",
        "",
        '{"model":"gpt-4o",',
      ].join("\r\n"),
    );
    await conn.closed;
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408/);
    // The access line says why.
    await eventually(() => lines.some((l) => l.msg === "request" && l.status === 408));
    expect(lines.find((l) => l.msg === "request" && l.status === 408)).toMatchObject({
      outcome: 408,
      errorCode: "request_timeout",
      path: "/v1/chat/completions",
    });
  });

  it("answers 408 and closes the connection when the head never completes", async () => {
    const conn = await openRawConnection(stack.gw.url, `POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nauthorization: Bearer ${ACME_KEY}\r\n`);
    await conn.closed;
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408/);
    await eventually(() => lines.some((l) => l.msg === "request head not received in time; connection closed"));
  });

  it("closes a connection that never sends anything", async () => {
    const conn = await openRawConnection(stack.gw.url);
    await conn.closed;
  });

  it("lets an answer take longer than the request deadline", async () => {
    // 15 events 200 ms apart: the stream lasts longer than request_timeout_ms, which covers only the request.
    const res = await fetch(`${stack.gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o", stream: true, messages: [{ role: "user", content: "slow [[mock:chunk_delay=200]]" }] }),
    });
    const events = await readSse(res);
    expect(validateStream("openai-chat", events)).toEqual([]);
    expect(events.at(-1)!.data).toBe("[DONE]");
  });
});
