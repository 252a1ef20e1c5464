/**
 * Test stack: a real gateway (real SQLite file or real PostgreSQL, real sockets)
 * in front of the mock upstream, configured from YAML text like a user would.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../config/load.js";
import { startGateway, type Gateway, type GatewayOptions } from "../main.js";
import { startMockUpstream, type MockUpstream } from "../mock/server.js";
import type { UsageRecord } from "../pipeline/exchange.js";
import { createLogger } from "../observability/logger.js";

export const ACME_KEY = "sk-test-acme-000000000000000001";
export const TEAM_KEY = "sk-test-team-000000000000000002";

export interface Stack {
  gw: Gateway;
  mock: MockUpstream;
  dataDir: string;
  usage: UsageRecord[];
  /** Between tests: forgets the mock's rules and recorded requests, the usage records, and key health and headroom (kept in memory). */
  fresh(): void;
  close(): Promise<void>;
}

/**
 * The YAML a test stack runs on; `extra` is appended (more accounts, settings),
 * `extraUpstreams` added to the upstream list (MOCK in it stands for the mock's URL).
 */
export function stackYaml(mockUrl: string, extra = "", extraUpstreams = ""): string {
  return `
server:
  port: 0
  host: 127.0.0.1
  shutdown_grace_ms: 5000
log_level: silent
upstreams:
  - name: chat
    protocol: openai-chat
    base_url: ${mockUrl}/v1
    keys: [mock-chat-key-1, mock-chat-key-2]
    models: ["gpt-4o", "gpt-4o-*", "chat-*"]
  - name: responses
    protocol: openai-responses
    base_url: ${mockUrl}/v1
    keys: [mock-responses-key-1]
    models: ["gpt-5", "gpt-5.4", "resp-*"]
  - name: anthropic
    protocol: anthropic
    base_url: ${mockUrl}
    keys: [mock-anthropic-key-1]
    models: ["claude-test-sonnet", "claude-*"]
  - name: codex
    protocol: codex
    base_url: ${mockUrl}/backend-api/codex
    account_id: acct-mock-1
    keys: [mock-codex-token-1]
    models: ["gpt-5-codex", "codex-*"]
${extraUpstreams.replaceAll("MOCK", mockUrl)}accounts:
  - name: acme
    keys: [${ACME_KEY}]
  - name: team
    parent: acme
    models: ["gpt-4o*", "claude-*"]
    keys: [${TEAM_KEY}]
${extra}`;
}

export async function startStack(
  opts: {
    extraYaml?: string;
    extraUpstreamsYaml?: string;
    env?: NodeJS.ProcessEnv;
    yaml?: (mockUrl: string) => string;
    admissionChecks?: GatewayOptions["admissionChecks"];
    /** The counters the gateway's limits are kept on (default: its own in-memory ones). */
    meter?: GatewayOptions["meter"];
    /** Prices usage (default: the configured price table, the built-in one). */
    pricer?: GatewayOptions["pricer"];
    /** The gateway's logger (default: silent); tests that read log lines pass one with a capturing destination. */
    logger?: GatewayOptions["logger"];
    /** The gateway's routing and key-health clock (default: Date.now); tests move it instead of waiting out cooldowns. */
    now?: GatewayOptions["now"];
  } = {},
): Promise<Stack> {
  const mock = await startMockUpstream();
  const dataDir = await mkdtemp(join(tmpdir(), "switchyard-test-"));
  const env: NodeJS.ProcessEnv = { SWITCHYARD_DATA_DIR: dataDir, ...(opts.env ?? {}) };
  const yaml = opts.yaml ? opts.yaml(mock.url) : stackYaml(mock.url, opts.extraYaml, opts.extraUpstreamsYaml);
  const config = parseConfig(yaml, "test.yaml", env);
  const usage: UsageRecord[] = [];
  const gw = await startGateway({
    config,
    source: "test.yaml",
    env,
    logger: opts.logger ?? createLogger("silent"),
    onUsage: (r) => usage.push(r),
    admissionChecks: opts.admissionChecks,
    meter: opts.meter,
    pricer: opts.pricer,
    now: opts.now,
  });
  return {
    gw,
    mock,
    dataDir,
    usage,
    fresh() {
      mock.clear();
      mock.reset();
      usage.length = 0;
      for (const t of gw.catalog.snapshot.upstreams)
        for (const k of t.pool.keys) Object.assign(k, { coolingUntil: 0, failures: 0, removed: false, health: undefined, usage: undefined });
    },
    async close() {
      await gw.close(1000);
      await mock.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Waits until `check` is true (polling), failing after `ms`. */
export async function eventually(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
