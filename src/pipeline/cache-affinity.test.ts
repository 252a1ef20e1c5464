/**
 * Cache affinity end to end (docs/protocols.md#claude-code, docs/protocols.md#session-identity): for every ingress shape
 * real clients use and every upstream protocol, the `prompt_cache_key` (and
 * the Codex backend's `session_id` header) the upstream sees is one per
 * session: stable across turns, distinct across sessions, and distinct across
 * accounts sending the identical request. Claude Code's per-request billing
 * header changes neither the key nor, for non-Anthropic upstreams, the
 * upstream request prefix; consecutive turns produce upstream requests whose
 * tools/instructions are the same bytes and whose history only grows. A
 * session stays on one upstream key of a multi-key pool, and moves off it
 * only while that key cools down.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ClientProtocol } from "../protocols/codec.js";
import type { UpstreamProtocol } from "../storage/ports.js";
import type { RecordedRequest } from "../mock/types.js";
import { laneFor } from "../routing/plan.js";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";
import { readSse, validateStream } from "../testing/sse-client.js";

type J = Record<string, any>;

const OTHER_KEY = "sk-test-other-000000000000000003";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    extraYaml: `  - name: other\n    keys: [${OTHER_KEY}]\n`,
    // A Chat upstream that takes prompt_cache_key (like api.openai.com); the stack's own
    // "chat" upstream keeps the default for OpenAI-compatible providers: no key sent.
    extraUpstreamsYaml: `  - name: chat-keyed
    protocol: openai-chat
    base_url: MOCK/v1
    prompt_cache_key: true
    keys: [mock-chat-key-3, mock-chat-key-4]
    models: ["keyed-*"]
  - name: responses-nokey
    protocol: openai-responses
    base_url: MOCK/v1
    prompt_cache_key: false
    keys: [mock-responses-key-9]
    models: ["nokey-*"]
`,
  });
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.fresh();
});

// ---- the conversation every ingress replays, turn by turn ----------------------------------

const SYSTEM = "You are a careful coding agent working in a large repository. ".repeat(12).trim();
const TOOL = {
  name: "read_file",
  description: "Read a file of the repository",
  parameters: {
    type: "object",
    properties: { path: { type: "string" } },
    required: ["path"],
  },
};
/** First user message; session-specific only for ingresses that have nothing else naming the session. */
const firstUser = (session: string, keyed: boolean): string =>
  keyed ? "Explain the repository layout." : `Explain the repository layout of project ${session}.`;
const userText = (i: number, session: string, keyed: boolean): string => (i === 1 ? firstUser(session, keyed) : `Follow-up question number ${i}.`);
const assistantText = (i: number): string => `Answer number ${i}: the layout is src/, test/ and docs/.`;

/** A UUID-shaped id derived from a label, like the ids clients mint. */
function uuidOf(label: string): string {
  const h = createHash("sha256").update(label).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
const DEVICE = "d1317ca66a45935f01531ff26eedf267fad4c2a1741170a633d1125712696e4f";

/** Claude Code's first system block: `cch` changes on every request. */
const billingBlock = (): J => ({
  type: "text",
  text: `x-anthropic-billing-header: cc_version=2.1.197.0df; cc_entrypoint=sdk-cli; cch=${randomBytes(3).toString("hex")};`,
});

interface Built {
  path: string;
  headers: Record<string, string>;
  body: J;
}

interface Ingress {
  name: string;
  client: ClientProtocol;
  /** Sessions are told apart by a session id (header/metadata/body key), not by their content. */
  keyed: boolean;
  /** Sends Claude Code's per-request billing block. */
  billing?: boolean;
  build(model: string, session: string, turns: number): Built;
}

function responsesInput(session: string, turns: number, keyed: boolean): J[] {
  const input: J[] = [];
  for (let i = 1; i <= turns; i++) {
    if (i > 1)
      input.push({
        type: "message",
        role: "assistant",
        content: [{ type: "output_text", text: assistantText(i - 1) }],
      });
    input.push({
      type: "message",
      role: "user",
      content: [{ type: "input_text", text: userText(i, session, keyed) }],
    });
  }
  return input;
}

function responsesIngress(withKey: boolean): Ingress {
  return {
    name: withKey ? "Responses with client prompt_cache_key" : "Responses without a key",
    client: "openai-responses",
    keyed: withKey,
    build: (model, session, turns) => ({
      path: "/v1/responses",
      headers: {},
      body: {
        model,
        instructions: SYSTEM,
        input: responsesInput(session, turns, withKey),
        tools: [{ type: "function", ...TOOL, strict: false }],
        stream: true,
        store: false,
        ...(withKey ? { prompt_cache_key: `client-conversation-${session}` } : {}),
      },
    }),
  };
}

/** Codex CLI: the conversation id travels in `session-id`/`thread-id` headers; here without a body key. */
const codexIngress: Ingress = {
  name: "Codex CLI session headers",
  client: "openai-responses",
  keyed: true,
  build: (model, session, turns) => {
    const conv = uuidOf(`codex:${session}`);
    return {
      path: "/v1/responses",
      headers: {
        "session-id": conv,
        "thread-id": conv,
        "x-client-request-id": conv,
        originator: "codex_exec",
        "user-agent": "codex_exec/0.169.0 (Debian 12.0.0; x86_64) xterm (codex_exec; 0.169.0)",
        "x-codex-window-id": `${conv}:0`,
        // Per-turn metadata: a new turn id every request.
        "x-codex-turn-metadata": JSON.stringify({
          session_id: conv,
          thread_id: conv,
          turn_id: uuidOf(`${conv}:${turns}:${randomBytes(4).toString("hex")}`),
        }),
      },
      body: {
        model,
        stream: true,
        input: [
          {
            type: "message",
            role: "developer",
            content: [{ type: "input_text", text: SYSTEM }],
          },
          ...responsesInput(session, turns, true),
        ],
        tools: [{ type: "function", ...TOOL, strict: false }],
        tool_choice: "auto",
        parallel_tool_calls: true,
        reasoning: { summary: "auto" },
        store: false,
        include: ["reasoning.encrypted_content"],
      },
    };
  },
};

type ClaudeSession = "header" | "user_id-json" | "user_id-legacy" | "none";

function claudeIngress(via: ClaudeSession): Ingress {
  const names: Record<ClaudeSession, string> = {
    header: "Claude Code x-claude-code-session-id",
    "user_id-json": "Claude Code metadata.user_id (JSON string)",
    "user_id-legacy": "Claude Code metadata.user_id (legacy format)",
    none: "Claude Code without a session id (prompt hash)",
  };
  const keyed = via !== "none";
  return {
    name: names[via],
    client: "anthropic-messages",
    keyed,
    billing: true,
    build: (model, session, turns) => {
      const sid = uuidOf(`claude:${session}`);
      const messages: J[] = [];
      for (let i = 1; i <= turns; i++) {
        if (i > 1)
          messages.push({
            role: "assistant",
            content: [{ type: "text", text: assistantText(i - 1) }],
          });
        const content: J[] = [{ type: "text", text: userText(i, session, keyed) }];
        if (i === 1)
          content.unshift({
            type: "text",
            text: "<system-reminder>The date is 2026-05-01.</system-reminder>",
          });
        messages.push({ role: "user", content });
      }
      // Claude Code moves its cache breakpoint to the newest message every turn.
      (messages.at(-1)!.content as J[]).at(-1)!.cache_control = {
        type: "ephemeral",
      };
      const userId =
        via === "user_id-legacy"
          ? `user_${DEVICE}_account_${uuidOf("account")}_session_${sid}`
          : via === "none"
            ? undefined
            : JSON.stringify({
                device_id: DEVICE,
                account_uuid: "",
                session_id: sid,
              });
      return {
        path: "/v1/messages?beta=true",
        headers: {
          "anthropic-version": "2023-06-01",
          "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27",
          "user-agent": "claude-cli/2.1.197 (external, sdk-cli)",
          "x-app": "cli",
          ...(via === "header" ? { "x-claude-code-session-id": sid } : {}),
        },
        body: {
          model,
          messages,
          system: [
            billingBlock(),
            {
              type: "text",
              text: "You are a Claude agent, built on Anthropic's Claude Agent SDK.",
              cache_control: { type: "ephemeral" },
            },
            {
              type: "text",
              text: SYSTEM,
              cache_control: { type: "ephemeral" },
            },
          ],
          tools: [
            {
              name: TOOL.name,
              description: TOOL.description,
              input_schema: TOOL.parameters,
            },
          ],
          ...(userId ? { metadata: { user_id: userId } } : {}),
          max_tokens: 32000,
          thinking: { type: "adaptive" },
          stream: true,
        },
      };
    },
  };
}

const chatIngress: Ingress = {
  name: "Chat without a key",
  client: "openai-chat",
  keyed: false,
  build: (model, session, turns) => {
    const messages: J[] = [{ role: "system", content: SYSTEM }];
    for (let i = 1; i <= turns; i++) {
      if (i > 1) messages.push({ role: "assistant", content: assistantText(i - 1) });
      messages.push({ role: "user", content: userText(i, session, false) });
    }
    return {
      path: "/v1/chat/completions",
      headers: {},
      body: {
        model,
        messages,
        tools: [{ type: "function", function: TOOL }],
        stream: true,
        stream_options: { include_usage: true },
      },
    };
  },
};

const INGRESSES: Ingress[] = [
  responsesIngress(true),
  responsesIngress(false),
  codexIngress,
  claudeIngress("header"),
  claudeIngress("user_id-json"),
  claudeIngress("user_id-legacy"),
  claudeIngress("none"),
  chatIngress,
];

interface TestUpstream {
  name: string;
  protocol: UpstreamProtocol;
  model: string;
  /** Whether its requests carry prompt_cache_key: the upstream's setting or its protocol's default. */
  takesKey: boolean;
}

const UPSTREAMS: TestUpstream[] = [
  { name: "chat (OpenAI-compatible, default)", protocol: "openai-chat", model: "chat-aff", takesKey: false },
  { name: "chat (prompt_cache_key: true)", protocol: "openai-chat", model: "keyed-aff", takesKey: true },
  { name: "responses", protocol: "openai-responses", model: "resp-aff", takesKey: true },
  { name: "anthropic", protocol: "anthropic", model: "claude-aff", takesKey: false },
  { name: "codex", protocol: "codex", model: "codex-aff", takesKey: true },
];

// ---- sending and observing ----------------------------------------------------------------

interface Sent {
  seen: RecordedRequest;
  /** The client body bytes. */
  sent: string;
  key: string | undefined;
  sessionHeader: string | undefined;
  credential: string | undefined;
}

async function send(ing: Ingress, model: string, session: string, turns: number, apiKey = ACME_KEY, override?: (b: Built) => void): Promise<Sent> {
  const built = ing.build(model, session, turns);
  override?.(built);
  const auth: Record<string, string> = ing.client === "anthropic-messages" ? { "x-api-key": apiKey } : { authorization: `Bearer ${apiKey}` };
  const sent = JSON.stringify(built.body);
  const before = stack.mock.requests.length;
  const res = await fetch(`${stack.gw.url}${built.path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...built.headers, ...auth },
    body: sent,
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const events = await readSse(res);
  expect(validateStream(ing.client, events)).toEqual([]);
  expect(stack.mock.requests.length - before).toBe(1);
  const seen = stack.mock.requests.at(-1)!;
  const json = seen.json as J;
  return {
    seen,
    sent,
    key: json.prompt_cache_key as string | undefined,
    sessionHeader: seen.headers.session_id as string | undefined,
    credential: (seen.headers.authorization ?? seen.headers["x-api-key"]) as string | undefined,
  };
}

const BILLING = "x-anthropic-billing-header:";
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (v && typeof v === "object") for (const x of Object.values(v)) strings(x, out);
  return out;
}

/** Drops Anthropic-only cache bookkeeping: the billing block and the moving cache_control breakpoints. */
function withoutAnthropicCacheMarks(v: unknown): unknown {
  if (Array.isArray(v)) {
    return v
      .filter((x) => !(x && typeof x === "object" && typeof (x as J).text === "string" && ((x as J).text as string).startsWith(BILLING)))
      .map(withoutAnthropicCacheMarks);
  }
  if (v && typeof v === "object") {
    const out: J = {};
    for (const [k, x] of Object.entries(v)) if (k !== "cache_control") out[k] = withoutAnthropicCacheMarks(x);
    return out;
  }
  return v;
}

/** The cacheable head (tools + instructions/system) and the growing history of an upstream request. */
function prefixShape(upstream: UpstreamProtocol, body: J): { head: string; items: string[] } {
  switch (upstream) {
    case "openai-chat":
      return {
        head: JSON.stringify({
          tools: body.tools,
          tool_choice: body.tool_choice,
        }),
        items: (body.messages as J[]).map((m) => JSON.stringify(m)),
      };
    case "anthropic":
      return {
        head: JSON.stringify({ tools: body.tools, system: body.system }),
        items: (body.messages as J[]).map((m) => JSON.stringify(m)),
      };
    default:
      return {
        head: JSON.stringify({
          tools: body.tools,
          instructions: body.instructions,
        }),
        items: (body.input as J[]).map((m) => JSON.stringify(m)),
      };
  }
}

// ---- the matrix ----------------------------------------------------------------------------

for (const ing of INGRESSES) {
  for (const up of UPSTREAMS) {
    const lane = laneFor(ing.client, up.protocol);
    const keyed = up.takesKey;

    describe(`${ing.name} → ${up.name} upstream (${lane})`, () => {
      it("gives the session one key: stable across turns, distinct across sessions and accounts", async () => {
        const turns = [await send(ing, up.model, "alpha", 1), await send(ing, up.model, "alpha", 2), await send(ing, up.model, "alpha", 3)];
        const otherSession = await send(ing, up.model, "beta", 1);
        const otherAccount = await send(ing, up.model, "alpha", 1, OTHER_KEY);
        if (ing.billing) {
          // Sanity: each request carried a different billing hash.
          const hashes = turns.map((t) => ((JSON.parse(t.sent) as J).system as J[])[0]!.text as string);
          expect(new Set(hashes).size).toBe(3);
        }
        if (keyed) {
          const key = turns[0]!.key!;
          expect(key).toMatch(UUID);
          expect(turns.map((t) => t.key)).toEqual([key, key, key]);
          expect(otherSession.key).toMatch(UUID);
          expect(otherSession.key).not.toBe(key);
          expect(otherAccount.key).toMatch(UUID);
          expect(otherAccount.key).not.toBe(key);
          if (ing.name.startsWith("Responses with")) expect(key).not.toBe("client-conversation-alpha");
          if (up.protocol === "codex") {
            for (const t of [...turns, otherSession, otherAccount]) expect(t.sessionHeader).toBe(t.key);
          }
        } else {
          for (const t of [...turns, otherSession, otherAccount]) {
            expect(t.seen.json as J).not.toHaveProperty("prompt_cache_key");
            expect(t.sessionHeader).toBeUndefined();
          }
          // Chat passthrough: the body is forwarded untouched.
          if (lane === "passthrough" && up.protocol === "openai-chat") for (const t of turns) expect(t.seen.body.toString("utf8")).toBe(t.sent);
        }
        // The chat upstreams have two keys each: a session stays on one of them.
        if (up.protocol === "openai-chat") {
          expect(turns[0]!.credential).toMatch(up.takesKey ? /^Bearer mock-chat-key-[34]$/ : /^Bearer mock-chat-key-[12]$/);
          expect(turns.map((t) => t.credential)).toEqual(turns.map(() => turns[0]!.credential));
        }
      });

      const prefixTitle =
        ing.billing && up.protocol !== "anthropic"
          ? "extends turn 1's upstream request on turn 2 despite a new billing header (same tools/instructions bytes, history a prefix)"
          : "extends turn 1's upstream request on turn 2 (same tools/instructions bytes, history a prefix)";
      it(prefixTitle, async () => {
        const t1 = await send(ing, up.model, "gamma", 1);
        const t2 = await send(ing, up.model, "gamma", 2);
        let b1 = t1.seen.json as J;
        let b2 = t2.seen.json as J;
        if (ing.billing && up.protocol === "anthropic") {
          // Passthrough to Anthropic: the client's own bytes (billing block included) are forwarded;
          // Anthropic's cache works on breakpoints, so compare without its cache marks.
          expect(t1.seen.body.toString("utf8")).toBe(t1.sent);
          b1 = withoutAnthropicCacheMarks(b1) as J;
          b2 = withoutAnthropicCacheMarks(b2) as J;
        } else {
          expect(strings(b1).some((s) => s.startsWith(BILLING))).toBe(false);
        }
        const s1 = prefixShape(up.protocol, b1);
        const s2 = prefixShape(up.protocol, b2);
        expect(s2.head).toBe(s1.head);
        expect(s1.items.length).toBeGreaterThan(0);
        expect(s2.items.length).toBeGreaterThan(s1.items.length);
        expect(s2.items.slice(0, s1.items.length)).toEqual(s1.items);
        expect(JSON.stringify(s2.items.slice(s1.items.length))).toContain("Follow-up question number 2.");
      });

      if (ing.billing && up.protocol !== "anthropic") {
        it("sends byte-identical upstream requests when only the billing header changed", async () => {
          const a = await send(ing, up.model, "delta", 2);
          const b = await send(ing, up.model, "delta", 2);
          expect(a.sent).not.toBe(b.sent);
          expect(b.seen.body.toString("utf8")).toBe(a.seen.body.toString("utf8"));
        });
      }
    });
  }
}

// ---- focused checks ------------------------------------------------------------------------

describe("Claude Code session sources", () => {
  const model = "resp-aff";
  it("gives the same key whether the session comes from the header or from metadata.user_id (JSON or legacy)", async () => {
    const header = await send(claudeIngress("header"), model, "epsilon", 1);
    const json = await send(claudeIngress("user_id-json"), model, "epsilon", 1);
    const legacy = await send(claudeIngress("user_id-legacy"), model, "epsilon", 1);
    expect(header.key).toMatch(UUID);
    expect(json.key).toBe(header.key);
    expect(legacy.key).toBe(header.key);
  });

  it("prefers x-claude-code-session-id over metadata.user_id, and keeps sub-agents apart", async () => {
    const ing = claudeIngress("header");
    const plain = await send(ing, model, "zeta", 1);
    const conflicting = await send(ing, model, "zeta", 1, ACME_KEY, (b) => {
      b.body.metadata = {
        user_id: JSON.stringify({
          device_id: DEVICE,
          account_uuid: "",
          session_id: uuidOf("claude:somewhere-else"),
        }),
      };
    });
    expect(conflicting.key).toBe(plain.key);
    const subAgent = await send(ing, model, "zeta", 1, ACME_KEY, (b) => {
      b.headers["x-claude-code-agent-id"] = "agent-7";
    });
    expect(subAgent.key).toMatch(UUID);
    expect(subAgent.key).not.toBe(plain.key);
  });
});

describe("upstream key pinning (the chat upstream has two keys)", () => {
  const chatKeys = () => stack.gw.catalog.snapshot.upstreams.find((t) => t.upstream.name === "chat")!.pool.keys;

  for (const ing of [chatIngress, claudeIngress("header")]) {
    it(`${ing.name}: every session stays on its key, and sessions spread over both keys`, async () => {
      expect(chatKeys()).toHaveLength(2);
      const used = new Set<string>();
      for (let s = 0; s < 16; s++) {
        const first = await send(ing, "chat-aff", `pin-${s}`, 1);
        const second = await send(ing, "chat-aff", `pin-${s}`, 2);
        expect(second.credential, `session pin-${s}`).toBe(first.credential);
        used.add(first.credential!);
      }
      // Without affinity every sequential request would take the first key; with it, 16 sessions
      // land on both keys unless rendezvous hashing put them all on one (p = 2^-15).
      expect([...used].sort()).toEqual(["Bearer mock-chat-key-1", "Bearer mock-chat-key-2"]);
    });
  }

  it("moves a session off its key while that key cools down, keeping the cache key, and returns afterwards", async () => {
    const ing = claudeIngress("header");
    const keys = stack.gw.catalog.snapshot.upstreams.find((t) => t.upstream.name === "chat-keyed")!.pool.keys;
    const t1 = await send(ing, "keyed-aff", "cooling", 1);
    expect(t1.key).toMatch(UUID);
    const pinned = keys.find((k) => `Bearer ${k.secret}` === t1.credential)!;
    expect(pinned).toBeDefined();

    pinned.coolingUntil = Date.now() + 60_000;
    const t2 = await send(ing, "keyed-aff", "cooling", 2);
    expect(t2.credential).toMatch(/^Bearer mock-chat-key-[34]$/);
    expect(t2.credential).not.toBe(t1.credential);
    expect(t2.key).toBe(t1.key);
    const t3 = await send(ing, "keyed-aff", "cooling", 3);
    expect(t3.credential).toBe(t2.credential);

    pinned.coolingUntil = 0;
    const t4 = await send(ing, "keyed-aff", "cooling", 4);
    expect(t4.credential).toBe(t1.credential);
    expect(t4.key).toBe(t1.key);
  });
});

describe("upstreams that do not take prompt_cache_key", () => {
  it("never see one, not even the client's own, on either lane; everything else passes as sent", async () => {
    // Responses client → Responses upstream with the setting off (passthrough).
    const responses = await send(responsesIngress(true), "nokey-aff", "theta", 2);
    expect(responses.seen.json as J).not.toHaveProperty("prompt_cache_key");
    const { prompt_cache_key: _dropped, ...rest } = JSON.parse(responses.sent) as J;
    expect(responses.seen.json).toEqual(rest);
    // Chat client with its own key → OpenAI-compatible Chat upstream (passthrough, default off).
    const chat = await send(chatIngress, "chat-aff", "theta", 1, ACME_KEY, (b) => {
      b.body.prompt_cache_key = "client-key-theta";
    });
    expect(chat.seen.json as J).not.toHaveProperty("prompt_cache_key");
    expect((chat.seen.json as J).messages).toEqual(JSON.parse(chat.sent).messages);
    // Responses client with its own key → the same Chat upstream (translated).
    const translated = await send(responsesIngress(true), "chat-aff", "theta", 1);
    expect(translated.seen.json as J).not.toHaveProperty("prompt_cache_key");
  });
});
