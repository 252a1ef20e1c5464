/**
 * A session stays on its key (docs/architecture.md#cache-affinity): a 20-turn Codex CLI session
 * (replayed from the captured request, same session and cache key every turn) against a
 * pool of four keys, while another key of the pool starts failing midway and other
 * sessions keep arriving. Counted from the mock's own request log: at least 95% of the
 * session's turns land on one key, and the failing key never costs the session a turn.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { RecordedRequest } from "../mock/types.js";
import { ACME_KEY, startStack, type Stack } from "../testing/stack.js";

const MODEL = "sticky-codex";
const KEYS = ["sticky-secret-1", "sticky-secret-2", "sticky-secret-3", "sticky-secret-4"];

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    extraUpstreamsYaml: `  - name: sticky\n    protocol: openai-responses\n    base_url: MOCK/v1\n    keys: [${KEYS.join(", ")}]\n    models: ["${MODEL}"]\n`,
  });
});
afterAll(() => stack.close());

interface Capture {
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

const capture = JSON.parse(
  readFileSync(join(import.meta.dirname, "../protocols/openai-responses/__fixtures__/codex/001-POST-v1_responses.json"), "utf8"),
) as Capture;

/** Codex's own headers (session-id, originator…) without the per-connection ones and its credential. */
function codexHeaders(): Record<string, string> {
  const { host: _h, "content-length": _l, connection: _c, "accept-encoding": _e, authorization: _a, ...rest } = capture.headers;
  return { ...rest, authorization: `Bearer ${ACME_KEY}` };
}

const keyOf = (r: RecordedRequest): string => r.headers.authorization?.replace(/^Bearer /, "") ?? "";
const cacheKeyOf = (r: RecordedRequest): unknown => (r.json as Record<string, unknown> | undefined)?.prompt_cache_key;

async function post(body: Record<string, unknown>, headers: Record<string, string>): Promise<number> {
  const res = await fetch(`${stack.gw.url}/v1/responses`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

let others = 0;
/** Another client's session: its own cache key, so rendezvous spreads them over the pool. */
async function otherSession(): Promise<RecordedRequest[]> {
  const before = stack.mock.requests.length;
  others++;
  expect(await post({ model: MODEL, input: "unrelated", prompt_cache_key: `other-session-${others}` }, { authorization: `Bearer ${ACME_KEY}` })).toBe(200);
  return stack.mock.requests.slice(before);
}

it("keeps at least 95% of a 20-turn Codex session on one key while an unrelated key fails", async () => {
  const input = [...(capture.body.input as unknown[])];
  const turn = async (n: number): Promise<void> => {
    input.push({ type: "message", role: "user", content: [{ type: "input_text", text: `turn ${n}: run the tests again` }] });
    expect(await post({ ...capture.body, model: MODEL, input }, codexHeaders())).toBe(200);
    input.push({ type: "message", role: "assistant", content: [{ type: "output_text", text: `done ${n}` }] });
  };

  for (let n = 1; n <= 10; n++) await turn(n);
  const sessionKey = cacheKeyOf(stack.mock.requests[0]!);
  expect(typeof sessionKey).toBe("string");
  const pinned = keyOf(stack.mock.requests[0]!);

  // An unrelated key: the first key another session lands on that is not the session's.
  let failing: string | undefined;
  for (let i = 0; i < 200 && failing === undefined; i++) failing = (await otherSession()).map(keyOf).find((k) => k !== pinned);
  expect(failing).toBeDefined();
  stack.mock.script({ match: (r) => keyOf(r) === failing, status: 500 });
  // Other sessions keep coming until one has met the failing key (and failed over off it).
  let hit = false;
  for (let i = 0; i < 200 && !hit; i++) hit = (await otherSession()).some((r) => keyOf(r) === failing);
  expect(hit).toBe(true);

  for (let n = 11; n <= 20; n++) {
    await otherSession();
    await turn(n);
  }

  const turns = stack.mock.requests.filter((r) => cacheKeyOf(r) === sessionKey);
  expect(turns).toHaveLength(20);
  const onPinned = turns.filter((r) => keyOf(r) === pinned).length;
  expect(onPinned / turns.length).toBeGreaterThanOrEqual(0.95);
  expect(turns.some((r) => keyOf(r) === failing)).toBe(false);
});
