/**
 * The translate lane's streaming writes: the events translated from one upstream read reach the
 * client in one write, as the passthrough relay forwards a read's bytes at once.
 */
import { ServerResponse } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";
import { readSse } from "../testing/sse-client.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

describe("translate lane, streaming", () => {
  it("writes the events of one upstream read in one write", async () => {
    // The mock writes an unpaced stream in one write (mock/deliver.ts), a few KB: one read on loopback.
    const writes = new Map<ServerResponse, number>();
    const original = ServerResponse.prototype.write;
    ServerResponse.prototype.write = function (this: ServerResponse, ...args: unknown[]) {
      if (this.req?.url === "/v1/messages") writes.set(this, (writes.get(this) ?? 0) + 1);
      return (original as (...a: unknown[]) => boolean).apply(this, args);
    } as typeof original;
    try {
      const res = await fetch(`${stack.gw.url}/v1/messages`, {
        method: "POST",
        headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
        body: JSON.stringify({ model: "resp-bridge", max_tokens: 100, stream: true, messages: [{ role: "user", content: "Say hello in a few words" }] }),
      });
      expect(res.status).toBe(200);
      const events = await readSse(res);
      expect(stack.mock.requests.at(-1)?.path).toContain("/responses");
      expect(events.length).toBeGreaterThanOrEqual(6);
      expect(events.at(-1)?.event).toBe("message_stop");
      expect([...writes.values()]).toHaveLength(1);
      // The events of the one read, then the encoder's tail if it has one.
      expect([...writes.values()][0]).toBeLessThanOrEqual(2);
    } finally {
      ServerResponse.prototype.write = original;
    }
  });
});
