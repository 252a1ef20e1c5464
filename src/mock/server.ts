/**
 * The mock upstream LLM server: the only fake in the test suite, the benchmark's
 * upstream, and runnable alone (main.ts). node:http only, keep-alive, answers
 * pre-rendered so per-request work stays small.
 *
 * Endpoints
 *   POST /v1/chat/completions               OpenAI Chat (openai-chat.ts)
 *   POST /v1/responses                      OpenAI Responses (openai-responses.ts)
 *   POST /backend-api/codex/responses       Codex backend flavour, also /codex/responses (codex.ts)
 *   GET  /backend-api/codex/models          Codex model catalogue, also /codex/models
 *   GET  /v1/responses, /backend-api/codex/responses (WebSocket upgrade): Responses over WebSocket (responses-websocket.ts)
 *   POST /v1/messages[?beta=true]           Anthropic Messages (anthropic.ts)
 *   POST /v1/messages/count_tokens          Anthropic token count
 *   GET  /v1/models                         OpenAI list, or Anthropic list when `anthropic-version` is sent
 *   HEAD|GET /, GET /healthz                200 (Claude Code pre-connects with HEAD /)
 *   GET  /v1/realtime?model=… (upgrade)     OpenAI Realtime over WebSocket (realtime.ts)
 *   POST /oauth/token                       ChatGPT login refresh; Codex routes check its tokens once a login exists (codex-oauth.ts)
 *
 * Directives choose the behaviour. Put them in the LAST user message text as
 * `[[mock:NAME]]` / `[[mock:NAME=VALUE]]` (several markers, or a comma list in
 * one), or in an `x-mock-scenario: NAME, NAME=VALUE` header, or in a script
 * rule. Precedence: script rule > header > message text. Unknown names → 400.
 * Per ChatGPT account: a script rule matching codexAccount(id) (codex-usage.ts).
 *   tool_call           call the first declared function tool (args built from its schema, streamed in fragments)
 *   parallel_tools      call the first two declared tools (the first twice if only one)
 *   tool=NAME           call the declared tool NAME (Responses custom tools get raw text: a patch for apply_patch)
 *   reasoning           reasoning item / thinking block / reasoning_content before the answer
 *   error=STATUS        answer with a protocol-shaped HTTP error (e.g. error=429, error=529)
 *   error_message=TEXT  message for error / stream_error
 *   retry_after=SECS    add a retry-after header to errors
 *   delay=MS            wait before the response head
 *   chunk_delay=MS      wait between stream events
 *   reset_after=N       cut the connection after N stream events (0, or any N for non-stream: TCP reset, no reply)
 *   stream_error[=CODE] fail inside a 200 stream: Anthropic `event: error` (overloaded_error),
 *                       Responses `response.failed` (server_error), Chat an error chunk; non-stream → 500/529
 *   error_after=N       with stream_error: N text deltas before the error (default 2; 0 = before any content)
 *   max_tokens          truncate: Chat finish_reason "length", Anthropic stop_reason "max_tokens",
 *                       Responses `response.incomplete` (max_output_tokens)
 *   text=TEXT           reply with TEXT (takes the rest of its list, commas included)
 *   cached=N            report N cached input tokens instead of the prompt-cache simulation
 *   cache_write=N       report N cache-write tokens instead of the prompt-cache simulation
 *   rate_limits         Codex backend: send a `codex.rate_limits` event first
 *   usage=PCT           Codex backend: the primary (5 h) window's used percent in the x-codex-* headers (codex-usage.ts)
 *   usage_secondary=PCT Codex backend: the secondary (weekly) window's used percent
 *   usage_limit[=SECS]  Codex backend: 429 usage_limit_reached, resets_in_seconds SECS (default 3600), resets_at as far ahead
 *   plan=TYPE           Codex backend: the plan_type of usage_limit_reached (default plus)
 *   byte_split          write each SSE frame in two TCP writes split inside a UTF-8 character
 * Tool-call directives are ignored when the conversation ends with a tool
 * result, so agent loops terminate; a forcing tool_choice calls a tool regardless.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type HttpReply, type ProtocolAdapter, type RenderContext, isObject } from "./adapter.js";
import { anthropicError, anthropicMessages, countTokens } from "./anthropic.js";
import { codex, codexAuthError } from "./codex.js";
import { CodexOAuth } from "./codex-oauth.js";
import { deliverStream, isGone, resetConnection, sendRaw, sendReply, sleep } from "./deliver.js";
import { IdSource } from "./ids.js";
import { listCodexModels, listModels } from "./models.js";
import { openaiChat } from "./openai-chat.js";
import { openaiResponses } from "./openai-responses.js";
import { openaiError } from "./openai-shared.js";
import { buildPlan } from "./plan.js";
import { type ParsedDirectives, parseDirectiveList, parseTextDirectives, resolveScenario } from "./scenario.js";
import type { MockRule, MockUpstream, MockUpstreamOptions, RecordedRequest, Scenario } from "./types.js";
import { PromptCache } from "./usage.js";
import { attachResponsesSockets, type MockSockets } from "./responses-websocket.js";
import { attachRealtime } from "./realtime.js";
import { ParsedBodies } from "./parsed-bodies.js";
import { keptReply, keptStream, ReusedAnswers, sendKept } from "./reused-answers.js";

export type { MockRule, MockUpstream, MockUpstreamOptions, RecordedRequest, Scenario } from "./types.js";

const ADAPTERS: Readonly<Record<string, ProtocolAdapter>> = {
  "/v1/chat/completions": openaiChat,
  "/v1/responses": openaiResponses,
  "/backend-api/codex/responses": codex,
  "/codex/responses": codex,
  "/v1/messages": anthropicMessages,
};

interface ActiveRule {
  rule: MockRule;
  remaining: number;
}

class MockServer implements MockUpstream {
  readonly requests: RecordedRequest[] = [];
  readonly oauth = new CodexOAuth();
  url = "";
  port = 0;
  private rules: ActiveRule[] = [];
  readonly ids = new IdSource();
  readonly cache = new PromptCache();
  /** Responses over WebSocket (responses-websocket.ts), attached once the server exists. */
  sockets!: MockSockets;
  private readonly maxRecorded: number;
  private readonly parsedBodies: ParsedBodies | undefined;
  private readonly answers: ReusedAnswers | undefined;

  constructor(
    private readonly server: Server,
    opts: MockUpstreamOptions,
  ) {
    this.maxRecorded = opts.maxRecorded ?? 1000;
    this.parsedBodies = opts.reuseParsedBodies ? new ParsedBodies(opts.reuseParsedBodies) : undefined;
    this.answers = opts.reuseAnswers ? new ReusedAnswers() : undefined;
  }

  clear(): void {
    this.requests.length = 0;
    this.sockets.connections.length = 0;
  }

  script(rule: MockRule): void {
    this.rules.push({ rule, remaining: rule.times ?? Number.POSITIVE_INFINITY });
  }

  reset(): void {
    this.rules = [];
    this.cache.clear();
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.close((err) => (err ? reject(err) : resolve()));
      this.server.closeAllConnections();
      void this.sockets.dropAll();
    });
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const recorded = record(req, body, this.parsedBodies);
    if (this.maxRecorded > 0) {
      this.requests.push(recorded);
      if (this.requests.length > this.maxRecorded) this.requests.splice(0, this.requests.length - this.maxRecorded);
    }
    const requestId = this.ids.next("req_");
    const adapter = req.method === "POST" ? ADAPTERS[recorded.path] : undefined;
    if (this.oauth.handles(recorded)) return this.oauth.answer(recorded, res);
    const rule = this.takeRule(recorded);

    if (rule?.delayMs) await sleep(rule.delayMs);
    if (isGone(res)) return;
    if (rule?.body !== undefined) return sendCanned(res, rule);
    if (rule?.status !== undefined && rule.status >= 400) {
      const scenario = resolveScenario(ruleScenario(rule)?.scenario);
      return sendReply(res, errorFor(adapter, recorded, rule.status, requestId, scenario));
    }
    if (!adapter) return sendReply(res, this.plainRoute(recorded, requestId));
    await this.answer(adapter, recorded, res, requestId, rule);
  }

  private async answer(adapter: ProtocolAdapter, recorded: RecordedRequest, res: ServerResponse, requestId: string, rule: MockRule | undefined): Promise<void> {
    const json = recorded.json;
    if (!isObject(json)) {
      // The Codex edge checks credentials before it looks at the body.
      const early = adapter.protocol === "codex" ? codexAuthError(recorded, requestId) : undefined;
      return sendReply(res, early ?? adapter.error(400, "We could not parse the JSON body of your request.", requestId));
    }
    const invalid = (adapter.protocol === "codex" ? this.oauth.deny(recorded, requestId) : undefined) ?? adapter.validate(recorded, json, requestId);
    if (invalid) return sendReply(res, invalid);
    // An answer kept for this very body (reused-answers.ts), unless a rule or a header may change it.
    const answers = rule === undefined && recorded.headers["x-mock-scenario"] === undefined ? this.answers : undefined;
    const again = answers?.get(json, adapter);
    if (again) return sendKept(res, again);

    const facts = adapter.facts(recorded, json);
    const fromText = parseTextDirectives(facts.lastUserText);
    const header = recorded.headers["x-mock-scenario"];
    const fromHeader = header ? parseDirectiveList(header) : undefined;
    const fromRule = ruleScenario(rule);
    const unknown = [...fromText.unknown, ...(fromHeader?.unknown ?? []), ...(fromRule?.unknown ?? [])];
    if (unknown.length > 0) return sendReply(res, adapter.error(400, `Unknown mock directive: ${unknown.join(", ")}`, requestId));
    const scenario = resolveScenario(fromText.scenario, fromHeader?.scenario, fromRule?.scenario);

    if (scenario.delayMs > 0) await sleep(scenario.delayMs);
    if (isGone(res)) return;
    if (scenario.resetAfter !== undefined && (scenario.resetAfter === 0 || !facts.stream)) return resetConnection(res);
    if (scenario.errorStatus !== undefined) {
      return sendReply(res, adapter.error(scenario.errorStatus, scenario.errorMessage, requestId, scenario));
    }

    const plan = buildPlan(adapter.protocol, facts, scenario, this.cache);
    const ctx: RenderContext = { ids: this.ids, created: Math.floor(Date.now() / 1000), requestId, scenario };
    // Kept only without directives in the text: the answer is then the plain one.
    const keep = answers !== undefined && Object.keys(fromText.scenario).length === 0;
    if (!facts.stream) {
      const reply = adapter.renderJson(plan, facts, json, ctx);
      if (keep) answers.rendered(json, adapter, keptReply(reply));
      return sendReply(res, reply);
    }
    const frames = adapter.renderStream(plan, facts, json, ctx);
    const headers = adapter.streamHeaders(requestId, scenario);
    if (keep) answers.rendered(json, adapter, keptStream(headers, frames));
    await deliverStream(res, headers, frames, {
      chunkDelayMs: scenario.chunkDelayMs,
      resetAfter: scenario.resetAfter,
      byteSplit: scenario.byteSplit,
    });
  }

  private plainRoute(req: RecordedRequest, requestId: string): HttpReply {
    const { method, path } = req;
    if ((method === "HEAD" || method === "GET") && (path === "/" || path === "/healthz")) {
      return { status: 200, headers: { "content-type": "text/plain" }, body: method === "HEAD" ? "" : "ok" };
    }
    if (method === "GET" && path === "/v1/models") return listModels(req, requestId);
    if (method === "GET" && (path === "/backend-api/codex/models" || path === "/codex/models"))
      return this.oauth.deny(req, requestId) ?? listCodexModels(req, requestId);
    if (method === "POST" && path === "/v1/messages/count_tokens") {
      if (!isObject(req.json)) return anthropicError(400, "We could not parse the JSON body of your request.", requestId);
      return countTokens(req, req.json, requestId);
    }
    return errorFor(undefined, req, 404, requestId);
  }

  /** Records a WebSocket upgrade request like any other (realtime.ts). */
  recordUpgrade(req: IncomingMessage): RecordedRequest {
    const recorded = record(req, Buffer.alloc(0));
    if (this.maxRecorded > 0) this.requests.push(recorded);
    return recorded;
  }

  takeRule(req: RecordedRequest): MockRule | undefined {
    for (let i = 0; i < this.rules.length; i++) {
      const active = this.rules[i];
      if (!active || (active.rule.match && !active.rule.match(req))) continue;
      active.remaining -= 1;
      if (active.remaining <= 0) this.rules.splice(i, 1);
      return active.rule;
    }
    return undefined;
  }
}

/** An error in the protocol the request was addressed to (guessed from headers off the known routes). */
function errorFor(adapter: ProtocolAdapter | undefined, req: RecordedRequest, status: number, requestId: string, scenario?: Scenario): HttpReply {
  const message = scenario?.errorMessage;
  if (adapter) return adapter.error(status, message, requestId, scenario);
  if (req.headers["anthropic-version"] !== undefined || req.path.startsWith("/v1/messages")) {
    return anthropicError(status, message ?? (status === 404 ? "Not Found" : undefined), requestId, scenario);
  }
  return openaiError(status, message ?? (status === 404 ? `Invalid URL (${req.method} ${req.path})` : `Request failed with status ${status}.`), requestId);
}

function ruleScenario(rule: MockRule | undefined): ParsedDirectives | undefined {
  if (!rule?.scenario) return undefined;
  if (typeof rule.scenario === "string") return parseDirectiveList(rule.scenario);
  const scenario: Partial<Scenario> = { ...rule.scenario };
  return { scenario, unknown: [] };
}

function sendCanned(res: ServerResponse, rule: MockRule): void {
  const b = rule.body;
  const isBytes = Buffer.isBuffer(b) || typeof b === "string";
  const bytes = Buffer.isBuffer(b) ? b : Buffer.from(typeof b === "string" ? b : JSON.stringify(b), "utf8");
  const headers: Record<string, string> = { "content-type": isBytes ? "text/plain; charset=utf-8" : "application/json", ...rule.headers };
  sendRaw(res, rule.status ?? 200, headers, bytes);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function record(req: IncomingMessage, body: Buffer, parsedBodies?: ParsedBodies): RecordedRequest {
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  let json: unknown;
  if (body.length > 0) {
    try {
      json = parsedBodies ? parsedBodies.parse(body) : JSON.parse(body.toString("utf8"));
    } catch {
      json = undefined;
    }
  }
  return { method: req.method ?? "GET", url, path: q === -1 ? url : url.slice(0, q), headers, body, json, receivedAt: Date.now() };
}

/** Start a mock upstream on 127.0.0.1 (a free port unless `port` is given). */
export async function startMockUpstream(opts: MockUpstreamOptions = {}): Promise<MockUpstream> {
  const server = createServer({ noDelay: true, keepAlive: true });
  // Longer than undici's and the SDKs' idle timeouts, so the client always closes first.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const mock = new MockServer(server, opts);
  mock.sockets = attachResponsesSockets(server, {
    ids: mock.ids,
    cache: mock.cache,
    takeRule: (r) => mock.takeRule(r),
    deny: (r, id) => mock.oauth.deny(r, id),
    recording: (opts.maxRecorded ?? 1000) > 0,
  });
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    mock.handle(req, res).catch((err: unknown) => {
      if (res.headersSent || isGone(res)) {
        res.destroy();
        return;
      }
      const message = err instanceof Error ? err.message : String(err);
      sendReply(res, openaiError(500, `mock upstream internal error: ${message}`, "req_mock_internal"));
    });
  });
  const realtime = attachRealtime(mock, { record: (req) => mock.recordUpgrade(req), rule: (req) => mock.takeRule(req) });
  // Only /v1/realtime is taken here; other upgrade paths are left to their own listeners.
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => void realtime.upgrade(req, socket, head));
  const closeServer = mock.close.bind(mock);
  mock.close = () => (realtime.closeAll(), closeServer());
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  mock.port = port;
  mock.url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return mock;
}
