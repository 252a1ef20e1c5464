/**
 * Applies the YAML file's upstreams and accounts to the store at start, so a
 * gateway runs from one file with no admin calls. Idempotent:
 * - an upstream declared in the file is created or updated by name, and its key
 *   set becomes exactly the file's keys (matched by fingerprint);
 * - an account is created by name if missing (under its `parent`), and its model
 *   list and model mappings follow the file; its API keys from the file are added if missing.
 * Records created through the admin API and not named in the file are left alone; an
 * upstream the file named before but no longer does is left too, and from then on
 * managed through the admin API (it loses its `managed_by: config` mark).
 */
import { fingerprint, type SecretBox } from "../governance/secrets.js";
import { hashKey, keyPrefix } from "../governance/api-keys.js";
import { checkWithinParent, foldPolicies, POLICY_FIELDS, policyOf, violationParam, withPolicy, type Policy } from "../governance/policy.js";
import { canonicalJson, type AuditedChange, type AuditOrigin } from "../governance/audit.js";
import type { Account, ApiKey, Repos, Store, Upstream, UpstreamKey } from "../storage/ports.js";
import type { ConfigFile } from "./schema.js";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { ConfigError } from "./load.js";

/** Where the bootstrap's changes are recorded (governance/audit.ts AuditChain), as actor `config`. */
export interface BootstrapAudit {
  record(tx: Repos, change: AuditedChange, origin: AuditOrigin): Promise<void>;
}

const CONFIG_ORIGIN: AuditOrigin = { actor: { type: "config" } };

/**
 * Reads credentials the file names rather than holds. `codexAuth` turns a Codex auth.json's
 * text into the secret to seal, its fingerprint and shown metadata, or throws a GatewayError
 * `invalid_codex_auth`; it lives in upstream/, which config may not import, so main.ts passes it.
 */
export interface BootstrapImporters {
  codexAuth?(text: string): { secret: string; fingerprint: string; meta: Record<string, unknown> };
}

interface WantedKey {
  name: string;
  /** The secret to seal (read lazily: a file's key already stored is never read again into the store). */
  secret: string;
  meta?: Record<string, unknown>;
}

export async function applyBootstrap(
  store: Store,
  secrets: SecretBox,
  config: ConfigFile,
  source: string,
  audit?: BootstrapAudit,
  importers: BootstrapImporters = {},
): Promise<void> {
  /**
   * One write and its audit record in one transaction. Re-applying an unchanged file at
   * every start writes the same values again; only a write that changed something is recorded.
   */
  const write = <T>(fn: (tx: Repos) => Promise<{ result: T; change: AuditedChange | undefined }>): Promise<T> =>
    store.transaction(async (tx) => {
      const { result, change } = await fn(tx);
      if (audit && change && (change.before === null || change.after === null || canonicalJson(change.before) !== canonicalJson(change.after))) {
        await audit.record(tx, change, CONFIG_ORIGIN);
      }
      return result;
    });

  for (const [i, u] of config.upstreams.entries()) {
    const settings: Record<string, unknown> = {
      timeout_ms: u.timeout_ms,
      connect_timeout_ms: u.connect_timeout_ms,
      headers: u.headers,
      managed_by: "config",
    };
    if (u.account_id) settings.account_id = u.account_id;
    if (u.oauth) settings.oauth = u.oauth;
    if (u.prompt_cache_key !== undefined) settings.prompt_cache_key = u.prompt_cache_key;
    if (u.realtime !== undefined) settings.realtime = u.realtime;
    if (u.forward_headers) settings.forward_headers = u.forward_headers;
    if (u.websocket !== undefined) settings.websocket = u.websocket;
    if (u.websocket_max_age_ms !== undefined) settings.websocket_max_age_ms = u.websocket_max_age_ms;
    const existing = await store.upstreams.getByName(u.name);
    const upstream = await write(async (tx) => {
      const fields = { protocol: u.protocol, baseUrl: u.base_url, models: u.models, enabled: u.enabled, settings };
      const after = existing ? await tx.upstreams.update(existing.id, fields) : await tx.upstreams.create({ name: u.name, ...fields });
      return { result: after, change: after && upstreamChange(existing ? "update" : "create", existing, after) };
    });
    if (!upstream) throw new ConfigError(`${source}: upstreams[${i}] could not be stored`, source);
    const wanted = new Map<string, WantedKey>();
    for (const [j, k] of u.keys.entries()) {
      const name = typeof k === "string" ? `key-${j + 1}` : (k.name ?? `key-${j + 1}`);
      if (typeof k !== "string" && "codex_auth_file" in k) {
        const imported = await readCodexAuth(k.codex_auth_file, u.protocol, importers, `${source}: upstreams[${i}].keys[${j}]`, source);
        wanted.set(imported.fingerprint, { name, secret: imported.secret, meta: imported.meta });
        continue;
      }
      const secret = typeof k === "string" ? k : k.key;
      wanted.set(fingerprint(secret), { name, secret });
    }
    const have = await store.upstreamKeys.listByUpstream(upstream.id);
    for (const k of have) {
      if (wanted.has(k.fingerprint)) continue;
      await write(async (tx) => ({ result: await tx.upstreamKeys.delete(k.id), change: upstreamKeyChange("delete", k, null) }));
    }
    const haveFp = new Set(have.map((k) => k.fingerprint));
    for (const [fp, entry] of wanted) {
      if (haveFp.has(fp)) continue;
      await write(async (tx) => {
        // A login already stored is left as it is: the gateway has rotated its tokens since, and the file's are spent.
        const k = await tx.upstreamKeys.create({
          upstreamId: upstream.id,
          name: entry.name,
          ciphertext: secrets.seal(entry.secret),
          fingerprint: fp,
          credentialMeta: entry.meta ?? null,
        });
        return { result: k, change: upstreamKeyChange("create", null, k) };
      });
    }
  }

  // An upstream the file declared once and no longer names is the admin API's to manage from now on.
  const named = new Set(config.upstreams.map((u) => u.name));
  for (const u of await store.upstreams.list()) {
    if (u.settings.managed_by !== "config" || named.has(u.name)) continue;
    const { managed_by: _released, ...settings } = u.settings;
    await write(async (tx) => {
      const after = await tx.upstreams.update(u.id, { settings });
      return { result: after, change: after && upstreamChange("update", u, after) };
    });
  }

  for (const [i, a] of config.accounts.entries()) {
    let parentId: string | null = null;
    if (a.parent) {
      const parent = await store.accounts.getByName(a.parent);
      if (!parent) throw new ConfigError(`${source}: accounts[${i}].parent: no account named '${a.parent}' (declare parents before children)`, source);
      parentId = parent.id;
    }
    // The file's policy fields replace the account's own policy; a field the file leaves out is inherited.
    const policy: Record<string, unknown> = {};
    for (const f of POLICY_FIELDS) if (a[f] !== undefined) policy[f] = a[f];
    await refuseWiderThanParent(store, parentId, policy as Policy, `${source}: accounts[${i}] '${a.name}'`, source);
    const found = await store.accounts.getByName(a.name);
    const account = await write(async (tx) => {
      if (!found) {
        const created = await tx.accounts.create({ name: a.name, parentId, settings: withPolicy({}, policy as Policy) });
        return { result: created, change: accountChange("create", null, created) };
      }
      const settings = withPolicy(found.settings, policy as Policy);
      if (found.parentId !== parentId) await tx.accounts.move(found.id, parentId);
      const updated = (await tx.accounts.update(found.id, { settings })) ?? found;
      return { result: updated, change: accountChange("update", found, updated) };
    });
    for (const [j, k] of a.keys.entries()) {
      const entry = typeof k === "string" ? { name: `key-${j + 1}`, key: k } : { name: k.name ?? `key-${j + 1}`, key: k.key };
      const hash = hashKey(entry.key);
      const prefix = keyPrefix(entry.key, hash);
      const existing = await store.apiKeys.getByPrefix(prefix);
      if (existing) {
        if (existing.accountId !== account.id) {
          throw new ConfigError(`${source}: accounts[${i}].keys[${j}]: this key already belongs to another account`, source);
        }
        continue;
      }
      await write(async (tx) => {
        const key = await tx.apiKeys.create({ accountId: account.id, name: entry.name, prefix, hash });
        return { result: key, change: apiKeyChange(key) };
      });
    }
  }
}

/** A `codex_auth_file` key: read (relative to the config file's folder) and checked, or the start fails with one line. */
async function readCodexAuth(
  file: string,
  protocol: string,
  importers: BootstrapImporters,
  where: string,
  source: string,
): Promise<{ secret: string; fingerprint: string; meta: Record<string, unknown> }> {
  if (protocol !== "codex") throw new ConfigError(`${where}: codex_auth_file is for upstreams with protocol 'codex'`, source);
  if (!importers.codexAuth) throw new ConfigError(`${where}: codex_auth_file cannot be read here`, source);
  const path = resolve(dirname(source), file);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(`${where}: cannot read codex_auth_file ${path}: ${(err as Error).message}`, source);
  }
  try {
    return importers.codexAuth(text);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    throw new ConfigError(`${where}: codex_auth_file ${path}: ${typeof code === "string" ? `${code}: ` : ""}${(err as Error).message}`, source);
  }
}

/**
 * The admin API's rule for the file too: an account's policy must stay within its parent's
 * effective policy (parents are applied first, so the parent's chain is as the file leaves
 * it). A file that gives a child more than an ancestor fails the start with one line naming
 * the account, the field, the value, the bound and the ancestor that set it.
 */
async function refuseWiderThanParent(store: Store, parentId: string | null, policy: Policy, where: string, source: string): Promise<void> {
  const chain: Account[] = [];
  if (parentId !== null) {
    const parent = await store.accounts.get(parentId);
    if (parent) chain.push(parent, ...(await store.accounts.ancestors(parentId)));
  }
  const above = foldPolicies(chain.map((c) => ({ accountId: c.id, policy: policyOf(c.settings).policy })));
  const violations = checkWithinParent(above, policy);
  if (violations.length === 0) return;
  const v = violations[0]!;
  const by = v.setBy === null ? "the gateway's default" : `account '${chain.find((c) => c.id === v.setBy)?.name ?? "?"}'`;
  throw new ConfigError(`${where}: ${violationParam(v)}: ${v.message}, set by ${by}; a child may only narrow what its ancestors allow`, source);
}

// What the audit trail records of each change: the records without secrets (an upstream's
// extra headers may carry credentials, so only their names), and without `updated_at`,
// so re-applying an unchanged file compares equal.

function upstreamChange(verb: "create" | "update", before: Upstream | undefined, after: Upstream): AuditedChange {
  return {
    action: `upstream.${verb}`,
    target: { type: "upstream", id: after.id },
    before: before ? upstreamRecord(before) : null,
    after: upstreamRecord(after),
  };
}

function upstreamRecord(u: Upstream): Record<string, unknown> {
  const { headers, ...settings } = u.settings;
  const headerNames = headers && typeof headers === "object" ? Object.keys(headers).sort() : [];
  return {
    id: u.id,
    name: u.name,
    protocol: u.protocol,
    base_url: u.baseUrl,
    models: u.models,
    enabled: u.enabled,
    settings: { ...settings, header_names: headerNames },
  };
}

function upstreamKeyChange(verb: "create" | "delete", before: UpstreamKey | null, after: UpstreamKey | null): AuditedChange {
  const view = (k: UpstreamKey) => ({ id: k.id, upstream_id: k.upstreamId, name: k.name, fingerprint: k.fingerprint, status: k.status });
  const id = (after ?? before)!.id;
  return { action: `upstream_key.${verb}`, target: { type: "upstream_key", id }, before: before && view(before), after: after && view(after) };
}

function accountChange(verb: "create" | "update", before: Account | null, after: Account): AuditedChange {
  const view = (x: Account) => ({ id: x.id, parent_id: x.parentId, name: x.name, status: x.status, settings: x.settings });
  return { action: `account.${verb}`, target: { type: "account", id: after.id }, before: before && view(before), after: view(after) };
}

function apiKeyChange(k: ApiKey): AuditedChange {
  return {
    action: "api_key.create",
    target: { type: "api_key", id: k.id },
    before: null,
    after: { id: k.id, account_id: k.accountId, name: k.name, prefix: k.prefix, status: k.status },
  };
}
