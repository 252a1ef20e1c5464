/**
 * A subscriber connection closed while its re-subscription after a reconnect is still
 * unanswered. ioredis re-subscribes on its own after a reconnect and never handles that
 * command's promise, so closing then rejected it with nobody listening: an unhandled
 * rejection, which ends a Node process (and failed a test run now and then when a test
 * stopped Redis under a gateway). Our subscribers re-subscribe themselves, with the error
 * handled.
 *
 * The Redis here is a scripted peer on a socket of the test's own, so the moment is exact:
 * it answers the first SUBSCRIBE, drops every connection, answers the reconnect's ready
 * check and then leaves SUBSCRIBE unanswered.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RedisChangeFeed } from "./change-feed.js";
import { createRedisKeyStateBus } from "./key-state-bus.js";

/** Splits RESP arrays of bulk strings (what clients send) off the front of `buf`. */
function commands(buf: Buffer): { parsed: string[][]; rest: Buffer } {
  const parsed: string[][] = [];
  let at = 0;
  for (;;) {
    const head = buf.indexOf("\r\n", at);
    if (head < 0 || buf[at] !== 0x2a) break;
    const n = Number(buf.subarray(at + 1, head).toString());
    let i = head + 2;
    const args: string[] = [];
    for (let k = 0; k < n; k++) {
      const lenEnd = buf.indexOf("\r\n", i);
      if (lenEnd < 0) return { parsed, rest: buf.subarray(at) };
      const len = Number(buf.subarray(i + 1, lenEnd).toString());
      if (buf.length < lenEnd + 2 + len + 2) return { parsed, rest: buf.subarray(at) };
      args.push(buf.subarray(lenEnd + 2, lenEnd + 2 + len).toString());
      i = lenEnd + 2 + len + 2;
    }
    parsed.push(args);
    at = i;
  }
  return { parsed, rest: buf.subarray(at) };
}

const bulk = (s: string): string => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;

/** The scripted peer: counts what it was asked and answers SUBSCRIBE only while `answerSubscribe` holds. */
class ScriptedRedis {
  readonly sockets = new Set<Socket>();
  subscribes = 0;
  answerSubscribe = true;
  #server: Server | undefined;

  async start(): Promise<string> {
    this.#server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
      let pending: Buffer = Buffer.alloc(0);
      socket.on("data", (chunk) => {
        const { parsed, rest } = commands(Buffer.concat([pending, chunk]));
        pending = rest;
        for (const [name, ...args] of parsed) this.#answer(socket, name!.toLowerCase(), args);
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, "127.0.0.1", resolve));
    return `redis://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  #answer(socket: Socket, name: string, args: string[]): void {
    if (name === "info") socket.write(bulk("# Server\r\nredis_version:7.0.15\r\nloading:0\r\n"));
    else if (name === "subscribe") {
      this.subscribes++;
      if (this.answerSubscribe) for (const [i, ch] of args.entries()) socket.write(`*3\r\n${bulk("subscribe")}${bulk(ch)}:${i + 1}\r\n`);
    } else if (name === "quit") socket.destroy();
    else socket.write("+OK\r\n");
  }

  drop(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.drop();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }
}

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let peer: ScriptedRedis;
let unhandled: unknown[];
const onUnhandled = (reason: unknown): void => void unhandled.push(reason);

beforeEach(() => {
  peer = new ScriptedRedis();
  unhandled = [];
  process.on("unhandledRejection", onUnhandled);
});
afterEach(async () => {
  process.off("unhandledRejection", onUnhandled);
  await peer.stop();
});

/** Subscribed once, then dropped: waits until the reconnect has sent its SUBSCRIBE, which stays unanswered. */
async function reconnectUnanswered(subscribed: number): Promise<void> {
  await until("the first subscription", () => peer.subscribes >= subscribed);
  peer.answerSubscribe = false;
  peer.drop();
  await until("the re-subscription after the reconnect", () => peer.subscribes > subscribed);
}

/** Long enough for a rejection without a handler to be reported (Node reports them after the microtask queue drains). */
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100));

describe("a subscriber closed while it re-subscribes", () => {
  it("the change feed: closes cleanly, no unhandled rejection", async () => {
    const url = await peer.start();
    const errors: Error[] = [];
    const feed = new RedisChangeFeed({ url, channel: "sy-test-feed", node: "n1", onError: (e) => errors.push(e) });
    await feed.start({ change: () => undefined, reset: () => undefined });
    await reconnectUnanswered(1);
    await feed.close();
    await settle();
    expect(unhandled).toEqual([]);
  });

  it("the key-state bus: closes cleanly, no unhandled rejection", async () => {
    const url = await peer.start();
    const logger = { warn: () => undefined };
    const bus = createRedisKeyStateBus({ url, node: "n1", prefix: "sy-test:", logger });
    bus.subscribe(() => undefined);
    await reconnectUnanswered(1);
    await bus.close();
    await settle();
    expect(unhandled).toEqual([]);
  });
});
