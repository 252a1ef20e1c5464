/**
 * Who may call the gateway: every active API key, indexed by its lookup prefix, with
 * its account, the account's chain and the chain's folded policy. The data plane
 * authenticates and admits from this in-memory snapshot and never touches the
 * database per request. Built from the store at start and rebuilt after every admin
 * write (and, in a cluster, on a change notification); a rebuild swaps the whole
 * snapshot at once, so a request sees one consistent version.
 */
import { SnapshotHolder } from "../canonical/snapshot-holder.js";
import type { Account, AccountRepo, ApiKeyRepo, ApiKeyScope, KeyLimits } from "../storage/ports.js";
import type { Logger } from "../observability/logger.js";
import { hashKey, hashesEqual, keyPrefix } from "./api-keys.js";
import { allowsModel, narrow, policyOf, UNRESTRICTED, type EffectivePolicy } from "./policy.js";
import { expiryMs } from "./key-policy.js";

export interface Principal {
  readonly apiKeyId: string;
  readonly apiKeyName: string;
  readonly keyHash: string;
  readonly account: Account;
  /** The account and its ancestors, nearest first: every one's status and rules apply. */
  readonly chain: readonly Account[];
  /** The chain's policies folded into what this key may do, the key's own models last. */
  readonly policy: EffectivePolicy;
  /** What the key may be used for; the data plane needs `inference`. */
  readonly scopes: readonly ApiKeyScope[];
  /** When the key stops working (ms since the epoch; Infinity = never): checked per request by a number compare. */
  readonly expiresAtMs: number;
  /** The key's own limits (enforced by the limits checks), null = none beyond the account's. */
  readonly keyLimits: KeyLimits | null;
}

export interface PrincipalsSnapshot {
  readonly byPrefix: ReadonlyMap<string, Principal>;
  /** Counts rebuilds, starting at 1. */
  readonly version: number;
}

/** What the snapshot is built from: read access to accounts and keys. */
export interface PrincipalSource {
  readonly accounts: Pick<AccountRepo, "list">;
  readonly apiKeys: Pick<ApiKeyRepo, "listActive">;
}

/** The principal a presented secret belongs to, or undefined: a prefix lookup, then a constant-time hash comparison. */
export function verifyKey(snapshot: PrincipalsSnapshot, secret: string): Principal | undefined {
  const hash = hashKey(secret);
  const principal = snapshot.byPrefix.get(keyPrefix(secret, hash));
  return principal && hashesEqual(principal.keyHash, hash) ? principal : undefined;
}

export function modelAllowed(p: Principal, model: string): boolean {
  return allowsModel(p.policy, model);
}

export async function buildPrincipals(source: PrincipalSource, version: number, logger?: Pick<Logger, "warn">): Promise<PrincipalsSnapshot> {
  const [accounts, keys] = await Promise.all([source.accounts.list(), source.apiKeys.listActive()]);
  const byId = new Map(accounts.map((a) => [a.id, a]));
  const folded = new Map<string, { chain: Account[]; policy: EffectivePolicy }>();

  // Each account is folded once, on top of its parent's result, however many keys it has.
  const resolve = (account: Account): { chain: Account[]; policy: EffectivePolicy } => {
    const done = folded.get(account.id);
    if (done) return done;
    // Root first, so each account narrows an already-folded parent; `seen` stops a
    // damaged parent link from looping.
    const path: Account[] = [];
    const seen = new Set<string>();
    for (let cur: Account | undefined = account; cur && !folded.has(cur.id) && !seen.has(cur.id); cur = cur.parentId ? byId.get(cur.parentId) : undefined) {
      seen.add(cur.id);
      path.push(cur);
    }
    let above = path.length > 0 && path[path.length - 1]!.parentId ? folded.get(path[path.length - 1]!.parentId!) : undefined;
    for (let i = path.length - 1; i >= 0; i--) {
      const a = path[i]!;
      const { policy: own, problem } = policyOf(a.settings);
      if (problem)
        logger?.warn({ accountId: a.id, account: a.name, problem }, "account policy does not parse; the account and its sub-accounts may use no model");
      const entry = { chain: [a, ...(above?.chain ?? [])], policy: narrow(above?.policy ?? UNRESTRICTED, own, a.id) };
      folded.set(a.id, entry);
      above = entry;
    }
    return folded.get(account.id)!;
  };

  const byPrefix = new Map<string, Principal>();
  for (const k of keys) {
    const account = byId.get(k.accountId);
    if (!account) continue;
    const { chain, policy } = resolve(account);
    // The key is the chain's last link: its own models narrow the account's (and the fold keeps it within them).
    const keyPolicy = k.models ? narrow(policy, { models: k.models }) : policy;
    byPrefix.set(k.prefix, {
      apiKeyId: k.id,
      apiKeyName: k.name,
      keyHash: k.hash,
      account,
      chain,
      policy: keyPolicy,
      scopes: k.scopes,
      expiresAtMs: expiryMs(k.expiresAt),
      keyLimits: k.limits,
    });
  }
  return { byPrefix, version };
}

/** Holds the current principals snapshot and swaps it whole on reload. */
export class Principals extends SnapshotHolder<PrincipalsSnapshot> {
  static async load(source: PrincipalSource, logger?: Pick<Logger, "warn">): Promise<Principals> {
    return new Principals(await buildPrincipals(source, 1, logger), (version) => buildPrincipals(source, version, logger));
  }
}
