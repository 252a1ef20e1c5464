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
import { ROOT_CONTEXT, type AdminContext } from "./context.js";
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
import { fingerprint } from "../governance/secrets.js";
import { StoreError, type Account, type ApiKey, type Repos, type Upstream, type UpstreamKey } from "../storage/ports.js";
import * as schemas from "./schemas.js";
import { accountView, apiKeyView, upstreamKeyView, upstreamView } from "./views.js";

export type AuditTarget = "account" | "api_key" | "upstream" | "upstream_key";

/** One admin change, as the audit trail will record it. */
export interface AuditEvent {
  /** `<target>.<verb>`, e.g. `account.update`, `api_key.revoke`. */
  readonly action: `${AuditTarget}.${"create" | "update" | "delete" | "revoke"}`;
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
}

export class AdminService {
  readonly #store: Repos;
  readonly #secrets: Sealer;
  readonly #onChange: (change: AuditEvent) => Promise<void>;
  readonly #audit: AuditSink;

  constructor(deps: AdminServiceDeps) {
    this.#store = deps.store;
    this.#secrets = deps.secrets;
    this.#onChange = deps.onChange;
    this.#audit = deps.audit ?? NO_AUDIT;
  }

  // Accounts

  async listAccounts(_ctx: AdminContext = ROOT_CONTEXT): Promise<Account[]> {
    return this.#store.accounts.list();
  }

  async getAccount(id: string, _ctx: AdminContext = ROOT_CONTEXT): Promise<Account> {
    return (await this.#store.accounts.get(id)) ?? throwNotFound("account", id);
  }

  async descendants(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<Account[]> {
    await this.getAccount(id, ctx);
    return this.#store.accounts.descendants(id);
  }

  /**
   * The account's effective policy (its own folded with every ancestor's), with the
   * chain it was folded from, nearest first, so every value can name who set it.
   */
  async effectivePolicy(id: string, _ctx: AdminContext = ROOT_CONTEXT): Promise<{ chain: Account[]; policy: EffectivePolicy }> {
    const account = (await this.#store.accounts.get(id)) ?? throwNotFound("account", id);
    const chain = [account, ...(await this.#store.accounts.ancestors(id))];
    return { chain, policy: foldChain(chain) };
  }

  /** Body: `{name, parent_id?, status?, ...policy fields}` (governance/policy.ts; schemas.ts lists them). */
  async createAccount(body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<Account> {
    const b = parse(schemas.createAccount, body);
    const policy = policyFromBody({}, b);
    return this.#write(ctx, async (tx) => {
      const parentId = b.parent_id ?? null;
      if (parentId !== null) {
        // The parent's chain stays as read until this transaction ends: a concurrent write
        // lowering an ancestor's bound waits for it, or it for that write.
        await tx.accounts.lockChains([parentId]);
        if (!(await tx.accounts.get(parentId))) throwNotFound("account", parentId, "parent_id");
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
      const moving = b.parent_id !== undefined;
      // Lock before reading, so the checks below judge the chain as it will be at commit.
      await tx.accounts.lockChains(moving && b.parent_id ? [id, b.parent_id] : [id]);
      const current = (await tx.accounts.get(id)) ?? throwNotFound("account", id);
      const parentId = moving ? (b.parent_id ?? null) : current.parentId;
      const moved = parentId !== current.parentId;
      if (moved && parentId !== null) {
        if (!(await tx.accounts.get(parentId))) throwNotFound("account", parentId, "parent_id");
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

  async deleteAccount(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<void> {
    return this.#write(ctx, async (tx) => {
      const current = (await tx.accounts.get(id)) ?? throwNotFound("account", id);
      await tx.accounts.delete(id);
      return { result: undefined, event: { action: "account.delete", target: { type: "account", id }, before: accountView(current), after: null } };
    });
  }

  // API keys

  async listApiKeys(accountId: string, ctx: AdminContext = ROOT_CONTEXT): Promise<ApiKey[]> {
    await this.getAccount(accountId, ctx);
    return this.#store.apiKeys.listByAccount(accountId);
  }

  /** Body: `{name?}`. Returns the secret, which is stored only as a hash and never available again. */
  async createApiKey(accountId: string, body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<{ key: ApiKey; secret: string }> {
    const b = parse(schemas.createApiKey, body);
    return this.#write(ctx, async (tx) => {
      if (!(await tx.accounts.get(accountId))) throwNotFound("account", accountId);
      const { secret, prefix, hash } = generateKey();
      const key = await tx.apiKeys.create({ accountId, name: b.name, prefix, hash });
      return { result: { key, secret }, event: { action: "api_key.create", target: { type: "api_key", id: key.id }, before: null, after: apiKeyView(key) } };
    });
  }

  async revokeApiKey(id: string, ctx: AdminContext = ROOT_CONTEXT): Promise<void> {
    return this.#write(ctx, async (tx) => {
      const current = (await tx.apiKeys.get(id)) ?? throwNotFound("api_key", id);
      await tx.apiKeys.revoke(id);
      const after = apiKeyView({ ...current, status: "revoked" });
      return { result: undefined, event: { action: "api_key.revoke", target: { type: "api_key", id }, before: apiKeyView(current), after } };
    });
  }

  // Upstreams

  async listUpstreams(_ctx: AdminContext = ROOT_CONTEXT): Promise<Upstream[]> {
    return this.#store.upstreams.list();
  }

  async getUpstream(id: string, _ctx: AdminContext = ROOT_CONTEXT): Promise<Upstream> {
    return (await this.#store.upstreams.get(id)) ?? throwNotFound("upstream", id);
  }

  /** Body: `{name, protocol, base_url, models, enabled?, account_id?, timeout_ms?, prompt_cache_key?, forward_headers?, preset?}`; a preset fills what is omitted. */
  async createUpstream(body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<Upstream> {
    const b = parse(schemas.createUpstream, presetFilled(body));
    const settings: Record<string, unknown> = {};
    if (b.account_id) settings.account_id = b.account_id;
    if (b.timeout_ms) settings.timeout_ms = b.timeout_ms;
    if (b.prompt_cache_key !== undefined) settings.prompt_cache_key = b.prompt_cache_key;
    if (b.forward_headers !== undefined) settings.forward_headers = b.forward_headers;
    return this.#write(ctx, async (tx) => {
      const u = await tx.upstreams.create({ name: b.name, protocol: b.protocol, baseUrl: b.base_url, models: b.models, enabled: b.enabled, settings });
      return { result: u, event: { action: "upstream.create", target: { type: "upstream", id: u.id }, before: null, after: upstreamView(u) } };
    });
  }

  /** Body: any field of createUpstream but `name`; `null` clears `account_id`, `timeout_ms`, `prompt_cache_key` and `forward_headers`. */
  async updateUpstream(id: string, body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<Upstream> {
    const b = parse(schemas.updateUpstream, body);
    return this.#write(ctx, async (tx) => {
      const current = (await tx.upstreams.get(id)) ?? throwNotFound("upstream", id);
      const settings = { ...current.settings };
      for (const f of ["account_id", "timeout_ms", "prompt_cache_key", "forward_headers"] as const) {
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
      const current = (await tx.upstreams.get(id)) ?? throwNotFound("upstream", id);
      await tx.upstreams.delete(id);
      return { result: undefined, event: { action: "upstream.delete", target: { type: "upstream", id }, before: upstreamView(current), after: null } };
    });
  }

  async listUpstreamKeys(upstreamId: string, ctx: AdminContext = ROOT_CONTEXT): Promise<UpstreamKey[]> {
    await this.getUpstream(upstreamId, ctx);
    return this.#store.upstreamKeys.listByUpstream(upstreamId);
  }

  /** Body: `{name?, key}`. The credential is stored sealed; only its fingerprint is ever shown. */
  async addUpstreamKey(upstreamId: string, body: unknown, ctx: AdminContext = ROOT_CONTEXT): Promise<UpstreamKey> {
    const b = parse(schemas.createUpstreamKey, body);
    const ciphertext = this.#secrets.seal(b.key);
    return this.#write(ctx, async (tx) => {
      const upstream = (await tx.upstreams.get(upstreamId)) ?? throwNotFound("upstream", upstreamId);
      // The file's key list wins at every start (config/bootstrap.ts): a key added here would silently go.
      if (upstream.settings.managed_by === "config") {
        throw new GatewayError(
          "invalid_request",
          "upstream_managed_by_config",
          `Upstream '${upstream.name}' is declared in the configuration file, which sets its keys at every start; add the key to its 'keys' there.`,
          { status: 409 },
        );
      }
      const k = await tx.upstreamKeys.create({ upstreamId, name: b.name, ciphertext, fingerprint: fingerprint(b.key) });
      return { result: k, event: { action: "upstream_key.create", target: { type: "upstream_key", id: k.id }, before: null, after: upstreamKeyView(k) } };
    });
  }

  async removeUpstreamKey(upstreamId: string, keyId: string, ctx: AdminContext = ROOT_CONTEXT): Promise<void> {
    return this.#write(ctx, async (tx) => {
      const current = await tx.upstreamKeys.get(keyId);
      if (!current || current.upstreamId !== upstreamId) throwNotFound("upstream_key", keyId);
      await tx.upstreamKeys.delete(keyId);
      const event: AuditEvent = { action: "upstream_key.delete", target: { type: "upstream_key", id: keyId }, before: upstreamKeyView(current), after: null };
      return { result: undefined, event };
    });
  }

  /** One transaction holding the change and its audit record, then one change notification. */
  async #write<T>(ctx: AdminContext, change: (tx: Repos) => Promise<{ result: T; event: AuditEvent }>): Promise<T> {
    let result: T;
    let event: AuditEvent;
    try {
      result = await this.#store.transaction(async (tx) => {
        const done = await change(tx);
        await this.#audit.record(tx, done.event, ctx);
        event = done.event;
        return done.result;
      });
    } catch (error) {
      throw error instanceof StoreError ? fromStoreError(error) : error;
    }
    try {
      await this.#onChange(event!);
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

function throwNotFound(what: AuditTarget, id: string, param?: string): never {
  throw new GatewayError("not_found", `${what}_not_found`, `No ${what.replace("_", " ")} with id '${id}'.`, param ? { param } : {});
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
