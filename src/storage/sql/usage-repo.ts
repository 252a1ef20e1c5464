import { randomUUID } from "node:crypto";
import type { Insertable, Selectable } from "kysely";
import type { AttemptTrailEntry, UsageRecord, UsageRepo, UsageStatus } from "../ports.js";
import { oneOf } from "./row-codec.js";
import type { UsageRecordsTable } from "./schema.js";
import type { SqlContext } from "./sql-context.js";

const STATUSES: readonly UsageStatus[] = ["ok", "error", "cancelled"];

/** SQLite allows 32766 bound parameters per statement; 25 columns a row keeps a batch well under it. */
const ROWS_PER_STATEMENT = 1000;

type UsageRow = Insertable<UsageRecordsTable>;

/** Every column toRow fills, in the order the SQLite statement binds them. */
const COLUMNS = [
  "id",
  "request_id",
  "account_id",
  "api_key_id",
  "model",
  "upstream_model",
  "upstream_id",
  "upstream_key_id",
  "client_protocol",
  "upstream_protocol",
  "stream",
  "input_tokens",
  "cached_input_tokens",
  "cache_write_tokens",
  "output_tokens",
  "reasoning_tokens",
  "cost_micros",
  "status",
  "http_status",
  "error_code",
  "attempts",
  "latency_ms",
  "ttfb_ms",
  "attempt_trail",
  "created_at",
  "payer_account_id",
  "charged_micros",
] as const satisfies ReadonlyArray<keyof UsageRow>;

function toRow(r: UsageRecord): UsageRow {
  return {
    id: randomUUID(),
    request_id: r.requestId,
    account_id: r.accountId,
    api_key_id: r.apiKeyId,
    model: r.model,
    upstream_model: r.upstreamModel ?? null,
    upstream_id: r.upstreamId,
    upstream_key_id: r.upstreamKeyId,
    client_protocol: r.clientProtocol,
    upstream_protocol: r.upstreamProtocol,
    stream: r.stream ? 1 : 0,
    input_tokens: r.inputTokens,
    cached_input_tokens: r.cachedInputTokens,
    cache_write_tokens: r.cacheWriteTokens,
    output_tokens: r.outputTokens,
    reasoning_tokens: r.reasoningTokens,
    cost_micros: r.costMicros,
    status: r.status,
    http_status: r.httpStatus,
    error_code: r.errorCode,
    attempts: r.attempts,
    latency_ms: Math.round(r.latencyMs),
    ttfb_ms: r.ttfbMs === null ? null : Math.round(r.ttfbMs),
    attempt_trail: r.attemptTrail ? JSON.stringify(r.attemptTrail) : null,
    created_at: r.createdAt,
    payer_account_id: r.payerAccountId ?? null,
    charged_micros: r.chargedMicros ?? 0,
  };
}

function toRecord(row: Selectable<UsageRecordsTable>): UsageRecord {
  return {
    requestId: row.request_id,
    accountId: row.account_id,
    apiKeyId: row.api_key_id,
    model: row.model,
    upstreamModel: row.upstream_model,
    upstreamId: row.upstream_id,
    upstreamKeyId: row.upstream_key_id,
    clientProtocol: row.client_protocol,
    upstreamProtocol: row.upstream_protocol,
    stream: row.stream === true || row.stream === 1,
    inputTokens: Number(row.input_tokens),
    cachedInputTokens: Number(row.cached_input_tokens),
    cacheWriteTokens: Number(row.cache_write_tokens),
    outputTokens: Number(row.output_tokens),
    reasoningTokens: Number(row.reasoning_tokens),
    costMicros: Number(row.cost_micros),
    status: oneOf(row.status, STATUSES, "usage_records.status"),
    httpStatus: row.http_status,
    errorCode: row.error_code,
    attempts: Number(row.attempts),
    latencyMs: Number(row.latency_ms),
    ttfbMs: row.ttfb_ms === null ? null : Number(row.ttfb_ms),
    attemptTrail: row.attempt_trail === null ? null : (JSON.parse(row.attempt_trail) as AttemptTrailEntry[]),
    createdAt: row.created_at,
    payerAccountId: row.payer_account_id,
    chargedMicros: Number(row.charged_micros),
  };
}

export class SqlUsageRepo implements UsageRepo {
  #sqliteInsert: ((rows: readonly UsageRow[]) => string[]) | undefined;

  constructor(private readonly ctx: SqlContext) {}

  async insertMany(records: readonly UsageRecord[]): Promise<string[]> {
    // Outside a transaction only: statements run on the raw handle bypass Kysely's connection
    // lock and would otherwise join (and roll back with) another caller's open transaction.
    if (this.ctx.sqlite && !this.ctx.sqlite.inTransaction) return this.#sqliteInsertMany(this.ctx.sqlite, records);
    const inserted: string[] = [];
    for (let i = 0; i < records.length; i += ROWS_PER_STATEMENT) {
      const rows = records.slice(i, i + ROWS_PER_STATEMENT).map(toRow);
      const result = await this.ctx.db
        .insertInto("usage_records")
        .values(rows)
        .onConflict((oc) => oc.column("request_id").doNothing())
        .returning("request_id")
        .execute();
      for (const r of result) inserted.push(r.request_id);
    }
    return inserted;
  }

  /**
   * SQLite runs synchronously on the gateway's event loop, so this write is on the hot
   * path's thread. One statement prepared once and run per row in one transaction avoids
   * building, compiling and preparing a new multi-row INSERT (25 parameters a row) for
   * every batch, which is what the query-layer path below does.
   */
  #sqliteInsertMany(db: NonNullable<SqlContext["sqlite"]>, records: readonly UsageRecord[]): string[] {
    if (!this.#sqliteInsert) {
      const stmt = db.prepare(
        `insert into usage_records (${COLUMNS.join(", ")}) values (${COLUMNS.map(() => "?").join(", ")}) on conflict (request_id) do nothing`,
      );
      this.#sqliteInsert = db.transaction((rows: readonly UsageRow[]) => {
        const ids: string[] = [];
        for (const row of rows) if (stmt.run(COLUMNS.map((c) => row[c] ?? null)).changes > 0) ids.push(row.request_id);
        return ids;
      });
    }
    return this.#sqliteInsert(records.map(toRow));
  }

  async listByAccount(accountId: string, opts: { limit?: number } = {}): Promise<UsageRecord[]> {
    const rows = await this.ctx.db
      .selectFrom("usage_records")
      .selectAll()
      .where("account_id", "=", accountId)
      .orderBy("created_at", "desc")
      .orderBy("request_id", "desc")
      .limit(opts.limit ?? 100)
      .execute();
    return rows.map(toRecord);
  }
}
