/**
 * Who may do what on the admin API.
 *
 * Authentication: `Authorization: Bearer <x>` is the root admin token, or an API key
 * with the `manage` scope that is active, unexpired, and whose account and ancestors are
 * all active. Such a key acts as `{type: "api_key", keyId, accountId}`.
 *
 * Authorization (enforced by the admin service, so the HTTP routes, the CLI and any
 * in-process caller get the same answers): the root token, the CLI and the YAML
 * bootstrap manage everything. A manage key of account X reaches X's subtree only:
 *
 * - it reads X and every descendant (and X's ancestors never: `ancestors` stops at X);
 * - it creates, changes, suspends, resumes, moves and deletes X's descendants, a move
 *   staying inside the subtree (the moved account and the new parent both in it);
 * - it lists, issues, revokes and rotates the keys of X and of every descendant;
 * - X itself is read-only to it (`own_account_read_only`): it can neither widen X's
 *   policy nor touch X's status or parent; an administrator above X can;
 * - anything outside the subtree answers exactly as a missing id does (404, same body),
 *   so a key learns nothing about accounts it may not see;
 * - it administers the upstreams its subtree owns (`mayAdminister`); gateway-wide
 *   resources (upstreams without an owner, explain, the whole audit log) look absent.
 */
import { GatewayError } from "../canonical/errors.js";
import { hashKey, hashesEqual, keyPrefix } from "../governance/api-keys.js";
import { expiryMs } from "../governance/key-policy.js";
import type { Account, Repos } from "../storage/ports.js";
import type { AdminActor, AdminContext } from "./context.js";

/** The actor a presented non-root bearer token stands for, or a refusal with a stable code. One prefix lookup; the admin API is not the hot path. */
export async function actorForKey(store: Pick<Repos, "apiKeys" | "accounts">, secret: string, now: number): Promise<AdminActor> {
  const hash = hashKey(secret);
  const key = await store.apiKeys.getByPrefix(keyPrefix(secret, hash));
  // A revoked key reads as unknown, like on the data plane.
  if (!key || key.status !== "active" || !hashesEqual(key.hash, hash)) throw invalidToken();
  if (now >= expiryMs(key.expiresAt)) throw new GatewayError("authentication", "api_key_expired", "This API key has expired.");
  if (!key.scopes.includes("manage")) {
    throw new GatewayError(
      "permission",
      "key_scope_inference_only",
      "This API key has only the 'inference' scope; the admin API needs a key with the 'manage' scope.",
    );
  }
  const chain = [await store.accounts.get(key.accountId), ...(await store.accounts.ancestors(key.accountId))];
  if (chain.some((a) => !a || a.status !== "active")) {
    throw new GatewayError("permission", "account_disabled", "The key's account, or one of its ancestors, is suspended.");
  }
  return { type: "api_key", keyId: key.id, accountId: key.accountId };
}

export function invalidToken(): GatewayError {
  return new GatewayError(
    "authentication",
    "invalid_admin_token",
    "A valid admin token or manage-scoped API key is required: 'Authorization: Bearer <token>'.",
  );
}

/** The account a manage key administers, or undefined when the actor manages everything. */
export function subtreeRoot(ctx: AdminContext): string | undefined {
  return ctx.actor.type === "api_key" ? ctx.actor.accountId : undefined;
}

/** Whether the actor may see `accountId` (in its subtree, its own account included). */
export async function reaches(store: Pick<Repos, "accounts">, ctx: AdminContext, accountId: string): Promise<boolean> {
  const root = subtreeRoot(ctx);
  return root === undefined || (await store.accounts.depthBelow(root, accountId)) !== undefined;
}

/** The actor's answer for something it may not see: the same error a missing id gets. */
export function notFound(what: "account" | "api_key" | "upstream" | "upstream_key", id: string, param?: string): GatewayError {
  return new GatewayError("not_found", `${what}_not_found`, `No ${what.replace("_", " ")} with id '${id}'.`, param ? { param } : {});
}

/** The account, if the actor may read it; otherwise the missing-id error. */
export async function readableAccount(store: Pick<Repos, "accounts">, ctx: AdminContext, id: string, param?: string): Promise<Account> {
  const account = (await reaches(store, ctx, id)) ? await store.accounts.get(id) : undefined;
  if (!account) throw notFound("account", id, param);
  return account;
}

/** The account, if the actor may change it: a strict descendant of a manage key's account; its own account is read-only. */
export async function manageableAccount(store: Pick<Repos, "accounts">, ctx: AdminContext, id: string): Promise<Account> {
  const account = await readableAccount(store, ctx, id);
  if (subtreeRoot(ctx) === id) {
    throw new GatewayError(
      "permission",
      "own_account_read_only",
      `A manage key of account '${account.name}' may read it and manage its keys, but not change, suspend, move or delete it.`,
    );
  }
  return account;
}

/**
 * Whether the actor may administer what belongs to `accountId` (an owned upstream, say):
 * a manage key its own account's and its descendants'; `null` names a gateway-wide
 * resource, which only root-like actors administer.
 */
export async function mayAdminister(store: Pick<Repos, "accounts">, ctx: AdminContext, accountId: string | null): Promise<boolean> {
  if (ctx.actor.type !== "api_key") return true;
  return accountId !== null && (await reaches(store, ctx, accountId));
}
