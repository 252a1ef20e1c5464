/**
 * How a streamed answer leaves the gateway. The translate lane writes the events of one upstream
 * read at once. And a stream that arrives in one read leaves in one socket write, head, events
 * and end: node:http corks the socket on a write and uncorks it on the next tick, and the relay
 * writes, sees the upstream's end and ends the answer within that tick (nothing between awaits
 * I/O), so the end of the chunked body goes out with the events instead of in a write of its own.
 * The mock writes an unpaced stream in one write (mock/deliver.ts), a few KB: one read on loopback.
 */
import { ServerResponse } from "node:http";
import { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";
import { readSse, type ClientEvent } from "../testing/sse-client.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

type Patched<T> = { restore(): void; counts: Map<T, number> };

/** Counts the calls of `proto[name]` on objects `pick` accepts, until restored. */
function countCalls<T extends object>(proto: T, name: keyof T & string, pick: (self: T) => boolean): Patched<T> {
  const counts = new Map<T, number>();
  const original = proto[name] as (...a: unknown[]) => unknown;
  (proto as Record<string, unknown>)[name] = function (this: T, ...args: unknown[]) {
    if (pick(this)) counts.set(this, (counts.get(this) ?? 0) + 1);
    return original.apply(this, args);
  };
  return { counts, restore: () => ((proto as Record<string, unknown>)[name] = original) };
}

async function streamed(path: string, body: unknown): Promise<ClientEvent[]> {
  const res = await fetch(`${stack.gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ACME_KEY}`, "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return readSse(res);
}

describe("streamed answers", () => {
  it("translate lane: the events of one upstream read go out in one write", async () => {
    const writes = countCalls(ServerResponse.prototype, "write", (res) => res.req?.url === "/v1/messages");
    try {
      const events = await streamed("/v1/messages", {
        model: "resp-bridge",
        max_tokens: 100,
        stream: true,
        messages: [{ role: "user", content: "Say hello" }],
      });
      expect(stack.mock.requests.at(-1)?.path).toContain("/responses");
      expect(events.length).toBeGreaterThanOrEqual(6);
      expect(events.at(-1)?.event).toBe("message_stop");
      expect([...writes.counts.values()]).toHaveLength(1);
      // The events of the one read, then the encoder's tail if it has one.
      expect([...writes.counts.values()][0]).toBeLessThanOrEqual(2);
    } finally {
      writes.restore();
    }
  });

  for (const lane of [
    {
      name: "passthrough",
      path: "/v1/chat/completions",
      body: { model: "gpt-4o", stream: true, messages: [{ role: "user", content: "Say hello" }] },
      upstream: "/chat/completions",
    },
    {
      name: "translate",
      path: "/v1/messages",
      body: { model: "resp-bridge", max_tokens: 100, stream: true, messages: [{ role: "user", content: "Say hello" }] },
      upstream: "/responses",
    },
  ]) {
    it(`${lane.name} lane: a stream the upstream sent in one read leaves in one socket write, head, events and end`, async () => {
      const port = Number(new URL(stack.gw.url).port);
      // net.Socket's one way to the system call, for _write and _writev alike.
      const writes = countCalls(Socket.prototype as Socket & { _writeGeneric: unknown }, "_writeGeneric", (s) => s.localPort === port);
      let events: ClientEvent[];
      try {
        events = await streamed(lane.path, lane.body);
      } finally {
        writes.restore();
      }
      expect(stack.mock.requests.at(-1)?.path).toContain(lane.upstream);
      expect(events.length).toBeGreaterThanOrEqual(6);
      expect([...writes.counts.values()]).toEqual([1]);
    });
  }
});
