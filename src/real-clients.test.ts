/**
 * The real Codex CLI and Claude Code, at the versions pinned in e2e/real-clients/package.json,
 * through a real gateway process (`switchyard serve`) to the mock upstream, the only fake.
 * Each case runs one client to its end in a sandbox of its own (HOME, CODEX_HOME,
 * CLAUDE_CONFIG_DIR, working dir; no network but 127.0.0.1) and asserts what really happened:
 *
 * - the client exited 0 and printed the mock's final answer, as served by the upstream the
 *   case routes to (the mock names its protocol and the model in the answer);
 * - the tool really ran: `apply_patch` wrote `mock.txt` in the working dir, and the shell's
 *   output (a marker only this sandbox's `mock` command prints) came back to the upstream in
 *   the next request's `function_call_output` / `tool_result`, as the mock recorded it;
 * - Codex talked to the gateway the way its config says: HTTP POSTs, or one WebSocket
 *   handshake and no POST at all (a TCP tap in front of the gateway sees every request head,
 *   so a silent fallback from WebSocket to HTTP fails the test);
 * - the gateway wrote one usage record per turn, on the case's own account, with tokens and
 *   no error.
 *
 * The clients are installed by `npm ci --prefix e2e/real-clients --ignore-scripts` (`.ci/run` does it
 * before `npm test`); without them every case fails with that command in its message.
 * What engineers configure (docs/codex.md#what-engineers-configure) is what the sandboxes hold:
 * the Codex `config.toml` and Claude Code's environment below.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMockUpstream, type MockUpstream, type RecordedRequest } from "./mock/index.js";
import { locateClients, type ClientBinaries } from "./testing/client-binaries.js";
import { makeClientSandbox, runClient, startWireTap, type ClientSandbox, type WireTap } from "./testing/client-sandbox.js";
import { startGatewayProcess, type GatewayProcess } from "./testing/gateway-process.js";

const ADMIN = `e2e-admin-${randomBytes(16).toString("hex")}`;
/** The model Codex is run with: one whose bundled model info declares `apply_patch` as a free-form (custom) tool. */
const CODEX_MODEL = "gpt-5.5";
/** What the Anthropic upstream serves Codex's requests as, on the translate lane. */
const CLAUDE_MODEL = "claude-sonnet-4-5";
/** A client run that takes longer than this is killed and fails its case. */
const CLIENT_TIMEOUT_MS = 60_000;

/** The ChatGPT account the Codex upstream's one login belongs to (the mock's OAuth issues it). */
const CHATGPT_ACCOUNT = "e2e-chatgpt-account";

type Upstream = "codex" | "anthropic";
type Tool = "apply_patch" | "shell";

interface Case {
  name: string;
  client: "codex" | "claude";
  /** Codex only: `supports_websockets = true` in the provider block. */
  websocket?: boolean;
  tool: Tool;
  upstream: Upstream;
  /** The account's model mapping, when the client's model is not the one the upstream serves. */
  modelMap?: string[];
  /** The model the upstream is asked for (the mock names it in its answer), or the start of its name. */
  served: string;
  /** Claude Code only: how it presents the Switchyard key (`x-api-key` or `Authorization: Bearer`), and more of its environment. */
  claude?: { auth: "ANTHROPIC_API_KEY" | "ANTHROPIC_AUTH_TOKEN"; env?: Record<string, string> };
}

const CASES: Case[] = [
  { name: "codex-http-codex-patch", client: "codex", tool: "apply_patch", upstream: "codex", served: CODEX_MODEL },
  { name: "codex-http-codex-shell", client: "codex", tool: "shell", upstream: "codex", served: CODEX_MODEL },
  {
    name: "codex-http-anthropic-patch",
    client: "codex",
    tool: "apply_patch",
    upstream: "anthropic",
    modelMap: [`${CODEX_MODEL}=${CLAUDE_MODEL}`],
    served: CLAUDE_MODEL,
  },
  {
    name: "codex-http-anthropic-shell",
    client: "codex",
    tool: "shell",
    upstream: "anthropic",
    modelMap: [`${CODEX_MODEL}=${CLAUDE_MODEL}`],
    served: CLAUDE_MODEL,
  },
  { name: "codex-ws-codex-patch", client: "codex", websocket: true, tool: "apply_patch", upstream: "codex", served: CODEX_MODEL },
  { name: "codex-ws-codex-shell", client: "codex", websocket: true, tool: "shell", upstream: "codex", served: CODEX_MODEL },
  {
    name: "codex-ws-anthropic-patch",
    client: "codex",
    websocket: true,
    tool: "apply_patch",
    upstream: "anthropic",
    modelMap: [`${CODEX_MODEL}=${CLAUDE_MODEL}`],
    served: CLAUDE_MODEL,
  },
  // Claude Code on Codex, two ways: Claude Code asks for its own Claude models and the account maps them all to a
  // GPT model (nothing to set on the engineer's side); or the engineer names the GPT model in ANTHROPIC_MODEL.
  {
    name: "claude-codex-bash",
    client: "claude",
    tool: "shell",
    upstream: "codex",
    modelMap: [`claude-*=${CODEX_MODEL}`],
    served: CODEX_MODEL,
    claude: { auth: "ANTHROPIC_AUTH_TOKEN" },
  },
  {
    name: "claude-gpt-model-bash",
    client: "claude",
    tool: "shell",
    upstream: "codex",
    served: CODEX_MODEL,
    claude: { auth: "ANTHROPIC_API_KEY", env: { ANTHROPIC_MODEL: CODEX_MODEL } },
  },
  // Claude Code's own default model, whichever it is.
  { name: "claude-anthropic-bash", client: "claude", tool: "shell", upstream: "anthropic", served: "claude-", claude: { auth: "ANTHROPIC_API_KEY" } },
];

const keyOf = (c: Case): string => `sk-e2e-${c.name}-${"0".repeat(8)}`;

/**
 * The gateway's YAML. The Codex upstream's key is a ChatGPT login imported from a Codex
 * `auth.json` (docs/codex.md), refreshed against the mock's OAuth endpoint: once a login
 * exists the mock's Codex routes take only that login's live access token, so every
 * Codex-upstream case proves the imported credential is what reached the backend.
 */
function gatewayYaml(mockUrl: string, authFile: string): string {
  const accounts = CASES.map(
    (c) => `  - name: ${c.name}
    keys: [${keyOf(c)}]${c.modelMap ? `\n    model_map: ${JSON.stringify(c.modelMap)}` : ""}`,
  ).join("\n");
  return `log_level: warn
server:
  host: 127.0.0.1
routing:
  health:
    probe_interval_ms: 0
upstreams:
  - name: chatgpt
    protocol: codex
    base_url: ${mockUrl}/backend-api/codex
    oauth: { token_url: "${mockUrl}/oauth/token" }
    keys: [{ name: e2e-login, codex_auth_file: ${JSON.stringify(authFile)} }]
    models: ["gpt-5*"]
  - name: anthropic
    protocol: anthropic
    base_url: ${mockUrl}
    keys: [sk-ant-upstream-e2e]
    models: ["claude-*"]
accounts:
${accounts}
`;
}

let clients: ClientBinaries | undefined;
let clientsMissing: Error | undefined;
let mock: MockUpstream;
let gateway: GatewayProcess;
let accountIds: Map<string, string>;
let authDir: string | undefined;

beforeAll(async () => {
  try {
    clients = locateClients();
  } catch (err) {
    clientsMissing = err as Error;
    return;
  }
  mock = await startMockUpstream();
  authDir = await mkdtemp(join(tmpdir(), "switchyard-e2e-auth-"));
  const authFile = join(authDir, "auth.json");
  await writeFile(authFile, JSON.stringify(mock.oauth.login({ accountId: CHATGPT_ACCOUNT, plan: "pro" })));
  gateway = await startGatewayProcess(gatewayYaml(mock.url, authFile), {
    SWITCHYARD_ADMIN_TOKEN: ADMIN,
    SWITCHYARD_MASTER_KEY: randomBytes(32).toString("hex"),
    LOG_LEVEL: "warn",
  });
  const accounts = (await admin("/accounts")) as { data: Array<{ id: string; name: string }> };
  accountIds = new Map(accounts.data.map((a) => [a.name, a.id]));
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await mock?.close();
  if (authDir) await rm(authDir, { recursive: true, force: true });
});

async function admin(path: string): Promise<unknown> {
  const res = await fetch(`${gateway.url}/admin/v1${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

/** The pinned clients; throws the install instructions when they are missing. */
function bins(): ClientBinaries {
  if (!clients) throw clientsMissing ?? new Error("clients not located");
  return clients;
}

/** `~/.codex/config.toml` as docs/codex.md tells engineers to write it, pointed at `baseUrl`. */
function codexConfig(baseUrl: string, websocket: boolean): string {
  return `model = "${CODEX_MODEL}"
model_provider = "switchyard"

[model_providers.switchyard]
name = "Switchyard"
base_url = "${baseUrl}/v1"
wire_api = "responses"
env_key = "SWITCHYARD_API_KEY"
supports_websockets = ${websocket}
${CODEX_OFFLINE}`;
}

/**
 * Not part of what engineers configure: what keeps Codex off the internet in the sandbox.
 * Without it Codex 0.169 syncs its curated plugins at start (github.com, api.github.com,
 * chatgpt.com) and reports analytics (ab.chatgpt.com); each fails harmlessly offline, but
 * the sandbox's trap would see them.
 */
const CODEX_OFFLINE = `
[analytics]
enabled = false

[features]
plugins = false
`;

async function runCodex(c: Case, box: ClientSandbox, prompt: string, tap: WireTap): ReturnType<typeof runClient> {
  await writeFile(join(box.codexHome, "config.toml"), codexConfig(tap.url, c.websocket === true));
  // workspace-write: apply_patch may write in the working dir (read-only, exec's default, rejects the patch).
  return runClient([...bins().codex, "exec", "--sandbox", "workspace-write", "--skip-git-repo-check", prompt], {
    cwd: box.work,
    env: { ...box.env, SWITCHYARD_API_KEY: keyOf(c) },
    timeoutMs: CLIENT_TIMEOUT_MS,
  });
}

function runClaude(c: Case, box: ClientSandbox, prompt: string): ReturnType<typeof runClient> {
  return runClient([...bins().claude, "-p", prompt, "--allowedTools", "Bash"], {
    cwd: box.work,
    env: {
      ...box.env,
      ...c.claude?.env,
      ANTHROPIC_BASE_URL: gateway.url,
      [c.claude?.auth ?? "ANTHROPIC_API_KEY"]: keyOf(c),
      // No telemetry, error reporting, update checks or other calls home (its trap stays empty).
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
    },
    timeoutMs: CLIENT_TIMEOUT_MS,
  });
}

type Json = Record<string, any>;

/** Every tool call in a request's history: Responses `function_call`/`custom_tool_call` items, Anthropic `tool_use` blocks. */
function toolCalls(req: RecordedRequest): string[] {
  const body = req.json as Json;
  if (Array.isArray(body.input))
    return (body.input as Json[]).filter((i) => i.type === "function_call" || i.type === "custom_tool_call").map((i) => String(i.name));
  return (body.messages as Json[])
    .flatMap((m) => (Array.isArray(m.content) ? (m.content as Json[]) : []))
    .filter((b) => b.type === "tool_use")
    .map((b) => String(b.name));
}

/** Every tool result's text in a request: `function_call_output`/`custom_tool_call_output` items, `tool_result` blocks. */
function toolOutputs(req: RecordedRequest): string[] {
  const text = (v: unknown): string =>
    typeof v === "string"
      ? v
      : Array.isArray(v)
        ? v.map((p: Json) => (typeof p === "string" ? p : String(p.text ?? p.output ?? ""))).join("")
        : JSON.stringify(v);
  const body = req.json as Json;
  if (Array.isArray(body.input))
    return (body.input as Json[]).filter((i) => i.type === "function_call_output" || i.type === "custom_tool_call_output").map((i) => text(i.output));
  return (body.messages as Json[])
    .flatMap((m) => (Array.isArray(m.content) ? (m.content as Json[]) : []))
    .filter((b) => b.type === "tool_result")
    .map((b) => text(b.content));
}

/** The reasoning a request replays: `encrypted_content` of Responses `reasoning` items, `signature` of Anthropic `thinking` blocks. */
function replayedReasoning(req: RecordedRequest): string[] {
  const body = req.json as Json;
  if (Array.isArray(body.input)) return (body.input as Json[]).filter((i) => i.type === "reasoning").map((i) => String(i.encrypted_content ?? ""));
  return (body.messages as Json[])
    .flatMap((m) => (Array.isArray(m.content) ? (m.content as Json[]) : []))
    .filter((b) => b.type === "thinking")
    .map((b) => String(b.signature ?? ""));
}

interface UsageTotal {
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
}

/**
 * The case account's usage once `turns` records are in. The gateway writes records in the
 * background (within its flush interval after a request settles), so this reads until they are
 * there, within a bound; a record too many or missing fails the test.
 */
async function usageOf(c: Case, turns: number): Promise<{ total: UsageTotal; upstreamKeys: string[] }> {
  const id = accountIds.get(c.name)!;
  for (let i = 0; ; i++) {
    const usage = (await admin(`/accounts/${id}/usage?group_by=upstream_key`)) as { total: UsageTotal; groups: Array<{ group: string }> };
    if (usage.total.requests >= turns || i >= 100) return { total: usage.total, upstreamKeys: usage.groups.map((g) => g.group) };
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function upstreamKeyIds(name: string): Promise<string[]> {
  const upstreams = (await admin("/upstreams")) as { data: Array<{ id: string; name: string }> };
  const id = upstreams.data.find((u) => u.name === name)!.id;
  return ((await admin(`/upstreams/${id}/keys`)) as { data: Array<{ id: string }> }).data.map((k) => k.id);
}

const UPSTREAM_PATH: Record<Upstream, string> = { codex: "/backend-api/codex/responses", anthropic: "/v1/messages" };
const MOCK_PROTOCOL: Record<Upstream, string> = { codex: "codex", anthropic: "anthropic-messages" };
const UPSTREAM_NAME: Record<Upstream, string> = { codex: "chatgpt", anthropic: "anthropic" };

describe.concurrent("real clients through a gateway process", () => {
  it.each(CASES)(
    "$name",
    async (c) => {
      const { versions } = bins();
      expect(versions).toEqual({ codex: "0.169.0", claude: "2.1.197" });
      const box = await makeClientSandbox();
      const tap = await startWireTap(gateway.url);
      try {
        const tag = `e2e case ${c.name}`;
        const directive = c.tool === "apply_patch" ? "apply_patch" : c.client === "codex" ? "exec_command" : "Bash";
        // With reasoning, so every turn 2 replays turn 1's reasoning (or thinking) the way its client keeps it.
        const prompt = `${tag}: [[mock:tool=${directive},reasoning]]`;
        const run = c.client === "codex" ? await runCodex(c, box, prompt, tap) : await runClaude(c, box, prompt);
        const report = `exit ${run.exit}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;

        // The client finished and printed the upstream's final answer.
        expect(run.exit, report).toBe(0);
        expect(run.stdout, report).toContain(`Hello from mock ${MOCK_PROTOCOL[c.upstream]} (model ${c.served}`);

        // What reached the upstream: two turns of this case, the second carrying the tool's real result.
        const turns = mock.requests.filter((r) => r.body.includes(tag));
        expect(
          turns.map((r) => r.path),
          report,
        ).toEqual([UPSTREAM_PATH[c.upstream], UPSTREAM_PATH[c.upstream]]);
        const [first, second] = turns as [RecordedRequest, RecordedRequest];
        // The imported ChatGPT login is what reached the Codex backend: its account, and an access token the mock issued.
        if (c.upstream === "codex") for (const t of turns) expect(t.headers["chatgpt-account-id"], report).toBe(CHATGPT_ACCOUNT);
        expect(toolCalls(first)).toEqual([]);
        expect(toolCalls(second)).toEqual([directive]);
        const outputs = toolOutputs(second);
        expect(outputs).toHaveLength(1);
        if (c.tool === "apply_patch") {
          expect(await readFile(join(box.work, "mock.txt"), "utf8")).toBe("Hello from the mock ✓\n");
          expect(outputs[0]).toContain("Success. Updated the following files:\nA mock.txt");
        } else {
          expect(outputs[0]).toContain(`${box.marker} ran in ${box.work}`);
        }

        // Turn 1's reasoning came back in turn 2, signed for the upstream that wrote it.
        if (c.client === "codex" && c.upstream === "anthropic") {
          // An Anthropic signature never reaches a Responses client (docs/protocols.md#reasoning-signatures), so
          // Codex has no thinking to replay, which Anthropic requires when thinking continues a tool loop:
          // the gateway sends the request that answers the calls without thinking.
          expect((first.json as Json).thinking).toMatchObject({ type: "enabled" });
          expect((second.json as Json).thinking).toBeUndefined();
          expect(replayedReasoning(second)).toEqual([]);
        } else {
          expect(replayedReasoning(second)).toEqual([c.upstream === "codex" ? expect.stringMatching(/^gAAAA/) : expect.stringMatching(/.+/)]);
        }

        // How Codex reached the gateway: what its provider block asked for, with no fallback.
        if (c.client === "codex") {
          const heads = tap.requests.filter((r) => r.line.includes("/v1/responses"));
          if (c.websocket) expect(heads).toEqual([{ line: "GET /v1/responses", upgrade: true }]);
          else
            expect(heads).toEqual([
              { line: "POST /v1/responses", upgrade: false },
              { line: "POST /v1/responses", upgrade: false },
            ]);
        }

        // Nothing left the machine: no request for a host but 127.0.0.1 reached the sandbox's trap.
        expect(box.trap.hits).toEqual([]);

        // One usage record per turn, on this case's account, served by the expected upstream's key.
        const usage = await usageOf(c, 2);
        expect(usage.total).toMatchObject({ requests: 2, errors: 0 });
        expect(usage.total.input_tokens).toBeGreaterThan(0);
        expect(usage.total.output_tokens).toBeGreaterThan(0);
        expect(usage.upstreamKeys).toHaveLength(1);
        expect(await upstreamKeyIds(UPSTREAM_NAME[c.upstream])).toContain(usage.upstreamKeys[0]);
      } finally {
        await tap.close();
        await box.remove();
      }
    },
    CLIENT_TIMEOUT_MS + 30_000,
  );
});
