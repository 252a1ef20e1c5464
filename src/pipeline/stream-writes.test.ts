/**
 * How a streamed answer leaves the gateway. The translate lane writes the events of one upstream
 * read at once. And a stream that arrives in one read leaves in one socket write, head, events
 * and end: node:http corks the socket on a write and uncorks it on the next tick, and the relay
 * writes, sees the upstream's end and ends the answer within that tick (nothing between awaits
 * I/O), so the end of the chunked body goes out with the events instead of in a write of its own.
 * The mock writes an unpaced stream in one write (mock/deliver.ts), a few KB: one read on loopback.
 */
import { createServer, request, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";
import { readSse, type ClientEvent } from "../testing/sse-client.js";
import { relayStream } from "./passthrough-lane.js";
import { SSE_HEADERS, TurnWriter, writeAsync, writeTerminal } from "./write-client.js";

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

/**
 * The terminal event's write is held for the end (write-client.ts writeTerminal). An upstream's
 * last read and its end often reach the relay in two callbacks of the same event-loop turn (a
 * body past 64 KB is two socket reads); node:http had uncorked the event's write between them,
 * so the end of the chunked body went out in a write of its own. Driven here without an
 * upstream, so the ticks are exact: relayStream as the passthrough lane wires it, on a real
 * socket.
 */
describe("a stream's terminal event and the end of the answer", () => {
  const created = 'event: response.created\ndata: {"type":"response.created","response":{"id":"r1","status":"in_progress"}}\n\n';
  const delta = 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"hé"}\n\n';
  const completed =
    'event: response.completed\ndata: {"type":"response.completed","response":{"id":"r1","status":"completed","usage":{"input_tokens":3,"output_tokens":1,"total_tokens":4}}}\n\n';

  /**
   * Relays what `upstream` yields to one client over HTTP and counts the server socket's writes.
   * `upstream` gets a wait for the client to have received a text.
   */
  async function relayToClient(upstream: (received: (text: string) => Promise<void>) => AsyncIterable<Buffer>): Promise<{ writes: number; text: string }> {
    let text = "";
    const waiters: Array<{ text: string; resolve: () => void }> = [];
    const received = (wanted: string): Promise<void> =>
      text.includes(wanted) ? Promise.resolve() : new Promise((resolve) => waiters.push({ text: wanted, resolve }));
    let relayed: Promise<unknown> = Promise.resolve();
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, SSE_HEADERS);
      const write = (chunk: Buffer | string, last?: boolean): Promise<void> | undefined => (last ? writeTerminal(res, chunk) : writeAsync(res, chunk));
      relayed = relayStream("openai-responses", "openai-responses", upstream(received), write, new AbortController().signal).then((r) => {
        res.end();
        return r;
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const writes = countCalls(Socket.prototype as Socket & { _writeGeneric: unknown }, "_writeGeneric", (s) => s.localPort === port);
    try {
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, method: "POST", path: "/" }, (res) => {
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            text += chunk;
            for (const w of waiters.splice(0))
              if (text.includes(w.text)) w.resolve();
              else waiters.push(w);
          });
          res.on("end", resolve);
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end("{}");
      });
      await expect(relayed).resolves.toMatchObject({ completed: true, failed: false });
      return { writes: [...writes.counts.values()].reduce((a, b) => a + b, 0), text };
    } finally {
      writes.restore();
      server.close();
    }
  }

  it("the end that follows within the turn leaves in the terminal event's write", async () => {
    const { writes, text } = await relayToClient(async function* () {
      yield Buffer.from(created + delta);
      // A later turn: the first write has left.
      await new Promise((resolve) => setTimeout(resolve, 5));
      yield Buffer.from(completed);
      // The end, a tick later: after node:http's own uncork of the write above, before the turn ends.
      await new Promise((resolve) => process.nextTick(resolve));
    });
    expect(text).toBe(created + delta + completed);
    // The head with the first events, then the terminal event with the end of the body.
    expect(writes).toBe(2);
  });

  it("an end that comes later does not hold the terminal event back", async () => {
    const { writes, text } = await relayToClient(async function* (received) {
      yield Buffer.from(created + delta + completed);
      // The upstream ends only once the client has the terminal event: a hold until the end would never let go.
      await received('"type":"response.completed"');
    });
    expect(text).toBe(created + delta + completed);
    expect(writes).toBe(2);
  });
});

/**
 * A translated stream's writes after its first are joined per event-loop turn (write-client.ts
 * TurnWriter): the upstream's reads of one turn each bring events, and each read's write had been
 * a system call of its own. Driven on a real socket, with the ticks exact.
 */
describe("a translated stream's writes", () => {
  /** Serves one answer with `answer(writer, res)`, reads it as a client; counts the server socket's writes. */
  async function serve(
    answer: (writer: TurnWriter, res: ServerResponse, writesSoFar: () => number) => Promise<void>,
  ): Promise<{ writes: number; text: string }> {
    let finished: Promise<void> = Promise.resolve();
    const counted: { writes?: Patched<Socket> } = {};
    const writesSoFar = (): number => [...(counted.writes?.counts.values() ?? [])].reduce((a, b) => a + b, 0);
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, SSE_HEADERS);
      finished = answer(new TurnWriter(res), res, writesSoFar).then(() => void res.end());
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    counted.writes = countCalls(Socket.prototype as Socket & { _writeGeneric: unknown }, "_writeGeneric", (s) => s.localPort === port);
    try {
      let text = "";
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, method: "POST", path: "/" }, (res) => {
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", resolve);
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end("{}");
      });
      await finished;
      return { writes: writesSoFar(), text };
    } finally {
      counted.writes.restore();
      server.close();
    }
  }

  const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

  it("the first leaves at once; later ones of one turn leave together, with the end", async () => {
    let afterFirst = -1;
    const { writes, text } = await serve(async (writer, _res, writesSoFar) => {
      await writer.write("event: a\ndata: 1\n\n");
      // node:http's own uncork runs on the next tick: the first write is not held past it.
      await tick();
      afterFirst = writesSoFar();
      await new Promise((resolve) => setTimeout(resolve, 5));
      // Three reads' events in one turn, each a tick apart (node:http uncorks between them), then the end.
      await writer.write("event: b\ndata: 2\n\n");
      await tick();
      await writer.write("event: c\ndata: 3\n\n");
      await tick();
      await writer.write("event: d\ndata: 4\n\n");
      await tick();
    });
    expect(text).toBe("event: a\ndata: 1\n\nevent: b\ndata: 2\n\nevent: c\ndata: 3\n\nevent: d\ndata: 4\n\n");
    expect(afterFirst).toBe(1);
    // The head with the first event; then the later three with the end of the body.
    expect(writes).toBe(2);
  });

  it("a held write that fills the socket's buffer waits for the drain after the hold, and loses nothing", async () => {
    const big = "x".repeat(256 * 1024);
    const { text } = await serve(async (writer) => {
      await writer.write("event: a\ndata: 1\n\n");
      await new Promise((resolve) => setTimeout(resolve, 5));
      await writer.write(`data: ${big}\n\n`);
      await writer.write("event: z\ndata: 9\n\n");
    });
    expect(text).toBe(`event: a\ndata: 1\n\ndata: ${big}\n\nevent: z\ndata: 9\n\n`);
  });
});
