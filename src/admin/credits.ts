/**
 * Credit operations of the admin API: the money rules between the routes and the
 * ledger (storage LedgerRepo). Amounts are integer micro-units.
 *
 * - A top-up creates credit out of nothing, so only the root (the admin token, the
 *   operator CLI, the YAML file) may make one, on any account.
 * - A grant moves credit from an account's parent to the account, in one transaction;
 *   the parent must hold that much unspent and unexpired credit beyond its debt (which
 *   that credit repays first). A primary account has
 *   no parent: it only receives top-ups.
 * - A clawback moves unspent, unexpired credit from an account back to its parent; more
 *   than the account holds beyond its debt is refused, never partly done.
 * - Whoever may administer the account may grant to it or claw back from it: the root,
 *   or (once manage keys exist) a key of an account above it. A key never moves credit
 *   into or out of its own account.
 * - An idempotency key makes a call safe to repeat: the second call returns the first
 *   result (same ids, same amounts) and writes nothing, not even an audit record; the
 *   same key with a different operation or amount is refused.
 */
import { GatewayError } from "../canonical/errors.js";
import type { Account, CreditMovement, CreditMovementInput, Repos } from "../storage/ports.js";
import { actorLabel, type AdminActor, type AdminContext } from "./context.js";
import type * as schemas from "./schemas.js";
import type { z } from "zod";

/** What the actor may do on an account: `all` (root), `self` (its own account), `below` (a descendant of its account), or `none`. */
export type Reach = "all" | "self" | "below" | "none";

/** How far `actor` reaches to `accountId`: root, CLI and YAML reach everything; a manage key its own account (read only, for money) and every account below it (authorize.ts). */
export async function accountReach(tx: Pick<Repos, "accounts">, actor: AdminActor, accountId: string): Promise<Reach> {
  if (actor.type !== "api_key") return "all";
  const depth = await tx.accounts.depthBelow(actor.accountId, accountId);
  return depth === undefined ? "none" : depth === 0 ? "self" : "below";
}

/** Whether the actor creates credit from nothing: only the root may. */
export function isRoot(actor: AdminActor): boolean {
  return actor.type === "root" || actor.type === "cli" || actor.type === "config";
}

/** The account, if the actor may read it; otherwise 404 as if it did not exist. */
export async function visibleAccount(tx: Repos, ctx: AdminContext, id: string): Promise<Account> {
  return (await reachableAccount(tx, ctx, id)).account;
}

async function reachableAccount(tx: Repos, ctx: AdminContext, id: string): Promise<{ account: Account; reach: Reach }> {
  const account = await tx.accounts.get(id);
  const reach = account ? await accountReach(tx, ctx.actor, id) : "none";
  if (!account || reach === "none") throw new GatewayError("not_found", "account_not_found", `No account with id '${id}'.`);
  return { account, reach };
}

export type CreditOperation = "topup" | "grant" | "clawback";

export interface CreditChange {
  movement: CreditMovement;
  /** False when an idempotency key replayed an earlier movement. */
  fresh: boolean;
}

/** Runs one credit operation inside the caller's transaction, after the money rules. */
export async function moveCredit(
  tx: Repos,
  op: CreditOperation,
  accountId: string,
  body: z.output<typeof schemas.creditGrant> | z.output<typeof schemas.creditClawback>,
  ctx: AdminContext,
  now = new Date().toISOString(),
): Promise<CreditChange> {
  const { account, reach } = await reachableAccount(tx, ctx, accountId);
  if (op === "topup" && !isRoot(ctx.actor)) {
    throw new GatewayError("permission", "root_only", "Only the root admin token may top up credit; a parent account grants from its own balance instead.");
  }
  if (reach === "self") {
    throw new GatewayError(
      "permission",
      "credit_not_permitted",
      `A manage key moves credit only into and out of accounts below its own, not '${account.name}' itself.`,
    );
  }
  if (op !== "topup" && account.parentId === null) {
    throw new GatewayError(
      "invalid_request",
      "no_parent_account",
      `Account '${account.name}' is a primary account: it has no parent to ${op === "grant" ? "grant from" : "return credit to"}; the root tops it up instead.`,
    );
  }
  const requestedExpiry = "expires_at" in body ? body.expires_at : undefined;
  const expiresAt = requestedExpiry === undefined ? null : new Date(requestedExpiry).toISOString();
  if (expiresAt !== null && expiresAt <= now) {
    throw new GatewayError("invalid_request", "invalid_field", `expires_at: ${requestedExpiry} is not in the future`, { param: "expires_at" });
  }
  const input: CreditMovementInput = {
    type: op,
    accountId,
    counterpartyId: op === "topup" ? null : account.parentId,
    amountMicros: body.amount_micros,
    ...("kind" in body ? { kind: body.kind } : {}),
    expiresAt,
    ...(body.idempotency_key === undefined ? {} : { idempotencyKey: body.idempotency_key }),
    actor: actorLabel(ctx.actor),
    note: body.note ?? null,
    now,
  };
  const result = await tx.ledger.move(input);
  if (result.status === "insufficient") {
    const payer = op === "grant" ? `parent account (${account.parentId})` : `account '${account.name}'`;
    throw new GatewayError(
      "invalid_request",
      "insufficient_balance",
      `The ${payer} has ${result.availableMicros} micro-units of unspent, unexpired credit (less any debt); ${body.amount_micros} were requested.`,
      { status: 409, param: "amount_micros" },
    );
  }
  if (result.status === "empty") throw new Error("a top-up, grant or clawback cannot be empty");
  if (result.status === "replayed") {
    const m = result.movement;
    const same = m.type === op && m.amountMicros === body.amount_micros && (!("kind" in body) || m.kind === body.kind);
    if (!same) {
      throw new GatewayError(
        "invalid_request",
        "idempotency_key_reused",
        `Idempotency key '${body.idempotency_key}' was used on this account for a ${m.type} of ${m.amountMicros} micro-units; use a new key for a different operation.`,
        { status: 409, param: "idempotency_key" },
      );
    }
  }
  return { movement: result.movement, fresh: result.status === "done" };
}

/**
 * Settles the credit of an account about to be deleted, inside the delete's transaction
 * (call it before the account row goes): its unspent, unexpired credit returns to its
 * parent (grants of the same kinds and expiries), and whatever else it holds (expired
 * credit; a primary account's whole balance, having no parent) is written off with an
 * `adjustment` row, so its balance ends at 0 and the ledger still sums. Returns the
 * movement, or undefined when the account held nothing.
 */
export async function releaseBalanceOnDelete(tx: Repos, account: Account, ctx: AdminContext): Promise<CreditMovement | undefined> {
  const result = await tx.ledger.move({
    type: "release",
    accountId: account.id,
    counterpartyId: account.parentId,
    amountMicros: 0,
    actor: actorLabel(ctx.actor),
    note: `account '${account.name}' deleted`,
  });
  return result.status === "done" ? result.movement : undefined;
}

/** A movement as the admin API shows it. */
export function creditMovementView(m: CreditMovement): Record<string, unknown> {
  return {
    id: m.id,
    type: m.type,
    account_id: m.accountId,
    counterparty_account_id: m.counterpartyId,
    amount_micros: m.amountMicros,
    kind: m.kind,
    expires_at: m.expiresAt,
    balance_after_micros: m.balanceAfterMicros,
    counterparty_entry_id: m.counterpartyEntryId,
    counterparty_balance_after_micros: m.counterpartyBalanceAfterMicros,
    idempotency_key: m.idempotencyKey,
    note: m.note,
    actor: m.actor,
    created_at: m.createdAt,
  };
}

/**
 * The audit event of a movement (`credits.<type>` on the account): the balances before,
 * the movement after. Delete records its release with it, in the delete's transaction.
 */
export function creditEvent(m: CreditMovement): {
  action: `credits.${CreditMovement["type"]}`;
  target: { type: "account"; id: string };
  before: Record<string, unknown>;
  after: Record<string, unknown>;
} {
  return { action: `credits.${m.type}`, target: { type: "account", id: m.accountId }, before: balancesBefore(m), after: creditMovementView(m) };
}

/** The balances before a movement, for the audit record's `before`. */
function balancesBefore(m: CreditMovement): Record<string, unknown> {
  const sign = m.type === "topup" || m.type === "grant" ? 1 : -1;
  return {
    balance_micros: m.balanceAfterMicros - sign * m.amountMicros,
    ...(m.counterpartyBalanceAfterMicros === null ? {} : { counterparty_balance_micros: m.counterpartyBalanceAfterMicros + sign * m.amountMicros }),
  };
}
