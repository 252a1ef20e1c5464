/**
 * Authentication comes from the headers, before the body: a caller without a
 * valid key gets its 401 at once, whatever body it announces or trickles, and
 * the gateway buffers none of it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "node:net";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

/** Sends a request head and a first slice of a longer body, then waits for whatever the server answers. */
function partialRequest(headers: string[], announced: number, sent: string): Promise<string> {
  const { hostname, port } = new URL(stack.gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = "";
    socket.on("data", (d) => {
      answer += d.toString("latin1");
      if (answer.includes("\r\n\r\n") && /content-length: (\d+)/i.test(answer)) {
        const len = Number(/content-length: (\d+)/i.exec(answer)![1]);
        if (answer.length - answer.indexOf("\r\n\r\n") - 4 >= len) {
          socket.destroy();
          resolve(answer);
        }
      }
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(answer));
    socket.write(
      ["POST /v1/chat/completions HTTP/1.1", `Host: ${hostname}`, "content-type: application/json", `content-length: ${announced}`, ...headers, "", sent].join(
        "\r\n",
      ),
    );
  });
}

describe("authentication before the body", () => {
  it("answers 401 to a keyless request whose body has not arrived", async () => {
    const answer = await partialRequest([], 10_000, '{"model":"gpt-4o",');
    expect(answer).toMatch(/^HTTP\/1\.1 401/);
    expect(answer.toLowerCase()).toContain("connection: close");
    expect(answer).toContain("missing_api_key");
  });

  it("answers 401, not 413, to a keyless request announcing a body over the limit", async () => {
    const answer = await partialRequest(["authorization: Bearer not-a-real-key-000000"], 64 * 1024 * 1024, "{");
    expect(answer).toMatch(/^HTTP\/1\.1 401/);
    expect(answer).toContain("invalid_api_key");
  });

  it("still reads the body of an authenticated request", async () => {
    const res = await fetch(`${stack.gw.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }),
    });
    expect(res.status).toBe(200);
  });
});
