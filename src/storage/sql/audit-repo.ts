import { sql, type Selectable } from "kysely";
import { AUDIT_GENESIS_HASH, type AuditFilter, type AuditRecord, type AuditRepo, type NewAuditRecord } from "../ports.js";
import type { AuditLogTable } from "./schema.js";
import { writeTransaction, type SqlContext } from "./sql-context.js";

function toRecord(row: Selectable<AuditLogTable>): AuditRecord {
  return {
    seq: Number(row.seq),
    actor: row.actor,
    action: row.action,
    targetType: row.target_type,
    targetId: row.target_id,
    before: row.before,
    after: row.after,
    ip: row.ip,
    requestId: row.request_id,
    createdAt: row.created_at,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/**
 * The audit chain. `seq` is the primary key, so two appends racing for one link cannot
 * both commit; on PostgreSQL appends also take turns on an advisory lock held to the
 * end of the enclosing transaction, so a concurrent append waits for the tail instead of
 * failing on the key. On SQLite the write transaction holds the only write lock.
 */
export class SqlAuditRepo implements AuditRepo {
  constructor(private readonly ctx: SqlContext) {}

  append(record: NewAuditRecord, scope: readonly string[], seal: (seq: number, prevHash: string) => string): Promise<AuditRecord> {
    return writeTransaction(this.ctx, async (trx) => {
      if (this.ctx.dialect === "postgres") {
        await sql`select pg_advisory_xact_lock(hashtext('switchyard.audit_log:' || current_schema()))`.execute(trx);
      }
      const tail = await trx.selectFrom("audit_log").select(["seq", "hash"]).orderBy("seq", "desc").limit(1).executeTakeFirst();
      const seq = tail ? Number(tail.seq) + 1 : 1;
      const prevHash = tail?.hash ?? AUDIT_GENESIS_HASH;
      const full: AuditRecord = { ...record, seq, prevHash, hash: seal(seq, prevHash) };
      await trx
        .insertInto("audit_log")
        .values({
          seq,
          actor: full.actor,
          action: full.action,
          target_type: full.targetType,
          target_id: full.targetId,
          before: full.before,
          after: full.after,
          ip: full.ip,
          request_id: full.requestId,
          created_at: full.createdAt,
          prev_hash: prevHash,
          hash: full.hash,
        })
        .execute();
      const accounts = [...new Set(scope)];
      if (accounts.length > 0)
        await trx
          .insertInto("audit_scope")
          .values(accounts.map((account_id) => ({ account_id, seq })))
          .execute();
      return full;
    });
  }

  async list(filter: AuditFilter = {}): Promise<AuditRecord[]> {
    let q = this.ctx.db.selectFrom("audit_log").selectAll();
    if (filter.targetType !== undefined) q = q.where("target_type", "=", filter.targetType);
    if (filter.targetId !== undefined) q = q.where("target_id", "=", filter.targetId);
    if (filter.action !== undefined) q = q.where("action", "=", filter.action);
    if (filter.actor !== undefined) q = q.where("actor", "=", filter.actor);
    if (filter.since !== undefined) q = q.where("created_at", ">=", filter.since);
    if (filter.until !== undefined) q = q.where("created_at", "<", filter.until);
    if (filter.beforeSeq !== undefined) q = q.where("seq", "<", filter.beforeSeq);
    if (filter.scopeAccountId !== undefined) {
      const account = filter.scopeAccountId;
      q = q.where("seq", "in", (eb) => eb.selectFrom("audit_scope").select("seq").where("account_id", "=", account));
    }
    const rows = await q
      .orderBy("seq", "desc")
      .limit(filter.limit ?? 100)
      .execute();
    return rows.map(toRecord);
  }

  async scan(afterSeq: number, limit: number): Promise<AuditRecord[]> {
    const rows = await this.ctx.db.selectFrom("audit_log").selectAll().where("seq", ">", afterSeq).orderBy("seq", "asc").limit(limit).execute();
    return rows.map(toRecord);
  }
}
