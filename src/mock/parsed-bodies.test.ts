import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { captureDir } from "../testing/real-clients.js";
import { ParsedBodies } from "./parsed-bodies.js";
import { startMockUpstream } from "./server.js";
import { OPENAI_HEADERS, rawRequest } from "./testing.js";

const bytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), "utf8");

describe("ParsedBodies", () => {
  it("hands back the same frozen parse for the same bytes, and JSON.parse's value", () => {
    const parsed = new ParsedBodies(4);
    const value = { model: "m", messages: [{ role: "user", content: [{ type: "text", text: "Grüße" }] }] };
    const first = parsed.parse(bytes(value));
    expect(first).toStrictEqual(value);
    expect(parsed.parse(bytes(value))).toBe(first);
    const content = (first as typeof value).messages[0]!.content;
    expect(Object.isFrozen(content[0])).toBe(true);
    expect(() => {
      (content[0] as { text: string }).text = "changed";
    }).toThrow(TypeError);
  });

  it("parses a body of the same length but other bytes anew", () => {
    const parsed = new ParsedBodies(4);
    const a = parsed.parse(bytes({ stream: "a" }));
    const b = parsed.parse(bytes({ stream: "b" }));
    expect(b).toStrictEqual({ stream: "b" });
    expect(parsed.parse(bytes({ stream: "b" }))).toBe(b);
    expect(parsed.parse(bytes({ stream: "a" }))).not.toBe(a);
  });

  it("keeps at most `capacity` bodies, dropping the oldest", () => {
    const parsed = new ParsedBodies(2);
    const one = parsed.parse(bytes({ n: 1 }));
    const twelve = parsed.parse(bytes({ n: 12 }));
    parsed.parse(bytes({ n: 123 }));
    expect(parsed.parse(bytes({ n: 12 }))).toBe(twelve);
    expect(parsed.parse(bytes({ n: 1 }))).not.toBe(one);
  });

  it("throws JSON.parse's error for malformed bytes, every time", () => {
    const parsed = new ParsedBodies(2);
    const bad = Buffer.from('{"a": 1,}');
    let message = "";
    try {
      JSON.parse(bad.toString("utf8"));
    } catch (err) {
      message = (err as Error).message;
    }
    expect(() => parsed.parse(bad)).toThrow(message);
    expect(() => parsed.parse(bad)).toThrow(message);
  });
});

interface Capture {
  url: string;
  headers: Record<string, string>;
  body: Record<string, unknown> | null;
}

/** The requests real clients sent (src/protocols/<name>/__fixtures__/), as the mock's own fixture test replays them. */
function captures(dir: string): Array<[string, Capture]> {
  return readdirSync(captureDir(dir))
    .filter((f) => f.includes("-POST-"))
    .sort()
    .map((f) => [`${dir}/${f}`, JSON.parse(readFileSync(join(captureDir(dir), f), "utf8")) as Capture]);
}

/** An answer with its clock readings blanked: the two mocks answer within the same run, not the same second. */
function comparable(body: Buffer): string {
  return body.toString("utf8").replace(/"(created|created_at|completed_at)":\s*\d+/g, '"$1":0');
}

describe("a mock that reuses parses answers as one that parses every body", () => {
  const requests: Array<[string, string, Record<string, string>, unknown]> = [];
  for (const dir of ["claude", "claude-toolcall", "codex", "codex-toolcall"]) {
    for (const [name, c] of captures(dir)) {
      const { host: _h, "content-length": _l, connection: _c, "accept-encoding": _e, ...headers } = c.headers;
      requests.push([name, c.url, headers, c.body]);
    }
  }
  const chat = {
    model: "gpt-4o",
    messages: [{ role: "user", content: "héllo" }],
    tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
  };
  requests.push(["chat", "/v1/chat/completions", OPENAI_HEADERS, chat], ["chat stream", "/v1/chat/completions", OPENAI_HEADERS, { ...chat, stream: true }]);

  it("on every real client's request, twice, and with tool calls and reasoning asked for", async () => {
    expect(requests.length).toBeGreaterThan(6);
    const plain = await startMockUpstream({ maxRecorded: 0 });
    const reusing = await startMockUpstream({ maxRecorded: 0, reuseParsedBodies: 4 });
    try {
      for (const [name, url, headers, body] of requests) {
        for (const scenario of [undefined, "parallel_tools", "reasoning", undefined]) {
          const h = scenario ? { ...headers, "x-mock-scenario": scenario } : headers;
          const want = await rawRequest(plain.url, url, { headers: h, body });
          const got = await rawRequest(reusing.url, url, { headers: h, body });
          expect(want.status, name).toBe(200);
          expect(got.status, `${name} ${scenario ?? ""}`).toBe(200);
          expect(comparable(got.body), `${name} ${scenario ?? ""}`).toBe(comparable(want.body));
        }
      }
    } finally {
      await Promise.all([plain.close(), reusing.close()]);
    }
  });
});
