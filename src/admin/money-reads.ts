/**
 * Reads behind the credit and audit routes: balances and grants, the ledger, and the
 * audit trail (whole, for the root; an account's subtree, for whoever may see the
 * account). Pages are newest first; `next_cursor` (null on the last page) is passed
 * back as `cursor` for the next one.
 */
import { GatewayError } from "../canonical/errors.js";
import type { AuditRecord, CreditGrant, LedgerEntry, Repos } from "../storage/ports.js";
import type { AdminContext } from "./context.js";
import { isRoot, visibleAccount } from "./credits.js";
import type * as schemas from "./schemas.js";
import type { z } from "zod";

export interface CreditsView {
  balance_micros: number;
  grants: Record<string, unknown>[];
}

export interface LedgerPageView {
  data: Record<string, unknown>[];
  next_cursor: string | null;
}

export type AuditPage = LedgerPageView;

export function grantView(g: CreditGrant): Record<string, unknown> {
  return {
    id: g.id,
    kind: g.kind,
    amount_micros: g.amountMicros,
    remaining_micros: g.remainingMicros,
    expires_at: g.expiresAt,
    source_account_id: g.sourceAccountId,
    entry_id: g.entryId,
    created_at: g.createdAt,
  };
}

export function ledgerEntryView(e: LedgerEntry): Record<string, unknown> {
  return {
    id: e.id,
    account_id: e.accountId,
    seq: e.accountSeq,
    type: e.type,
    kind: e.creditKind,
    amount_micros: e.amountMicros,
    balance_after_micros: e.balanceAfterMicros,
    reference: e.reference,
    expires_at: e.expiresAt,
    actor: e.actor,
    counterparty_account_id: e.metadata.counterparty_account_id ?? null,
    note: e.metadata.note ?? null,
    created_at: e.createdAt,
  };
}

export function auditRecordView(r: AuditRecord): Record<string, unknown> {
  return {
    seq: r.seq,
    actor: r.actor,
    action: r.action,
    target_type: r.targetType,
    target_id: r.targetId,
    before: r.before === null ? null : (JSON.parse(r.before) as unknown),
    after: r.after === null ? null : (JSON.parse(r.after) as unknown),
    ip: r.ip,
    request_id: r.requestId,
    created_at: r.createdAt,
    prev_hash: r.prevHash,
    hash: r.hash,
  };
}

export async function readCredits(store: Repos, accountId: string, ctx: AdminContext): Promise<CreditsView> {
  await visibleAccount(store, ctx, accountId);
  const [balance, grants] = await Promise.all([store.ledger.balance(accountId), store.ledger.grants(accountId)]);
  return { balance_micros: balance, grants: grants.map(grantView) };
}

export async function readLedger(store: Repos, accountId: string, q: z.output<typeof schemas.ledgerQuery>, ctx: AdminContext): Promise<LedgerPageView> {
  await visibleAccount(store, ctx, accountId);
  const rows = await store.ledger.entries(accountId, { limit: q.limit, ...(q.cursor === undefined ? {} : { beforeSeq: q.cursor }) });
  return { data: rows.map(ledgerEntryView), next_cursor: rows.length === q.limit ? String(rows.at(-1)!.accountSeq) : null };
}

export async function readAuditLog(store: Repos, q: z.output<typeof schemas.auditQuery>, ctx: AdminContext): Promise<AuditPage> {
  if (!isRoot(ctx.actor)) {
    throw new GatewayError(
      "permission",
      "root_only",
      "Only the root admin token reads the whole audit log; a manage key reads its subtree's at /accounts/{id}/audit.",
    );
  }
  return auditPage(store, q, undefined);
}

export async function readAccountAudit(store: Repos, accountId: string, q: z.output<typeof schemas.auditQuery>, ctx: AdminContext): Promise<AuditPage> {
  await visibleAccount(store, ctx, accountId);
  return auditPage(store, q, accountId);
}

async function auditPage(store: Repos, q: z.output<typeof schemas.auditQuery>, scopeAccountId: string | undefined): Promise<AuditPage> {
  const rows = await store.audit.list({
    limit: q.limit,
    ...(q.cursor === undefined ? {} : { beforeSeq: q.cursor }),
    ...(q.target_type === undefined ? {} : { targetType: q.target_type }),
    ...(q.target_id === undefined ? {} : { targetId: q.target_id }),
    ...(q.action === undefined ? {} : { action: q.action }),
    ...(q.actor === undefined ? {} : { actor: q.actor }),
    ...(q.since === undefined ? {} : { since: new Date(q.since).toISOString() }),
    ...(q.until === undefined ? {} : { until: new Date(q.until).toISOString() }),
    ...(scopeAccountId === undefined ? {} : { scopeAccountId }),
  });
  return { data: rows.map(auditRecordView), next_cursor: rows.length === q.limit ? String(rows.at(-1)!.seq) : null };
}
