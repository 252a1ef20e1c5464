/**
 * What the admin API shows of stored records (snake_case JSON). Secrets never
 * appear: API keys show their prefix, upstream keys their fingerprint.
 */
import type { Account, ApiKey, Upstream, UpstreamKey } from "../storage/ports.js";
import { policyOf } from "../governance/policy.js";
import { sendsPromptCacheKey } from "../upstream/prompt-cache-key.js";
import { DEFAULT_FORWARD_HEADERS, readForwardHeaders } from "../upstream/headers.js";
import { upstreamTimeouts } from "../upstream/timeouts.js";

export function accountView(a: Account): Record<string, unknown> {
  return {
    id: a.id,
    parent_id: a.parentId,
    name: a.name,
    status: a.status,
    // What is enforced: a stored list that does not parse reads as allowing nothing.
    models: policyOf(a.settings).policy.models ?? null,
    model_map: policyOf(a.settings).policy.model_map ?? null,
    created_at: a.createdAt,
    updated_at: a.updatedAt,
  };
}

export function apiKeyView(k: ApiKey): Record<string, unknown> {
  return {
    id: k.id,
    account_id: k.accountId,
    name: k.name,
    prefix: k.prefix,
    status: k.status,
    scopes: k.scopes,
    expires_at: k.expiresAt,
    models: k.models,
    limits: k.limits,
    // Set once the key was rotated: the replacement's id; the key then works until expires_at.
    replaced_by: k.replacedBy,
    created_at: k.createdAt,
    // Written in batches (governance/key-use.ts): up to about a minute behind.
    last_used_at: k.lastUsedAt,
  };
}

export function upstreamView(u: Upstream): Record<string, unknown> {
  return {
    id: u.id,
    name: u.name,
    owner_account_id: u.ownerAccountId,
    protocol: u.protocol,
    base_url: u.baseUrl,
    models: u.models,
    enabled: u.enabled,
    account_id: typeof u.settings.account_id === "string" ? u.settings.account_id : null,
    // Effective values, like prompt_cache_key: the setting, or the default that applies.
    timeout_ms: upstreamTimeouts(u.settings).timeoutMs,
    prompt_cache_key: sendsPromptCacheKey(u),
    forward_headers: readForwardHeaders(u.settings.forward_headers) ?? DEFAULT_FORWARD_HEADERS,
    managed_by: u.settings.managed_by === "config" ? "config" : "api",
    created_at: u.createdAt,
    updated_at: u.updatedAt,
  };
}

export function upstreamKeyView(k: UpstreamKey): Record<string, unknown> {
  return { id: k.id, upstream_id: k.upstreamId, name: k.name, fingerprint: k.fingerprint, status: k.status, created_at: k.createdAt };
}
