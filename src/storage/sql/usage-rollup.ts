/**
 * Hourly usage rollups (migration 0008): summing a batch of usage records per hour ×
 * account × requested model × API key × upstream key, upserting the sums, and reading them
 * back grouped for the usage API. `usage-repo.ts` calls the writer inside the transaction
 * that inserts the rows, with only the rows it actually inserted.
 */
import { sql, type Kysely, type SelectQueryBuilder } from "kysely";
import type { UsageGroupBy, UsageQuery, UsageRecord, UsageSummary, UsageTotals } from "../ports.js";
import type { Database, UsageHourlyTable } from "./schema.js";
import type { SqlContext } from "./sql-context.js";

export type HourlyRow = UsageHourlyTable;

export const HOURLY_KEY = ["hour", "account_id", "model", "api_key_id", "upstream_key_id"] as const satisfies ReadonlyArray<keyof HourlyRow>;
const HOURLY_SUMS = [
  "requests",
  "errors",
  "input_tokens",
  "cached_input_tokens",
  "cache_write_tokens",
  "output_tokens",
  "reasoning_tokens",
  "cost_micros",
  "charged_micros",
] as const satisfies ReadonlyArray<keyof HourlyRow>;
export const HOURLY_COLUMNS: ReadonlyArray<keyof HourlyRow> = [...HOURLY_KEY, ...HOURLY_SUMS];

/** The start of the UTC hour of an ISO 8601 time. */
export function hourOf(iso: string): string {
  // The batcher writes `Date#toISOString()`; anything else goes through Date.
  if (iso.length === 24 && iso.endsWith("Z") && iso[13] === ":") return `${iso.slice(0, 13)}:00:00.000Z`;
  const d = new Date(iso);
  d.setUTCMinutes(0, 0, 0);
  return d.toISOString();
}

/** Sums records per rollup key; one row per group. Errors count records with status `error` (a client that left is `cancelled`, not an error). */
export function rollUp(records: readonly UsageRecord[]): HourlyRow[] {
  const groups = new Map<string, HourlyRow>();
  for (const r of records) {
    const hour = hourOf(r.createdAt);
    const apiKey = r.apiKeyId ?? "";
    const upstreamKey = r.upstreamKeyId ?? "";
    const id = `${hour}\0${r.accountId}\0${r.model}\0${apiKey}\0${upstreamKey}`;
    let g = groups.get(id);
    if (!g) {
      g = {
        hour,
        account_id: r.accountId,
        model: r.model,
        api_key_id: apiKey,
        upstream_key_id: upstreamKey,
        requests: 0,
        errors: 0,
        input_tokens: 0,
        cached_input_tokens: 0,
        cache_write_tokens: 0,
        output_tokens: 0,
        reasoning_tokens: 0,
        cost_micros: 0,
        charged_micros: 0,
      };
      groups.set(id, g);
    }
    g.requests += 1;
    if (r.status === "error") g.errors += 1;
    g.input_tokens += r.inputTokens;
    g.cached_input_tokens += r.cachedInputTokens;
    g.cache_write_tokens += r.cacheWriteTokens;
    g.output_tokens += r.outputTokens;
    g.reasoning_tokens += r.reasoningTokens;
    g.cost_micros += r.costMicros;
    g.charged_micros += r.chargedMicros ?? 0;
  }
  // In key order: concurrent flushes (several nodes on one PostgreSQL) then lock rollup rows
  // in the same order and cannot deadlock on each other.
  return [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g);
}

/** Adds the groups to their rows (created at zero): one statement, each key at most once in it. */
export async function hourlyUpsert(trx: Kysely<Database>, rows: readonly HourlyRow[]): Promise<void> {
  if (rows.length === 0) return;
  await trx
    .insertInto("usage_hourly")
    .values([...rows])
    .onConflict((oc) =>
      oc
        .columns([...HOURLY_KEY])
        .doUpdateSet(Object.fromEntries(HOURLY_SUMS.map((c) => [c, sql<number>`usage_hourly.${sql.ref(c)} + excluded.${sql.ref(c)}`]))),
    )
    .execute();
}

function emptyTotals(): UsageTotals {
  return {
    requests: 0,
    errors: 0,
    inputTokens: 0,
    cachedInputTokens: 0,
    cacheWriteTokens: 0,
    outputTokens: 0,
    reasoningTokens: 0,
    costMicros: 0,
    chargedMicros: 0,
  };
}

interface SumRow {
  grp?: string | null;
  requests: unknown;
  errors: unknown;
  input_tokens: unknown;
  cached_input_tokens: unknown;
  cache_write_tokens: unknown;
  output_tokens: unknown;
  reasoning_tokens: unknown;
  cost_micros: unknown;
  charged_micros: unknown;
}

function totalsOf(row: SumRow | undefined): UsageTotals {
  if (!row) return emptyTotals();
  // PostgreSQL sums bigints as numeric (a string); SQLite as an integer; a sum over no rows is null.
  const n = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
  return {
    requests: n(row.requests),
    errors: n(row.errors),
    inputTokens: n(row.input_tokens),
    cachedInputTokens: n(row.cached_input_tokens),
    cacheWriteTokens: n(row.cache_write_tokens),
    outputTokens: n(row.output_tokens),
    reasoningTokens: n(row.reasoning_tokens),
    costMicros: n(row.cost_micros),
    chargedMicros: n(row.charged_micros),
  };
}

type HourlyQuery = SelectQueryBuilder<Database & { u: UsageHourlyTable }, "u", object>;

/** The group expression for `groupBy`, over the alias `u` (and `top`, the closure link to the direct child, for `descendant`). */
function groupExpression(groupBy: UsageGroupBy, subtreeOf: string | undefined) {
  switch (groupBy) {
    case "model":
      return sql<string>`u.model`;
    case "key":
      return sql<string>`u.api_key_id`;
    case "upstream_key":
      return sql<string>`u.upstream_key_id`;
    case "hour":
      return sql<string>`u.hour`;
    case "day":
      return sql<string>`substr(u.hour, 1, 10)`;
    case "descendant":
      return subtreeOf === undefined ? sql<string>`u.account_id` : sql<string>`top.descendant_id`;
  }
}

/**
 * Totals over the rollups, and per group. `descendant` groups the account's own usage under
 * its id and each direct child's whole subtree under the child's id, through the closure
 * table: a row's account has exactly one ancestor that is the account itself (depth 0, for
 * its own rows) or one of its children (depth 1), so every row is counted once.
 */
export async function summarizeUsage(ctx: SqlContext, q: UsageQuery): Promise<UsageSummary> {
  const sums = [
    sql<number>`sum(u.requests)`.as("requests"),
    sql<number>`sum(u.errors)`.as("errors"),
    sql<number>`sum(u.input_tokens)`.as("input_tokens"),
    sql<number>`sum(u.cached_input_tokens)`.as("cached_input_tokens"),
    sql<number>`sum(u.cache_write_tokens)`.as("cache_write_tokens"),
    sql<number>`sum(u.output_tokens)`.as("output_tokens"),
    sql<number>`sum(u.reasoning_tokens)`.as("reasoning_tokens"),
    sql<number>`sum(u.cost_micros)`.as("cost_micros"),
    sql<number>`sum(u.charged_micros)`.as("charged_micros"),
  ];
  const base = (): HourlyQuery => {
    let b = ctx.db.selectFrom("usage_hourly as u").where("u.hour", ">=", q.from).where("u.hour", "<", q.to) as unknown as HourlyQuery;
    if (q.accountId !== undefined) {
      const id = q.accountId;
      b =
        q.scope === "self"
          ? b.where("u.account_id", "=", id)
          : b.where("u.account_id", "in", ctx.db.selectFrom("account_closure").select("descendant_id").where("ancestor_id", "=", id));
    }
    return b;
  };
  const totalRow = (await base().select(sums).executeTakeFirst()) as SumRow | undefined;
  const total = totalsOf(totalRow);
  if (!q.groupBy) return { total, groups: [] };
  const subtreeOf = q.groupBy === "descendant" && q.accountId !== undefined && q.scope === "subtree" ? q.accountId : undefined;
  const grp = groupExpression(q.groupBy, subtreeOf);
  let grouped = base();
  if (subtreeOf !== undefined) {
    grouped = grouped.innerJoin("account_closure as link", "link.descendant_id", "u.account_id").innerJoin("account_closure as top", (j) =>
      j
        .onRef("top.descendant_id", "=", "link.ancestor_id")
        .on("top.ancestor_id", "=", subtreeOf)
        .on((eb) => eb.or([eb("top.depth", "=", 1), eb.and([eb("top.depth", "=", 0), eb("link.depth", "=", 0)])])),
    ) as unknown as HourlyQuery;
  }
  const rows = (await grouped
    .select([...sums, grp.as("grp")])
    .groupBy(grp)
    .execute()) as SumRow[];
  const groups = rows.map((r) => ({ group: String(r.grp ?? ""), ...totalsOf(r) }));
  groups.sort((a, b) => b.costMicros - a.costMicros || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  return { total, groups };
}
