/**
 * Who may administer what, for the admin service. The root admin token, the YAML
 * bootstrap and operator commands run against the database administer everything; a
 * `manage` API key of account X administers X and X's descendants only. What a caller
 * may not administer answers exactly like what does not exist (404), so an admin key
 * learns nothing about other tenants.
 *
 * Answers come from the account closure table (`ancestors`, one index lookup at any
 * depth). A shared authorization helper can replace this module without the callers
 * changing: they ask one question, `mayAdminister(repos, ctx, accountId)`.
 */
import type { Repos } from "../storage/ports.js";
import type { AdminContext } from "./context.js";

/** Read access to the account tree, through a transaction or the store. */
export type AccountTree = Pick<Repos, "accounts">;

/** Whether the actor holds every power (root token, YAML bootstrap, CLI against the database). */
export function administersEverything(ctx: AdminContext): boolean {
  return ctx.actor.type !== "api_key";
}

/**
 * Whether the actor may administer resources belonging to `accountId`: root-like actors
 * always; a manage key when the account is its own or lies below it. `null` names
 * gateway-wide resources, which only root-like actors administer.
 */
export async function mayAdminister(repos: AccountTree, ctx: AdminContext, accountId: string | null): Promise<boolean> {
  const actor = ctx.actor;
  if (actor.type !== "api_key") return true;
  if (accountId === null) return false;
  if (accountId === actor.accountId) return true;
  return (await repos.accounts.ancestors(accountId)).some((a) => a.id === actor.accountId);
}
