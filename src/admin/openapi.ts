/**
 * The admin API's OpenAPI 3.1 document, built from the same zod schemas that
 * validate requests (schemas.ts), so the document cannot drift from the code.
 */
import { z } from "zod";
import * as schemas from "./schemas.js";

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ "application/json": { schema } });
const ok = (description: string, schema: unknown) => ({ description, content: json(schema) });
const list = (name: string) => ({ type: "object", properties: { data: { type: "array", items: ref(name) } }, required: ["data"] });
const idParam = (name: string, description: string) => ({ name, in: "path", required: true, schema: { type: "string" }, description });
const errors = {
  "400": ok("Invalid request; exceeds_parent: a policy value beyond an ancestor's bound, the message naming field, value, bound and ancestor", ref("Error")),
  "401": ok("Missing or invalid admin token or manage key (invalid_admin_token), or an expired key (api_key_expired)", ref("Error")),
  "403": ok(
    "The caller may not do this: key_scope_inference_only, account_disabled (the key's account chain is suspended), own_account_read_only, key_outlives_issuer, root_only, credit_not_permitted",
    ref("Error"),
  ),
  "404": ok("Not found, or outside the manage key's subtree (answered exactly alike)", ref("Error")),
  "405": ok("The path exists, but not for this method (method_not_allowed)", ref("Error")),
  "409": ok(
    "Conflict (duplicate name, account with children, sub-accounts outside a narrowed policy, a key for an upstream the YAML file declares, a key that cannot be rotated, insufficient_balance, idempotency_key_reused)",
    ref("Error"),
  ),
  "413": ok("The body exceeds server.body_limit_bytes (request_too_large)", ref("Error")),
  "500": ok("Internal error; change_not_applied: the change was saved but this gateway could not apply it yet", ref("Error")),
};

const int = { type: "integer" };
/** A page of items: `next_cursor` goes back as `cursor` for the next page, null on the last. */
const page = (item: unknown) => ({
  type: "object",
  properties: { data: { type: "array", items: item }, next_cursor: { type: ["string", "null"] } },
  required: ["data", "next_cursor"],
});
const query = (name: string, schema: unknown, description: string) => ({ name, in: "query", required: false, schema, description });
const pageParams = [
  query("limit", { type: "integer", minimum: 1, maximum: 1000, default: 100 }, "Items per page"),
  query("cursor", { type: "string" }, "next_cursor of the previous page"),
];
const auditParams = [
  ...pageParams,
  query("target_type", { type: "string" }, "account, api_key, upstream, upstream_key"),
  query("target_id", { type: "string" }, "The target's id"),
  query("action", { type: "string" }, "e.g. account.update, credits.grant"),
  query("actor", { type: "string" }, "root, cli, config or api_key:<id>"),
  query("since", { type: "string", format: "date-time" }, "Records at or after this time"),
  query("until", { type: "string", format: "date-time" }, "Records before this time"),
];
/** Query parameters from a zod object of optional strings (schemas.ts). */
function queryParams(schema: z.ZodObject): unknown[] {
  const doc = z.toJSONSchema(schema, { io: "input" }) as { properties?: Record<string, { description?: string }> };
  return Object.entries(doc.properties ?? {}).map(([name, s]) => ({
    name,
    in: "query",
    required: false,
    schema: s,
    ...(s.description ? { description: s.description } : {}),
  }));
}

function input(schema: z.ZodType): unknown {
  return z.toJSONSchema(schema, { io: "input" });
}

let cached: unknown;

export function openApiDocument(): unknown {
  cached ??= build();
  return cached;
}

function build(): unknown {
  const str = { type: "string" };
  const nullableStr = { type: ["string", "null"] };
  // An upstream key as stored; the health view adds its live state to the same fields.
  const UPSTREAM_KEY_FIELDS = {
    id: str,
    upstream_id: str,
    name: str,
    fingerprint: str,
    status: { enum: ["active", "disabled"] },
    created_at: str,
    credential: {
      type: ["object", "null"],
      description:
        "A ChatGPT login (docs/codex.md): kind chatgpt_oauth, account_id, plan_type, access_expires_at, last_refresh (as last stored); null for a plain key",
    },
    dead: {
      type: ["object", "null"],
      description:
        "Set when the login's refresh token was refused for good: {reason (refresh_token_reused, invalid_grant, …), at}; the key serves nothing until a new login is imported",
    },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: "Switchyard admin API",
      version: "1",
      description:
        "Manage accounts, API keys, upstreams and upstream credentials. Authenticate with `Authorization: Bearer <admin token>` (everything) or `Authorization: Bearer <API key with the manage scope>` (the key's account subtree; see docs/admin-api.md#who-may-do-what).",
    },
    servers: [{ url: "/" }],
    security: [{ adminToken: [] }],
    components: {
      securitySchemes: { adminToken: { type: "http", scheme: "bearer" } },
      schemas: {
        Error: {
          type: "object",
          properties: {
            error: { type: "object", properties: { code: str, message: str, param: str }, required: ["code", "message"] },
            request_id: str,
          },
        },
        Account: {
          type: "object",
          properties: {
            id: str,
            parent_id: nullableStr,
            name: str,
            status: { enum: ["active", "disabled"] },
            models: { type: ["array", "null"], items: str },
            model_map: { type: ["array", "null"], items: str },
            deny_models: { type: ["array", "null"], items: str },
            limits: { type: ["object", "null"], description: "The account's own limits (see CreateAccount); null = inherited" },
            spend_caps: { type: ["object", "null"], properties: { daily_micros: { type: "integer" }, monthly_micros: { type: "integer" } } },
            credit: { type: ["object", "null"], properties: { payer: { enum: ["self", "parent"] }, overdraft_micros: { type: "integer" } } },
            quotas: { type: ["array", "null"], items: { type: "object", additionalProperties: true } },
            on_quota_exhausted: { type: ["string", "null"], enum: ["refuse", "pay_as_you_go", null] },
            ip_allow: { type: ["array", "null"], items: str },
            origins: { type: ["array", "null"], items: str },
            upstreams: { type: ["array", "null"], items: str },
            price_multiplier: { type: ["number", "null"] },
            time_zone: nullableStr,
            prices: {
              type: ["object", "null"],
              description: "Model pattern → {input, cached_input, cache_write, output} in micro-units per million tokens; null = inherited",
            },
            created_at: str,
            updated_at: str,
          },
          description: "Policy fields show the account's own values; null = inherited. What applies: GET /admin/v1/accounts/{id}/effective-policy",
        },
        EffectivePolicy: {
          type: "object",
          description:
            "The policy folded along the account's chain; every value names the account that set it (set_by, null = the default applies). See docs/admin-api.md#effective-policy",
          properties: {
            account: { $ref: "#/components/schemas/AccountRef" },
            chain: { type: "array", items: { $ref: "#/components/schemas/AccountRef" }, description: "The account and its ancestors, nearest first" },
            models: { $ref: "#/components/schemas/EffectiveList" },
            deny_models: { type: "array", items: { $ref: "#/components/schemas/SetList" } },
            model_map: { type: "array", items: { $ref: "#/components/schemas/SetList" }, description: "Rule lists in the order consulted" },
            limits: {
              type: "object",
              description:
                "rpm, rph, rpd, tpm, tph, tpd, concurrency: each the smallest along the chain, or null; per_model: the same per pattern; chain: every account stating limits, nearest first (a request counts against each)",
              additionalProperties: true,
            },
            spend_caps: {
              type: "object",
              properties: { daily_micros: { $ref: "#/components/schemas/SetValue" }, monthly_micros: { $ref: "#/components/schemas/SetValue" } },
            },
            credit: {
              type: "object",
              description:
                "payer: the account whose wallet pays; overdraft_micros: the wallet's overdraft (null = postpaid); on_quota_exhausted; chain: every account stating quotas or spend caps, nearest first. See docs/billing.md",
              additionalProperties: true,
            },
            ip_allow: { $ref: "#/components/schemas/EffectiveList" },
            origins: { $ref: "#/components/schemas/EffectiveList" },
            upstreams: { $ref: "#/components/schemas/EffectiveList" },
            price_multiplier: { $ref: "#/components/schemas/SetValue" },
            time_zone: { type: "object", properties: { value: str, set_by: { type: ["object", "null"] } } },
            prices: {
              type: "array",
              description: "Every account on the chain that sets prices, nearest first (docs/configuration.md#pricing)",
              items: { type: "object", properties: { value: { type: "object" }, set_by: { type: ["object", "null"] } } },
            },
          },
        },
        AccountRef: { type: "object", properties: { id: str, name: str }, required: ["id", "name"] },
        SetValue: {
          type: ["object", "null"],
          properties: { value: { type: "number" }, set_by: { type: ["object", "null"], properties: { id: str, name: str } } },
        },
        SetList: {
          type: "object",
          properties: { value: { type: "array", items: str }, set_by: { type: ["object", "null"], properties: { id: str, name: str } } },
        },
        EffectiveList: {
          type: "object",
          description: "value: the nearest list on the chain (null = no list, everything allowed); also_within: further lists that still narrow it",
          properties: {
            value: { type: ["array", "null"], items: str },
            set_by: { type: ["object", "null"], properties: { id: str, name: str } },
            also_within: { type: "array", items: { $ref: "#/components/schemas/SetList" } },
          },
        },
        ApiKey: {
          type: "object",
          properties: {
            id: str,
            account_id: str,
            name: str,
            prefix: str,
            status: { enum: ["active", "revoked"] },
            scopes: { type: "array", items: { enum: ["inference", "manage"] } },
            expires_at: { ...nullableStr, description: "When the key stops working; null = never" },
            models: { type: ["array", "null"], items: str, description: "The key's own narrowing of its account's models" },
            limits: { type: ["object", "null"], description: "The key's own limits" },
            replaced_by: { ...nullableStr, description: "Set once rotated: the replacement's id" },
            created_at: str,
            last_used_at: { ...nullableStr, description: "Written in batches, up to about a minute behind" },
          },
        },
        NewApiKey: {
          allOf: [ref("ApiKey"), { type: "object", properties: { key: { type: "string", description: "The secret, shown only in this response" } } }],
        },
        RotatedApiKey: {
          allOf: [
            ref("NewApiKey"),
            {
              type: "object",
              properties: {
                replaces: {
                  type: "object",
                  properties: { id: str, expires_at: { ...str, description: "The old secret works until then" } },
                },
              },
            },
          ],
        },
        AccountAtDepth: {
          allOf: [ref("Account"), { type: "object", properties: { depth: { type: "integer", description: "Levels below the account asked about" } } }],
        },
        Upstream: {
          type: "object",
          properties: {
            id: str,
            name: str,
            protocol: { enum: ["openai-responses", "openai-chat", "anthropic", "codex"] },
            base_url: str,
            models: { type: "array", items: str },
            enabled: { type: "boolean" },
            account_id: nullableStr,
            oauth: {
              type: ["object", "null"],
              description: "Codex upstreams: the ChatGPT-login refresh settings (token_url, client_id, refresh_margin_ms, timeout_ms); null = the defaults",
            },
            timeout_ms: { type: "integer", description: "The timeout in effect: the setting, or the default of 600000" },
            prompt_cache_key: {
              type: "boolean",
              description: "Whether requests carry the session's prompt_cache_key (the setting, or the protocol's default)",
            },
            forward_headers: {
              type: "object",
              properties: { mode: { enum: ["allow", "deny"] }, names: { type: "array", items: str } },
              description: "Which client headers reach this upstream (the setting, or the default {mode: deny, names: []})",
            },
            realtime: { type: "boolean", description: "Whether it serves OpenAI Realtime (/v1/realtime): an openai-responses upstream with realtime: true" },
            managed_by: {
              enum: ["config", "api"],
              description: "config: declared in the YAML file, which re-applies it (keys included) on every start; api: created through this API",
            },
            created_at: str,
            updated_at: str,
          },
        },
        UpstreamKey: {
          type: "object",
          properties: UPSTREAM_KEY_FIELDS,
        },
        UpstreamKeyHealth: {
          type: "object",
          description:
            "An upstream key with its live health on the answering node (docs/admin-api.md#upstreams, docs/routing.md#health); null fields when the key is not in service",
          properties: {
            ...UPSTREAM_KEY_FIELDS,
            state: { enum: ["healthy", "cooling", "open", "half_open", "disabled", null] },
            reason: nullableStr,
            until: { type: ["string", "null"], description: "When a cooling or open key may be tried again (ISO 8601)" },
            in_flight: { type: "integer" },
            latency_ms_ewma: { type: ["number", "null"], description: "Recent attempt duration, exponentially weighted" },
            error_rate: { type: ["number", "null"], description: "Recent share of failed attempts (0..1), exponentially weighted" },
            headroom: {
              type: ["object", "null"],
              description:
                "A subscription account's usage windows from its last answer (Codex backend x-codex-* headers; docs/codex.md#subscription-headroom-and-cooldowns); null for other keys and before the first answer",
              properties: {
                primary: { $ref: "#/components/schemas/UsageWindow" },
                secondary: { $ref: "#/components/schemas/UsageWindow" },
                credits: {
                  type: ["object", "null"],
                  properties: { has_credits: { type: ["boolean", "null"] }, unlimited: { type: ["boolean", "null"] }, balance: nullableStr },
                },
                observed_at: { type: "string", description: "When the answer it was read from arrived (ISO 8601)" },
              },
            },
          },
        },
        UsageWindow: {
          type: ["object", "null"],
          description: "One usage window of a subscription account (primary: 5 h, secondary: weekly); null when the upstream did not report it",
          properties: {
            used_percent: { type: "number", description: "Share of the window used, 0..100" },
            window_minutes: { type: ["integer", "null"] },
            resets_at: { type: ["string", "null"], description: "When the window resets (ISO 8601)" },
          },
        },
        Explanation: {
          type: "object",
          description: "See docs/admin-api.md#explain",
          properties: {
            account: { type: "object" },
            requested_model: str,
            protocol: str,
            mapping: {
              type: "object",
              properties: {
                served_model: str,
                rule: nullableStr,
                from: { type: ["object", "null"] },
                reason: str,
                candidates: { type: "array", items: { type: "object" } },
              },
            },
            policy: { type: "object" },
            served_anywhere: { type: "boolean" },
            upstreams: { type: "array", items: { type: "object" } },
            attempt_order: { type: "array", items: { type: "object" } },
            session: { type: ["object", "null"] },
            tiers: { type: "null", description: "Tiers do not exist yet" },
            limits: { type: "null", description: "Limits do not exist yet" },
            notes: { type: "array", items: str },
          },
        },
        CreditMovement: {
          type: "object",
          description: "See docs/admin-api.md#credits; amounts are integer micro-units",
          properties: {
            id: { ...str, description: "The ledger row on account_id" },
            type: { enum: ["topup", "grant", "clawback"] },
            account_id: str,
            counterparty_account_id: nullableStr,
            amount_micros: int,
            kind: { enum: ["subscription", "payg", "addon", null] },
            expires_at: nullableStr,
            balance_after_micros: int,
            counterparty_entry_id: nullableStr,
            counterparty_balance_after_micros: { type: ["integer", "null"] },
            idempotency_key: nullableStr,
            note: nullableStr,
            actor: nullableStr,
            created_at: str,
          },
        },
        Credits: {
          type: "object",
          properties: {
            balance_micros: int,
            grants: {
              type: "array",
              description: "Grants with something left, earliest expiry first",
              items: {
                type: "object",
                properties: {
                  id: str,
                  kind: { enum: ["subscription", "payg", "addon"] },
                  amount_micros: int,
                  remaining_micros: int,
                  expires_at: nullableStr,
                  source_account_id: nullableStr,
                  entry_id: str,
                  created_at: str,
                },
              },
            },
          },
        },
        LedgerPage: page({
          type: "object",
          properties: {
            id: str,
            account_id: str,
            seq: int,
            type: { enum: ["topup", "grant", "grant_out", "clawback", "clawback_in", "release", "release_in", "adjustment", "debit", "refund", "expiry"] },
            kind: { enum: ["subscription", "payg", "addon", null] },
            amount_micros: { ...int, description: "Signed: credit in positive, out negative" },
            balance_after_micros: int,
            reference: nullableStr,
            expires_at: nullableStr,
            actor: nullableStr,
            counterparty_account_id: nullableStr,
            note: nullableStr,
            created_at: str,
          },
        }),
        UsageTotals: {
          type: "object",
          properties: {
            requests: int,
            errors: int,
            input_tokens: { ...int, description: "Whole prompts, cached and cache-write tokens included" },
            cached_input_tokens: int,
            cache_write_tokens: int,
            output_tokens: { ...int, description: "Reasoning included" },
            reasoning_tokens: int,
            cost_micros: int,
            charged_micros: { ...int, description: "Debited from credit" },
            cache_hit_share: { type: ["number", "null"], description: "cached_input_tokens ÷ input_tokens; null without input" },
          },
        },
        Usage: {
          type: "object",
          properties: {
            account: { type: ["object", "null"], properties: { id: str, name: str } },
            scope: { enum: ["self", "subtree"] },
            from: { ...str, format: "date-time" },
            to: { ...str, format: "date-time" },
            group_by: { type: ["string", "null"] },
            total: ref("UsageTotals"),
            groups: {
              type: "array",
              items: {
                allOf: [
                  ref("UsageTotals"),
                  {
                    type: "object",
                    properties: {
                      group: { ...str, description: "The group's value ('' = none: no API key, no upstream key)" },
                      name: { type: ["string", "null"], description: "The account's name, for group_by=descendant" },
                      cost_share: { type: ["number", "null"], description: "This group's share of the total cost" },
                    },
                  },
                ],
              },
            },
          },
        },
        AuditPage: page({
          type: "object",
          description: "See docs/admin-api.md#audit for the hash",
          properties: {
            seq: int,
            actor: { ...str, description: "root, cli, config or api_key:<id>" },
            action: str,
            target_type: str,
            target_id: nullableStr,
            before: { type: ["object", "null"] },
            after: { type: ["object", "null"] },
            ip: nullableStr,
            request_id: nullableStr,
            created_at: str,
            prev_hash: str,
            hash: str,
          },
        }),
        CreditGrant: input(schemas.creditGrant),
        CreditClawback: input(schemas.creditClawback),
        CreateAccount: input(schemas.createAccount),
        UpdateAccount: input(schemas.updateAccount),
        CreateApiKey: input(schemas.createApiKey),
        RotateApiKey: input(schemas.rotateApiKey),
        CreateUpstream: input(schemas.createUpstream),
        UpdateUpstream: input(schemas.updateUpstream),
        CreateUpstreamKey: input(schemas.createUpstreamKey),
      },
    },
    paths: {
      "/admin/v1/openapi.json": { get: { summary: "This document", security: [], responses: { "200": { description: "OpenAPI document" } } } },
      "/admin/v1/accounts": {
        get: { summary: "List accounts", responses: { "200": ok("Accounts", list("Account")), ...errors } },
        post: {
          summary: "Create an account (a primary account, or a sub-account with parent_id)",
          requestBody: { required: true, content: json(ref("CreateAccount")) },
          responses: { "201": ok("Created", ref("Account")), ...errors },
        },
      },
      "/admin/v1/accounts/{id}": {
        parameters: [idParam("id", "Account id")],
        get: { summary: "Get an account", responses: { "200": ok("Account", ref("Account")), ...errors } },
        patch: {
          summary:
            "Update or move an account (parent_id); its policy may only narrow what its ancestors allow, and a narrowed list may not leave a sub-account's list wider",
          requestBody: { required: true, content: json(ref("UpdateAccount")) },
          responses: { "200": ok("Updated", ref("Account")), ...errors },
        },
        delete: {
          summary: "Delete an account and its API keys; one with sub-accounts only with cascade=true, which deletes the whole subtree in one transaction",
          parameters: queryParams(schemas.deleteAccountQuery),
          responses: { "204": { description: "Deleted" }, ...errors },
        },
      },
      "/admin/v1/accounts/{id}/suspend": {
        parameters: [idParam("id", "Account id")],
        post: {
          summary: "Suspend an account: its keys and its whole subtree's are refused at once",
          responses: { "200": ok("Suspended", ref("Account")), ...errors },
        },
      },
      "/admin/v1/accounts/{id}/resume": {
        parameters: [idParam("id", "Account id")],
        post: { summary: "Lift an account's suspension", responses: { "200": ok("Resumed", ref("Account")), ...errors } },
      },
      "/admin/v1/accounts/{id}/children": {
        parameters: [idParam("id", "Account id")],
        get: { summary: "Direct sub-accounts, by name", responses: { "200": ok("Accounts", list("Account")), ...errors } },
      },
      "/admin/v1/accounts/{id}/descendants": {
        parameters: [idParam("id", "Account id")],
        get: {
          summary: "Sub-accounts at any depth, one page at a time, ordered by depth, name, id",
          parameters: queryParams(schemas.descendantsQuery),
          responses: {
            "200": ok("Accounts", {
              type: "object",
              properties: { data: { type: "array", items: ref("AccountAtDepth") }, next_cursor: { ...nullableStr, description: "null on the last page" } },
              required: ["data", "next_cursor"],
            }),
            ...errors,
          },
        },
      },
      "/admin/v1/accounts/{id}/ancestors": {
        parameters: [idParam("id", "Account id")],
        get: {
          summary: "Ancestors nearest first (for a manage key: up to its own account)",
          responses: { "200": ok("Accounts", list("Account")), ...errors },
        },
      },
      "/admin/v1/accounts/{id}/effective-policy": {
        parameters: [idParam("id", "Account id")],
        get: {
          summary: "The account's policy folded along its ancestors (what the data plane enforces), each value with the account that set it",
          responses: { "200": ok("Effective policy", ref("EffectivePolicy")), ...errors },
        },
      },
      "/admin/v1/accounts/{id}/keys": {
        parameters: [idParam("id", "Account id")],
        get: { summary: "List an account's API keys", responses: { "200": ok("API keys", list("ApiKey")), ...errors } },
        post: {
          summary: "Issue an API key; the secret is returned once",
          requestBody: { required: false, content: json(ref("CreateApiKey")) },
          responses: { "201": ok("Created", ref("NewApiKey")), ...errors },
        },
      },
      "/admin/v1/keys/{id}": {
        parameters: [idParam("id", "API key id")],
        delete: { summary: "Revoke an API key, effective at once", responses: { "204": { description: "Revoked" }, ...errors } },
      },
      "/admin/v1/keys/{id}/rotate": {
        parameters: [idParam("id", "API key id")],
        post: {
          summary: "Issue a new secret for a key; the old one keeps working for grace_seconds",
          requestBody: { required: false, content: json(ref("RotateApiKey")) },
          responses: { "201": ok("Rotated", ref("RotatedApiKey")), ...errors },
        },
      },
      "/admin/v1/upstreams": {
        get: { summary: "List upstreams", responses: { "200": ok("Upstreams", list("Upstream")), ...errors } },
        post: {
          summary: "Create an upstream",
          requestBody: { required: true, content: json(ref("CreateUpstream")) },
          responses: { "201": ok("Created", ref("Upstream")), ...errors },
        },
      },
      "/admin/v1/upstreams/{id}": {
        parameters: [idParam("id", "Upstream id")],
        get: { summary: "Get an upstream", responses: { "200": ok("Upstream", ref("Upstream")), ...errors } },
        patch: {
          summary: "Update an upstream",
          requestBody: { required: true, content: json(ref("UpdateUpstream")) },
          responses: { "200": ok("Updated", ref("Upstream")), ...errors },
        },
        delete: { summary: "Delete an upstream and its keys", responses: { "204": { description: "Deleted" }, ...errors } },
      },
      "/admin/v1/upstreams/{id}/keys": {
        parameters: [idParam("id", "Upstream id")],
        get: {
          summary: "List an upstream's credentials (fingerprints only) with their live health",
          responses: { "200": ok("Upstream keys", list("UpstreamKeyHealth")), ...errors },
        },
        post: {
          summary: "Add a credential; stored encrypted, never returned",
          requestBody: { required: true, content: json(ref("CreateUpstreamKey")) },
          responses: { "201": ok("Created", ref("UpstreamKey")), ...errors },
        },
      },
      "/admin/v1/explain": {
        get: {
          summary:
            "Why a request from an account for a model would go where it goes: the mapping rule, the policy, the upstreams and lanes, key health, a session's key",
          parameters: [
            { name: "account", in: "query", required: true, schema: str, description: "Account id or name" },
            { name: "model", in: "query", required: true, schema: str, description: "The model a client would ask for" },
            {
              name: "protocol",
              in: "query",
              required: false,
              schema: { enum: ["openai-chat", "openai-responses", "anthropic-messages"], default: "openai-chat" },
            },
            { name: "session", in: "query", required: false, schema: str, description: "A session identity as the client sends it; its pinned key is shown" },
            {
              name: "session_source",
              in: "query",
              required: false,
              schema: { enum: ["session_id", "session-id", "conversation_id", "x-claude-code-session-id", "prompt_cache_key"], default: "session_id" },
              description: "Where the client carries the session: a header, or the body's prompt_cache_key",
            },
          ],
          responses: { "200": ok("Explanation", ref("Explanation")), ...errors },
        },
      },
      "/admin/v1/accounts/{id}/credits/topup": {
        parameters: [idParam("id", "Account id")],
        post: {
          summary: "Top up an account's credit (root admin token only)",
          requestBody: { required: true, content: json(ref("CreditGrant")) },
          responses: { "201": ok("The movement (the first one again for a repeated idempotency key)", ref("CreditMovement")), ...errors },
        },
      },
      "/admin/v1/accounts/{id}/credits/grant": {
        parameters: [idParam("id", "Account id")],
        post: {
          summary: "Grant credit from the account's parent to the account, from the parent's unspent, unexpired credit",
          requestBody: { required: true, content: json(ref("CreditGrant")) },
          responses: { "201": ok("The movement (the first one again for a repeated idempotency key)", ref("CreditMovement")), ...errors },
        },
      },
      "/admin/v1/accounts/{id}/credits/clawback": {
        parameters: [idParam("id", "Account id")],
        post: {
          summary: "Take unspent, unexpired credit back from the account to its parent",
          requestBody: { required: true, content: json(ref("CreditClawback")) },
          responses: { "201": ok("The movement (the first one again for a repeated idempotency key)", ref("CreditMovement")), ...errors },
        },
      },
      "/admin/v1/accounts/{id}/credits": {
        parameters: [idParam("id", "Account id")],
        get: { summary: "The account's balance and its grants with something left", responses: { "200": ok("Credits", ref("Credits")), ...errors } },
      },
      "/admin/v1/accounts/{id}/ledger": {
        parameters: [idParam("id", "Account id")],
        get: {
          summary: "The account's ledger, newest first",
          parameters: pageParams,
          responses: { "200": ok("Ledger rows", ref("LedgerPage")), ...errors },
        },
      },
      "/admin/v1/audit": {
        get: {
          summary: "The whole audit log, newest first (root admin token only)",
          parameters: auditParams,
          responses: { "200": ok("Audit records", ref("AuditPage")), ...errors },
        },
      },
      "/admin/v1/accounts/{id}/audit": {
        parameters: [idParam("id", "Account id")],
        get: {
          summary: "Audit records about the account, its sub-accounts and their keys, newest first",
          parameters: auditParams,
          responses: { "200": ok("Audit records", ref("AuditPage")), ...errors },
        },
      },
      "/admin/v1/accounts/{id}/usage": {
        parameters: [idParam("id", "Account id")],
        get: {
          summary: "The account's or its subtree's usage over hourly rollups, grouped; CSV with format=csv or Accept: text/csv (docs/admin-api.md#usage)",
          parameters: queryParams(schemas.usageQuery),
          responses: {
            "200": {
              description: "Usage",
              content: { "application/json": { schema: ref("Usage") }, "text/csv": { schema: { type: "string" } } },
            },
            ...errors,
          },
        },
      },
      "/admin/v1/usage/upstream-keys": {
        get: {
          summary: "Gateway-wide usage and cache-hit share per upstream key (root admin token only)",
          parameters: queryParams(schemas.upstreamKeyUsageQuery),
          responses: {
            "200": {
              description: "Usage per upstream key",
              content: { "application/json": { schema: ref("Usage") }, "text/csv": { schema: { type: "string" } } },
            },
            ...errors,
          },
        },
      },
      "/admin/v1/upstreams/{id}/keys/{key_id}": {
        parameters: [idParam("id", "Upstream id"), idParam("key_id", "Upstream key id")],
        delete: { summary: "Remove a credential", responses: { "204": { description: "Removed" }, ...errors } },
      },
    },
  };
}
