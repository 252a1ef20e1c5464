/**
 * Admin API request bodies. The OpenAPI document (openapi.ts) is generated from
 * these same schemas, so the two cannot drift.
 */
import { z } from "zod";
import { PRESET_NAMES } from "../canonical/provider-presets.js";
import { modelMapRulesInput, modelPatterns, policyFieldsInput } from "../governance/policy.js";
import { API_KEY_SCOPES, keyLimitsSchema, keyModelsSchema } from "../governance/key-policy.js";
import { FORWARD_HEADER_NAME } from "../upstream/headers.js";
import { USAGE_GROUP_BY } from "../storage/ports.js";

const modelList = modelPatterns.describe("Model names or `*` patterns, within what the parent allows; null = inherit everything the parent may use");
const modelMap = modelMapRulesInput.describe(
  "Model mappings: the short form `requested=served` (e.g. `claude-*=gpt-5.4`) or a structured route `{match, tiers: [[{upstream?, model?, weight?}]]}` (tiers primary first, weighted targets); every target must serve a model the account may use; null = only what the parent maps",
);

/**
 * The policy fields beyond `models` and `model_map` (governance/policy.ts validates them);
 * on every one `null` clears the account's own value, so it inherits.
 */
const policyFields = {
  deny_models: policyFieldsInput.deny_models
    .unwrap()
    .describe("Model names or `*` patterns the account and its subtree may never use, whatever an allow-list says; adds to its ancestors' denials")
    .nullable()
    .optional(),
  limits: policyFieldsInput.limits
    .unwrap()
    .describe(
      "Limits for the account's whole subtree: requests per minute/hour/day (rpm, rph, rpd), tokens per minute/hour/day (tpm, tph, tpd), requests in flight (concurrency), each a positive integer no higher than the ancestors'; per_model holds the same fields per model pattern. null = inherit",
    )
    .nullable()
    .optional(),
  spend_caps: policyFieldsInput.spend_caps
    .unwrap()
    .describe("Spend caps in integer micro-units, per natural day and month in the account's time zone, no higher than the ancestors'. null = inherit")
    .nullable()
    .optional(),
  credit: policyFieldsInput.credit
    .unwrap()
    .describe(
      "Whose credit pays (payer: self, the default, or parent: draw on the parent's wallet) and the wallet's overdraft in micro-units (set = prepaid: a request must be covered by unexpired credit plus the overdraft; unset on the whole chain = postpaid); overdraft no higher than the ancestors'. null = inherit. See docs/billing.md",
    )
    .nullable()
    .optional(),
  quotas: policyFieldsInput.quotas
    .unwrap()
    .describe(
      "Usage allowances for the account's whole subtree: a list of {per: day|month, requests?, tokens?, model?} in the account's time zone; while they have room requests are on the quota track (no money moves). null = none",
    )
    .nullable()
    .optional(),
  on_quota_exhausted: policyFieldsInput.on_quota_exhausted
    .unwrap()
    .describe(
      "When a quota is used up: refuse (quota_exceeded) or pay_as_you_go (bill credit instead); not pay_as_you_go under an ancestor that says refuse. null = inherit",
    )
    .nullable()
    .optional(),
  ip_allow: policyFieldsInput.ip_allow
    .unwrap()
    .describe("Client addresses (IPv4/IPv6 CIDR ranges or single addresses) the subtree's keys may be used from, within the ancestors' ranges. null = inherit")
    .nullable()
    .optional(),
  origins: policyFieldsInput.origins
    .unwrap()
    .describe("Browser origins (scheme://host[:port]) the subtree's keys may be used from; requests without an Origin header are not affected. null = inherit")
    .nullable()
    .optional(),
  upstreams: policyFieldsInput.upstreams
    .unwrap()
    .describe("Names of the upstreams the subtree's requests may be routed to, within the ancestors' lists. null = inherit")
    .nullable()
    .optional(),
  price_multiplier: policyFieldsInput.price_multiplier
    .unwrap()
    .describe("What the subtree's usage is billed at relative to cost; not below the ancestors' (the gateway's base is 1). null = inherit")
    .nullable()
    .optional(),
  time_zone: policyFieldsInput.time_zone
    .unwrap()
    .describe("IANA time zone of the natural-day and natural-month windows (limits per day, spend caps). null = the nearest ancestor's, UTC at the top")
    .nullable()
    .optional(),
  prices: policyFieldsInput.prices
    .unwrap()
    .describe(
      "Prices per model name or `*` pattern: {input, cached_input?, cache_write?, output} in integer micro-units per million tokens. On a top-level account they replace the gateway's prices; below, each component may only raise the price above (docs/configuration.md#pricing). The price multiplier applies on top. null = inherit",
    )
    .nullable()
    .optional(),
};

export const createAccount = z.strictObject({
  name: z.string().min(1).max(128),
  parent_id: z.string().min(1).nullable().optional(),
  status: z.enum(["active", "disabled"]).optional(),
  models: modelList.nullable().optional(),
  model_map: modelMap.nullable().optional(),
  ...policyFields,
});

export const updateAccount = z.strictObject({
  name: z.string().min(1).max(128).optional(),
  parent_id: z
    .string()
    .min(1)
    .nullable()
    .optional()
    .describe("Moves the account, with its sub-accounts, under another parent (null: make it a primary account)"),
  status: z.enum(["active", "disabled"]).optional(),
  models: modelList.nullable().optional(),
  model_map: modelMap.nullable().optional(),
  ...policyFields,
});

export const createApiKey = z.strictObject({
  name: z.string().min(1).max(128).default("default"),
  scopes: z
    .array(z.enum(API_KEY_SCOPES))
    .min(1)
    .default(["inference"])
    .describe("`inference` calls models (the data plane); `manage` administers the account's subtree through this API"),
  expires_at: z.iso
    .datetime({ offset: true })
    .nullable()
    .optional()
    .describe("When the key stops working (ISO-8601, must be in the future); null or absent = never"),
  models: keyModelsSchema
    .nullable()
    .optional()
    .describe("Model names or `*` patterns narrowing what this key may use, within the account's effective allow-list; null = the account's"),
  limits: keyLimitsSchema
    .nullable()
    .optional()
    .describe("Limits for this key alone, each at or below the account's effective limit where one is set; null = none beyond the account's"),
});

/** The longest grace a rotation may leave the old secret: a week. */
export const MAX_ROTATION_GRACE_SECONDS = 7 * 24 * 3600;

export const rotateApiKey = z.strictObject({
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(MAX_ROTATION_GRACE_SECONDS)
    .default(3600)
    .describe("How long the old secret keeps working, in seconds (0 = it stops at once; at most a week)"),
});

const queryInt = (min: number) => z.coerce.number().int().min(min);

/** The query of GET /accounts/{id}/descendants. */
export const descendantsQuery = z.strictObject({
  limit: queryInt(1).max(1000).default(100).describe("Page size, at most 1000"),
  cursor: z.string().min(1).optional().describe("`next_cursor` of the previous page"),
  name: z.string().min(1).optional().describe("Only accounts whose name contains this text (ASCII case ignored)"),
  status: z.enum(["active", "disabled"]).optional(),
  depth: queryInt(1).optional().describe("Only accounts exactly this many levels below (1 = children)"),
  max_depth: queryInt(1).optional().describe("Only accounts at most this many levels below"),
});

/** The query of DELETE /accounts/{id}. */
export const deleteAccountQuery = z.strictObject({
  cascade: z.enum(["true", "false"]).default("false").describe("true: delete the whole subtree with it; otherwise an account with sub-accounts is refused"),
});

const protocol = z.enum(["openai-responses", "openai-chat", "anthropic", "codex"]);

const forwardHeaders = z
  .strictObject({
    mode: z.enum(["allow", "deny"]).describe("allow: only the named client headers pass; deny: every client header passes but the named ones"),
    names: z.array(z.string().regex(FORWARD_HEADER_NAME, "must be a header name, or a prefix ending in '*'")).default([]),
  })
  .describe("Which client headers reach this upstream; credentials, hop-by-hop and proxy headers never do, whatever it says. Unset = {mode: deny, names: []}");

/** A Codex upstream's ChatGPT-login refresh settings (docs/configuration.md#chatgpt-logins). */
const oauthSettings = z
  .strictObject({
    token_url: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe("The OAuth token endpoint; default https://auth.openai.com/oauth/token"),
    client_id: z.string().min(1).optional().describe("The OAuth client id; default Codex CLI's"),
    refresh_margin_ms: z.number().int().nonnegative().optional().describe("Refresh this long before the access token expires; default 300000"),
    timeout_ms: z.number().int().positive().optional().describe("The token endpoint's whole answer must come within this; default 30000"),
  })
  .describe("Codex upstreams: where and how imported ChatGPT logins refresh their tokens");

export const createUpstream = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/),
  protocol,
  base_url: z.url({ protocol: /^https?$/ }),
  models: z.array(z.string().min(1)).min(1),
  owner_account_id: z
    .string()
    .min(1)
    .nullable()
    .optional()
    .describe(
      "The account that owns it: only that account and its sub-accounts route to it and see it. Unset: gateway-wide (root) or the admin key's own account (manage key). Fixed once created",
    ),
  enabled: z.boolean().optional(),
  account_id: z.string().min(1).optional().describe("Codex backend only: the ChatGPT account id"),
  oauth: oauthSettings.optional(),
  timeout_ms: z.number().int().positive().optional(),
  prompt_cache_key: z
    .boolean()
    .optional()
    .describe("Send the session's cache key as prompt_cache_key; unset = on for Responses/Codex and for Chat at api.openai.com, off for other Chat upstreams"),
  forward_headers: forwardHeaders.optional(),
  realtime: z
    .boolean()
    .optional()
    .describe("openai-responses only: the upstream serves OpenAI Realtime at <base_url>/realtime (docs/protocols.md#realtime-over-websocket)"),
  preset: z
    .enum(PRESET_NAMES)
    .optional()
    .describe("A provider preset (docs/providers.md); it fills protocol, base_url, models and, where documented, prompt_cache_key, so those may be omitted"),
});

export const updateUpstream = z.strictObject({
  protocol: protocol.optional(),
  base_url: z.url({ protocol: /^https?$/ }).optional(),
  models: z.array(z.string().min(1)).min(1).optional(),
  enabled: z.boolean().optional(),
  account_id: z.string().min(1).nullable().optional(),
  oauth: oauthSettings.nullable().optional(),
  timeout_ms: z.number().int().positive().nullable().optional(),
  prompt_cache_key: z
    .boolean()
    .nullable()
    .optional()
    .describe("Send the session's cache key as prompt_cache_key; unset = on for Responses/Codex and for Chat at api.openai.com, off for other Chat upstreams"),
  forward_headers: forwardHeaders.nullable().optional(),
  realtime: z.boolean().nullable().optional().describe("openai-responses only: the upstream serves OpenAI Realtime; null = off"),
});

export const createUpstreamKey = z
  .strictObject({
    name: z.string().min(1).max(128).default("default"),
    key: z.string().min(1).optional().describe("The upstream credential; stored encrypted, never shown again. Give this or codex_auth"),
    codex_auth: z
      .unknown()
      .optional()
      .describe(
        "Codex upstreams: a ChatGPT login, the contents of a Codex CLI auth.json ({tokens: {id_token, access_token, refresh_token, account_id}, last_refresh}); stored encrypted and kept fresh by the gateway (docs/codex.md)",
      ),
  })
  .refine((b) => (b.key === undefined) !== (b.codex_auth === undefined), { message: "give exactly one of key and codex_auth", path: ["key"] });

// Credits (docs/admin-api.md#credits)

const amountMicros = z.number().int().positive().max(Number.MAX_SAFE_INTEGER).describe("Integer micro-units (1 unit = 1,000,000)");
const idempotencyKey = z
  .string()
  .min(1)
  .max(200)
  .describe("Makes the call safe to repeat: a second call on the same account with the same key returns the first result and moves nothing");
const note = z.string().max(1000).describe("Free text kept in the ledger and the audit trail");

export const creditGrant = z.strictObject({
  amount_micros: amountMicros,
  kind: z.enum(["subscription", "payg", "addon"]),
  expires_at: z.iso.datetime({ offset: true }).optional().describe("When the granted credit expires; must be in the future; absent = never"),
  idempotency_key: idempotencyKey.optional(),
  note: note.optional(),
});

export const creditClawback = z.strictObject({
  amount_micros: amountMicros,
  idempotency_key: idempotencyKey.optional(),
  note: note.optional(),
});

const limit = z.coerce.number().int().min(1).max(1000).default(100);
const cursor = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, "must be a next_cursor from a previous page")
  .transform(Number)
  .optional();

export const ledgerQuery = z.strictObject({ limit, cursor });

const usageWindow = {
  from: z.iso.datetime({ offset: true }).optional().describe("Start of the window, rounded down to the hour; default: 30 days before `to`"),
  to: z.iso.datetime({ offset: true }).optional().describe("End of the window (exclusive), rounded up to the hour; default: now"),
  format: z.enum(["json", "csv"]).optional().describe("`csv` (or `Accept: text/csv`): one row per group, with a header row"),
};

export const usageQuery = z.strictObject({
  ...usageWindow,
  group_by: z
    .enum(USAGE_GROUP_BY)
    .optional()
    .describe("model (as requested), key (API key), descendant (the account itself and each direct child's subtree), hour, day (UTC), upstream_key"),
  scope: z.enum(["self", "subtree"]).default("subtree").describe("self: the account's own requests; subtree: with every descendant's"),
});

export const upstreamKeyUsageQuery = z.strictObject(usageWindow);

export const auditQuery = z.strictObject({
  limit,
  cursor,
  target_type: z.string().min(1).optional(),
  target_id: z.string().min(1).optional(),
  action: z.string().min(1).optional(),
  actor: z.string().min(1).optional().describe("`root`, `config`, `cli` or `api_key:<id>`"),
  since: z.iso.datetime({ offset: true }).optional().describe("Records at or after this time"),
  until: z.iso.datetime({ offset: true }).optional().describe("Records before this time"),
});
