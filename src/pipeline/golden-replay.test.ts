/**
 * Golden replay: the requests real clients sent (Claude Code 2.1.197, Codex CLI
 * 0.169.0; src/protocols/<name>/__fixtures__/) replayed through the real gateway
 * against every upstream protocol of the mock. Only `model` is rewritten (to a
 * model routed to the upstream under test) and the client's credential is
 * swapped for a gateway key; every other byte and header is the client's.
 *
 * Same-protocol pairs must reach the upstream byte for byte apart from the
 * documented patch (Responses: the scoped `prompt_cache_key` value; Codex
 * backend: that plus an empty `instructions`, which Codex CLI omits), with the
 * query string and the clients' session/beta headers intact. Translated pairs
 * must produce a valid request of the upstream's protocol: tools kept (minus
 * built-ins the protocol cannot carry), tool calls and results tied by the
 * same id, Claude Code's per-request billing header left behind.
 */
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ClientProtocol } from "../protocols/codec.js";
import type { UpstreamProtocol } from "../storage/ports.js";
import type { RecordedRequest } from "../mock/types.js";
import { laneFor } from "../routing/plan.js";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";
import { readSse, validateStream, type ClientEvent } from "../testing/sse-client.js";
import { readStreamAnswer, type Answer } from "../testing/client-shapes.js";
import { captureDir, captureUrl } from "../testing/real-clients.js";

/** The capture folders this replay reads, committed beside their codecs (src/protocols/<name>/__fixtures__/). */
const CAPTURE_FOLDERS = ["claude", "claude-toolcall", "codex", "codex-toolcall"];

interface Capture {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}
type J = Record<string, any>;

function load(rel: string): Capture {
  return JSON.parse(readFileSync(captureUrl(rel), "utf8")) as Capture;
}

interface Golden {
  name: string;
  client: ClientProtocol;
  capture: Capture;
  /** The conversation ends with a tool result for this call. */
  toolRoundTrip?: { callId: string; name: string };
}

const CLAUDE_CALL = { callId: "toolu_mock0001", name: "Bash" };
const CODEX_CALL = { callId: "call_mock0001", name: "exec_command" };

const GOLDEN: Golden[] = [
  {
    name: "claude/002",
    client: "anthropic-messages",
    capture: load("claude/002-POST-v1_messages.json"),
  },
  {
    name: "claude-toolcall/002",
    client: "anthropic-messages",
    capture: load("claude-toolcall/002-POST-v1_messages.json"),
  },
  {
    name: "claude-toolcall/003",
    client: "anthropic-messages",
    capture: load("claude-toolcall/003-POST-v1_messages.json"),
    toolRoundTrip: CLAUDE_CALL,
  },
  {
    name: "codex/001",
    client: "openai-responses",
    capture: load("codex/001-POST-v1_responses.json"),
  },
  {
    name: "codex-toolcall/001",
    client: "openai-responses",
    capture: load("codex-toolcall/001-POST-v1_responses.json"),
  },
  {
    name: "codex-toolcall/002",
    client: "openai-responses",
    capture: load("codex-toolcall/002-POST-v1_responses.json"),
    toolRoundTrip: CODEX_CALL,
  },
];

const UPSTREAMS: Array<{
  protocol: UpstreamProtocol;
  model: string;
  path: string;
  mockName: string;
}> = [
  {
    protocol: "anthropic",
    model: "claude-golden",
    path: "/v1/messages",
    mockName: "anthropic-messages",
  },
  {
    protocol: "openai-chat",
    model: "chat-golden",
    path: "/v1/chat/completions",
    mockName: "openai-chat",
  },
  {
    protocol: "openai-responses",
    model: "resp-golden",
    path: "/v1/responses",
    mockName: "openai-responses",
  },
  {
    protocol: "codex",
    model: "codex-golden",
    path: "/backend-api/codex/responses",
    mockName: "codex",
  },
];

const BILLING = "x-anthropic-billing-header:";
/** Captured headers that are per-connection or credentials, replaced on replay. */
const NOT_REPLAYED = new Set(["host", "content-length", "authorization", "x-api-key"]);
/** Replayed, but legitimately not forwarded as-is (hop-by-hop; accept is set by the gateway for streams). */
const NOT_FORWARDED = new Set([...NOT_REPLAYED, "connection", "accept-encoding", "accept"]);

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.fresh();
});

/** The capture's body with `model` rewritten, serialized in the client's own field order. */
function bodyFor(c: Capture, model: string, edit?: (body: J) => void): string {
  const body = structuredClone(c.body) as J;
  body.model = model;
  edit?.(body);
  return JSON.stringify(body);
}

interface Replayed {
  status: number;
  events: ClientEvent[];
  problems: string[];
  answer: Answer;
  /** The bytes the client sent. */
  sent: string;
  seen: RecordedRequest;
  warnings: string | null;
  error?: string;
}

async function replay(
  g: Golden,
  model: string,
  opts: {
    extraHeaders?: Record<string, string>;
    edit?: (body: J) => void;
  } = {},
): Promise<Replayed> {
  const c = g.capture;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.headers)) if (!NOT_REPLAYED.has(k)) headers[k] = v;
  if ("x-api-key" in c.headers) headers["x-api-key"] = ACME_KEY;
  else headers.authorization = `Bearer ${ACME_KEY}`;
  Object.assign(headers, opts.extraHeaders);
  const sent = bodyFor(c, model, opts.edit);
  const before = stack.mock.requests.length;
  const res = await fetch(`${stack.gw.url}${c.url}`, {
    method: c.method,
    headers,
    body: sent,
  });
  if (res.status !== 200) {
    return { status: res.status, error: await res.text(), sent } as Replayed;
  }
  expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
  const events = await readSse(res);
  expect(stack.mock.requests.length - before, "one upstream request per replay").toBe(1);
  return {
    status: res.status,
    events,
    problems: validateStream(g.client, events),
    answer: readStreamAnswer(g.client, events),
    sent,
    seen: stack.mock.requests.at(-1)!,
    warnings: res.headers.get("x-switchyard-warnings"),
  };
}

const toolNamesOf = (c: Capture): string[] => (c.body.tools as J[]).map((t) => t.name as string);
/** Tools a foreign protocol can carry: Codex's function tools, not its namespace / web_search built-ins. */
/** Tool names as a vendor without namespaces sees them: functions, and namespaced functions flattened to `ns_name`. */
const functionToolNamesOf = (c: Capture): string[] =>
  (c.body.tools as J[]).flatMap((t) =>
    t.type === undefined || t.type === "function"
      ? [t.name as string]
      : t.type === "namespace"
        ? (t.tools as J[]).filter((f) => f.type === "function").map((f) => `${t.name as string}_${f.name as string}`)
        : [],
  );

/** Every string anywhere in a JSON value. */
function strings(v: unknown, out: string[] = []): string[] {
  if (typeof v === "string") out.push(v);
  else if (Array.isArray(v)) for (const x of v) strings(x, out);
  else if (v && typeof v === "object") for (const x of Object.values(v)) strings(x, out);
  return out;
}

it("finds the real-client captures in the repository", () => {
  for (const folder of CAPTURE_FOLDERS) expect(existsSync(captureDir(folder)), folder).toBe(true);
  expect(GOLDEN.every((g) => g.capture.method === "POST")).toBe(true);
});

for (const g of GOLDEN) {
  for (const up of UPSTREAMS) {
    const lane = laneFor(g.client, up.protocol);
    const claude = g.client === "anthropic-messages";
    describe(`${g.name} → ${up.protocol} upstream (${lane})`, () => {
      it("answers 200 with a stream the client's strict validator accepts, carrying the upstream's text", async () => {
        const r = await replay(g, up.model);
        expect(r.status, r.error).toBe(200);
        expect(r.problems).toEqual([]);
        expect(r.answer.text).toContain(`Hello from mock ${up.mockName} (model ${up.model})`);
        expect(r.answer.toolCalls).toEqual([]);
        expect(["end_turn", "completed"]).toContain(r.answer.finish);
        expect(r.seen.path).toBe(up.path);
      });

      if (lane === "passthrough") {
        it("reaches the upstream byte for byte except the documented patch, with query and client headers intact", async () => {
          const r = await replay(g, up.model);
          expect(r.status, r.error).toBe(200);
          const seenBody = r.seen.body.toString("utf8");
          if (up.protocol === "anthropic") {
            expect(r.seen.url).toBe(g.capture.url); // ?beta=true kept
            expect(seenBody).toBe(r.sent);
            expect(r.seen.headers["x-api-key"]).toBe("mock-anthropic-key-1");
          } else {
            const clientKey = g.capture.body.prompt_cache_key as string;
            const key = (r.seen.json as J).prompt_cache_key as string;
            expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
            expect(key, "the client's key is scoped per account, not forwarded raw").not.toBe(clientKey);
            const expected = r.sent.replace(`"prompt_cache_key":${JSON.stringify(clientKey)}`, `"prompt_cache_key":${JSON.stringify(key)}`);
            let actual = seenBody;
            if (up.protocol === "codex") {
              // Codex CLI sends no `instructions`; the backend requires one (docs/protocols.md#codex-body-rules): the only other edit.
              expect((r.seen.json as J).instructions).toBe("");
              actual = actual.replace(/"instructions":"",|,"instructions":""(?=})/, "");
              expect(r.seen.headers.session_id, "codex session header = the cache key").toBe(key);
              expect(r.seen.headers["chatgpt-account-id"]).toBe("acct-mock-1");
              expect(r.seen.headers.authorization).toBe("Bearer mock-codex-token-1");
            } else {
              expect(r.seen.headers.authorization).toBe("Bearer mock-responses-key-1");
            }
            expect(actual).toBe(expected);
          }
          // To the Codex backend, both session headers carry the per-account key instead.
          const rescoped = up.protocol === "codex" ? new Set(["session-id"]) : new Set<string>();
          for (const [name, value] of Object.entries(g.capture.headers)) {
            if (NOT_FORWARDED.has(name) || rescoped.has(name)) continue;
            expect(r.seen.headers[name], `header ${name}`).toBe(value);
          }
          if (claude) {
            expect(r.seen.headers["anthropic-beta"]).toContain("context-management-2025-06-27");
            expect(r.seen.headers["x-claude-code-session-id"]).toBe(g.capture.headers["x-claude-code-session-id"]);
          } else {
            expect(r.seen.headers["session-id"]).toBe(up.protocol === "codex" ? r.seen.headers.session_id : g.capture.headers["session-id"]);
            expect(r.seen.headers["x-codex-turn-metadata"]).toBe(g.capture.headers["x-codex-turn-metadata"]);
          }
        });

        if (!claude) {
          it("keeps Codex's namespace and web_search tools and client_metadata", async () => {
            const r = await replay(g, up.model);
            expect(r.status, r.error).toBe(200);
            const seen = r.seen.json as J;
            expect(seen.tools).toEqual(g.capture.body.tools);
            expect((seen.tools as J[]).map((t) => t.type)).toEqual(expect.arrayContaining(["namespace", "web_search"]));
            expect(seen.client_metadata).toEqual(g.capture.body.client_metadata);
            expect(r.warnings).toBeNull();
          });
        }
      } else {
        it(`sends a valid ${up.protocol} request with the client's tools`, async () => {
          const r = await replay(g, up.model);
          expect(r.status, r.error).toBe(200);
          const seen = r.seen.json as J;
          expect(seen.model).toBe(up.model);
          expect(seen.stream).toBe(true);
          const expectedTools = claude ? toolNamesOf(g.capture) : functionToolNamesOf(g.capture);
          // Claude Code's 24 tools are all functions; Codex's 7 functions and 5 namespaced ones arrive, only web_search is dropped.
          expect(expectedTools.length).toBe(claude ? 24 : 12);
          if (!claude) expect(r.warnings).toContain("builtin_tool_dropped");
          switch (up.protocol) {
            case "openai-chat": {
              expect((seen.tools as J[]).map((t) => t.type)).toEqual(expectedTools.map(() => "function"));
              expect((seen.tools as J[]).map((t) => t.function.name)).toEqual(expectedTools);
              expect(Array.isArray(seen.messages)).toBe(true);
              for (const m of seen.messages as J[]) expect(["system", "developer", "user", "assistant", "tool"]).toContain(m.role);
              expect(seen.stream_options).toEqual({ include_usage: true });
              expect(r.seen.headers.authorization).toMatch(/^Bearer mock-chat-key-[12]$/);
              break;
            }
            case "anthropic": {
              expect((seen.tools as J[]).map((t) => t.name)).toEqual(expectedTools);
              for (const t of seen.tools as J[]) expect(t.input_schema).toMatchObject({ type: "object" });
              expect(typeof seen.max_tokens).toBe("number");
              // Codex's developer messages become the system prompt; messages alternate from a user turn.
              const system = strings(seen.system).join("\n");
              for (const item of (g.capture.body.input as J[]).filter((i) => i.role === "developer")) {
                for (const p of item.content as J[]) expect(system).toContain(p.text);
              }
              const roles = (seen.messages as J[]).map((m) => m.role);
              expect(roles[0]).toBe("user");
              roles.forEach((role, i) => i > 0 && expect(role).not.toBe(roles[i - 1]));
              expect(r.seen.headers["anthropic-version"]).toBe("2023-06-01");
              break;
            }
            case "openai-responses":
            case "codex": {
              expect((seen.tools as J[]).map((t) => t.name)).toEqual(expectedTools);
              expect(Array.isArray(seen.input)).toBe(true);
              expect(seen.store).toBe(false);
              expect(seen.prompt_cache_key).toMatch(/^[0-9a-f-]{36}$/);
              if (up.protocol === "codex") {
                expect(typeof seen.instructions).toBe("string");
                for (const f of ["max_output_tokens", "context_management", "temperature", "metadata", "output_config", "thinking"]) {
                  expect(seen, f).not.toHaveProperty(f);
                }
                expect(seen.include).toContain("reasoning.encrypted_content");
                expect(r.seen.headers.session_id).toBe(seen.prompt_cache_key);
                expect(r.seen.headers["chatgpt-account-id"]).toBe("acct-mock-1");
              }
              break;
            }
          }
          // Claude Code's own metadata (device id) and vendor headers stay with Anthropic.
          expect(seen).not.toHaveProperty("context_management");
          expect(JSON.stringify(seen)).not.toContain("device_id");
          expect(r.seen.headers["anthropic-beta"]).toBeUndefined();
          expect(r.seen.headers["x-claude-code-session-id"]).toBeUndefined();
          expect(r.seen.headers["x-codex-turn-metadata"]).toBeUndefined();
        });

        if (claude) {
          // docs/protocols.md#claude-code: the billing block changes every request (cc_version/cch) and would
          // break the upstream's prefix cache.
          it("does not forward Claude Code's x-anthropic-billing-header system block", async () => {
            const r = await replay(g, up.model);
            expect(r.status, r.error).toBe(200);
            expect(strings(r.seen.json).some((s) => s.startsWith(BILLING))).toBe(false);
            expect(r.seen.body.toString("utf8")).not.toContain("cc_version=");
          });

          it("keeps the rest of the system prompt, including the mid-conversation system message", async () => {
            const r = await replay(g, up.model);
            expect(r.status, r.error).toBe(200);
            const all = strings(r.seen.json);
            for (const b of (g.capture.body.system as J[]).slice(1)) expect(all.some((s) => s.includes(b.text as string))).toBe(true);
            const mid = (g.capture.body.messages as J[]).find((m) => m.role === "system")!;
            expect(all.some((s) => s.includes(mid.content as string))).toBe(true);
          });
        }
      }

      if (g.toolRoundTrip) {
        const { callId, name } = g.toolRoundTrip;
        it(`carries the tool call and its result under one id (${callId})`, async () => {
          const r = await replay(g, up.model);
          expect(r.status, r.error).toBe(200);
          const seen = r.seen.json as J;
          const pairs = upstreamToolPairs(up.protocol, seen);
          expect(pairs.calls).toEqual([{ id: callId, name }]);
          expect(pairs.results).toEqual([callId]);
          // The result comes right after its call (Chat: tool message; Anthropic: next user turn).
          expect(pairs.resultFollowsCall).toBe(true);
        });
      }
    });
  }
}

/** Function calls and tool results of an upstream request, in any protocol. */
function upstreamToolPairs(
  p: UpstreamProtocol,
  body: J,
): {
  calls: Array<{ id: string; name: string }>;
  results: string[];
  resultFollowsCall: boolean;
} {
  const calls: Array<{ id: string; name: string }> = [];
  const results: string[] = [];
  let resultFollowsCall = false;
  if (p === "openai-chat") {
    const msgs = body.messages as J[];
    msgs.forEach((m, i) => {
      for (const tc of (m.tool_calls ?? []) as J[]) {
        calls.push({ id: tc.id, name: tc.function.name });
        expect(() => JSON.parse(tc.function.arguments as string)).not.toThrow();
        const next = msgs[i + 1];
        if (next?.role === "tool" && next.tool_call_id === tc.id) resultFollowsCall = true;
      }
      if (m.role === "tool") results.push(m.tool_call_id);
    });
  } else if (p === "anthropic") {
    const msgs = body.messages as J[];
    msgs.forEach((m, i) => {
      if (!Array.isArray(m.content)) return;
      for (const b of m.content as J[]) {
        if (b.type === "tool_use") {
          calls.push({ id: b.id, name: b.name });
          const next = msgs[i + 1];
          if (next?.role === "user" && (next.content as J[]).some((x) => x.type === "tool_result" && x.tool_use_id === b.id)) resultFollowsCall = true;
        }
        if (b.type === "tool_result") results.push(b.tool_use_id);
      }
    });
  } else {
    const items = body.input as J[];
    items.forEach((it, i) => {
      if (it.type === "function_call") {
        calls.push({ id: it.call_id, name: it.name });
        const next = items[i + 1];
        if (next?.type === "function_call_output" && next.call_id === it.call_id) resultFollowsCall = true;
      }
      if (it.type === "function_call_output") results.push(it.call_id);
    });
  }
  return { calls, results, resultFollowsCall };
}

/**
 * A live tool round trip on the captured conversations: the mock is asked (by
 * header, the capture's text untouched) to call the first declared tool; the
 * call comes back to the client under the client's tool name, and the next
 * captured turn, rebuilt around that call, reaches the upstream with the call
 * and its result tied by the id the upstream itself minted.
 */
describe("live tool round trip on the captured conversations", () => {
  const pairs: Array<{
    first: Golden;
    second: Golden;
    tool: string;
    required: string[];
  }> = [
    {
      first: GOLDEN[1]!,
      second: GOLDEN[2]!,
      tool: "Agent",
      required: ["description", "prompt"],
    },
    {
      first: GOLDEN[4]!,
      second: GOLDEN[5]!,
      tool: "exec_command",
      required: ["cmd"],
    },
  ];
  for (const { first, second, tool, required } of pairs) {
    for (const up of UPSTREAMS) {
      it(`${first.name} → ${second.name} via ${up.protocol}`, async () => {
        const r1 = await replay(first, up.model, {
          extraHeaders: { "x-mock-scenario": "tool_call" },
        });
        expect(r1.status, r1.error).toBe(200);
        expect(r1.problems).toEqual([]);
        expect(r1.answer.toolCalls).toHaveLength(1);
        const call = r1.answer.toolCalls[0]!;
        expect(call.name).toBe(tool);
        const args = JSON.parse(call.arguments) as J;
        expect(Object.keys(args)).toEqual(expect.arrayContaining(required));
        expect(["tool_use", "completed"]).toContain(r1.answer.finish);

        const r2 = await replay(second, up.model, {
          edit: (body) => {
            if (second.client === "anthropic-messages") {
              const msgs = body.messages as J[];
              const a = msgs.find((m) => m.role === "assistant")!;
              a.content = [{ type: "tool_use", id: call.id, name: call.name, input: args }];
              const res = (msgs.at(-1)!.content as J[]).find((b) => b.type === "tool_result")!;
              res.tool_use_id = call.id;
            } else {
              const items = body.input as J[];
              const fc = items.find((i) => i.type === "function_call")!;
              Object.assign(fc, {
                call_id: call.id,
                name: call.name,
                arguments: call.arguments,
              });
              items.find((i) => i.type === "function_call_output")!.call_id = call.id;
            }
          },
        });
        expect(r2.status, r2.error).toBe(200);
        expect(r2.problems).toEqual([]);
        expect(r2.answer.toolCalls).toEqual([]);
        const got = upstreamToolPairs(up.protocol, r2.seen.json as J);
        expect(got.calls).toHaveLength(1);
        expect(got.calls[0]!.name).toBe(tool);
        expect(got.results).toEqual([got.calls[0]!.id]);
        expect(got.resultFollowsCall).toBe(true);
        // Ids shorter than 64 characters travel unchanged both ways.
        expect(got.calls[0]!.id).toBe(call.id);
      });
    }
  }
});
