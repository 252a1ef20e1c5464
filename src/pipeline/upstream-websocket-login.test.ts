/**
 * Upstream WebSocket sessions (`websocket: true`) on a codex upstream whose key is an imported
 * ChatGPT login rather than a static token, end to end over real sockets: client → gateway →
 * the mock Codex backend's WebSocket, which checks the login's access token on the upgrade as
 * the HTTP routes do (docs/codex.md#upstream-websocket-sessions, #how-tokens-stay-fresh).
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { sendTurn as turn, type TurnEvent as Ev } from "../testing/responses-turn.js";
import { parseConfig } from "../config/load.js";
import { startGateway, type Gateway } from "../main.js";
import type { CodexAuthJson } from "../mock/codex-oauth.js";
import { startMockUpstream, type MockUpstream } from "../mock/server.js";
import { createLogger } from "../observability/logger.js";

const CLIENT_KEY = "sk-test-ws-login-0000000000001";
const ACCOUNT = "acct-ws-login";
const MODEL = "gpt-5-codex";

let mock: MockUpstream;
let dataDir: string;
let gw: Gateway | undefined;
let auth: CodexAuthJson;
/** The bearer of every upgrade the mock's Codex WebSocket route was asked for, refused ones too. */
let upgrades: Array<string | undefined>;

beforeEach(async () => {
  mock = await startMockUpstream();
  dataDir = await mkdtemp(join(tmpdir(), "switchyard-ws-login-"));
  auth = mock.oauth.login({ accountId: ACCOUNT });
  await writeFile(join(dataDir, "auth.json"), JSON.stringify(auth));
  upgrades = [];
  mock.script({
    match: (r) => {
      if (r.method === "GET" && r.path === "/backend-api/codex/responses") upgrades.push(r.headers.authorization);
      return false;
    },
  });
  const yaml = `
server:
  port: 0
  host: 127.0.0.1
log_level: silent
routing:
  health:
    probe_interval_ms: 0
upstreams:
  - name: chatgpt
    protocol: codex
    base_url: ${mock.url}/backend-api/codex
    websocket: true
    models: [${MODEL}]
    oauth: { token_url: "${mock.url}/oauth/token", timeout_ms: 2000 }
    keys:
      - { name: alice, codex_auth_file: auth.json }
accounts:
  - name: team
    keys: [${CLIENT_KEY}]
`;
  const env = { SWITCHYARD_DATA_DIR: dataDir };
  const source = join(dataDir, "switchyard.yaml");
  await writeFile(source, yaml);
  gw = await startGateway({ config: parseConfig(yaml, source, env), source, env, logger: createLogger("silent") });
});

afterEach(async () => {
  await gw?.close(1000);
  gw = undefined;
  await mock.close();
  await rm(dataDir, { recursive: true, force: true });
});

function connect(): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${gw!.url.replace("http", "ws")}/v1/responses`, {
      headers: { authorization: `Bearer ${CLIENT_KEY}`, "openai-beta": "responses_websockets=2026-02-06" },
    });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

const tools = [{ type: "function", name: "exec_command", parameters: { type: "object", properties: { cmd: { type: "string" } } }, strict: false }];
const user = (text: string): Ev => ({ type: "message", role: "user", content: [{ type: "input_text", text }] });
const create = (input: Ev[], previous?: string): Ev => ({
  type: "response.create",
  model: MODEL,
  instructions: "be brief",
  store: false,
  tools,
  input,
  ...(previous ? { previous_response_id: previous } : {}),
});
const functionCall = (events: Ev[]): Ev => events.find((e) => e.type === "response.output_item.done" && e.item.type === "function_call")!.item as Ev;

describe("upstream WebSocket sessions on an imported ChatGPT login", () => {
  it("carry a multi-turn previous_response_id conversation on one upstream socket with the login's token", async () => {
    const ws = await connect();
    const one = await turn(ws, create([user("run ls [[mock:tool_call]]")]));
    expect(one.at(-1)!.type).toBe("response.completed");
    const call = functionCall(one);
    const two = await turn(ws, create([{ type: "function_call_output", call_id: call.call_id, output: "file.txt" }], one.at(-1)!.response.id));
    expect(two.at(-1)!.type).toBe("response.completed");
    const three = await turn(ws, create([user("thanks")], two.at(-1)!.response.id));
    expect(three.at(-1)!.type).toBe("response.completed");
    ws.close();

    // One upstream socket, opened with the login's access token and account, each follow-up sent incrementally.
    expect(mock.requests.filter((r) => r.method === "POST" && r.path !== "/oauth/token")).toHaveLength(0);
    expect(mock.sockets.connections).toHaveLength(1);
    const conn = mock.sockets.connections[0]!;
    expect(conn.path).toBe("/backend-api/codex/responses");
    expect(conn.headers.authorization).toBe(`Bearer ${auth.tokens.access_token}`);
    expect(conn.headers["chatgpt-account-id"]).toBe(ACCOUNT);
    expect(conn.responseIds).toEqual([one, two, three].map((t) => t.at(-1)!.response.id as string));
    const frames = conn.frames as Ev[];
    expect(frames.map((f) => f.previous_response_id)).toEqual([undefined, conn.responseIds[0], conn.responseIds[1]]);
    expect(frames[2]!.input).toEqual([user("thanks")]);
    expect(mock.oauth.refreshes).toEqual([]);
  });

  it("a 401 on the upgrade (token_invalidated) refreshes the login once and reconnects with the new token", async () => {
    const ws = await connect();
    const one = await turn(ws, create([user("run ls [[mock:tool_call]]")]));
    expect(one.at(-1)!.type).toBe("response.completed");
    const call = functionCall(one);
    // Between turns the backend revokes the login's access token and the upstream socket goes.
    mock.oauth.invalidateAccess(ACCOUNT);
    await mock.sockets.dropAll();

    const two = await turn(ws, create([{ type: "function_call_output", call_id: call.call_id, output: "file.txt" }], one.at(-1)!.response.id));
    expect(two.at(-1)!.type).toBe("response.completed");
    // And the conversation goes on on the new socket.
    const three = await turn(ws, create([user("thanks")], two.at(-1)!.response.id));
    expect(three.at(-1)!.type).toBe("response.completed");
    ws.close();

    expect(mock.oauth.refreshes.map((r) => r.outcome)).toEqual(["rotated"]);
    expect(mock.oauth.reuses).toBe(0);
    const fresh = mock.sockets.connections[1]!.headers.authorization!;
    expect(fresh).not.toBe(`Bearer ${auth.tokens.access_token}`);
    // The first socket, the refused upgrade with the revoked token, then one upgrade with the refreshed one.
    expect(upgrades).toEqual([`Bearer ${auth.tokens.access_token}`, `Bearer ${auth.tokens.access_token}`, fresh]);
    expect(mock.sockets.connections).toHaveLength(2);
    // Nothing went over HTTP: the refused upgrade was retried as a socket, not fallen back from.
    expect(mock.requests.filter((r) => r.method === "POST" && r.path !== "/oauth/token")).toHaveLength(0);
    // The new socket knows nothing of the old one's responses: the whole conversation, then incremental again.
    const frames = mock.sockets.connections[1]!.frames as Ev[];
    expect(frames[0]!.previous_response_id).toBeUndefined();
    expect(frames[0]!.input.map((i: Ev) => i.type)).toEqual(["message", "function_call", "function_call_output"]);
    expect(frames[1]!.previous_response_id).toBe(two.at(-1)!.response.id);
  });
});
