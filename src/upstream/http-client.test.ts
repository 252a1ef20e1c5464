import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createUpstreamHttp } from "./http-client.js";
import type { UpstreamTransport } from "./response.js";

let server: Server | undefined;
let transport: UpstreamTransport | undefined;

afterEach(async () => {
  await transport?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
  transport = undefined;
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/x`;
}

function send(url: string) {
  transport = createUpstreamHttp();
  return transport.send({ url, method: "POST", headers: {}, body: "{}", signal: new AbortController().signal, headersTimeoutMs: 5000, bodyTimeoutMs: 5000 });
}

/** One turn of the event loop: the socket's reads in between queue on the exchange. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("the HTTP transport's answer body (UpstreamBody.takeNow)", () => {
  it("hands over the chunks that have arrived within the call, every byte in order, past the read-ahead limit, then null at the end", async () => {
    // More than the 64 KB the exchange reads ahead before it pauses the socket: taking resumes it.
    const payload = Buffer.from(Array.from({ length: 200_000 }, (_, i) => String.fromCharCode(97 + (i % 26))).join(""));
    const url = await serve((req, res) => {
      req.resume();
      res.end(payload);
    });
    const { body } = await send(url);
    const got: Buffer[] = [];
    for (let c = body.takeNow!(); c !== null; c = body.takeNow!()) {
      if (c === undefined) await turn();
      else got.push(c);
    }
    expect(Buffer.concat(got).equals(payload)).toBe(true);
    expect(body.takeNow!()).toBeNull();
    // The iterator agrees: the body has ended.
    expect(await body[Symbol.asyncIterator]().next()).toEqual({ done: true, value: undefined });
  });

  it("never reports a broken body as ended: takeNow leaves the failure to next()", async () => {
    const url = await serve((req, res) => {
      req.resume();
      res.writeHead(200, { "content-length": "1000" });
      res.write("partial");
      setImmediate(() => res.socket?.destroy());
    });
    const { body } = await send(url);
    const it = body[Symbol.asyncIterator]();
    let read = "";
    for (;;) {
      const c = body.takeNow!();
      if (c === null) throw new Error("a broken body was reported as ended");
      if (c !== undefined) {
        read += c.toString();
        continue;
      }
      const step = await it.next().catch((err: Error) => err);
      if (step instanceof Error) break;
      if (step.done) throw new Error("a broken body ended cleanly");
      read += step.value.toString();
    }
    // What arrived before the break is handed over in order (a reset may cut it short, never reorder it).
    expect("partial".startsWith(read)).toBe(true);
    expect(body.takeNow!()).toBeUndefined();
  });
});
