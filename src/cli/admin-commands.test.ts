/**
 * The admin commands as an operator runs them: against a real gateway process for the
 * routes this gateway has, and against a small recording HTTP server for the exact
 * request each other command sends. Every mistake is one line and exit 2 (how it was
 * called) or 1 (what the gateway said).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startGatewayProcess, type GatewayProcess } from "../testing/gateway-process.js";
import { runCli } from "./program.js";
import type { CliIo } from "./io.js";

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(argv: string[], env: NodeJS.ProcessEnv = {}, stdin = ""): Promise<Run> {
  let out = "";
  let err = "";
  const io: CliIo = { env, out: (t) => void (out += t), err: (t) => void (err += t), readStdin: () => Promise.resolve(stdin) };
  const code = await runCli(argv, io);
  return { code, out, err };
}

const firstLine = (s: string) => s.split("\n")[0]!;

describe("admin commands against a real gateway", () => {
  let gw: GatewayProcess;
  let token: string;
  let as: string[];

  beforeAll(async () => {
    gw = await startGatewayProcess("log_level: silent\nserver:\n  host: 127.0.0.1\n");
    token = (await readFile(join(gw.dataDir, "admin-token"), "utf8")).trim();
    as = ["--url", gw.url, "--token", token];
  }, 60_000);
  afterAll(() => gw?.stop());

  it("shows an account's usage as a table, as CSV, and refuses a grouping it does not know", async () => {
    const acct = JSON.parse((await cli(["accounts", "create", "usage-reader", ...as, "--json"])).out) as { id: string };
    const total = await cli(["usage", acct.id, ...as]);
    expect(total.code).toBe(0);
    expect(total.out).toMatch(/^usage-reader \(subtree\), \S+ to \S+\n/);
    expect(total.out.split("\n")[1]).toMatch(/^GROUP\s+NAME\s+REQUESTS\s+INPUT_TOKENS/);
    expect(total.out.split("\n")[2]).toMatch(/^total\s+-\s+0\s+0/);
    const csv = await cli(["usage", acct.id, "--group-by", "model", "--csv", ...as]);
    expect(csv.code).toBe(0);
    expect(csv.out).toBe(
      "group,name,requests,errors,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,reasoning_tokens,cost_micros,charged_micros,cache_hit_share,cost_share\r\n",
    );
    const bad = await cli(["usage", acct.id, "--group-by", "colour", ...as]);
    expect(bad.code).toBe(2);
    const missing = await cli(["usage", "00000000-0000-4000-8000-000000000000", ...as]);
    expect(missing.code).toBe(1);
    expect(firstLine(missing.err)).toMatch(/account_not_found|No account/);
  });

  it("builds a small tree, lists it, moves a subtree, issues and revokes a key", async () => {
    const org = await cli(["accounts", "create", "org", ...as, "--json"]);
    expect(org.code).toBe(0);
    const orgId = JSON.parse(org.out).id as string;
    const team = await cli(["accounts", "create", "team", "--parent", orgId, "--models", "gpt-4o*,claude-*", ...as]);
    expect(team.code).toBe(0);
    expect(team.out).toMatch(/^account created\n/);
    expect(team.out).toMatch(/models:\s+gpt-4o\*,claude-\*/);
    const teamId = /id:\s+(\S+)/.exec(team.out)![1]!;

    const listed = await cli(["accounts", "list", ...as]);
    expect(listed.code).toBe(0);
    expect(listed.out.split("\n")[0]).toMatch(/^ID\s+NAME\s+STATUS\s+PARENT_ID$/);
    expect(listed.out).toContain("team");
    const below = await cli(["accounts", "list", "--descendants-of", orgId, ...as, "--json"]);
    expect(JSON.parse(below.out).data.map((a: { name: string }) => a.name)).toEqual(["team"]);

    const moved = await cli(["accounts", "move", teamId, "--root", ...as, "--json"]);
    expect(moved.code).toBe(0);
    expect(JSON.parse(moved.out).parent_id).toBeNull();

    const key = await cli(["keys", "create", teamId, "--name", "laptop", ...as, "--json"]);
    expect(key.code).toBe(0);
    const issued = JSON.parse(key.out) as { id: string; key: string; name: string };
    expect(issued.name).toBe("laptop");
    const models = () => fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${issued.key}` } }).then((r) => r.status);
    expect(await models()).toBe(200);
    const revoked = await cli(["keys", "revoke", issued.id, ...as]);
    expect([revoked.code, revoked.out]).toEqual([0, expect.stringContaining("API key revoked")]);
    expect(await models()).toBe(401);
  });

  it("adds an upstream owned by an account, with keys from a file, showing fingerprints only", async () => {
    const acme = JSON.parse((await cli(["accounts", "create", "acme", ...as, "--json"])).out) as { id: string };
    const dir = await mkdtemp(join(tmpdir(), "switchyard-keys-"));
    try {
      await writeFile(join(dir, "keys.txt"), "# acme's pool\nsk-acme-cred-one\n\nsk-acme-cred-two\n");
      const added = await cli([
        "upstreams",
        "add",
        "acme-openai",
        "--owner",
        acme.id,
        "--protocol",
        "openai-chat",
        "--base-url",
        "https://api.example.test/v1",
        "--models",
        "gpt-4o",
        "--key-file",
        join(dir, "keys.txt"),
        "--key",
        "sk-acme-cred-three",
        ...as,
      ]);
      expect(added.code).toBe(0);
      expect(added.out).toContain(`owner_account_id:`);
      expect(added.out).toContain(acme.id);
      expect(added.out.match(/^key added: \S+ \(sha256:[0-9a-f]{16}\)$/gm)).toHaveLength(3);
      expect(added.out).not.toContain("sk-acme-cred");
      const fromStdin = await cli(
        [
          "upstreams",
          "add",
          "acme-2",
          "--owner",
          acme.id,
          "--protocol",
          "anthropic",
          "--base-url",
          "https://a.example.test",
          "--models",
          "claude-*",
          "--key-file",
          "-",
          ...as,
          "--json",
        ],
        {},
        "sk-from-stdin\n",
      );
      expect(JSON.parse(fromStdin.out).keys).toHaveLength(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("builds a five-level org, each level run by its own manage key, handing narrower limits and credit down", async () => {
    const json = async (argv: string[]): Promise<any> => {
      const r = await cli([...argv, "--json"]);
      expect(r.code, `${argv.join(" ")}: ${r.err}`).toBe(0);
      return JSON.parse(r.out);
    };
    const withToken = (t: string) => ["--url", gw.url, "--token", t];
    const top = await json(["accounts", "create", "cli-org", "--limits", '{"rpm":512}', ...as]);
    await json(["credits", "topup", top.id, "--amount", "16", "--kind", "subscription", ...as]);
    let level = { id: top.id as string, token: (await json(["keys", "create", top.id, "--scopes", "manage", ...as])).key as string };
    const ids = [level.id];
    for (let i = 1; i < 5; i++) {
      const by = withToken(level.token);
      // Asking for more than the level holds is refused in one line, with the gateway's code.
      const wide = await cli(["accounts", "create", `cli-wide-${i}`, "--parent", level.id, "--limits", `{"rpm":${(2 * 512) >> (i - 1)}}`, ...by]);
      expect([wide.code, firstLine(wide.err)]).toEqual([1, expect.stringContaining("(exceeds_parent, HTTP 400)")]);
      const next = await json(["accounts", "create", `cli-L${i + 1}`, "--parent", level.id, "--limits", `{"rpm":${512 >> i}}`, ...by]);
      const short = await cli(["credits", "grant", next.id, "--amount", "1000", ...by]);
      expect([short.code, firstLine(short.err)]).toEqual([1, expect.stringContaining("(insufficient_balance, HTTP 409)")]);
      await json(["credits", "grant", next.id, "--amount", String(16 >> i), ...by]);
      level = { id: next.id, token: (await json(["keys", "create", next.id, "--scopes", "manage", ...by])).key };
      ids.push(level.id);
    }
    // The fourth level suspends the fifth with its own key, then resumes it; the leaf's own key cannot touch itself.
    const leafKey = (await json(["keys", "create", ids[4]!, ...withToken(level.token)])).key as string;
    const models = () => fetch(`${gw.url}/v1/models`, { headers: { authorization: `Bearer ${leafKey}` } }).then((r) => r.status);
    expect(await models()).toBe(200);
    const fourth = (await json(["keys", "create", ids[3]!, "--scopes", "manage", ...as])).key as string;
    await json(["accounts", "suspend", ids[4]!, ...withToken(fourth)]);
    expect(await models()).toBe(403);
    await json(["accounts", "resume", ids[4]!, ...withToken(fourth)]);
    expect(await models()).toBe(200);
    const self = await cli(["accounts", "suspend", ids[4]!, ...withToken(level.token)]);
    expect([self.code, firstLine(self.err)]).toEqual([1, expect.stringContaining("(own_account_read_only, HTTP 403)")]);
    // Balances: each level keeps what it did not pass on.
    for (const [i, id] of ids.entries()) {
      const credits = (await fetch(`${gw.url}/admin/v1/accounts/${id}/credits`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.json())) as {
        balance_micros: number;
      };
      expect(credits.balance_micros).toBe(i < 4 ? ((16 >> i) - (16 >> (i + 1))) * 1_000_000 : 1_000_000);
    }
  });

  it("reads the admin token the gateway keeps in its data dir when none is given", async () => {
    const r = await cli(["accounts", "list", "--url", gw.url, "--json"], { SWITCHYARD_DATA_DIR: gw.dataDir });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).data).toBeInstanceOf(Array);
  });

  it("reports what the gateway refused in one line, exit 1", async () => {
    const missing = await cli(["accounts", "move", "no-such-account", "--root", ...as]);
    expect(missing.code).toBe(1);
    expect(missing.err.trim().split("\n")).toHaveLength(1);
    expect(missing.err).toMatch(/^switchyard: No account with id 'no-such-account'\. \(account_not_found, HTTP 404\)\n$/);
    const wrongToken = await cli(["accounts", "list", "--url", gw.url, "--token", "not-the-token"]);
    expect([wrongToken.code, firstLine(wrongToken.err)]).toEqual([1, expect.stringContaining("(invalid_admin_token, HTTP 401)")]);
  });
});

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: unknown;
}

describe("admin commands: the request each one sends", () => {
  let server: Server;
  let url: string;
  const seen: Seen[] = [];
  let answer: { status: number; body: unknown } = { status: 200, body: {} };
  const env = { SWITCHYARD_ADMIN_TOKEN: "tok-0123456789abcdefghijklmnopqrstuv" };

  beforeAll(async () => {
    server = createServer(async (req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString("utf8");
      seen.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, body: text ? JSON.parse(text) : undefined });
      res.writeHead(answer.status, { "content-type": "application/json" }).end(JSON.stringify(answer.body));
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

  async function sent(argv: string[], reply: { status: number; body: unknown } = { status: 200, body: { ok: true } }): Promise<{ run: Run; req: Seen }> {
    seen.length = 0;
    answer = reply;
    const run = await cli([...argv, "--url", url], env);
    expect(seen).toHaveLength(1);
    return { run, req: seen[0]! };
  }

  it.each([
    [["accounts", "suspend", "acc-1"], "POST", "/admin/v1/accounts/acc-1/suspend", undefined],
    [["accounts", "resume", "acc-1"], "POST", "/admin/v1/accounts/acc-1/resume", undefined],
    [["accounts", "list", "--children-of", "acc-1"], "GET", "/admin/v1/accounts/acc-1/children", undefined],
    [["accounts", "list", "--ancestors-of", "acc-1"], "GET", "/admin/v1/accounts/acc-1/ancestors", undefined],
    [
      ["accounts", "list", "--descendants-of", "acc-1", "--limit", "50", "--cursor", "c2", "--name", "ops", "--status", "active", "--depth", "3"],
      "GET",
      "/admin/v1/accounts/acc-1/descendants?limit=50&cursor=c2&name=ops&status=active&depth=3",
      undefined,
    ],
    [["accounts", "move", "acc-2", "--parent", "acc-1"], "PATCH", "/admin/v1/accounts/acc-2", { parent_id: "acc-1" }],
    [
      [
        "keys",
        "create",
        "acc-1",
        "--name",
        "ci",
        "--scopes",
        "inference,manage",
        "--expires-at",
        "2027-01-31T00:00:00Z",
        "--models",
        "gpt-4o*",
        "--limits",
        '{"rpm":60}',
      ],
      "POST",
      "/admin/v1/accounts/acc-1/keys",
      { name: "ci", scopes: ["inference", "manage"], expires_at: "2027-01-31T00:00:00Z", models: ["gpt-4o*"], limits: { rpm: 60 } },
    ],
    [["keys", "rotate", "key-1", "--grace-seconds", "3600"], "POST", "/admin/v1/keys/key-1/rotate", { grace_seconds: 3600 }],
    [["keys", "rotate", "key-1"], "POST", "/admin/v1/keys/key-1/rotate", {}],
    [["keys", "revoke", "key-1"], "DELETE", "/admin/v1/keys/key-1", undefined],
    [
      [
        "credits",
        "topup",
        "acc-1",
        "--amount",
        "12.5",
        "--kind",
        "subscription",
        "--expires-at",
        "2027-01-01T00:00:00Z",
        "--idempotency-key",
        "idem-1",
        "--note",
        "Q1",
      ],
      "POST",
      "/admin/v1/accounts/acc-1/credits/topup",
      { amount_micros: 12_500_000, kind: "subscription", expires_at: "2027-01-01T00:00:00Z", idempotency_key: "idem-1", note: "Q1" },
    ],
    [
      ["credits", "grant", "acc-2", "--amount-micros", "250", "--idempotency-key", "idem-2"],
      "POST",
      "/admin/v1/accounts/acc-2/credits/grant",
      { amount_micros: 250, kind: "payg", idempotency_key: "idem-2" },
    ],
  ] as const)("%j sends %s %s", async (argv, method, path, body) => {
    const { run, req } = await sent([...argv]);
    expect(run.err.replace(/^idempotency key: .*\n/, "")).toBe("");
    expect(run.code).toBe(0);
    expect(req).toEqual({ method, url: path, authorization: `Bearer ${env.SWITCHYARD_ADMIN_TOKEN}`, body });
  });

  it("sends a fresh idempotency key when none is given, and prints it for a safe retry", async () => {
    const a = await sent(["credits", "grant", "acc-2", "--amount", "1"]);
    const b = await sent(["credits", "grant", "acc-2", "--amount", "1"]);
    const keyA = (a.req.body as { idempotency_key: string }).idempotency_key;
    expect(keyA).toMatch(/^[0-9a-f-]{36}$/);
    expect(keyA).not.toBe((b.req.body as { idempotency_key: string }).idempotency_key);
    expect(a.run.err).toContain(`idempotency key: ${keyA}`);
  });

  it("prints human-readable records and tables, and --json as the gateway sent it", async () => {
    const reply = { status: 200, body: { data: [{ id: "a1", name: "ops", status: "active", parent_id: null }], next_cursor: "c9" } };
    const human = await sent(["accounts", "list", "--children-of", "x"], reply);
    expect(human.run.out).toBe("ID  NAME  STATUS  PARENT_ID\na1  ops   active  -\nmore: --cursor c9\n");
    const json = await sent(["accounts", "list", "--children-of", "x", "--json"], reply);
    expect(JSON.parse(json.run.out)).toEqual(reply.body);
  });

  it("turns a refusal into one line with the gateway's message and code, exit 1", async () => {
    const { run } = await sent(["credits", "grant", "acc-2", "--amount", "5"], {
      status: 409,
      body: { error: { message: "The parent's balance is 1000000 micros, less than 5000000.", code: "insufficient_balance" } },
    });
    expect(run.code).toBe(1);
    expect(run.out).toBe("");
    expect(run.err.split("\n").filter((l) => l.startsWith("switchyard:"))).toEqual([
      "switchyard: The parent's balance is 1000000 micros, less than 5000000. (insufficient_balance, HTTP 409)",
    ]);
  });

  it("says when the gateway cannot be reached, exit 1", async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((ok) => probe.listen(0, "127.0.0.1", ok));
    const closed = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    await new Promise<void>((ok) => probe.close(() => ok()));
    const r = await cli(["accounts", "list", "--url", closed], env);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`switchyard: cannot reach the gateway at ${closed} (ECONNREFUSED); is it running? (--url)\n`);
  });
});

describe("admin commands: bad input", () => {
  it.each([
    [["accounts", "create"], "switchyard: missing required argument 'name'"],
    [["accounts", "move", "a"], "switchyard: give exactly one of --parent <id> and --root"],
    [["accounts", "move", "a", "--parent", "b", "--root"], "switchyard: give exactly one of --parent <id> and --root"],
    [["accounts", "list", "--children-of", "a", "--ancestors-of", "b"], "switchyard: give at most one of --children-of, --descendants-of and --ancestors-of"],
    [["accounts", "list", "--depth", "2"], "switchyard: --name, --status, --depth, --limit and --cursor go with --descendants-of"],
    [["accounts", "list", "--descendants-of", "a", "--depth", "0"], "switchyard: option '--depth <n>' argument '0' is invalid. It must be at least 1."],
    [["accounts", "suspend"], "switchyard: missing required argument 'id'"],
    [["accounts", "frobnicate"], "switchyard: unknown command 'frobnicate'"],
    [["keys", "create", "a", "--scopes", "admin"], "switchyard: --scopes: 'admin' is not a scope; use inference, manage or both"],
    [
      ["keys", "create", "a", "--expires-at", "tomorrow"],
      "switchyard: option '--expires-at <time>' argument 'tomorrow' is invalid. It must be an ISO-8601 time, e.g. 2027-01-31T00:00:00Z.",
    ],
    [["keys", "create", "a", "--limits", "[1]"], "switchyard: option '--limits <json>' argument '[1]' is invalid. It must be a JSON object."],
    [["keys", "rotate", "k", "--grace-seconds", "soon"], "switchyard: option '--grace-seconds <n>' argument 'soon' is invalid. It must be a whole number."],
    [["keys", "rotate-master", "--batch-size", "0"], "switchyard: option '--batch-size <n>' argument '0' is invalid. It must be at least 1."],
    [
      ["upstreams", "add", "x", "--protocol", "grpc"],
      "switchyard: option '--protocol <protocol>' argument 'grpc' is invalid. Allowed choices are openai-responses, openai-chat, anthropic, codex.",
    ],
    [["credits", "grant", "a"], "switchyard: give exactly one of --amount and --amount-micros"],
    [["credits", "grant", "a", "--amount", "1", "--amount-micros", "5"], "switchyard: give exactly one of --amount and --amount-micros"],
    [
      ["credits", "topup", "a", "--amount", "1.2345678"],
      "switchyard: option '--amount <amount>' argument '1.2345678' is invalid. It must be a positive amount with at most 6 decimals, e.g. 12.50.",
    ],
    [["credits", "topup", "a", "--amount", "0"], "switchyard: the amount must be more than 0"],
    [
      ["credits", "topup", "a", "--amount", "1", "--kind", "gift"],
      "switchyard: option '--kind <kind>' argument 'gift' is invalid. Allowed choices are subscription, payg, addon.",
    ],
    [["credits", "topup", "a", "--amount", "1", "--bogus"], "switchyard: unknown option '--bogus'"],
  ])("%j: one line, the command's usage, exit 2", async (argv, line) => {
    const r = await cli(argv, { SWITCHYARD_ADMIN_TOKEN: "unused", SWITCHYARD_URL: "http://127.0.0.1:1" });
    expect(r.code).toBe(2);
    expect(firstLine(r.err)).toBe(line);
    expect(r.err).toContain("Usage: switchyard ");
    expect(r.out).toBe("");
  });

  it.each([["accounts"], ["accounts", "create"], ["keys"], ["keys", "rotate-master"], ["upstreams", "add"], ["credits", "topup"]])(
    "%j --help: usage on stdout, exit 0",
    async (...argv) => {
      const r = await cli([...argv, "--help"]);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: switchyard ${argv.join(" ")}`);
    },
  );

  it("sums amounts exactly in micro-units", async () => {
    const { amountToMicros } = await import("./args.js");
    expect([amountToMicros("0.1"), amountToMicros("0.000001"), amountToMicros("12"), amountToMicros("19.99")]).toEqual([100_000, 1, 12_000_000, 19_990_000]);
  });
});
