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
import type { Account } from "../storage/ports.js";
import type { Store } from "../storage/ports.js";
import type { ConfigFile } from "./schema.js";
import { ConfigError } from "./load.js";

export async function applyBootstrap(store: Store, secrets: SecretBox, config: ConfigFile, source: string): Promise<void> {
  for (const [i, u] of config.upstreams.entries()) {
    const settings: Record<string, unknown> = {
      timeout_ms: u.timeout_ms,
      connect_timeout_ms: u.connect_timeout_ms,
      headers: u.headers,
      managed_by: "config",
    };
    if (u.account_id) settings.account_id = u.account_id;
    if (u.prompt_cache_key !== undefined) settings.prompt_cache_key = u.prompt_cache_key;
    if (u.forward_headers) settings.forward_headers = u.forward_headers;
    const existing = await store.upstreams.getByName(u.name);
    const upstream = existing
      ? await store.upstreams.update(existing.id, { protocol: u.protocol, baseUrl: u.base_url, models: u.models, enabled: u.enabled, settings })
      : await store.upstreams.create({ name: u.name, protocol: u.protocol, baseUrl: u.base_url, models: u.models, enabled: u.enabled, settings });
    if (!upstream) throw new ConfigError(`${source}: upstreams[${i}] could not be stored`, source);
    const wanted = new Map<string, { name: string; key: string }>();
    for (const [j, k] of u.keys.entries()) {
      const entry = typeof k === "string" ? { name: `key-${j + 1}`, key: k } : { name: k.name ?? `key-${j + 1}`, key: k.key };
      wanted.set(fingerprint(entry.key), entry);
    }
    const have = await store.upstreamKeys.listByUpstream(upstream.id);
    for (const k of have) if (!wanted.has(k.fingerprint)) await store.upstreamKeys.delete(k.id);
    const haveFp = new Set(have.map((k) => k.fingerprint));
    for (const [fp, entry] of wanted) {
      if (!haveFp.has(fp)) await store.upstreamKeys.create({ upstreamId: upstream.id, name: entry.name, ciphertext: secrets.seal(entry.key), fingerprint: fp });
    }
  }

  // An upstream the file declared once and no longer names is the admin API's to manage from now on.
  const named = new Set(config.upstreams.map((u) => u.name));
  for (const u of await store.upstreams.list()) {
    if (u.settings.managed_by !== "config" || named.has(u.name)) continue;
    const { managed_by: _released, ...settings } = u.settings;
    await store.upstreams.update(u.id, { settings });
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
    let account = await store.accounts.getByName(a.name);
    if (!account) {
      account = await store.accounts.create({ name: a.name, parentId, settings: withPolicy({}, policy as Policy) });
    } else {
      const settings = withPolicy(account.settings, policy as Policy);
      account = (await store.accounts.update(account.id, { settings })) ?? account;
      if (account.parentId !== parentId) await store.accounts.move(account.id, parentId);
    }
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
      await store.apiKeys.create({ accountId: account.id, name: entry.name, prefix, hash });
    }
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
