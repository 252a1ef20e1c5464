/**
 * Objects the request path builds keep shared hidden classes (src/canonical/shared-shape.ts): the
 * lint rule that keeps a leading spread off the request path must keep biting, and the builders
 * used instead must give every object they make one hidden class.
 */
import { setFlagsFromString } from "node:v8";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ESLint, type Linter } from "eslint";
import { beforeAll, describe, expect, it } from "vitest";
import { withMembers } from "./canonical/shared-shape.js";
import { openExchange, type ClientSink, type ExchangeStart } from "./pipeline/exchange.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

describe("the leading-spread lint rule", () => {
  let eslint: ESLint;
  beforeAll(() => {
    eslint = new ESLint({ cwd: root });
  });
  const lint = async (filePath: string, code: string): Promise<Linter.LintMessage[]> => {
    const [result] = await eslint.lintText(code, { filePath: join(root, filePath) });
    return result!.messages.filter((m) => m.ruleId === "no-restricted-syntax");
  };

  it.each([
    ["a member after the spread", "export const f = (a: object) => ({ ...a, b: 1 });\n"],
    ["a second spread", "export const f = (a: object, b: object) => ({ ...a, ...b });\n"],
    ["a nested literal", "export const f = (a: object) => ({ x: { ...a, b: 1 } });\n"],
  ])("reports %s on the request path", async (_name, code) => {
    for (const file of ["src/pipeline/x.ts", "src/protocols/openai-chat/x.ts", "src/edge/x.ts", "src/governance/x.ts"]) {
      const messages = await lint(file, code);
      expect(
        messages.map((m) => m.message),
        file,
      ).toEqual([expect.stringContaining("withMembers()")]);
    }
  });

  it.each([
    ["a spread alone", "export const f = (a: object) => ({ ...a });\n"],
    ["a spread after a member", "export const f = (a: object) => ({ b: 1, ...a });\n"],
    ["withMembers", 'import { withMembers } from "../canonical/shared-shape.js";\nexport const f = (a: object) => withMembers(a, { b: 1 });\n'],
  ])("lets %s through", async (_name, code) => {
    expect(await lint("src/pipeline/x.ts", code)).toEqual([]);
  });

  it("leaves code off the request path and tests alone", async () => {
    const code = "export const f = (a: object) => ({ ...a, b: 1 });\n";
    expect(await lint("src/admin/x.ts", code)).toEqual([]);
    expect(await lint("src/pipeline/x.test.ts", code)).toEqual([]);
  });
});

describe("hidden classes of the objects built instead", () => {
  let sameMap: (a: object, b: object) => boolean;
  beforeAll(() => {
    // V8's own answer, through its natives syntax: allowed from here on, for functions compiled after this.
    setFlagsFromString("--allow-natives-syntax");
    sameMap = new Function("a", "b", "return %HaveSameMap(a, b);") as typeof sameMap;
  });

  it("the probe tells two hidden classes apart", () => {
    expect(sameMap({ a: 1 }, { a: 2 })).toBe(true);
    expect(sameMap({ a: 1 }, { b: 1 })).toBe(false);
  });

  it("withMembers gives every object it builds from same-shaped parts one hidden class", () => {
    const built = Array.from({ length: 50 }, (_, i) => withMembers({ status: 200 + i, usage: { n: i } }, { lane: i % 2 ? "passthrough" : "translate" }));
    for (const b of built) expect(sameMap(b, built[0]!)).toBe(true);
    expect(built[7]).toEqual({ status: 207, usage: { n: 7 }, lane: "passthrough" });
    // `extra` wins, and keeps `base`'s place in the order.
    expect(Object.keys(withMembers({ a: 1, b: 2 }, { a: 3, c: 4 }))).toEqual(["a", "b", "c"]);
    expect(withMembers({ a: 1, b: 2 }, { a: 3 })).toEqual({ a: 3, b: 2 });
  });

  it("every exchange has one hidden class, whatever its start held and whatever the pipeline fills in", () => {
    const sink = {} as ClientSink;
    const start = (extra: Partial<ExchangeStart>): ExchangeStart =>
      Object.assign(
        { id: "req_1", protocol: "openai-chat" as const, route: "/v1/chat/completions", headers: {}, query: "", body: Buffer.alloc(0), res: sink },
        { signal: new AbortController().signal, startedAt: 0 },
        extra,
      );
    const http = openExchange(start({ clientAddress: "127.0.0.1" }));
    const turn = openExchange(start({ route: "/v1/responses", protocol: "openai-responses" }), new AbortController().signal);
    const filled = openExchange(start({}));
    // In the order the pipeline learns them, which need not be the interface's.
    filled.cacheKey = "k";
    filled.stream = true;
    filled.model = "gpt-5.4";
    filled.attempts = 1;
    expect(sameMap(http, turn)).toBe(true);
    expect(sameMap(http, filled)).toBe(true);
  });
});
