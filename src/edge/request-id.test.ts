/**
 * Every answer names its request in exactly one `x-request-id` header, whoever writes the head: a
 * lane (a JSON answer, a stream), the edge (an error it renders, a health check, an unknown path),
 * the admin API. The id is written into the head by the response itself (edge/gateway-messages.ts),
 * not set beforehand, so node's writeHead keeps to its fast path.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayRequest, GatewayResponse } from "./gateway-messages.js";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());

const ID = /^req_[0-9a-f]{32}$/;

async function idOf(res: Response): Promise<string> {
  await res.arrayBuffer();
  // fetch joins repeated headers with ", ": a second x-request-id would not match.
  const id = res.headers.get("x-request-id") ?? "";
  expect(id).toMatch(ID);
  return id;
}

function post(path: string, body: unknown, key = ACME_KEY): Promise<Response> {
  return fetch(`${stack.gw.url}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

describe("x-request-id", () => {
  it("is on every head, once, and different for every request", async () => {
    const messages = [{ role: "user", content: "hi" }];
    const answers = [
      await post("/v1/chat/completions", { model: "gpt-4o", messages }),
      await post("/v1/chat/completions", { model: "gpt-4o", messages, stream: true }),
      await post("/v1/chat/completions", { model: "gpt-4o", messages }, "not-a-key-not-a-key"),
      await post("/v1/chat/completions", { model: "no-such-model", messages }),
      await fetch(`${stack.gw.url}/healthz`),
      await fetch(`${stack.gw.url}/no/such/path`),
      await fetch(`${stack.gw.url}/admin/v1/accounts`),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 200, 401, 404, 200, 404, 401]);
    const ids = await Promise.all(answers.map(idOf));
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe("GatewayResponse.writeHead", () => {
  it("adds the id to every form of head node takes: an object, none, a flat list, pairs, with a reason, after an undefined reason", async () => {
    const heads: Array<(res: GatewayResponse) => void> = [
      (res) => res.writeHead(200, { a: "1" }),
      (res) => res.writeHead(200),
      (res) => res.writeHead(200, ["a", "1"]),
      (res) => res.writeHead(200, [["a", "1"]] as unknown as string[]),
      (res) => res.writeHead(200, "Fine", { a: "1" }),
      (res) => res.writeHead(200, undefined as unknown as string, { a: "1" }),
    ];
    let next = 0;
    const server = createServer({ IncomingMessage: GatewayRequest, ServerResponse: GatewayResponse }, (_req, res) => {
      res.requestId = `req_${next}`;
      heads[next++]!(res);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      for (let i = 0; i < heads.length; i++) {
        const res = await fetch(url);
        await res.arrayBuffer();
        expect(res.headers.get("x-request-id")).toBe(`req_${i}`);
        if (i !== 1) expect(res.headers.get("a")).toBe("1");
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
