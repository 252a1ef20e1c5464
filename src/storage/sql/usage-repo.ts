import { randomUUID } from "node:crypto";
import type { Insertable, Selectable } from "kysely";
import type { AttemptTrailEntry, UsageQuery, UsageRecord, UsageRepo, UsageStatus, UsageSummary } from "../ports.js";
import { oneOf } from "./row-codec.js";
import type { UsageRecordsTable } from "./schema.js";
import { writeTransaction, type SqlContext } from "./sql-context.js";
import { HOURLY_COLUMNS, HOURLY_KEY, hourlyUpsert, rollUp, summarizeUsage, type HourlyRow } from "./usage-rollup.js";

const STATUSES: readonly UsageStatus[] = ["ok", "error", "cancelled"];

/** SQLite allows 32766 bound parameters per statement; 30 columns a row keeps a batch well under it. */
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
  "price_version",
  "payer_account_id",
  "charged_micros",
  "cache_key_hash",
  "tier",
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
    price_version: r.priceVersion ?? null,
    payer_account_id: r.payerAccountId ?? null,
    charged_micros: r.chargedMicros ?? 0,
    cache_key_hash: r.cacheKeyHash ?? null,
    tier: r.tier ?? null,
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
    priceVersion: row.price_version,
    payerAccountId: row.payer_account_id,
    chargedMicros: Number(row.charged_micros),
    cacheKeyHash: row.cache_key_hash,
    tier: row.tier === null ? null : Number(row.tier),
  };
}

/** The bulk insert of each SQLite database, prepared once: a repo bound to a transaction (Store.transaction) is made for each one, as every charged usage batch is. */
const sqliteInserts = new WeakMap<NonNullable<SqlContext["sqlite"]>, (records: readonly UsageRecord[]) => string[]>();

export class SqlUsageRepo implements UsageRepo {
  constructor(private readonly ctx: SqlContext) {}

  async insertMany(records: readonly UsageRecord[]): Promise<string[]> {
    if (records.length === 0) return [];
    // Statements run on the raw handle bypass Kysely's connection lock, so they join whatever
    // transaction is open on it: outside a transaction there must be none (it would be another
    // caller's); inside one (Store.transaction), the open one is ours while it lasts.
    const raw = this.ctx.sqlite;
    if (raw && (this.ctx.txOpen === undefined ? !raw.inTransaction : raw.inTransaction && this.ctx.txOpen())) return this.#sqliteInsertMany(raw, records);
    // The rows and their rollups commit together: a retried flush inserts nothing twice and
    // so adds nothing twice, and a failed one leaves neither.
    return writeTransaction(this.ctx, async (trx) => {
      const inserted = new Set<string>();
      for (let i = 0; i < records.length; i += ROWS_PER_STATEMENT) {
        const rows = records.slice(i, i + ROWS_PER_STATEMENT).map(toRow);
        const result = await trx
          .insertInto("usage_records")
          .values(rows)
          .onConflict((oc) => oc.column("request_id").doNothing())
          .returning("request_id")
          .execute();
        for (const r of result) inserted.add(r.request_id);
      }
      // A request id twice in one batch is inserted once (the first; the second conflicts with it): roll it up once.
      const rolled = new Set<string>();
      const groups = rollUp(records.filter((r) => inserted.has(r.requestId) && !rolled.has(r.requestId) && rolled.add(r.requestId)));
      for (let i = 0; i < groups.length; i += ROWS_PER_STATEMENT) await hourlyUpsert(trx, groups.slice(i, i + ROWS_PER_STATEMENT));
      return [...inserted];
    });
  }

  /**
   * SQLite runs synchronously on the gateway's event loop, so this write is on the hot
   * path's thread. Inside an open transaction (a charged batch with its debits,
   * usage-recorder.ts) better-sqlite3 runs it as a savepoint of that transaction. Two statements prepared once (the row insert, the rollup upsert) and run
   * in one transaction avoid building, compiling and preparing a new multi-row INSERT for
   * every batch, which is what the query-layer path above does. The batch is summed per
   * rollup group in JS first, so the upsert runs once per group, not per row.
   */
  #sqliteInsertMany(db: NonNullable<SqlContext["sqlite"]>, records: readonly UsageRecord[]): string[] {
    let insertMany = sqliteInserts.get(db);
    if (!insertMany) {
      const insert = db.prepare(
        `insert into usage_records (${COLUMNS.join(", ")}) values (${COLUMNS.map(() => "?").join(", ")}) on conflict (request_id) do nothing`,
      );
      const sums = HOURLY_COLUMNS.filter((c) => !(HOURLY_KEY as readonly string[]).includes(c));
      const upsert = db.prepare(
        `insert into usage_hourly (${HOURLY_COLUMNS.join(", ")}) values (${HOURLY_COLUMNS.map(() => "?").join(", ")}) ` +
          `on conflict (${HOURLY_KEY.join(", ")}) do update set ${sums.map((c) => `${c} = usage_hourly.${c} + excluded.${c}`).join(", ")}`,
      );
      insertMany = db.transaction((batch: readonly UsageRecord[]) => {
        const ids: string[] = [];
        const inserted: UsageRecord[] = [];
        for (const r of batch) {
          const row = toRow(r);
          if (insert.run(COLUMNS.map((c) => row[c] ?? null)).changes > 0) {
            ids.push(row.request_id);
            inserted.push(r);
          }
        }
        for (const g of rollUp(inserted)) upsert.run(HOURLY_COLUMNS.map((c) => g[c as keyof HourlyRow]));
        return ids;
      });
      sqliteInserts.set(db, insertMany);
    }
    return insertMany(records);
  }

  summarize(query: UsageQuery): Promise<UsageSummary> {
    return summarizeUsage(this.ctx, query);
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
