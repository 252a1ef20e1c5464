/**
 * The admin service: every change the admin API makes, between the HTTP routes
 * (routes.ts) and the store. Each write
 *
 * 1. validates its input with the zod schemas the OpenAPI document is built from,
 * 2. checks policy: an account's own policy must stay within its parent's effective
 *    policy, on create and on update, and narrowing an account must not leave a
 *    sub-account reaching beyond it (such a write is refused with the sub-accounts
 *    named, rather than cascading into policies nobody asked to change),
 * 3. makes the change and hands an {@link AuditEvent} to the {@link AuditSink} in one
 *    store transaction, so the two commit together or not at all,
 * 4. calls `onChange(event)` once after the commit, so the data plane's snapshots are
 *    rebuilt before the answer goes out (main.ts decides what that reloads; a cluster
 *    broadcast plugs in there).
 *
 * Errors are GatewayErrors with stable codes (docs/admin-api.md).
 */
import type { z } from "zod";
import { GatewayError } from "../canonical/errors.js";
import { ROOT_CONTEXT, type AdminActor, type AdminContext } from "./context.js";
import { actorForKey, manageableAccount, mayAdminister, notFound, readableAccount, reaches, subtreeRoot } from "./authorize.js";
import { withPresetDefaults } from "../canonical/provider-presets.js";
import { generateKey } from "../governance/api-keys.js";
import {
  checkWithinParent,
  foldPolicies,
  LIST_FIELDS,
  narrow,
  POLICY_FIELDS,
  policyOf,
  UNRESTRICTED,
  violationParam,
  withPolicy,
  type EffectivePolicy,
  type Policy,
  type PolicyViolation,
} from "../governance/policy.js";
import { checkKeyWithinAccount, expiryMs } from "../governance/key-policy.js";
import { fingerprint } from "../governance/secrets.js";
import { codexFingerprintMaterial, codexTokenMeta, isCodexAuthSecret, parseCodexAuth, serializeCodexAuth } from "../upstream/codex-auth.js";
import {
  StoreError,
  type Account,
  type ApiKey,
  type CreditMovement,
  type DescendantPage,
  type NewApiKey,
  type Repos,
  type Upstream,
  type UpstreamKey,
} from "../storage/ports.js";
import { creditEvent, moveCredit, releaseBalanceOnDelete, type CreditOperation } from "./credits.js";
import { readAccountUsage, readUpstreamKeyUsage, type UsageView } from "./usage-reads.js";
import { readAccountAudit, readAuditLog, readCredits, readLedger, type AuditPage, type CreditsView, type LedgerPageView } from "./money-reads.js";
import * as schemas from "./schemas.js";
import { accountView, apiKeyView, upstreamKeyView, upstreamView } from "./views.js";

export type AuditTarget = "account" | "api_key" | "upstream" | "upstream_key";

/** One admin change, as the audit trail will record it. */
export interface AuditEvent {
  /** `<target>.<verb>`, e.g. `account.update`, `api_key.revoke`. */
  readonly action: `${AuditTarget}.${"create" | "update" | "delete" | "revoke" | "rotate" | "suspend" | "resume"}` | `credits.${CreditOperation | "release"}`;
  readonly target: { readonly type: AuditTarget; readonly id: string };
  /** The record as the admin API shows it (secrets never appear), before and after; null where it did not exist. */
  readonly before: Record<string, unknown> | null;
  readonly after: Record<string, unknown> | null;
}

/** Where admin changes are recorded. */
export interface AuditSink {
  /**
   * Called inside the change's transaction, after the change: write through `tx` and the
   * record commits with the change; throw and the change is undone.
   */
  record(tx: Repos, event: AuditEvent, ctx: AdminContext): Promise<void>;
}

/** Records nothing, until the audit log exists. */
export const NO_AUDIT: AuditSink = { record: () => Promise.resolve() };

/** Seals an upstream credential for storage (the SecretBox, in production). */
export interface Sealer {
  seal(plaintext: string): string;
}

export interface AdminServiceDeps {
  store: Repos;
  secrets: Sealer;
  /**
   * Called once after each committed write with what changed (the audit event names the
   * target), and awaited before the write is answered. If it rejects, the write stands
   * and the caller gets `change_not_applied`.
   */
  onChange: (change: AuditEvent) => Promise<void>;
  audit?: AuditSink;
  /**
   * Called inside a deletion's transaction for each account about to be deleted, deepest
   * first (a cascade deletes a whole subtree), before any row goes: settle what the
   * account holds through `tx` (its balance, say) or throw to refuse the deletion, which
   * then undoes everything.
   */
  onAccountDeleted?: (tx: Repos, account: Account) => Promise<void>;
  /** Milliseconds since the epoch (key expiry, rotation grace); injectable for tests. */
  now?: () => number;
  /** Told when a manage key authenticated, so its `last_used_at` moves like an inference key's (the batched recorder, in production). */
  onKeyUsed?: (apiKeyId: string) => void;
}

export class AdminService {
  readonly #store: Repos;
  readonly #secrets: Sealer;
  readonly #onChange: (change: AuditEvent) => Promise<void>;
  readonly #audit: AuditSink;
  readonly #onAccountDeleted: ((tx: Repos, account: Account) => Promise<void>) | undefined;
  readonly #now: () => number;
  readonly #onKeyUsed: (apiKeyId: string) => void;

  constructor(deps: AdminServiceDeps) {
    this.#store = deps.store;
    this.#secrets = deps.secrets;
    this.#onChange = deps.onChange;
    this.#audit = deps.audit ?? NO_AUDIT;
    this.#onAccountDeleted = deps.onAccountDeleted;
    this.#now = deps.now ?? Date.now;
    this.#onKeyUsed = deps.onKeyUsed ?? (() => undefined);
  }

  /**
   * The actor a bearer token other than the root admin token stands for: an active,
   * unexpired `manage` key whose account chain is active (authorize.ts), else a refusal.
   */
  async actorForKey(secret: string): Promise<AdminActor> {
    const actor = await actorForKey(this.#store, secret, this.#now());
    if (actor.type === "api_key") this.#onKeyUsed(actor.keyId);
    return actor;
  }

  // Accounts

  /** Every account for the root; a manage key's own account and its descendants for a manage key. */
  async listAccounts(ctx: AdminContext = ROOT_CONTEXT): Promise<Account[]> {
    const root = subtreeRoot(ctx);
    if (root === undefined) return this.#store.accounts.list();
    const own = await readableAccount(this.#store, ctx, root);
    return [own, ...(await this.#store.accounts.descendants(root))];
  }

  async getAccount(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<Account> {
    return readableAccount(this.#store, ctx, id);
  }

  /** Every descendant, nearest levels first (unpaged; the API pages through {@link descendantPage}). */
  async descendants(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<Account[]> {
    await this.getAccount(id, ctx);
    return this.#store.accounts.descendants(id);
  }

  /**
   * The account's effective policy (its own folded with every ancestor's), with the
   * chain it was folded from, nearest first, so every value can name who set it.
   */
  async effectivePolicy(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<{ chain: Account[]; visible: Account[]; policy: EffectivePolicy }> {
    const account = await readableAccount(this.#store, ctx, id);
    const chain = [account, ...(await this.#store.accounts.ancestors(id))];
    // A manage key sees its own subtree only: what an account above it set is shown, but not who.
    const root = subtreeRoot(ctx);
    const visible = root === undefined ? chain : chain.slice(0, chain.findIndex((a) => a.id === root) + 1);
    return { chain, visible, policy: foldChain(chain) };
  }

  /** Query: `{limit?, cursor?, name?, status?, depth?, max_depth?}` as strings (schemas.descendantsQuery). */
  async descendantPage(id: string, query: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<DescendantPage> {
    const q = parse(schemas.descendantsQuery, query);
    await this.getAccount(id, ctx);
    try {
      return await this.#store.accounts.descendantPage(id, {
        limit: q.limit,
        cursor: q.cursor,
        nameContains: q.name,
        status: q.status,
        depth: q.depth,
        maxDepth: q.max_depth,
      });
    } catch (error) {
      if (error instanceof StoreError && error.code === "invalid") {
        throw new GatewayError("invalid_request", "invalid_field", `cursor: ${error.message}`, { param: "cursor" });
      }
      throw error;
    }
  }

  async children(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<Account[]> {
    await this.getAccount(id, ctx);
    return this.#store.accounts.children(id);
  }

  /** Ancestors nearest first; for a manage key only those inside its subtree (up to its own account), so nothing above it shows. */
  async ancestors(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<Account[]> {
    await this.getAccount(id, ctx);
    const root = subtreeRoot(ctx);
    if (id === root) return [];
    const all = await this.#store.accounts.ancestors(id);
    // The target is inside the subtree, so the key's own account is on its chain: cut there.
    return root === undefined ? all : all.slice(0, all.findIndex((a) => a.id === root) + 1);
  }

  /** Suspends the account: it and its whole subtree are refused at once (`account_disabled`), through the fold of the chain's statuses. */
  async suspendAccount(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<Account> {
    return this.#setStatus(id, "disabled", ctx);
  }

  /** Lifts a suspension; sub-accounts suspended on their own stay suspended. */
  async resumeAccount(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<Account> {
    return this.#setStatus(id, "active", ctx);
  }

  async #setStatus(id: string, status: Account["status"], ctx: AdminContext): Promise<Account> {
    return this.#write(ctx, async (tx) => {
      const current = await manageableAccount(tx, ctx, id);
      const a = (await tx.accounts.update(id, { status })) ?? throwNotFound("account", id);
      const action = status === "active" ? "account.resume" : "account.suspend";
      return { result: a, event: { action, target: { type: "account", id }, before: accountView(current), after: accountView(a) } };
    });
  }

  /** Body: `{name, parent_id?, status?, ...policy fields}` (governance/policy.ts; schemas.ts lists them). */
  async createAccount(body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<Account> {
    const b = parse(schemas.createAccount, body);
    const policy = policyFromBody({}, b);
    return this.#write(ctx, async (tx) => {
      const parentId = b.parent_id ?? null;
      if (parentId === null && subtreeRoot(ctx) !== undefined) throw parentRequired();
      if (parentId !== null) {
        // The parent's chain stays as read until this transaction ends: a concurrent write
        // lowering an ancestor's bound waits for it, or it for that write.
        await tx.accounts.lockChains([parentId]);
        await readableAccount(tx, ctx, parentId, "parent_id");
      }
      const above = await chainOf(tx, parentId);
      refuseWiderThanParent(above, foldChain(above), policy);
      const a = await tx.accounts.create({ name: b.name, parentId, status: b.status, settings: withPolicy({}, policy) });
      return { result: a, event: { action: "account.create", target: { type: "account", id: a.id }, before: null, after: accountView(a) } };
    });
  }

  /**
   * Body: `{name?, parent_id?, status?, ...policy fields}`; `null` on a policy field clears
   * the account's own value, so it inherits. `parent_id` moves the account and its subtree
   * (null: to the top). What the write changes in the account's own policy must stay within
   * its (new) parent's; narrowing a list (models, model_map, ip_allow, origins, upstreams)
   * may not leave a sub-account's list reaching beyond it. A numeric bound (limits, spend
   * caps, the price multiplier) may be tightened below what sub-accounts state: the fold
   * applies it to the whole subtree at once, and their own values stop binding.
   */
  async updateAccount(id: string, body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<Account> {
    const b = parse(schemas.updateAccount, body);
    return this.#write(ctx, async (tx) => {
      // Lock before reading, so the checks below judge the chain as it will be at commit.
      await tx.accounts.lockChains(b.parent_id ? [id, b.parent_id] : [id]);
      const current = await manageableAccount(tx, ctx, id);
      const parentId = b.parent_id !== undefined ? b.parent_id : current.parentId;
      const moved = parentId !== current.parentId;
      // A manage key moves accounts only within its subtree: the new parent must be in it too.
      if (moved && parentId === null && subtreeRoot(ctx) !== undefined) throw parentRequired();
      if (moved && parentId !== null) {
        await readableAccount(tx, ctx, parentId, "parent_id");
        // Checked before any policy so the answer names the real problem; the store refuses it too.
        if (parentId === id || (await tx.accounts.descendants(id)).some((d) => d.id === parentId)) {
          throw new GatewayError("invalid_request", "cycle", `Account '${current.name}' cannot move under itself or one of its sub-accounts.`, {
            param: "parent_id",
          });
        }
      }
      const policyChanges = POLICY_FIELDS.some((f) => b[f] !== undefined);
      let settings: Record<string, unknown> | undefined;
      if (policyChanges || moved) {
        const previous = policyOf(current.settings).policy;
        const policy = policyFromBody(previous, b);
        const beforeChain = await chainOf(tx, current.parentId);
        const afterChain = moved ? await chainOf(tx, parentId) : beforeChain;
        const before = foldChain(beforeChain);
        const after = moved ? foldChain(afterChain) : before;
        // A root is checked too: its own mappings must serve models its own list allows.
        // Without a move, only what this write changes is judged: a value that a later
        // tightening above left beyond its parent's (allowed for numeric bounds) does not
        // block an unrelated change.
        refuseWiderThanParent(afterChain, after, policy, moved ? undefined : previous);
        await refuseStrandedChildren(tx, current, narrow(before, previous, current.id), narrow(after, policy, current.id));
        if (policyChanges) settings = withPolicy(current.settings, policy);
      }
      if (moved) await tx.accounts.move(id, parentId);
      const a = (await tx.accounts.update(id, { name: b.name, status: b.status, settings })) ?? throwNotFound("account", id);
      return { result: a, event: { action: "account.update", target: { type: "account", id }, before: accountView(current), after: accountView(a) } };
    });
  }

  /**
   * Deletes the account with its API keys (removed, not kept revoked: a deleted account's
   * key can never authenticate again, and usage records keep the key's id). An account
   * with sub-accounts is refused (`has_children`) unless `cascade`, which deletes the
   * whole subtree and its keys in the same transaction. For each account, deepest first,
   * its unspent credit is released to its parent (what cannot go back, a primary
   * account's, is written off: credits.ts), then `onAccountDeleted` runs and may refuse.
   */
  async deleteAccount(id: string, options: { cascade?: boolean } = {}, ctx: AdminContext = ROOT_CONTEXT): Promise<void> {
    return this.#write(ctx, async (tx) => {
      const current = await manageableAccount(tx, ctx, id);
      // Each deleted account's unspent credit goes back to its parent (deepest first, so it
      // climbs a cascade to the first survivor), recorded in the ledger and the audit trail.
      const hook = async (tx: Repos, a: Account): Promise<void> => {
        const released = await releaseBalanceOnDelete(tx, a, ctx);
        if (released) await this.#audit.record(tx, creditEvent(released), ctx);
        await this.#onAccountDeleted?.(tx, a);
      };
      let deleted: readonly Account[] = [current];
      if (options.cascade) {
        deleted = await tx.accounts.deleteSubtree(id, async (accounts) => {
          for (const a of accounts) await hook(tx, a);
        });
      } else {
        // Refused before the hook runs; the store checks again under its tree lock, so a
        // child created meanwhile cannot be orphaned.
        if ((await tx.accounts.children(id)).length > 0)
          throw fromStoreError(new StoreError("has_children", `account ${id} has sub-accounts; delete them first, or pass cascade=true`));
        await hook(tx, current);
        await tx.accounts.delete(id);
      }
      const before = { ...accountView(current), deleted_account_ids: deleted.map((a) => a.id) };
      return { result: undefined, event: { action: "account.delete", target: { type: "account", id }, before, after: null } };
    });
  }

  // API keys

  async listApiKeys(accountId: string, ctx: AdminContext = ROOT_CONTEXT): Promise<ApiKey[]> {
    await this.getAccount(accountId, ctx);
    return this.#store.apiKeys.listByAccount(accountId);
  }

  /**
   * Body: `{name?, scopes?, expires_at?, models?, limits?}`. Returns the secret, which is
   * stored only as a hash and never available again. A key only narrows its account:
   * `models` within the account's effective allow-list, `limits` at or below its
   * effective limits (`exceeds_account`). A manage key may issue keys for its own account
   * (manage keys included: it could do the same work itself), but not one outliving itself.
   */
  async createApiKey(accountId: string, body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<{ key: ApiKey; secret: string }> {
    const b = parse(schemas.createApiKey, body);
    const now = this.#now();
    if (b.expires_at && Date.parse(b.expires_at) <= now) {
      throw new GatewayError("invalid_request", "invalid_field", "expires_at: must be in the future", { param: "expires_at" });
    }
    const expiresAt = b.expires_at ? new Date(b.expires_at).toISOString() : null;
    return this.#write(ctx, async (tx) => {
      const account = await readableAccount(tx, ctx, accountId);
      const violation = checkKeyWithinAccount(foldChain(await chainOf(tx, account.id)), b)[0];
      if (violation) {
        throw new GatewayError("invalid_request", "exceeds_account", `${violation.param}: ${violation.message} ('${account.name}').`, {
          param: violation.param,
        });
      }
      await refuseOutlivingIssuer(tx, ctx, accountId, expiresAt);
      const { secret, prefix, hash } = generateKey();
      const input: NewApiKey = {
        accountId,
        name: b.name,
        prefix,
        hash,
        scopes: uniqueScopes(b.scopes),
        expiresAt,
        models: b.models ?? null,
        limits: b.limits ?? null,
      };
      const key = await tx.apiKeys.create(input);
      return { result: { key, secret }, event: { action: "api_key.create", target: { type: "api_key", id: key.id }, before: null, after: apiKeyView(key) } };
    });
  }

  /**
   * Body: `{grace_seconds?}` (default 3600, at most a week). Issues a new secret for the key
   * as a new key row with the same name, scopes, expiry, models and limits, and gives the
   * old row an expiry at the grace end (or its own expiry, if sooner) and a link to its
   * replacement: both secrets work until then. Only an active, unexpired key not rotated
   * before can rotate (`key_not_rotatable`); of two racing rotations one wins.
   */
  async rotateApiKey(id: string, body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<{ key: ApiKey; secret: string; old: ApiKey }> {
    const b = parse(schemas.rotateApiKey, body);
    return this.#write(ctx, async (tx) => {
      const current = await this.#reachableKey(tx, ctx, id);
      const now = this.#now();
      if (current.status !== "active" || current.replacedBy !== null || now >= expiryMs(current.expiresAt)) throw notRotatable(current);
      // Rotating hands out a key with the same expiry: the same rule as issuing one.
      await refuseOutlivingIssuer(tx, ctx, current.accountId, current.expiresAt);
      const graceEnd = Math.min(now + b.grace_seconds * 1000, expiryMs(current.expiresAt));
      const { secret, prefix, hash } = generateKey();
      const replacement: NewApiKey = {
        accountId: current.accountId,
        name: current.name,
        prefix,
        hash,
        scopes: current.scopes,
        expiresAt: current.expiresAt,
        models: current.models,
        limits: current.limits,
      };
      let rotated: { old: ApiKey; replacement: ApiKey };
      try {
        rotated = await tx.apiKeys.rotate(id, replacement, new Date(graceEnd).toISOString());
      } catch (error) {
        // Lost a race with another rotation or a revocation.
        if (error instanceof StoreError && error.code === "conflict") throw notRotatable(current);
        throw error;
      }
      const event: AuditEvent = {
        action: "api_key.rotate",
        target: { type: "api_key", id },
        before: apiKeyView(current),
        after: { ...apiKeyView(rotated.old), replacement: apiKeyView(rotated.replacement) },
      };
      return { result: { key: rotated.replacement, secret, old: rotated.old }, event };
    });
  }

  /** The key, if the actor may reach its account; otherwise the missing-id error. */
  async #reachableKey(tx: Repos, ctx: AdminContext, id: string): Promise<ApiKey> {
    const key = await tx.apiKeys.get(id);
    if (!key || !(await reaches(tx, ctx, key.accountId))) throw notFound("api_key", id);
    return key;
  }

  async revokeApiKey(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<void> {
    return this.#write(ctx, async (tx) => {
      const current = await this.#reachableKey(tx, ctx, id);
      await tx.apiKeys.revoke(id);
      const after = apiKeyView({ ...current, status: "revoked" });
      return { result: undefined, event: { action: "api_key.revoke", target: { type: "api_key", id }, before: apiKeyView(current), after } };
    });
  }

  // Upstreams: gateway-wide ones (no owner) are root's; an owned one is administered by
  // whoever administers its owner account (authorize.ts). Anything else is not found.

  async listUpstreams(ctx: AdminContext = ROOT_CONTEXT): Promise<Upstream[]> {
    const all = await this.#store.upstreams.list();
    // One question per distinct owner (owners are few next to accounts), not per upstream.
    const allowed = new Map<string | null, boolean>();
    for (const owner of new Set(all.map((u) => u.ownerAccountId))) allowed.set(owner, await mayAdminister(this.#store, ctx, owner));
    return all.filter((u) => allowed.get(u.ownerAccountId));
  }

  async getUpstream(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<Upstream> {
    return administeredUpstream(this.#store, ctx, id);
  }

  /**
   * Body: `{name, protocol, base_url, models, owner_account_id?, enabled?, account_id?, timeout_ms?, prompt_cache_key?, forward_headers?, realtime?, preset?}`;
   * a preset fills what is omitted. `owner_account_id` makes the upstream serve that account's subtree only;
   * a manage key's upstreams are owned by its own account unless it names one below it.
   */
  async createUpstream(body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<Upstream> {
    const b = parse(schemas.createUpstream, presetFilled(body));
    const settings: Record<string, unknown> = {};
    if (b.account_id) settings.account_id = b.account_id;
    if (b.oauth) settings.oauth = b.oauth;
    if (b.timeout_ms) settings.timeout_ms = b.timeout_ms;
    if (b.prompt_cache_key !== undefined) settings.prompt_cache_key = b.prompt_cache_key;
    if (b.forward_headers !== undefined) settings.forward_headers = b.forward_headers;
    if (b.realtime !== undefined) settings.realtime = b.realtime;
    const actor = ctx.actor;
    const owner = b.owner_account_id !== undefined ? b.owner_account_id : actor.type === "api_key" ? actor.accountId : null;
    if (owner === null && actor.type === "api_key") {
      throw new GatewayError(
        "invalid_request",
        "invalid_field",
        "owner_account_id: an admin key creates upstreams for its own account or one below it, not gateway-wide ones.",
        {
          param: "owner_account_id",
        },
      );
    }
    return this.#write(ctx, async (tx) => {
      if (owner !== null && (!(await tx.accounts.get(owner)) || !(await mayAdminister(tx, ctx, owner)))) {
        throwNotFound("account", owner, "owner_account_id");
      }
      const u = await tx.upstreams.create({
        name: b.name,
        ownerAccountId: owner,
        protocol: b.protocol,
        baseUrl: b.base_url,
        models: b.models,
        enabled: b.enabled,
        settings,
      });
      return { result: u, event: { action: "upstream.create", target: { type: "upstream", id: u.id }, before: null, after: upstreamView(u) } };
    });
  }

  /** Body: any field of createUpstream but `name` and `owner_account_id`; `null` clears `account_id`, `timeout_ms`, `prompt_cache_key`, `forward_headers` and `realtime`. */
  async updateUpstream(id: string, body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<Upstream> {
    const b = parse(schemas.updateUpstream, body);
    return this.#write(ctx, async (tx) => {
      const current = await administeredUpstream(tx, ctx, id);
      const settings = { ...current.settings };
      for (const f of ["account_id", "oauth", "timeout_ms", "prompt_cache_key", "forward_headers", "realtime"] as const) {
        if (b[f] === null) delete settings[f];
        else if (b[f] !== undefined) settings[f] = b[f];
      }
      const patch = { protocol: b.protocol, baseUrl: b.base_url, models: b.models, enabled: b.enabled, settings };
      const u = (await tx.upstreams.update(id, patch)) ?? throwNotFound("upstream", id);
      return { result: u, event: { action: "upstream.update", target: { type: "upstream", id }, before: upstreamView(current), after: upstreamView(u) } };
    });
  }

  /** Deletes the upstream with its keys. */
  async deleteUpstream(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<void> {
    return this.#write(ctx, async (tx) => {
      const current = await administeredUpstream(tx, ctx, id);
      await tx.upstreams.delete(id);
      return { result: undefined, event: { action: "upstream.delete", target: { type: "upstream", id }, before: upstreamView(current), after: null } };
    });
  }

  async listUpstreamKeys(upstreamId: string, ctx: AdminContext = ROOT_CONTEXT): Promise<UpstreamKey[]> {
    await this.getUpstream(upstreamId, ctx);
    return this.#store.upstreamKeys.listByUpstream(upstreamId);
  }

  /**
   * Body: `{name?, key}` or `{name?, codex_auth}` (a Codex CLI auth.json: a ChatGPT login the
   * gateway keeps fresh, docs/codex.md). The credential is stored sealed; only its fingerprint
   * (and, for a login, its account, plan and token expiry) is ever shown.
   */
  async addUpstreamKey(upstreamId: string, body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<UpstreamKey> {
    const b = parse(schemas.createUpstreamKey, body);
    const given = b.codex_auth === undefined ? undefined : parseCodexAuth(b.codex_auth);
    return this.#write(ctx, async (tx) => {
      const upstream = await administeredUpstream(tx, ctx, upstreamId);
      // A JSON `key` for a Codex upstream is a login too: checked the same way, rather than stored unreadable.
      const login = given ?? (upstream.protocol === "codex" && isCodexAuthSecret(b.key!) ? parseCodexAuth(b.key) : undefined);
      const secret = login ? serializeCodexAuth(login) : b.key!;
      const ciphertext = this.#secrets.seal(secret);
      // The file's key list wins at every start (config/bootstrap.ts): a key added here would silently go.
      if (upstream.settings.managed_by === "config") {
        throw new GatewayError(
          "invalid_request",
          "upstream_managed_by_config",
          `Upstream '${upstream.name}' is declared in the configuration file, which sets its keys at every start; add the key to its 'keys' there.`,
          { status: 409 },
        );
      }
      if (given && upstream.protocol !== "codex") {
        throw new GatewayError(
          "invalid_request",
          "codex_auth_needs_codex_upstream",
          `Upstream '${upstream.name}' speaks ${upstream.protocol}; a ChatGPT login serves only an upstream with protocol 'codex'.`,
          { status: 400, param: "codex_auth" },
        );
      }
      const k = await tx.upstreamKeys.create({
        upstreamId,
        name: b.name,
        ciphertext,
        fingerprint: fingerprint(login ? codexFingerprintMaterial(login) : secret),
        credentialMeta: login ? { ...codexTokenMeta(login) } : null,
      });
      return { result: k, event: { action: "upstream_key.create", target: { type: "upstream_key", id: k.id }, before: null, after: upstreamKeyView(k) } };
    });
  }

  async removeUpstreamKey(upstreamId: string, keyId: string, ctx: AdminContext = ROOT_CONTEXT): Promise<void> {
    return this.#write(ctx, async (tx) => {
      await administeredUpstream(tx, ctx, upstreamId);
      const current = await tx.upstreamKeys.get(keyId);
      if (!current || current.upstreamId !== upstreamId) throwNotFound("upstream_key", keyId);
      await tx.upstreamKeys.delete(keyId);
      const event: AuditEvent = { action: "upstream_key.delete", target: { type: "upstream_key", id: keyId }, before: upstreamKeyView(current), after: null };
      return { result: undefined, event };
    });
  }

  // Credits (credits.ts holds the money rules)

  /** Body: `{amount_micros, kind, expires_at?, idempotency_key?, note?}`. Root only. */
  async topUpCredit(accountId: string, body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<CreditMovement> {
    return this.#moveCredit("topup", accountId, parse(schemas.creditGrant, body), ctx);
  }

  /** Body as topUpCredit: from the account's parent to the account. */
  async grantCredit(accountId: string, body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<CreditMovement> {
    return this.#moveCredit("grant", accountId, parse(schemas.creditGrant, body), ctx);
  }

  /** Body: `{amount_micros, idempotency_key?, note?}`: from the account back to its parent. */
  async clawBackCredit(accountId: string, body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<CreditMovement> {
    return this.#moveCredit("clawback", accountId, parse(schemas.creditClawback, body), ctx);
  }

  async credits(accountId: string, ctx: AdminContext = ROOT_CONTEXT): Promise<CreditsView> {
    return readCredits(this.#store, accountId, ctx);
  }

  /** Query: `{limit?, cursor?}`, newest first. */
  async ledger(accountId: string, query: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<LedgerPageView> {
    return readLedger(this.#store, accountId, parse(schemas.ledgerQuery, query), ctx);
  }

  /** Usage of the account or its subtree over hourly rollups (docs/admin-api.md#usage). */
  async usage(accountId: string, query: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<UsageView> {
    return readAccountUsage(this.#store, accountId, parse(schemas.usageQuery, query), ctx);
  }

  /** Gateway-wide usage and cache-hit share per upstream key (root only). */
  async upstreamKeyUsage(query: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<UsageView> {
    return readUpstreamKeyUsage(this.#store, parse(schemas.upstreamKeyUsageQuery, query), ctx);
  }

  /** The whole audit trail, newest first (root only). */
  async auditLog(query: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<AuditPage> {
    return readAuditLog(this.#store, parse(schemas.auditQuery, query), ctx);
  }

  /** Audit records about the account and its subtree, newest first. */
  async accountAudit(accountId: string, query: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<AuditPage> {
    return readAccountAudit(this.#store, accountId, parse(schemas.auditQuery, query), ctx);
  }

  async #moveCredit(op: CreditOperation, accountId: string, body: Parameters<typeof moveCredit>[3], ctx: AdminContext): Promise<CreditMovement> {
    return this.#write(ctx, async (tx) => {
      const { movement, fresh } = await moveCredit(tx, op, accountId, body, ctx);
      // A replay changed nothing: no audit record, no change notification.
      return { result: movement, event: fresh ? creditEvent(movement) : null };
    });
  }

  /**
   * One transaction holding the change and its audit record, then one change
   * notification. A change that turned out to change nothing (event null) skips both.
   */
  async #write<T>(ctx: AdminContext, change: (tx: Repos) => Promise<{ result: T; event: AuditEvent | null }>): Promise<T> {
    let result: T;
    let event: AuditEvent | null = null;
    try {
      result = await this.#store.transaction(async (tx) => {
        const done = await change(tx);
        if (done.event) await this.#audit.record(tx, done.event, ctx);
        event = done.event;
        return done.result;
      });
    } catch (error) {
      throw error instanceof StoreError ? fromStoreError(error) : error;
    }
    if (event === null) return result;
    try {
      await this.#onChange(event);
    } catch (error) {
      throw new GatewayError(
        "internal",
        "change_not_applied",
        `The change was saved, but this gateway could not apply it yet (${(error as Error).message}); it applies with the next successful reload.`,
      );
    }
    return result;
  }
}

function parse<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const param = issue.path.map(String).join(".");
    throw new GatewayError("invalid_request", "invalid_field", `${param || "body"}: ${issue.message}`, param ? { param } : {});
  }
  return r.data;
}

/** The body with its provider preset's defaults filled in (canonical/provider-presets.ts); an unknown preset is refused. */
function presetFilled(body: unknown): unknown {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return body;
  const filled = withPresetDefaults(body as Record<string, unknown>);
  if (typeof filled === "string") throw new GatewayError("invalid_request", "invalid_field", `preset: ${filled}`, { param: "preset" });
  return filled;
}

/** The upstream if it exists and the actor administers it; otherwise not found, the same answer either way. */
async function administeredUpstream(repos: Repos, ctx: AdminContext, id: string): Promise<Upstream> {
  const u = await repos.upstreams.get(id);
  if (!u || !(await mayAdminister(repos, ctx, u.ownerAccountId))) throwNotFound("upstream", id);
  return u;
}

function throwNotFound(what: AuditTarget, id: string, param?: string): never {
  throw notFound(what, id, param);
}

function parentRequired(): GatewayError {
  return new GatewayError("invalid_request", "parent_required", "A manage key creates and moves accounts only inside its own subtree: parent_id is required.", {
    param: "parent_id",
  });
}

function notRotatable(key: ApiKey): GatewayError {
  const why =
    key.status !== "active" ? "it is revoked" : key.replacedBy !== null ? `it was already rotated (rotate key '${key.replacedBy}')` : "it has expired";
  return new GatewayError("invalid_request", "key_not_rotatable", `API key '${key.id}' cannot be rotated: ${why}.`, { status: 409 });
}

function uniqueScopes<T extends string>(scopes: readonly T[]): T[] {
  return [...new Set(scopes)];
}

/**
 * A manage key issuing (or rotating) a key of its own account hands out its own power:
 * that key may not outlive the issuer, or a short-lived key could make itself permanent.
 */
async function refuseOutlivingIssuer(tx: Repos, ctx: AdminContext, accountId: string, expiresAt: string | null): Promise<void> {
  if (ctx.actor.type !== "api_key" || ctx.actor.accountId !== accountId) return;
  const issuer = await tx.apiKeys.get(ctx.actor.keyId);
  const issuerEnd = issuer ? expiryMs(issuer.expiresAt) : -Infinity;
  if (issuerEnd === Infinity || (expiresAt !== null && Date.parse(expiresAt) <= issuerEnd)) return;
  throw new GatewayError(
    "permission",
    "key_outlives_issuer",
    `A manage key may not hand out a key of its own account that outlives it: the key would expire ${expiresAt ?? "never"}, the manage key ${issuer?.expiresAt ?? "already"}.`,
    { param: "expires_at" },
  );
}

const STORE_ERRORS: Record<StoreError["code"], { kind: GatewayError["kind"]; status?: number }> = {
  conflict: { kind: "invalid_request", status: 409 },
  not_found: { kind: "not_found" },
  has_children: { kind: "invalid_request", status: 409 },
  cycle: { kind: "invalid_request" },
  invalid: { kind: "invalid_request" },
};

function fromStoreError(error: StoreError): GatewayError {
  const e = STORE_ERRORS[error.code];
  return new GatewayError(e.kind, error.code, error.message, e.status ? { status: e.status } : {});
}

/** The policy fields a body sets, over `base`: a field the body names replaces base's, `null` removes it (inherit). */
function policyFromBody(base: Policy, body: Partial<Record<keyof Policy, unknown>>): Policy {
  const policy: Record<string, unknown> = { ...base };
  for (const f of POLICY_FIELDS) {
    const v = body[f];
    if (v === null) delete policy[f];
    else if (v !== undefined) policy[f] = v;
  }
  return policy as Policy;
}

/** An account and its ancestors, nearest first; empty for no account (above a primary account). */
async function chainOf(tx: Repos, id: string | null): Promise<Account[]> {
  if (id === null) return [];
  const account = await tx.accounts.get(id);
  return account ? [account, ...(await tx.accounts.ancestors(id))] : [];
}

/** The effective policy at the first account of a chain (nearest first), each value remembering which account set it. */
function foldChain(chain: readonly Account[]): EffectivePolicy {
  return foldPolicies(chain.map((a) => ({ accountId: a.id, policy: policyOf(a.settings).policy })));
}

/** `account 'name' (id)` for the account that set a bound; the gateway for its own defaults. */
function setByText(chain: readonly Account[], setBy: string | null): string {
  if (setBy === null) return "the gateway's default";
  const a = chain.find((x) => x.id === setBy);
  return a ? `account '${a.name}' (${a.id})` : "an ancestor";
}

/**
 * Refuses a policy that reaches beyond the parent's effective one (the chain above the
 * account, nearest first): `400 exceeds_parent`, naming each field, the value asked for,
 * the bound it exceeds and the ancestor that set it. With `previous`, values the account
 * already had are not held against it (only what the write changes is judged).
 */
function refuseWiderThanParent(chain: readonly Account[], parentPolicy: EffectivePolicy, policy: Policy, previous?: Policy): void {
  const violations = checkWithinParent(parentPolicy, policy).filter((v) => !previous || !unchanged(previous, policy, v));
  if (violations.length === 0) return;
  const lines = violations.map((v) => `${violationParam(v)}: ${v.message}, set by ${setByText(chain, v.setBy)}`);
  throw new GatewayError("invalid_request", "exceeds_parent", `The policy reaches beyond what an ancestor allows: ${lines.join("; ")}.`, {
    param: violationParam(violations[0]!),
  });
}

/** Whether the write leaves the violating value as it was (a mapping counts as changed when the lists it is judged against change). */
function unchanged(previous: Policy, next: Policy, v: PolicyViolation): boolean {
  const [field, ...rest] = v.path;
  if (field === "model_map" && (!sameJson(previous.models, next.models) || !sameJson(previous.deny_models, next.deny_models))) return false;
  if (LIST_FIELDS.has(field)) return ((previous[field] ?? []) as unknown[]).includes(v.value);
  let value: unknown = previous[field];
  for (const key of rest) value = value !== null && typeof value === "object" ? (value as Record<string | number, unknown>)[key] : undefined;
  return value === v.value;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Refuses a policy change to `account` that would leave a sub-account's list (models,
 * mappings, addresses, origins, upstreams) allowing what its parent no longer does.
 * Numeric bounds never strand anyone: the fold takes the tighter value, so lowering a
 * parent's limit takes effect on the whole subtree without rewriting it. Only
 * sub-accounts the change puts out of bounds count: one already beyond its parent before
 * (stored by the YAML bootstrap, say) is no reason to refuse an unrelated change; the fold
 * keeps it within bounds either way.
 */
async function refuseStrandedChildren(tx: Repos, account: Account, before: EffectivePolicy, after: EffectivePolicy): Promise<void> {
  const descendants = await tx.accounts.descendants(account.id);
  if (descendants.length === 0) return;
  const beyondBefore = outOfBounds(account.id, before, descendants);
  const stranded = [...outOfBounds(account.id, after, descendants)].filter(([id]) => !beyondBefore.has(id)).map(([, s]) => s);
  if (stranded.length === 0) return;
  throw new GatewayError(
    "invalid_request",
    "children_outside_policy",
    `Sub-accounts would allow what '${account.name}' no longer allows; narrow them first: ${stranded.map((s) => s.line).join("; ")}.`,
    { status: 409, param: stranded[0]!.param },
  );
}

/** Descendants (listed parents before children) whose own lists reach beyond their parent's effective policy, with a line saying how. */
function outOfBounds(rootId: string, rootPolicy: EffectivePolicy, descendants: readonly Account[]): Map<string, { line: string; param: string }> {
  const effective = new Map<string, EffectivePolicy>([[rootId, rootPolicy]]);
  const beyond = new Map<string, { line: string; param: string }>();
  for (const d of descendants) {
    const parentPolicy = effective.get(d.parentId ?? "") ?? UNRESTRICTED;
    const own = policyOf(d.settings).policy;
    const violations = checkWithinParent(parentPolicy, own).filter((v) => LIST_FIELDS.has(v.path[0]));
    if (violations.length > 0) {
      beyond.set(d.id, {
        line: `'${d.name}' (${violations.map((v) => `${violationParam(v)}: ${String(v.value)}`).join(", ")})`,
        param: violationParam(violations[0]!),
      });
    }
    effective.set(d.id, narrow(parentPolicy, own, d.id));
  }
  return beyond;
}
