/**
 * The session binding on its own, against the mock's Responses WebSocket over real sockets, with an
 * injected clock for the connection cap.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMockUpstream, type MockUpstream } from "../mock/index.js";
import { createLogger } from "../observability/logger.js";
import { eventually } from "../testing/stack.js";
import { withWebSocketBeta } from "../upstream/responses-socket.js";
import { UpstreamSocketSession, type SocketSendRequest } from "./upstream-socket-session.js";

let mock: MockUpstream;
beforeAll(async () => {
  mock = await startMockUpstream();
});
afterAll(() => mock.close());
beforeEach(async () => {
  await mock.sockets.dropAll();
  mock.clear();
  mock.reset();
});

const key = {};
const HOUR = 60 * 60_000;

function body(fields: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify({ model: "gpt-5-codex", instructions: "", store: false, stream: true, ...fields }));
}

function request(o: { turnId?: string; text: string; chained?: { previousId: string; text: string } }): SocketSendRequest {
  const msg = (text: string) => ({ type: "message", role: "user", content: [{ type: "input_text", text }] });
  const metadata = o.turnId ? { client_metadata: { "x-codex-turn-metadata": JSON.stringify({ turn_id: o.turnId }) } } : {};
  return {
    upstreamId: "up-1",
    key,
    url: `${mock.url.replace("http", "ws")}/backend-api/codex/responses`,
    headers: withWebSocketBeta({ authorization: "Bearer token", "chatgpt-account-id": "acct-1", "x-codex-turn-state": "from-client" }),
    full: body({ input: [msg(o.text)], ...metadata }),
    chained: o.chained ? { body: body({ input: [msg(o.chained.text)], ...metadata }), previousId: o.chained.previousId } : undefined,
    turnId: o.turnId,
    maxAgeMs: HOUR - 5 * 60_000,
    connectTimeoutMs: 5_000,
    headersTimeoutMs: 5_000,
    bodyTimeoutMs: 5_000,
    signal: new AbortController().signal,
  };
}

/** Reads a turn's answer to its end; the completed response's id. */
async function complete(session: UpstreamSocketSession, req: SocketSendRequest): Promise<string> {
  const sent = await session.send(req);
  if (sent.kind !== "response") throw new Error(`refused ${sent.status}`);
  let text = "";
  for await (const chunk of sent.response.body) text += chunk.toString();
  const completed = text.split("\n").find((l) => l.startsWith("data: ") && l.includes('"response.completed"'));
  return (JSON.parse(completed!.slice(6)) as { response: { id: string } }).response.id;
}

describe("UpstreamSocketSession", () => {
  it("chains on one socket until the cap, then opens a new one between turns with the full input", async () => {
    let now = 0;
    const session = new UpstreamSocketSession({ logger: createLogger("silent"), now: () => now });
    const first = await complete(session, request({ turnId: "t1", text: "one" }));
    now += 10 * 60_000;
    const second = await complete(session, request({ turnId: "t1", text: "one", chained: { previousId: first, text: "two" } }));
    expect(mock.sockets.connections).toHaveLength(1);
    expect((mock.sockets.connections[0]!.frames[1] as { previous_response_id?: string }).previous_response_id).toBe(first);

    // Past the cap (55 minutes here): the next turn goes on a new socket, without previous_response_id.
    now += HOUR;
    await complete(session, request({ turnId: "t1", text: "one two three", chained: { previousId: second, text: "three" } }));
    expect(session.socketsOpened).toBe(2);
    expect(mock.sockets.connections).toHaveLength(2);
    await eventually(() => !mock.sockets.connections[0]!.open);
    const resent = mock.sockets.connections[1]!.frames[0] as { previous_response_id?: string; input: unknown[] };
    expect(resent.previous_response_id).toBeUndefined();
    expect(JSON.stringify(resent.input)).toContain("one two three");
    session.close();
  });

  it("replays x-codex-turn-state on a socket reopened within the turn, never into the next turn", async () => {
    let now = 0;
    const session = new UpstreamSocketSession({ logger: createLogger("silent"), now: () => now });
    await complete(session, request({ turnId: "t1", text: "a" }));
    // The first socket carries what the client's own upgrade held.
    expect(mock.sockets.connections[0]!.headers["x-codex-turn-state"]).toBe("from-client");

    now += HOUR;
    await complete(session, request({ turnId: "t1", text: "b" }));
    now += HOUR;
    await complete(session, request({ turnId: "t2", text: "c" }));
    session.close();
    const [c0, c1, c2] = mock.sockets.connections;
    // The mock answered each upgrade with its own token (ts_N); the same turn replays the last one.
    expect(c0!.turnState).toMatch(/^ts_\d+$/);
    expect(c1!.headers["x-codex-turn-state"]).toBe(c0!.turnState);
    expect(c2!.headers["x-codex-turn-state"]).toBeUndefined();
  });

  it("opens no socket for a refused upgrade and says so", async () => {
    mock.script({ match: (r) => r.method === "GET", status: 426, times: 1 });
    const session = new UpstreamSocketSession({ logger: createLogger("silent") });
    const sent = await session.send(request({ text: "x" }));
    expect(sent).toMatchObject({ kind: "refused", status: 426 });
    expect(session.socketsOpened).toBe(0);
    session.close();
  });

  it("sends the full input when the id chained from is not the socket's last response (a local warm-up id)", async () => {
    const session = new UpstreamSocketSession({ logger: createLogger("silent") });
    await complete(session, request({ text: "one" }));
    await complete(session, request({ text: "one two", chained: { previousId: "resp_warmup_local", text: "two" } }));
    session.close();
    const frames = mock.sockets.connections[0]!.frames as Array<{ previous_response_id?: string; input: unknown[] }>;
    expect(mock.sockets.connections).toHaveLength(1);
    expect(frames[1]!.previous_response_id).toBeUndefined();
    expect(JSON.stringify(frames[1]!.input)).toContain("one two");
  });
});
