/**
 * `/v1/realtime` over real sockets: a gateway from the test stack, the mock's Realtime
 * endpoint as the upstream, `ws` as the client.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ACME_KEY, TEAM_KEY, eventually, stackYaml, startStack, type Stack } from "../testing/stack.js";
import { realtimeSessions } from "../mock/realtime.js";

const RT_UPSTREAM = `  - name: rt
    protocol: openai-responses
    base_url: MOCK/v1
    realtime: true
    keys: [mock-rt-key-1]
    models: ["gpt-realtime*", "gpt-4o-realtime*"]
`;
const SOLO_KEY = "sk-test-solo-000000000000000003";
const ACCOUNTS = `  - name: solo
    limits: { concurrency: 1 }
    keys: [${SOLO_KEY}]
`;
const MAX_FRAME = 64 * 1024;

function yaml(mockUrl: string): string {
  return stackYaml(mockUrl, ACCOUNTS, RT_UPSTREAM).replace("shutdown_grace_ms: 5000", `shutdown_grace_ms: 5000\n  realtime_max_frame_bytes: ${MAX_FRAME}`);
}

type Ev = { type: string; [k: string]: any };

/** A Realtime client: every event it received, in order, and waits on them. */
class Client {
  readonly events: Ev[] = [];
  readonly binary: Buffer[] = [];
  closed: Promise<{ code: number; reason: string }>;
  private waiters: Array<() => void> = [];

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      if (isBinary) this.binary.push(data as Buffer);
      else this.events.push(JSON.parse(data.toString()) as Ev);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  send(ev: unknown): void {
    this.ws.send(JSON.stringify(ev));
  }

  /** Resolves once `n` events of type `type` have arrived. */
  async waitFor(type: string, n = 1): Promise<Ev[]> {
    for (;;) {
      const found = this.events.filter((e) => e.type === type);
      if (found.length >= n) return found;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async waitForBinary(): Promise<Buffer> {
    while (this.binary.length === 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.binary[0]!;
  }
}

let stack: Stack;
const wsUrl = (query = "?model=gpt-realtime"): string => `${stack.gw.url.replace("http", "ws")}/v1/realtime${query}`;

function connect(o: { headers?: Record<string, string>; protocols?: string[]; query?: string } = {}): Promise<Client> {
  const headers = o.headers ?? { authorization: `Bearer ${ACME_KEY}` };
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl(o.query), o.protocols ?? [], { headers });
    const client = new Client(ws);
    ws.once("open", () => resolve(client));
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode, body: JSON.parse(body) as unknown })));
    });
    ws.once("error", reject);
  });
}

/** The upgrade's refusal: its status and OpenAI-format body. */
async function refusal(o: Parameters<typeof connect>[0]): Promise<{ status: number; body: { error: { code: string; type: string; message: string } } }> {
  try {
    const c = await connect(o);
    c.ws.close();
  } catch (err) {
    return err as { status: number; body: { error: { code: string; type: string; message: string } } };
  }
  throw new Error("the upgrade was accepted");
}

function userText(text: string): unknown {
  return { type: "conversation.item.create", item: { type: "message", role: "user", content: [{ type: "input_text", text }] } };
}

beforeAll(async () => {
  stack = await startStack({ yaml });
});
afterAll(() => stack.close());
beforeEach(() => stack.fresh());

describe("the upgrade", () => {
  it("is refused without a key, with a wrong one, and with a wrong subprotocol key: 401 in OpenAI's format", async () => {
    const none = await refusal({ headers: {} });
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe("missing_api_key");
    const wrong = await refusal({ headers: { authorization: "Bearer sk-test-nobody-00000000000000000" } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatchObject({ code: "invalid_api_key", type: "authentication_error" });
    const sub = await refusal({ headers: {}, protocols: ["realtime", "openai-insecure-api-key.sk-test-nobody-00000000000000000"] });
    expect(sub.status).toBe(401);
    expect(sub.body.error.code).toBe("invalid_api_key");
    expect(stack.mock.requests.filter((r) => r.path === "/v1/realtime")).toHaveLength(0);
  });

  it("takes the key as Authorization, x-api-key or the browser's subprotocol, and answers the `realtime` subprotocol only", async () => {
    for (const o of <Array<{ headers: Record<string, string>; protocols?: string[] }>>[
      { headers: { authorization: `Bearer ${ACME_KEY}` } },
      { headers: { "x-api-key": ACME_KEY } },
      { headers: {}, protocols: ["realtime", `openai-insecure-api-key.${ACME_KEY}`, "openai-beta.realtime-v1"] },
    ]) {
      const c = await connect(o);
      await c.waitFor("session.created");
      expect(c.ws.protocol).toBe(o.protocols ? "realtime" : "");
      c.ws.close(1000);
      await c.closed;
    }
    // The upstream gets the gateway's credential, never the client's key.
    const upgrades = stack.mock.requests.filter((r) => r.path === "/v1/realtime");
    expect(upgrades).toHaveLength(3);
    for (const r of upgrades) {
      expect(r.headers.authorization).toBe("Bearer mock-rt-key-1");
      expect(r.headers["x-api-key"]).toBeUndefined();
      expect(r.headers["sec-websocket-protocol"]).toBeUndefined();
      expect(r.url).toBe("/v1/realtime?model=gpt-realtime");
    }
  });

  it("refuses a model the account may not use (403), one no Realtime upstream serves (404), and no model (400)", async () => {
    const denied = await refusal({ headers: { authorization: `Bearer ${TEAM_KEY}` } });
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe("model_not_allowed");
    const notRealtime = await refusal({ query: "?model=gpt-5" });
    expect(notRealtime.status).toBe(404);
    expect(notRealtime.body.error.code).toBe("realtime_not_available");
    const missing = await refusal({ query: "" });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe("missing_model");
    expect(stack.mock.requests.filter((r) => r.path === "/v1/realtime")).toHaveLength(0);
  });

  it("answers the upstream's refusal before the upgrade completes: a 401 from the upstream is a 502 upstream_auth_failed", async () => {
    stack.mock.script({ match: (r) => r.path === "/v1/realtime", status: 401 });
    const r = await refusal({});
    expect(r.status).toBe(502);
    expect(r.body.error.code).toBe("upstream_auth_failed");
  });

  it("holds a concurrency slot for the session's life: a second session of a concurrency-1 account is refused with 429", async () => {
    const first = await connect({ headers: { authorization: `Bearer ${SOLO_KEY}` } });
    await first.waitFor("session.created");
    const second = await refusal({ headers: { authorization: `Bearer ${SOLO_KEY}` } });
    expect(second.status).toBe(429);
    expect(second.body.error.code).toBe("concurrency_limit_exceeded");
    first.ws.close(1000);
    await first.closed;
    // The slot is free again once the session ended (its upstream is closed after the session settled).
    await eventually(() => realtimeSessions(stack.mock).at(-1)!.closed !== undefined);
    const third = await connect({ headers: { authorization: `Bearer ${SOLO_KEY}` } });
    await third.waitFor("session.created");
    third.ws.close(1000);
    await third.closed;
  });
});

describe("a session", () => {
  it("relays two responses, and each response.done is one usage record with the tokens it reported", async () => {
    const c = await connect({ headers: { authorization: `Bearer ${ACME_KEY}`, "openai-beta": "realtime=v1" } });
    await c.waitFor("session.created");
    c.send({ type: "session.update", session: { modalities: ["text"], instructions: "Be brief." } });
    await c.waitFor("session.updated");
    c.send(userText("Say hello [[mock:text=Hello there, friend.]]"));
    c.send({ type: "response.create" });
    const [first] = await c.waitFor("response.done");
    // The beta interface's names, relayed as the upstream sent them.
    expect(c.events.filter((e) => e.type === "response.text.delta").map((e) => e.delta as string)).toEqual(["Hello ", "there, ", "friend."]);
    c.send(userText("And again [[mock:audio]]"));
    c.send({ type: "response.create" });
    const done = await c.waitFor("response.done", 2);
    expect(c.events.some((e) => e.type === "response.audio.delta")).toBe(true);
    await eventually(() => stack.usage.length === 2);
    const reported = realtimeSessions(stack.mock).at(-1)!.usages;
    expect(reported).toHaveLength(2);
    expect([first!.response.usage, done[1]!.response.usage]).toEqual(reported);
    // The second response's input holds the first one's cached, and it spoke in audio.
    expect(reported[1]!.input_token_details.cached_tokens).toBe(reported[0]!.input_tokens);
    expect(reported[1]!.output_token_details.audio_tokens).toBeGreaterThan(0);
    for (const [i, rec] of stack.usage.entries()) {
      const u = reported[i]!;
      expect(rec).toMatchObject({
        clientProtocol: "openai-realtime",
        model: "gpt-realtime",
        servedModel: "gpt-realtime",
        upstream: "rt",
        status: 200,
        aborted: false,
        usage: { inputTokens: u.input_tokens, cachedInputTokens: u.input_token_details.cached_tokens, outputTokens: u.output_tokens },
      });
      expect(rec.costMicros).toBeGreaterThanOrEqual(0);
    }
    expect(stack.usage[0]!.requestId).not.toBe(stack.usage[1]!.requestId);
    // The beta opt-in reached the upstream.
    expect(realtimeSessions(stack.mock).at(-1)!.beta).toBe(true);
    c.ws.close(1000);
    expect((await c.closed).code).toBe(1000);
    await eventually(() => realtimeSessions(stack.mock).at(-1)!.closed !== undefined);
    expect(realtimeSessions(stack.mock).at(-1)!.closed!.code).toBe(1000);
  });

  it("passes binary frames both ways unchanged", async () => {
    const c = await connect();
    await c.waitFor("session.created");
    const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 10, 13]);
    c.ws.send(bytes, { binary: true });
    // The upstream answers a binary frame with an error event, which comes back as text.
    await c.waitFor("error");
    const got = realtimeSessions(stack.mock)
      .at(-1)!
      .received.find((f) => f.isBinary);
    expect(got?.data.equals(bytes)).toBe(true);
    c.send(userText("[[mock:binary]]"));
    c.send({ type: "response.create" });
    expect((await c.waitForBinary()).toString()).toBe("mock-binary-frame");
    await c.waitFor("response.done");
    c.ws.close(1000);
    await c.closed;
  });

  it("bills a client that leaves mid-response for what the upstream reported, and closes the upstream with the client's code", async () => {
    const c = await connect();
    await c.waitFor("session.created");
    // The GA interface answers in audio by default: an audio delta and its transcript's per word.
    c.send(userText("Talk for a while [[mock:stall_after=6,text=one two three four five six]]"));
    c.send({ type: "response.create" });
    await c.waitFor("response.output_audio_transcript.delta");
    c.ws.close(4000, "bye");
    await c.closed;
    await eventually(() => stack.usage.length === 1);
    const session = realtimeSessions(stack.mock).at(-1)!;
    await eventually(() => session.closed !== undefined);
    // The gateway cancelled the response upstream, which reported the one word it had said.
    expect(session.received.map((f) => (JSON.parse(f.data.toString()) as Ev).type)).toContain("response.cancel");
    expect(session.usages).toHaveLength(1);
    expect(session.usages[0]!.output_tokens).toBeGreaterThan(0);
    expect(stack.usage[0]).toMatchObject({
      aborted: true,
      usage: { inputTokens: session.usages[0]!.input_tokens, outputTokens: session.usages[0]!.output_tokens },
    });
    expect(session.closed).toEqual({ code: 4000, reason: "bye" });
  });

  it("tells the client with an error event and 1011 when the upstream drops mid-response, and records the failure", async () => {
    const c = await connect();
    await c.waitFor("session.created");
    c.send(userText("[[mock:drop_after=5]]"));
    c.send({ type: "response.create" });
    const closed = await c.closed;
    expect(closed.code).toBe(1011);
    const err = c.events.find((e) => e.type === "error");
    expect(err?.error).toMatchObject({ code: "upstream_closed", type: "server_error" });
    await eventually(() => stack.usage.length === 1);
    expect(stack.usage[0]).toMatchObject({ status: 502, errorCode: "upstream_closed", usage: { inputTokens: 0, outputTokens: 0 } });
  });

  it("closes with 1009 on a client frame over server.realtime_max_frame_bytes, and the upstream goes too", async () => {
    const c = await connect();
    await c.waitFor("session.created");
    c.send(userText("x".repeat(MAX_FRAME + 1)));
    expect((await c.closed).code).toBe(1009);
    const session = realtimeSessions(stack.mock).at(-1)!;
    await eventually(() => session.closed !== undefined);
    // Nothing of the frame reached the upstream.
    expect(session.received).toHaveLength(0);
  });

  it("closes with an error event and 1009 when the upstream sends a frame over the limit, and records the failure", async () => {
    const c = await connect();
    await c.waitFor("session.created");
    c.send(userText(`[[mock:long_word=${MAX_FRAME + 1}]]`));
    c.send({ type: "response.create" });
    expect((await c.closed).code).toBe(1009);
    expect(c.events.find((e) => e.type === "error")?.error).toMatchObject({ code: "realtime_frame_too_large" });
    await eventually(() => stack.usage.length === 1);
    expect(stack.usage[0]).toMatchObject({ status: 502, errorCode: "realtime_frame_too_large" });
  });

  it("relays the upstream's own error events and keeps the session", async () => {
    const c = await connect();
    await c.waitFor("session.created");
    c.send(userText("[[mock:error_event=server_error]]"));
    c.send({ type: "response.create" });
    const [err] = await c.waitFor("error");
    expect(err!.error).toMatchObject({ type: "server_error" });
    c.send(userText("fine now"));
    c.send({ type: "response.create" });
    await c.waitFor("response.done");
    c.ws.close(1000);
    await c.closed;
  });
});

describe("the realtime setting", () => {
  it("is set through the admin API too: an upstream created with realtime: true serves sessions with its own key", async () => {
    const call = async (method: string, path: string, body?: unknown): Promise<any> => {
      const res = await fetch(`${stack.gw.url}/admin/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${stack.gw.adminToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return res.status === 204 ? undefined : res.json();
    };
    const up = await call("POST", "/upstreams", {
      name: "rt-api",
      protocol: "openai-responses",
      base_url: `${stack.mock.url}/v1`,
      models: ["rt-api-model"],
      realtime: true,
    });
    try {
      expect(up.realtime).toBe(true);
      await call("POST", `/upstreams/${up.id}/keys`, { key: "mock-rt-api-key" });
      const c = await connect({ query: "?model=rt-api-model" });
      await c.waitFor("session.created");
      expect(stack.mock.requests.at(-1)!.headers.authorization).toBe("Bearer mock-rt-api-key");
      c.ws.close(1000);
      await c.closed;
      // Turned off, the model has no Realtime upstream any more.
      expect((await call("PATCH", `/upstreams/${up.id}`, { realtime: null })).realtime).toBe(false);
      expect((await refusal({ query: "?model=rt-api-model" })).body.error.code).toBe("realtime_not_available");
    } finally {
      await call("DELETE", `/upstreams/${up.id}`);
    }
  });
});

describe("policy mid-session", () => {
  async function admin(method: string, path: string): Promise<any> {
    const res = await fetch(`${stack.gw.url}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${stack.gw.adminToken}` } });
    return res.json();
  }

  it("ends the session with an error event and 1008 when the account is suspended: the response under way completes and is billed", async () => {
    const accounts = (await admin("GET", "/accounts?name=solo")) as { data: Array<{ id: string; name: string }> };
    const solo = accounts.data.find((a) => a.name === "solo")!;
    const c = await connect({ headers: { authorization: `Bearer ${SOLO_KEY}` } });
    await c.waitFor("session.created");
    await admin("POST", `/accounts/${solo.id}/suspend`);
    try {
      c.send(userText("one more"));
      c.send({ type: "response.create" });
      await c.waitFor("response.done");
      // The next response's admission is refused: the session ends.
      expect((await c.closed).code).toBe(1008);
      expect(c.events.at(-1)).toMatchObject({ type: "error", error: { code: "account_disabled", type: "permission_error" } });
      await eventually(() => stack.usage.length === 1);
      expect(stack.usage[0]).toMatchObject({ status: 200, accountId: solo.id });
    } finally {
      await admin("POST", `/accounts/${solo.id}/resume`);
    }
  });
});

describe("shutdown", () => {
  it("closes an idle session with 1001 and a busy one with 1001 after its response was cancelled and billed", async () => {
    const own = await startStack({ yaml });
    try {
      const url = `${own.gw.url.replace("http", "ws")}/v1/realtime?model=gpt-realtime`;
      const open = (): Promise<Client> =>
        new Promise((resolve, reject) => {
          const ws = new WebSocket(url, { headers: { authorization: `Bearer ${ACME_KEY}` } });
          const client = new Client(ws);
          ws.once("open", () => resolve(client));
          ws.once("error", reject);
        });
      const idle = await open();
      const busy = await open();
      await idle.waitFor("session.created");
      await busy.waitFor("session.created");
      busy.send(userText("[[mock:stall_after=6]]"));
      busy.send({ type: "response.create" });
      await busy.waitFor("response.output_audio_transcript.delta");
      const closing = own.gw.close(100);
      expect((await idle.closed).code).toBe(1001);
      expect((await busy.closed).code).toBe(1001);
      expect(busy.events.some((e) => e.type === "error" && e.error.code === "server_shutting_down")).toBe(true);
      await closing;
      expect(own.usage).toHaveLength(1);
      // Billed for what the cancelled response reported, and recorded as the gateway's stop.
      expect(own.usage[0]!.usage.outputTokens).toBeGreaterThan(0);
      expect(own.usage[0]!.errorCode).toBe("server_shutting_down");
    } finally {
      await own.close();
    }
  });
});
