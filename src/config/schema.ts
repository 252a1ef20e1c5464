/**
 * The `switchyard.yaml` schema. Every field is documented in docs/configuration.md;
 * keep the two in step. Snake_case on disk, parsed into camelCase types.
 */
import { z } from "zod";
import { withPresetDefaults } from "../canonical/provider-presets.js";
import { cidrText, modelMapRulesInput, policyFieldsInput } from "../governance/policy.js";
import { priceListInput } from "../governance/price-table.js";

/** `${VAR:-}` interpolates to ""; treat that as "not set". */
const emptyAsUnset = z.preprocess((v) => (v === "" ? undefined : v), z.string().min(1).optional());

const upstreamProtocol = z.enum(["openai-responses", "openai-chat", "anthropic", "codex"]);

const upstreamKey = z.union([
  z.string().min(1),
  z.strictObject({ name: z.string().min(1).optional(), key: z.string().min(1) }),
  /** Codex only: a ChatGPT login from a Codex CLI auth.json (docs/codex.md#importing-chatgpt-accounts); imported once, then kept fresh in the store. */
  z.strictObject({ name: z.string().min(1).optional(), codex_auth_file: z.string().min(1) }),
]);

/** An upstream's OAuth settings (ChatGPT logins; docs/configuration.md#chatgpt-logins). */
const oauth = z.strictObject({
  token_url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  client_id: z.string().min(1).optional(),
  refresh_margin_ms: z.number().int().nonnegative().optional(),
  timeout_ms: z.number().int().positive().optional(),
});

const upstream = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/, "must be 1-64 letters, digits, '.', '_' or '-'"),
  protocol: upstreamProtocol,
  base_url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
  keys: z.array(upstreamKey).default([]),
  models: z.array(z.string().min(1)).min(1, "list at least one model name or pattern"),
  enabled: z.boolean().default(true),
  /** Codex backend only: the ChatGPT account id sent as chatgpt-account-id. */
  account_id: z.string().min(1).optional(),
  /** Codex only: where and how its ChatGPT logins refresh (defaults: auth.openai.com, Codex CLI's client id, 5 minutes' margin). */
  oauth: oauth.optional(),
  timeout_ms: z.number().int().positive().default(600_000),
  connect_timeout_ms: z.number().int().positive().default(10_000),
  headers: z.record(z.string(), z.string()).default({}),
  /** Send the session's cache key as `prompt_cache_key`; unset = the protocol's default (see docs/configuration.md). */
  prompt_cache_key: z.boolean().optional(),
  /** Responses and Codex upstreams: carry a client's Responses WebSocket on an upstream socket (docs/codex.md#upstream-websocket-sessions). */
  websocket: z.boolean().optional(),
  /** Replace the upstream socket between turns once it is this old (default 55 minutes; OpenAI closes at 60). */
  websocket_max_age_ms: z.number().int().positive().optional(),
  /** openai-responses only: the upstream serves OpenAI Realtime at `<base_url>/realtime` (docs/protocols.md#realtime-over-websocket). */
  realtime: z.boolean().optional(),
  /** Which client headers reach this upstream; unset = the default rules (docs/configuration.md#forwarded-headers). */
  forward_headers: z
    .strictObject({
      mode: z.enum(["allow", "deny"]),
      // The same rule as upstream/headers.ts#FORWARD_HEADER_NAME, which config may not import.
      names: z.array(z.string().regex(/^[A-Za-z0-9!#$%&'+.^_`|~-]+\*?$/, "must be a header name, or a prefix ending in '*'")).default([]),
    })
    .optional(),
  /** A provider preset (docs/providers.md) that filled the fields left unset. */
  preset: z.string().optional(),
});

/**
 * An upstream entry, after its `preset` (canonical/provider-presets.ts) filled what the
 * entry leaves unset, so `{name, preset: deepseek, keys: [...]}` is a whole upstream.
 */
const upstreamEntry = z.preprocess((value, ctx) => {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const filled = withPresetDefaults(value as Record<string, unknown>);
  if (typeof filled === "string") {
    ctx.addIssue({ code: "custom", message: filled, path: ["preset"], input: value });
    return value;
  }
  return filled;
}, upstream);

const apiKey = z.union([
  z.string().min(16, "API keys must be at least 16 characters"),
  z.strictObject({ name: z.string().min(1).optional(), key: z.string().min(16, "API keys must be at least 16 characters") }),
]);

const account = z.strictObject({
  name: z.string().min(1).max(128),
  /** Name of the parent account (declared earlier in the list or already in the database). */
  parent: z.string().min(1).optional(),
  /** Model names or patterns this account may use; absent = everything its parent may use. */
  models: z.array(z.string().min(1)).optional(),
  /** Model mappings (`claude-*=gpt-5.4`, or structured routes with tiers) for this account and its sub-accounts; absent = only what the parent maps. */
  model_map: modelMapRulesInput.optional(),
  // The rest of the account's policy, with the admin API's shapes (governance/policy.ts; docs/admin-api.md#policies).
  deny_models: policyFieldsInput.deny_models,
  limits: policyFieldsInput.limits,
  spend_caps: policyFieldsInput.spend_caps,
  credit: policyFieldsInput.credit,
  quotas: policyFieldsInput.quotas,
  on_quota_exhausted: policyFieldsInput.on_quota_exhausted,
  ip_allow: policyFieldsInput.ip_allow,
  origins: policyFieldsInput.origins,
  upstreams: policyFieldsInput.upstreams,
  price_multiplier: policyFieldsInput.price_multiplier,
  time_zone: policyFieldsInput.time_zone,
  prices: policyFieldsInput.prices,
  keys: z.array(apiKey).default([]),
});

/** Upstream key health (docs/routing.md#health); the defaults match routing/key-health.ts#DEFAULT_HEALTH. */
const health = z.strictObject({
  /** Consecutive 5xx, timeout or connection failures that open a key's circuit breaker (one stray error never does). */
  breaker_threshold: z.number().int().min(1).default(5),
  /** How long an opened breaker stays open before one half-open probe; doubled after each failed probe. */
  breaker_cooldown_ms: z.number().int().positive().default(10_000),
  breaker_max_cooldown_ms: z.number().int().positive().default(300_000),
  /** A 429 without Retry-After or reset headers: this backoff, doubled per consecutive 429. */
  rate_limit_backoff_ms: z.number().int().positive().default(1_000),
  rate_limit_max_backoff_ms: z.number().int().positive().default(60_000),
  /** 402 or a quota-exhausted answer, when the upstream names no reset. */
  quota_cooldown_ms: z.number().int().positive().default(3_600_000),
  /** A subscription's usage window used up (Codex `usage_limit_reached`) whose answer names no reset. */
  usage_limit_cooldown_ms: z.number().int().positive().default(3_600_000),
  /** The longest cooldown for a used-up usage window (the weekly window resets up to 7 days later); max_wait_ms does not apply. */
  usage_limit_max_wait_ms: z.number().int().positive().default(604_800_000),
  /** The longest wait taken from an upstream's Retry-After, reset headers or body. */
  max_wait_ms: z.number().int().positive().default(21_600_000),
  /** How often the background prober looks for open keys to probe; 0 turns it off. */
  probe_interval_ms: z.number().int().nonnegative().default(5_000),
  probe_timeout_ms: z.number().int().positive().default(10_000),
  /** Probe keys disabled by a 401/403 too, restoring them when the upstream accepts them again. */
  probe_disabled: z.boolean().default(false),
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().default("0.0.0.0"),
      port: z.number().int().min(0).max(65535).default(8080),
      body_limit_bytes: z
        .number()
        .int()
        .positive()
        .default(32 * 1024 * 1024),
      shutdown_grace_ms: z.number().int().nonnegative().default(30_000),
      /** On shutdown: how long readiness fails while new requests are still served, so load balancers stop sending first. Counts within the grace. */
      drain_delay_ms: z.number().int().nonnegative().default(0),
      /** Time allowed to receive a request's head (request line and headers). */
      headers_timeout_ms: z.number().int().positive().default(60_000),
      /** Time allowed to receive a whole request, head and body; the answer may take as long as it needs. */
      request_timeout_ms: z.number().int().positive().default(300_000),
      /** Upstream attempts per request before the client gets the error (same or next key/upstream). */
      max_attempts: z.number().int().min(1).max(10).default(3),
      /** Name the upstream and tier that served (and the served model, when mapped) in `x-switchyard-route` on data-plane answers. Off: it reveals the provider topology. */
      route_header: z.boolean().default(false),
      /**
       * Proxies (CIDR ranges or addresses) in front of the gateway: from these peers the
       * client address is read from X-Forwarded-For, for the accounts' ip_allow lists. From
       * any other peer the header is ignored. Empty: the socket's peer is the client.
       */
      trusted_proxies: z.array(cidrText).default([]),
      /** Largest Realtime WebSocket frame, either way; a larger one closes the session with 1009 (docs/protocols.md#realtime-over-websocket). */
      realtime_max_frame_bytes: z
        .number()
        .int()
        .positive()
        .default(16 * 1024 * 1024),
    })
    // The head is part of the request, so its deadline cannot be the later one (node:http refuses that too).
    .refine((s) => s.headers_timeout_ms <= s.request_timeout_ms, {
      message: "must not exceed server.request_timeout_ms",
      path: ["headers_timeout_ms"],
    })
    .prefault({}),
  data_dir: z.string().min(1).default("./data"),
  database_url: emptyAsUnset,
  redis_url: emptyAsUnset,
  /** How the nodes of a cluster tell each other about admin writes (docs/deployment.md#cluster). */
  cluster: z
    .strictObject({
      /** Redis pub/sub channel, or PostgreSQL NOTIFY channel, the nodes share. */
      channel: z
        .string()
        .regex(/^[A-Za-z0-9_.:-]{1,63}$/, "must be 1-63 letters, digits, '_', '.', ':' or '-'")
        .default("switchyard_changes"),
    })
    .prefault({}),
  /** The in-memory cache of API keys and their folded account chains (docs/architecture.md#principals). */
  principal_cache: z
    .strictObject({
      max_keys: z.number().int().positive().default(100_000),
      max_chain_links: z.number().int().positive().default(1_000_000),
      max_unknown_keys: z.number().int().positive().default(100_000),
      loads_per_second: z.number().int().positive().default(1_000),
    })
    .prefault({}),
  /** Limits, quotas and credit on the data path (docs/governance.md). */
  governance: z
    .strictObject({
      /**
       * Where limits, quotas, spend caps and credit views are counted: in this process (exact
       * for one node) or in Redis (shared by a cluster). Default: redis when `redis_url` is set.
       */
      counters: z.enum(["memory", "redis"]).optional(),
      /** When the Redis counters cannot be reached: count in this process alone (each node enforces the limits by itself) or refuse with 503. */
      on_counters_unavailable: z.enum(["local", "refuse"]).default("local"),
      /** A Redis counters call that has not answered after this long counts as Redis being unreachable. */
      counters_timeout_ms: z.number().int().positive().max(60_000).default(250),
      /** Output tokens a request is assumed to use when it names no max_tokens / max_output_tokens (token limits and credit holds; settled on actual usage). */
      default_output_tokens: z.number().int().positive().default(4096),
    })
    .prefault({}),
  /**
   * Gateway-wide prices (docs/configuration.md#pricing): model name or pattern → micro-units per
   * million tokens, checked before the built-in table; `version` labels them on usage records.
   */
  pricing: z
    .strictObject({
      version: z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,64}$/, "1-64 letters, digits, '.', '_' or '-'")
        .default("config"),
      /** Whether the built-in seed prices (governance/price-table.ts) price the models this section does not. */
      builtin: z.boolean().default(true),
      models: priceListInput.default({}),
    })
    .prefault({}),
  log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  upstreams: z.array(upstreamEntry).default([]),
  accounts: z.array(account).default([]),
  /** Gateway-wide model mappings (`claude-*=gpt-5.4`, or structured routes with tiers), consulted after an account's own (docs/routing.md). */
  model_map: modelMapRulesInput.default([]),

  /** Which name a mapped request's answer carries on the translate lane: the one the client asked for, or the served one. */
  model_map_echo: z.enum(["requested", "served"]).default("requested"),
  routing: z
    .strictObject({
      /** How long a route's recovered tier must stay healthy before new sessions return to it (hysteresis; docs/routing.md#hysteresis). */
      tier_hold_down_ms: z.number().int().nonnegative().max(86_400_000).default(30_000),
      /**
       * Time allowed before the first byte reaches the client, across all attempts: each attempt's wait
       * for a response head is cut to what is left, and no attempt starts after it. Unset: only each
       * upstream's `timeout_ms` and `server.max_attempts` bound the retries (docs/routing.md#failover).
       */
      deadline_ms: z.number().int().positive().optional(),
      /** Upstream key health: cooldowns, the circuit breaker and the prober (docs/routing.md#health). */
      health: health.prefault({}),
    })
    .prefault({}),
});

export type ConfigFile = z.output<typeof configSchema>;
export type UpstreamConfig = ConfigFile["upstreams"][number];
export type AccountConfig = ConfigFile["accounts"][number];
