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
  "401": ok("Missing or invalid admin token", ref("Error")),
  "404": ok("Not found", ref("Error")),
  "405": ok("The path exists, but not for this method (method_not_allowed)", ref("Error")),
  "409": ok(
    "Conflict (duplicate name, account with children, sub-accounts outside a narrowed policy, a key for an upstream the YAML file declares)",
    ref("Error"),
  ),
  "413": ok("The body exceeds server.body_limit_bytes (request_too_large)", ref("Error")),
  "500": ok("Internal error; change_not_applied: the change was saved but this gateway could not apply it yet", ref("Error")),
};

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
  return {
    openapi: "3.1.0",
    info: {
      title: "Switchyard admin API",
      version: "1",
      description: "Manage accounts, API keys, upstreams and upstream credentials. Authenticate with `Authorization: Bearer <admin token>`.",
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
            ip_allow: { type: ["array", "null"], items: str },
            origins: { type: ["array", "null"], items: str },
            upstreams: { type: ["array", "null"], items: str },
            price_multiplier: { type: ["number", "null"] },
            time_zone: nullableStr,
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
            ip_allow: { $ref: "#/components/schemas/EffectiveList" },
            origins: { $ref: "#/components/schemas/EffectiveList" },
            upstreams: { $ref: "#/components/schemas/EffectiveList" },
            price_multiplier: { $ref: "#/components/schemas/SetValue" },
            time_zone: { type: "object", properties: { value: str, set_by: { type: ["object", "null"] } } },
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
          properties: { id: str, account_id: str, name: str, prefix: str, status: { enum: ["active", "revoked"] }, created_at: str, last_used_at: nullableStr },
        },
        NewApiKey: {
          allOf: [ref("ApiKey"), { type: "object", properties: { key: { type: "string", description: "The secret, shown only in this response" } } }],
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
          properties: { id: str, upstream_id: str, name: str, fingerprint: str, status: { enum: ["active", "disabled"] }, created_at: str },
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
        CreateAccount: input(schemas.createAccount),
        UpdateAccount: input(schemas.updateAccount),
        CreateApiKey: input(schemas.createApiKey),
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
        delete: { summary: "Delete an account without sub-accounts", responses: { "204": { description: "Deleted" }, ...errors } },
      },
      "/admin/v1/accounts/{id}/descendants": {
        parameters: [idParam("id", "Account id")],
        get: { summary: "All sub-accounts at any depth", responses: { "200": ok("Accounts", list("Account")), ...errors } },
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
        delete: { summary: "Revoke an API key", responses: { "204": { description: "Revoked" }, ...errors } },
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
        get: { summary: "List an upstream's credentials (fingerprints only)", responses: { "200": ok("Upstream keys", list("UpstreamKey")), ...errors } },
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
      "/admin/v1/upstreams/{id}/keys/{key_id}": {
        parameters: [idParam("id", "Upstream id"), idParam("key_id", "Upstream key id")],
        delete: { summary: "Remove a credential", responses: { "204": { description: "Removed" }, ...errors } },
      },
    },
  };
}
